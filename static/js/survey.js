// Small improvements on top of pages that work without JavaScript.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    // Move focus to the error summary (or the conflict message) so it is read first.
    var summary = document.getElementById("error-summary");
    if (summary) {
      summary.focus();
    }

    // "Apply to this page" on the line-by-line page: copy one choice into every line.
    var applyBox = document.querySelector(".apply-all");
    var applyChoice = document.getElementById("apply-all-choice");
    var applyButton = document.getElementById("apply-all-button");
    if (applyBox && applyChoice && applyButton) {
      applyBox.hidden = false;
      applyButton.addEventListener("click", function () {
        var selects = document.querySelectorAll("select.line-choice");
        selects.forEach(function (select) {
          if (!select.disabled) {
            select.value = applyChoice.value;
          }
        });
        applyButton.textContent = "Applied to " + selects.length + " lines: save to keep it";
      });
    }

    // Contacts: hide the Coordinator's fields while one person holds both roles.
    var onePerson = document.getElementById("id_one_person");
    var coordinator = document.getElementById("coordinator-fields");
    if (onePerson && coordinator) {
      var sync = function () {
        coordinator.hidden = onePerson.checked;
      };
      onePerson.addEventListener("change", sync);
      sync();
    }

    // Printable summary: a print button.
    document.querySelectorAll(".print-button").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        window.print();
      });
    });
  });
})();
