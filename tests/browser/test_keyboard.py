"""The survey with the keyboard alone: Tab to move, Enter or Space to act, and typing
into fields (a select takes typed text too, as browsers let one choose an option).
At every Tab the focused element shows a focus indicator; after a failed save the
focus is on the error summary, whose links lead to the fields."""

import pytest
from playwright.sync_api import expect

from conversion.models import Response, ResponseStatus
from tests.browser.helpers import (
    assert_focus_visible,
    focused,
    sign_in_link,
    tab_to,
    tab_to_id,
    tab_to_text,
)
from tests.conftest import make_department

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def state_department(catalogue, campaign):
    """A non-exempt state department whose services transition automatically."""
    return make_department(
        name="Department of Keyboard Affairs",
        code="S0200",
        atr_email="atr@keyboard.example.gov",
        lines=[(catalogue.att_ds1_2, 3), (catalogue.vz_mpls_2, 2)],
    )


def activate(page, key="Enter"):
    """Press a key that follows a link or submits a form, and wait for the new page."""
    with page.expect_navigation():
        page.keyboard.press(key)


def test_the_survey_by_keyboard_alone(page, base_url, state_department, campaign, screenshot):
    email = state_department.atr.email
    page.goto("/")

    # The first Tab shows the skip link.
    info = tab_to_text(page, "Skip to main content", limit=1)
    assert info["tag"] == "a"
    expect(page.get_by_role("link", name="Skip to main content")).to_be_visible()

    tab_to_id(page, "id_email")
    page.keyboard.type(email)
    activate(page)  # Enter submits the form
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    page.goto(sign_in_link(email))  # opened from the inbox
    tab_to_text(page, "Sign in")
    activate(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your conversion survey")

    # Department: Space picks the first answer of a group with none chosen yet.
    tab_to_text(page, "Department")
    activate(page)
    tab_to_id(page, "id_is_right_0")
    page.keyboard.press("Space")
    expect(page.get_by_role("radio", name="Yes, they are right")).to_be_checked()
    tab_to_text(page, "Save and continue")
    activate(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Conversion contacts")

    # Contacts: a save with half a person fails, and focus lands on the summary.
    tab_to_id(page, "id_manager_name")
    page.keyboard.type("Ada Keyboard")
    tab_to_text(page, "Save and continue")
    activate(page)
    assert focused(page)["id"] == "error-summary"
    assert_focus_visible(page)
    screenshot(page, "keyboard-contacts-error-summary-focused")

    # The summary's first link leads to the first field to fix.
    tab_to(page, lambda info: info["text"].startswith("Customer Conversion Manager, job title"))
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "id_manager_title"
    assert_focus_visible(page)
    page.keyboard.type("Telecommunications Manager")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "id_manager_email"
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "id_manager_phone"
    page.keyboard.type("(916) 555-0100")
    tab_to_id(page, "id_one_person")
    page.keyboard.press("Space")
    expect(page.get_by_role("group", name="Customer Conversion Coordinator")).to_be_hidden()
    tab_to_text(page, "Save and continue")
    activate(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Services")

    # Services: the automatic Transitions stand; Tab passes each group's choices.
    tab_to_text(page, "Save and continue")
    activate(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Timeframe")

    # Timeframe: typing a month's name chooses it in the select.
    months = campaign.months()
    tab_to_id(page, "id_window_start")
    page.keyboard.type(f"{months[1]:%B %Y}")
    tab_to_id(page, "id_window_end")
    page.keyboard.type(f"{months[3]:%B %Y}")
    tab_to_id(page, "id_blackout_periods")
    page.keyboard.type("No changes during the fiscal year-end close.")
    tab_to_text(page, "Save and continue")
    activate(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Review and submit")

    # Review: a submission without the attestation fails, focus on the summary.
    tab_to_text(page, "Authorize and submit")
    activate(page, "Space")
    assert focused(page)["id"] == "error-summary"
    assert_focus_visible(page)
    tab_to_id(page, "id_attest")
    page.keyboard.press("Space")
    tab_to_text(page, "Authorize and submit")
    activate(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you: your answers are submitted"
    )

    response = Response.objects.select_related("manager").get()
    assert response.status == ResponseStatus.SUBMITTED
    assert response.manager.email == email and response.has_one_contact
    assert (response.window_start, response.window_end) == (months[1], months[3])
