"""The survey's section forms.

Each form takes the `response` (and, where it records who acted, the `user`) as
arguments, never the request, so STND's admin can validate an analyst's edits with
the same classes. `save()` writes the section's answers and returns whether the
section is complete; callers wrap it in `workflow.save_section`, which makes the
save atomic and refuses one based on an old version.
"""

import copy

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from conversion import rules, workflow
from conversion.models import (
    MAX_LINE_QUANTITY,
    Choice,
    Decision,
    InventoryLine,
    MigrationPlans,
    Offering,
)
from departments.models import Person, PersonSource, normalize_email


class ErrorSummaryMixin:
    """`error_summary()`: every error with the id of the field it belongs to, for the
    summary at the top of the page that links to each field."""

    def error_summary(self):
        items = [{"anchor": "", "message": message} for message in self.non_field_errors()]
        for name, errors in self.errors.items():
            if name == forms.forms.NON_FIELD_ERRORS:
                continue
            anchor = self.error_anchor(name)
            label = self.error_label(name)
            for message in errors:
                items.append({"anchor": anchor, "message": f"{label}: {message}"})
        return items

    def error_anchor(self, name):
        field = self.fields[name]
        anchor = self[name].auto_id
        if isinstance(field.widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
            anchor += "_0"
        return anchor

    def error_label(self, name):
        label = self.fields[name].label or name.replace("_", " ").capitalize()
        return str(label).rstrip("?:")


# --- Department -------------------------------------------------------------------------------


class DepartmentForm(ErrorSummaryMixin, forms.Form):
    """Confirm the department's name and kind; a wrong kind is flagged to STND, not changed."""

    is_right = forms.ChoiceField(
        label="Are your department's name and kind right?",
        choices=[
            ("yes", "Yes, they are right"),
            ("no", "No, something is wrong: tell STND"),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": "Say whether the name and kind are right."},
    )
    kind_flag_note = forms.CharField(
        label="What is wrong?",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: “We are an Exempt State Agency (a University of California "
        "campus).” STND checks and corrects its records; the survey continues meanwhile.",
    )

    def __init__(self, data=None, *, response, user=None, **kwargs):
        self.response = response
        self.user = user
        if response.department_confirmed:
            initial = {"is_right": "yes"}
        elif response.kind_flag_note:
            initial = {"is_right": "no", "kind_flag_note": response.kind_flag_note}
        else:
            initial = {}
        super().__init__(data, initial=initial, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("is_right") == "no" and not cleaned.get("kind_flag_note", "").strip():
            self.add_error(
                "kind_flag_note",
                ValidationError("Tell STND what is wrong.", code="required"),
            )
        return cleaned

    def save(self):
        right = self.cleaned_data["is_right"] == "yes"
        self.response.department_confirmed = right
        self.response.kind_flag_note = "" if right else self.cleaned_data["kind_flag_note"].strip()
        self.response.save(update_fields=["department_confirmed", "kind_flag_note", "updated_at"])
        return True


# --- Conversion contacts ------------------------------------------------------------------------

ROLES = (
    ("manager", "Customer Conversion Manager"),
    ("coordinator", "Customer Conversion Coordinator"),
)
PERSON_FIELDS = ("name", "title", "email", "phone")


class ContactsForm(ErrorSummaryMixin, forms.Form):
    """The Manager and the Coordinator, or one person for both. People named here may
    sign in for the department (a Person row, source "named in the survey")."""

    one_person = forms.BooleanField(
        label="One person is both the Manager and the Coordinator",
        required=False,
        help_text="Then leave the Coordinator's details empty.",
    )

    def __init__(self, data=None, *, response, user=None, **kwargs):
        self.response = response
        self.user = user
        super().__init__(data, initial=self._initial(response), **kwargs)
        for role, role_label in ROLES:
            self.fields[f"{role}_name"] = forms.CharField(
                label="Full name", max_length=200, required=False
            )
            self.fields[f"{role}_title"] = forms.CharField(
                label="Job title", max_length=200, required=False
            )
            self.fields[f"{role}_email"] = forms.EmailField(
                label="Work email",
                required=False,
                help_text="The sign-in link for the survey goes here.",
            )
            self.fields[f"{role}_phone"] = forms.CharField(
                label="Phone", max_length=40, required=False
            )
            for name in PERSON_FIELDS:
                self.fields[f"{role}_{name}"].role_label = role_label
        # Field order: the Manager, the "one person" box, then the Coordinator.
        order = [f"manager_{n}" for n in PERSON_FIELDS] + ["one_person"]
        order += [f"coordinator_{n}" for n in PERSON_FIELDS]
        self.order_fields(order)

    @staticmethod
    def _initial(response):
        initial = {"one_person": response.has_one_contact}
        for role, _ in ROLES:
            person = getattr(response, role)
            if person is None or (role == "coordinator" and response.has_one_contact):
                continue
            for name in PERSON_FIELDS:
                initial[f"{role}_{name}"] = getattr(person, name)
        return initial

    def error_label(self, name):
        field = self.fields[name]
        role_label = getattr(field, "role_label", "")
        return f"{role_label}, {field.label.lower()}" if role_label else super().error_label(name)

    def clean(self):
        cleaned = super().clean()
        roles = ["manager"] if cleaned.get("one_person") else ["manager", "coordinator"]
        for role in roles:
            values = [cleaned.get(f"{role}_{name}") for name in PERSON_FIELDS]
            if not any(values):
                continue  # nobody named yet: a draft may leave it for later
            for name in PERSON_FIELDS:
                if not cleaned.get(f"{role}_{name}") and f"{role}_{name}" not in self.errors:
                    self.add_error(
                        f"{role}_{name}",
                        ValidationError(
                            "Give this too, or leave all of this person's details empty.",
                            code="required",
                        ),
                    )
        manager_email = normalize_email(cleaned.get("manager_email"))
        coordinator_email = normalize_email(cleaned.get("coordinator_email"))
        if (
            "coordinator" in roles
            and manager_email
            and manager_email == coordinator_email
            and "coordinator_email" not in self.errors
        ):
            self.add_error(
                "coordinator_email",
                ValidationError(
                    "This is the Manager's email. If one person holds both roles, tick "
                    "“One person is both the Manager and the Coordinator”.",
                    code="same_person",
                ),
            )
        return cleaned

    def _person(self, role):
        values = {name: self.cleaned_data.get(f"{role}_{name}") for name in PERSON_FIELDS}
        if not values["email"]:
            return None
        email = normalize_email(values["email"])
        person, created = Person.objects.get_or_create(
            department=self.response.department,
            email=email,
            defaults={
                "name": values["name"],
                "title": values["title"],
                "phone": values["phone"],
                "source": PersonSource.NAMED,
            },
        )
        if not created and any(
            getattr(person, name) != values[name] for name in ("name", "title", "phone")
        ):
            person.name, person.title, person.phone = (
                values["name"],
                values["title"],
                values["phone"],
            )
            person.save(update_fields=["name", "title", "phone"])
        return person

    def save(self):
        manager = self._person("manager")
        coordinator = (
            manager if self.cleaned_data.get("one_person") else self._person("coordinator")
        )
        self.response.manager = manager
        self.response.coordinator = coordinator
        self.response.save(update_fields=["manager", "coordinator", "updated_at"])
        return manager is not None and coordinator is not None


# --- Services -----------------------------------------------------------------------------------


def migration_targets(campaign, on):
    """The new contract's awarded offerings: where a migration may go (one query)."""
    return list(
        Offering.objects.filter(contract=campaign.new_contract)
        .awarded(on)
        .select_related("contractor", "category")
        .order_by("contractor__name", "category__number", "name")
    )


def target_label(target):
    return f"{target.name} ({target.contractor.name}, category {target.category.number})"


def grouped_target_choices(targets):
    """Select choices grouped by contractor: the contractor is implied by the offering."""
    by_contractor = {}
    for target in targets:
        by_contractor.setdefault(target.contractor.name, []).append(
            (str(target.pk), f"{target.name} (category {target.category.number})")
        )
    return list(by_contractor.items())


def options_for_group(kind, offering, on, targets):
    incumbent = offering.contractor_id
    successor = offering.successor_id
    return rules.options_for(
        kind,
        offering,
        on,
        has_other_contractors=any(t.contractor_id != incumbent for t in targets),
        has_other_services=any(t.contractor_id == incumbent and t.pk != successor for t in targets),
    )


class ServicesForm(ErrorSummaryMixin, forms.Form):
    """One decision per group of inventory lines (one CALNET 2 offering): two fields per
    group whatever the number of lines, so the POST stays small."""

    def __init__(self, data=None, *, response, groups, targets, on=None, user=None, **kwargs):
        self.response = response
        self.user = user
        self.groups = groups
        self.on = on or timezone.localdate()
        self.targets = {t.pk: t for t in targets}
        self.target_choices = grouped_target_choices(targets)
        self.kind = response.department.kind
        super().__init__(data, **kwargs)
        self.options = {}
        for group in groups:
            pk = group.offering.pk
            self.options[pk] = options_for_group(self.kind, group.offering, self.on, targets)
            self.fields[f"choice_{pk}"] = forms.ChoiceField(
                label=f"{group.offering.name} ({group.incumbent.name})",
                choices=[("", "Not decided yet"), *Choice.choices],
                required=False,
                widget=forms.RadioSelect,
                initial=group.decision.choice if group.decision else (group.default_choice or ""),
            )
            self.fields[f"target_{pk}"] = forms.ChoiceField(
                label=f"{group.offering.name} ({group.incumbent.name}): CALNET 3 service",
                choices=[("", "Choose for a migration"), *self.target_choices],
                required=False,
                initial=str(group.target.pk) if group.target else "",
            )

    def clean(self):
        cleaned = super().clean()
        self.decisions = {}
        for group in self.groups:
            pk = group.offering.pk
            choice = cleaned.get(f"choice_{pk}") or None
            target_id = cleaned.get(f"target_{pk}")
            target = self.targets.get(int(target_id)) if target_id else None
            if choice not in rules.MIGRATIONS:
                target = None  # only a migration names where it goes
            error = rules.choice_error(self.kind, group.offering, choice, target, self.on)
            if error:
                field = f"target_{pk}" if choice in rules.MIGRATIONS else f"choice_{pk}"
                self.add_error(field, ValidationError(error, code="rules"))
            self.decisions[pk] = (choice, target)
        return cleaned

    def target_options_html(self, chosen):
        """The migration target <select>'s <optgroup>s, with `chosen` selected.

        Built in Python: every group repeats the same few dozen options, and rendering
        them through template loops was most of this page's server time."""
        if not hasattr(self, "_target_fragments"):
            self._target_fragments = [
                (escape(contractor), [(value, escape(label)) for value, label in targets])
                for contractor, targets in self.target_choices
            ]
        parts = []
        for contractor, targets in self._target_fragments:
            parts.append(f'<optgroup label="{contractor}">')
            for value, label in targets:
                selected = " selected" if value == chosen else ""
                parts.append(f'<option value="{value}"{selected}>{label}</option>')
            parts.append("</optgroup>")
        return mark_safe("".join(parts))  # noqa: S308 (every part escaped above)

    def choice_inputs_html(self, pk, field, chosen):
        """The group's radio buttons, each with what it entails, then "Not decided yet".

        Built in Python for the reason target_options_html is: a template loop over
        every option of every group was the largest part of this page's time. Each
        option's notes are tied to it with aria-describedby."""
        name, auto_id = escape(field.html_name), escape(field.auto_id)
        invalid = " is-invalid" if field.errors else ""
        parts = []
        for i, option in enumerate(self.options[pk]):
            checked = option.choice == chosen
            state = " checked" if checked else (" disabled" if not option.available else "")
            notes = "".join(f"<li>{escape(note)}</li>" for note in option.entails)
            parts.append(
                f'<div class="form-check option{"" if option.available else " unavailable"}">'
                f'<input class="form-check-input{invalid}" type="radio" name="{name}" '
                f'id="{auto_id}_{i}" value="{escape(option.choice.value)}" '
                f'aria-describedby="entails-{pk}-{i}"{state}>'
                f'<label class="form-check-label" for="{auto_id}_{i}">'
                f"{escape(option.label)}</label>"
                f'<ul class="entails" id="entails-{pk}-{i}">{notes}</ul></div>'
            )
        undecided = len(self.options[pk])
        parts.append(
            '<div class="form-check option">'
            f'<input class="form-check-input" type="radio" name="{name}" '
            f'id="{auto_id}_{undecided}" value=""{"" if chosen else " checked"}>'
            f'<label class="form-check-label" for="{auto_id}_{undecided}">Not decided yet</label>'
            "</div>"
        )
        return mark_safe("".join(parts))  # noqa: S308 (every part escaped above)

    def rows(self):
        """What the template shows for each group: its options, values and errors."""
        rows = []
        for group in self.groups:
            pk = group.offering.pk
            choice_field, target_field = self[f"choice_{pk}"], self[f"target_{pk}"]
            chosen = choice_field.value() or ""
            rows.append(
                {
                    "group": group,
                    "choice_field": choice_field,
                    "target_field": target_field,
                    "chosen": chosen,
                    "chosen_target": target_field.value() or "",
                    "target_options": self.target_options_html(target_field.value() or ""),
                    "choice_inputs": self.choice_inputs_html(pk, choice_field, chosen),
                }
            )
        return rows

    def save(self):
        for group in self.groups:
            choice, target = self.decisions[group.offering.pk]
            decision = group.decision
            if choice is None:
                if decision is not None:
                    decision.delete()
            elif decision is None:
                Decision.objects.create(
                    response=self.response, offering=group.offering, choice=choice, target=target
                )
            elif decision.choice != choice or decision.target_id != getattr(target, "pk", None):
                decision.choice, decision.target = choice, target
                decision.save(update_fields=["choice", "target"])
        workflow.refresh_counts(self.response)
        return self.response.lines_undecided == 0


class LineDecisionsForm(ErrorSummaryMixin, forms.Form):
    """Per-line exceptions for one page of one group's lines: one select per line.

    A value is "" (as the group), "transition", "disconnect", or
    "<migration choice>:<target offering id>"."""

    def __init__(
        self, data=None, *, response, offering, lines, exceptions, targets, on=None, **kwargs
    ):
        self.response = response
        self.offering = offering
        self.lines = lines
        self.exceptions = exceptions  # {line id: Decision}
        self.on = on or timezone.localdate()
        self.kind = response.department.kind
        self.targets = {t.pk: t for t in targets}
        super().__init__(data, **kwargs)
        choices = self._choices(targets)
        # For the template: [(optgroup label or None, [(value, label)])].
        self.choice_groups = [
            (label, options) if isinstance(options, list) else (None, [(label, options)])
            for label, options in choices
        ]
        # One field per line, all with the same choices: build (and validate the
        # choices of) one, and give each line a shallow copy with its own label and
        # initial value; 50 full ChoiceFields per page cost more than the page's queries.
        prototype = forms.ChoiceField(choices=choices, required=False)
        for line in lines:
            exception = exceptions.get(line.pk)
            field = copy.copy(prototype)
            field.label = f"Decision for {line.identifier}"
            field.initial = self.encode(exception.choice, exception.target_id) if exception else ""
            self.fields[f"line_{line.pk}"] = field

    @staticmethod
    def encode(choice, target_id):
        return f"{choice}:{target_id}" if target_id else str(choice)

    def _choices(self, targets):
        offering = self.offering
        options = {o.choice: o for o in options_for_group(self.kind, offering, self.on, targets)}
        choices = [("", "Same as the group")]
        for choice in (Choice.TRANSITION, Choice.DISCONNECT):
            if options[choice].available:
                choices.append((choice.value, choice.label))
        for choice, keep in (
            (Choice.MIGRATE_CONTRACTOR, lambda t: t.contractor_id != offering.contractor_id),
            (
                Choice.MIGRATE_SERVICE,
                lambda t: (
                    t.contractor_id == offering.contractor_id and t.pk != offering.successor_id
                ),
            ),
        ):
            group = [(self.encode(choice, t.pk), target_label(t)) for t in targets if keep(t)]
            if group:
                choices.append((f"{choice.label} to…", group))
        return choices

    def clean(self):
        cleaned = super().clean()
        self.decisions = {}
        for line in self.lines:
            value = cleaned.get(f"line_{line.pk}") or ""
            if not value:
                self.decisions[line.pk] = (None, None)
                continue
            choice, _, target_id = value.partition(":")
            target = self.targets.get(int(target_id)) if target_id.isdigit() else None
            error = rules.choice_error(self.kind, self.offering, choice, target, self.on)
            if error:
                self.add_error(f"line_{line.pk}", ValidationError(error, code="rules"))
            self.decisions[line.pk] = (choice, target)
        return cleaned

    def rows(self):
        """(line, bound field, the <option>s of its select with its value selected)."""
        rows = []
        for line in self.lines:
            field = self[f"line_{line.pk}"]
            rows.append((line, field, self.options_html(field.value() or "")))
        return rows

    def options_html(self, current):
        """The select's options, built in Python: the same few dozen options repeat on
        every line of the page, and template loops over them were most of its time."""
        if not hasattr(self, "_option_fragments"):
            self._option_fragments = [
                (escape(label) if label else None, [(escape(v), escape(t)) for v, t in options])
                for label, options in self.choice_groups
            ]
        current = escape(current)
        parts = []
        for group_label, options in self._option_fragments:
            if group_label:
                parts.append(f'<optgroup label="{group_label}">')
            for value, label in options:
                selected = " selected" if value == current else ""
                parts.append(f'<option value="{value}"{selected}>{label}</option>')
            if group_label:
                parts.append("</optgroup>")
        return mark_safe("".join(parts))  # noqa: S308 (every part escaped above)

    def save(self):
        for line in self.lines:
            choice, target = self.decisions[line.pk]
            exception = self.exceptions.get(line.pk)
            if choice is None:
                if exception is not None:
                    exception.delete()
            elif exception is None:
                Decision.objects.create(
                    response=self.response,
                    offering=self.offering,
                    line=line,
                    choice=choice,
                    target=target,
                )
            elif exception.choice != choice or exception.target_id != getattr(target, "pk", None):
                exception.choice, exception.target = choice, target
                exception.save(update_fields=["choice", "target"])
        workflow.refresh_counts(self.response)
        return self.response.lines_undecided == 0


class AddLineForm(ErrorSummaryMixin, forms.Form):
    """A CALNET 2 service the department holds that is missing from STND's inventory."""

    offering = forms.ModelChoiceField(
        label="CALNET 2 service and contractor",
        queryset=Offering.objects.none(),
        empty_label="Choose the service",
    )
    identifier = forms.CharField(label="Account, telephone or circuit number", max_length=60)
    quantity = forms.IntegerField(
        label="Quantity", min_value=1, max_value=MAX_LINE_QUANTITY, initial=1
    )
    location = forms.CharField(label="Location (address)", max_length=200, required=False)

    def __init__(self, data=None, *, response, user=None, **kwargs):
        self.response = response
        self.user = user
        super().__init__(data, **kwargs)
        self.fields["offering"].queryset = (
            Offering.objects.filter(contract=response.campaign.old_contract)
            .select_related("contractor")
            .order_by("contractor__name", "name")
        )
        self.fields["offering"].label_from_instance = lambda o: f"{o.name} ({o.contractor.name})"

    def clean(self):
        cleaned = super().clean()
        offering, identifier = cleaned.get("offering"), cleaned.get("identifier")
        if (
            offering
            and identifier
            and InventoryLine.objects.filter(
                department=self.response.department, offering=offering, identifier=identifier
            ).exists()
        ):
            self.add_error(
                "identifier",
                ValidationError(
                    "Your inventory already holds this service with this number.",
                    code="duplicate",
                ),
            )
        return cleaned


# --- Timeframe ---------------------------------------------------------------------------------


class TimeframeForm(ErrorSummaryMixin, forms.Form):
    window_start = forms.ChoiceField(label="From", required=False)
    window_end = forms.ChoiceField(label="To", required=False)
    blackout_periods = forms.CharField(
        label="Constraints or blackout periods",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Dates or times when the contractors must not work on your services, "
        "for example “No changes during the fiscal year-end close, 20 June to 10 July”.",
    )
    migration_plans = forms.ChoiceField(
        label="Do you plan to migrate services to different services or contractors?",
        choices=MigrationPlans.choices,
        required=False,
        widget=forms.RadioSelect,
    )
    comments = forms.CharField(
        label="Comments for STND",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, data=None, *, response, groups=list, user=None, **kwargs):
        """`groups`: a callable giving the response's service groups, called only
        when "plans to migrate" is unanswered and the page shows a suggestion."""
        self.response = response
        self.user = user
        month = workflow._month_data
        plans = response.migration_plans
        if not plans and data is None:
            plans = workflow.suggested_migration_plans(groups())
        initial = {
            "window_start": month(response.window_start) or "",
            "window_end": month(response.window_end) or "",
            "blackout_periods": response.blackout_periods,
            "migration_plans": plans,
            "comments": response.comments,
        }
        super().__init__(data, initial=initial, **kwargs)
        months = workflow.month_choices(response.campaign)
        self.fields["window_start"].choices = [("", "Choose the first month"), *months]
        self.fields["window_end"].choices = [("", "Choose the last month"), *months]

    def error_label(self, name):
        if name == "window_start":
            return "Preferred window, first month"
        if name == "window_end":
            return "Preferred window, last month"
        return super().error_label(name)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("window_start"), cleaned.get("window_end")
        if start and end and start > end:
            self.add_error(
                "window_end",
                ValidationError("The last month cannot come before the first.", code="order"),
            )
        return cleaned

    def save(self):
        data = self.cleaned_data
        response = self.response
        response.window_start = workflow.parse_month(data["window_start"])
        response.window_end = workflow.parse_month(data["window_end"])
        response.blackout_periods = data["blackout_periods"].strip()
        response.migration_plans = data["migration_plans"]
        response.comments = data["comments"].strip()
        response.save(
            update_fields=[
                "window_start",
                "window_end",
                "blackout_periods",
                "migration_plans",
                "comments",
                "updated_at",
            ]
        )
        return bool(response.window_start and response.window_end and response.migration_plans)


# --- Review and submit -----------------------------------------------------------------------


class SubmitForm(ErrorSummaryMixin, forms.Form):
    """The Manager's authorization: an attestation, and the version they reviewed."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    attest = forms.BooleanField(
        label="I am the Customer Conversion Manager and I authorize the conversion of our "
        "CALNET 2 services as described on this page.",
        error_messages={"required": "Tick the box to authorize the answers."},
    )


class VersionForm(forms.Form):
    """The response version a person acted on (request or withdraw an authorization)."""

    version = forms.IntegerField(widget=forms.HiddenInput)
