"""The survey's workflow: saving sections, authorization by the Manager, submission.

Functions take keyword-only arguments and a `response`, so that each can move into
a `Response` method later (`response.save_section(...)`, `response.submit(...)`)
without changing its callers' arguments.

A submitted revision's `answers` (see `snapshot`) is plain JSON:

    {"campaign": {"slug", "bulletin_number", "name", "due_at"},
     "department": {"code", "name", "kind", "kind_label", "confirmed", "kind_flag_note"},
     "contacts": {"one_person": bool,
                  "manager": {"name", "title", "email", "phone"} | None,
                  "coordinator": {...} | None},
     "services": [{"offering", "code", "category", "incumbent", "lines", "quantity",
                   "choice", "choice_label", "chosen", "target", "target_contractor",
                   "exceptions": [{"identifier", "choice", "choice_label", "target",
                                   "target_contractor"}]}],
     "timeframe": {"window_start", "window_end", "window", "blackout_periods",
                   "migration_plans", "migration_plans_label", "comments"},
     "checklist": Checklist.as_dict(),
     "counts": {"transition", "migration", "disconnect", "undecided"}}
"""

import datetime

from django.core import signing
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format

from conversion import rules
from conversion.models import (
    Choice,
    Decision,
    MigrationPlans,
    Response,
    ResponseStatus,
    Revision,
    Section,
    SectionProgress,
)

LOADED_SALT = "conversion.workflow.loaded"


class Conflict(Exception):
    """Someone else saved the section since this person loaded it."""

    def __init__(self, *, progress, changes):
        super().__init__("The section changed since it was loaded.")
        self.progress = progress
        self.changes = changes


class NotAllowed(Exception):
    """The response cannot change now (closed, accepted, awaiting the Manager...)."""


# --- Who may do what, and when ----------------------------------------------------------


def editing_closed_reason(response, *, now=None):
    """Why the department cannot change its answers now, or '' when it can.

    The campaign's dates decide first (`Response.is_editable`: open until the hard
    close, or while STND reopened it); then a submitted response may be amended
    only until the due date, and nothing changes while it waits for the Manager."""
    now = now or timezone.now()
    campaign = response.campaign
    if response.status == ResponseStatus.ACCEPTED:
        return "STND has accepted these answers. Call STND to change anything."
    if not response.is_editable(now):
        if now < campaign.opens_at:
            return "The survey is not open yet."
        closed = date_format(timezone.localtime(campaign.closes_at), "DATETIME_FORMAT")
        return f"The survey closed on {closed}. Call STND to change anything."
    reopened = response.reopened_until and now < response.reopened_until
    if response.status == ResponseStatus.SUBMITTED and campaign.is_past_due(now) and not reopened:
        return (
            "Your answers are submitted. Amendments were accepted until the due date; "
            "call STND to change anything."
        )
    if response.status == ResponseStatus.AWAITING_MANAGER:
        return (
            "The answers are waiting for the Customer Conversion Manager's authorization. "
            "Withdraw the request on the Review page to make changes."
        )
    return ""


def can_edit(response, *, now=None):
    return not editing_closed_reason(response, now=now)


def is_manager(response, user):
    """Whether `user` is the department's Customer Conversion Manager."""
    manager = response.manager
    return bool(manager and user.is_authenticated and manager.email == (user.email or "").lower())


# --- Section progress, snapshots and conflicts ---------------------------------------------


def progress_by_section(response):
    """{Section: SectionProgress or None}, in one query."""
    found = {p.section: p for p in response.sections.select_related("saved_by").order_by("section")}
    return {section: found.get(section) for section in Section}


def section_state(progress):
    if progress is None or progress.version == 0:
        return "not_started"
    return "complete" if progress.is_complete else "in_progress"


SECTION_STATE_LABELS = {
    "not_started": "Not started",
    "in_progress": "In progress",
    "complete": "Complete",
}


def _person_text(person):
    if person is None:
        return "(nobody)"
    return ", ".join(
        part for part in (person.name, person.title, person.email, person.phone) if part
    )


def _month_text(day):
    return date_format(day, "F Y") if day else "(not given)"


def section_answers(response, section, *, groups=None):
    """The section's answers as {label: text}: what a conflict message compares."""
    if section == Section.DEPARTMENT:
        return {
            "Name and kind confirmed": "Yes" if response.department_confirmed else "No",
            "Note to STND about the kind": response.kind_flag_note or "(none)",
        }
    if section == Section.CONTACTS:
        return {
            "Customer Conversion Manager": _person_text(response.manager),
            "Customer Conversion Coordinator": _person_text(response.coordinator),
        }
    if section == Section.TIMEFRAME:
        return {
            "Window starts": _month_text(response.window_start),
            "Window ends": _month_text(response.window_end),
            "Constraints or blackout periods": response.blackout_periods or "(none)",
            "Plans to migrate": response.get_migration_plans_display() or "(not given)",
            "Comments": response.comments or "(none)",
        }
    answers = {}
    for group in groups if groups is not None else response.service_groups():
        label = f"{group.offering.name} ({group.incumbent.name})"
        answers[label] = _decision_text(group.choice, group.target, explicit=group.decision)
        answers[f"{label}: per-line exceptions"] = str(len(group.exceptions))
    return answers


def _decision_text(choice, target, *, explicit=True):
    if choice is None:
        return "(no decision)"
    text = Choice(choice).label
    if target is not None:
        text += f" to {target.name} ({target.contractor.name})"
    if not explicit:
        text += " (automatic)"
    return text


def loaded_token(*, progress, answers):
    """A signed hidden-field value remembering the version and answers a form showed,
    so a stale save can be refused and can say what the other person changed."""
    version = progress.version if progress else 0
    return signing.dumps({"v": version, "a": answers}, salt=LOADED_SALT, compress=True)


def read_loaded_token(value):
    """(version, answers) from `loaded_token`; (None, {}) when missing or tampered with."""
    try:
        data = signing.loads(value or "", salt=LOADED_SALT)
    except signing.BadSignature:
        return None, {}
    return data.get("v"), data.get("a") or {}


def changes_between(before, after):
    """[(label, before, after)] for each answer that differs."""
    return [
        (label, before.get(label, "(not shown)"), value)
        for label, value in after.items()
        if before.get(label) != value
    ]


def save_section(
    *, response, section, user, loaded_version, loaded_answers, write, answers=None, now=None
):
    """Save one section whole or not at all, refusing a save based on an old version.

    `write()` stores the section's answers and returns whether the section is now
    complete. The section's version is claimed with a conditional update first, so
    of two people who loaded the same version only one can save; the other gets
    `Conflict` with what changed since they loaded the page (`answers()` gives the
    answers now, as the page shows them; by default the whole section's)."""
    now = now or timezone.now()
    reason = editing_closed_reason(response, now=now)
    if reason:
        raise NotAllowed(reason)
    with transaction.atomic():
        progress, _ = SectionProgress.objects.get_or_create(response=response, section=section)
        claimed = SectionProgress.objects.filter(
            pk=progress.pk, version=loaded_version if loaded_version is not None else -1
        ).update(version=F("version") + 1, saved_by=user, saved_at=now)
        if not claimed:
            progress.refresh_from_db()
            response.refresh_from_db()
            now_shown = answers() if answers else section_answers(response, section)
            changes = changes_between(loaded_answers, now_shown)
            raise Conflict(progress=progress, changes=changes)
        _lock_editable(response, now=now)
        complete = write()
        SectionProgress.objects.filter(pk=progress.pk).update(is_complete=complete)
        _touch(response, now=now)
    progress.refresh_from_db()
    return progress


def _lock_editable(response, *, now):
    """Lock the response row and check again, under the lock, that it may change: an
    analyst may have accepted it (or the Manager been asked) since the request read it.
    Taken after the section's row, in the order STND's own edits take them."""
    locked = Response.objects.select_for_update().get(pk=response.pk)
    response.status, response.reopened_until = locked.status, locked.reopened_until
    reason = editing_closed_reason(response, now=now)
    if reason:
        raise NotAllowed(reason)


def _touch(response, *, now):
    """Bump the response's version and move it to "in progress" when answers change:
    a first answer starts it; a change after submission is an amendment in progress.
    A response STND returned stays "returned" until it is submitted again."""
    status = response.status
    if status in (ResponseStatus.NOT_STARTED, ResponseStatus.SUBMITTED):
        status = ResponseStatus.IN_PROGRESS
    Response.objects.filter(pk=response.pk).update(
        version=F("version") + 1, status=status, updated_at=now
    )
    response.status = status
    response.refresh_from_db(fields=["version", "updated_at"])


def refresh_counts(response, *, groups=None):
    """Store the line counts by decision (for the admin list and dashboard)."""
    if groups is None:
        groups = response.service_groups()
    response.refresh_counts(response.checklist(groups))
    Response.objects.filter(pk=response.pk).update(
        lines_transition=response.lines_transition,
        lines_migration=response.lines_migration,
        lines_disconnect=response.lines_disconnect,
        lines_undecided=response.lines_undecided,
    )


def add_line(*, response, user, offering, identifier, quantity, location, now=None):
    """Add a service missing from STND's inventory (recorded as added by `user`)."""
    from conversion.models import InventoryLine

    now = now or timezone.now()
    reason = editing_closed_reason(response, now=now)
    if reason:
        raise NotAllowed(reason)
    with transaction.atomic():
        _lock_editable(response, now=now)
        line = InventoryLine.objects.create(
            department=response.department,
            offering=offering,
            identifier=identifier,
            quantity=quantity,
            location=location,
            added_by=user,
        )
        _touch(response, now=now)
        refresh_counts(response)
    return line


# --- Completeness -----------------------------------------------------------------------------


def missing(response, *, progress, checklist):
    """What stops the response from being submitted: [(section, message)]."""
    problems = []
    if not (response.department_confirmed or response.kind_flag_note):
        problems.append((Section.DEPARTMENT, "Confirm your department's name and kind."))
    if response.manager_id is None:
        problems.append((Section.CONTACTS, "Name the Customer Conversion Manager."))
    if response.coordinator_id is None:
        problems.append((Section.CONTACTS, "Name the Customer Conversion Coordinator."))
    if section_state(progress.get(Section.SERVICES)) == "not_started":
        problems.append(
            (
                Section.SERVICES,
                "Review your services and save the section, even if the automatic "
                "choices are right.",
            )
        )
    if checklist.undecided_lines:
        problems.append(
            (
                Section.SERVICES,
                f"Choose what happens to {checklist.undecided_lines:,} inventory "
                f"line{'s' if checklist.undecided_lines != 1 else ''} with no decision.",
            )
        )
    if response.window_start is None or response.window_end is None:
        problems.append((Section.TIMEFRAME, "Give your preferred conversion window."))
    if not response.migration_plans:
        problems.append((Section.TIMEFRAME, "Say whether you plan to migrate any services."))
    return problems


# --- Authorization and submission -----------------------------------------------------------


def request_authorization(*, response, user, now=None):
    """A Coordinator (or anyone of the department but the Manager) asks the Manager to
    authorize: the answers freeze and the Manager gets an email with a 72-hour link.
    Returns the queued OutboundEmail."""
    from conversion import emails

    now = now or timezone.now()
    reason = editing_closed_reason(response, now=now)
    if reason:
        raise NotAllowed(reason)
    with transaction.atomic():
        claimed = Response.objects.filter(pk=response.pk, version=response.version).update(
            status=ResponseStatus.AWAITING_MANAGER,
            authorization_requested_at=now,
            authorization_requested_by=user,
            version=F("version") + 1,
            updated_at=now,
        )
        if not claimed:
            raise NotAllowed("The answers changed meanwhile: review them and try again.")
        response.refresh_from_db()
    return emails.send_authorization_request(response=response, requested_by=user)


def withdraw_authorization_request(*, response, now=None):
    """Unfreeze answers waiting for the Manager, so they can change again."""
    now = now or timezone.now()
    if response.status != ResponseStatus.AWAITING_MANAGER:
        raise NotAllowed("The answers are not waiting for the Manager.")
    Response.objects.filter(pk=response.pk, status=ResponseStatus.AWAITING_MANAGER).update(
        status=ResponseStatus.IN_PROGRESS, version=F("version") + 1, updated_at=now
    )
    response.refresh_from_db()


def can_submit(response, *, now=None):
    """Submission is open while answers may change, and to authorize a pending request."""
    now = now or timezone.now()
    if response.status == ResponseStatus.AWAITING_MANAGER:
        return response.is_editable(now)
    return can_edit(response, now=now) and response.status != ResponseStatus.SUBMITTED


def submit(*, response, user, version, now=None):
    """The Manager authorizes and submits: a new Revision keeps a copy of the answers.

    `version` is the response version the Manager reviewed; if anything changed
    since, nothing is submitted (they must review again). Submissions after the
    due date are accepted and marked late. Returns (revision, receipt emails)."""
    from conversion import emails

    now = now or timezone.now()
    if not can_submit(response, now=now):
        raise NotAllowed(editing_closed_reason(response, now=now) or "Already submitted.")
    if not is_manager(response, user):
        raise NotAllowed("Only the Customer Conversion Manager can authorize the answers.")
    late = response.would_be_late(now)
    with transaction.atomic():
        locked = Response.objects.select_for_update().get(pk=response.pk)
        if locked.version != version:
            raise NotAllowed("The answers changed since you reviewed them: review them again.")
        response.refresh_from_db()
        groups = response.service_groups(timezone.localdate(now))
        answers = snapshot(response, groups=groups)
        last = response.revisions.order_by("-number").first()
        revision = Revision.objects.create(
            response=response,
            number=(last.number + 1) if last else 1,
            submitted_at=now,
            submitted_by=user,
            is_late=late,
            answers=answers,
        )
        response.refresh_counts(response.checklist(groups))
        response.status = ResponseStatus.SUBMITTED
        response.submitted_at = now
        response.submitted_by = user
        # The department is late if its first submission was; later amendments are
        # marked on their own revision.
        response.is_late = late if last is None else response.is_late
        response.version += 1
        response.save()
    receipts = emails.send_receipt(response=response, revision=revision)
    return revision, receipts


# --- The answers as plain data ------------------------------------------------------------------


def _person_data(person):
    if person is None:
        return None
    return {
        "name": person.name,
        "title": person.title,
        "email": person.email,
        "phone": person.phone,
    }


def _month_data(day):
    return day.strftime("%Y-%m") if day else None


def snapshot(response, *, groups=None):
    """All the answers and the checklist as JSON-ready data (a revision's `answers`)."""
    if groups is None:
        groups = response.service_groups()
    campaign, department = response.campaign, response.department
    exception_lines = {}
    for row in (
        Decision.objects.filter(response=response, line__isnull=False)
        .order_by("offering_id", "line__identifier")
        .values(
            "offering_id",
            "line__identifier",
            "choice",
            "target__name",
            "target__contractor__name",
        )
    ):
        exception_lines.setdefault(row["offering_id"], []).append(
            {
                "identifier": row["line__identifier"],
                "choice": row["choice"],
                "choice_label": Choice(row["choice"]).label,
                "target": row["target__name"],
                "target_contractor": row["target__contractor__name"],
            }
        )
    services = []
    for group in groups:
        offering, target = group.offering, group.target
        services.append(
            {
                "offering": offering.name,
                "code": offering.code,
                "category": offering.category.number,
                "incumbent": offering.contractor.name,
                "lines": group.lines,
                "quantity": group.quantity,
                "choice": group.choice,
                "choice_label": Choice(group.choice).label if group.choice else "No decision",
                "chosen": group.decision is not None,
                "target": target.name if target else None,
                "target_contractor": target.contractor.name if target else None,
                "exceptions": exception_lines.get(offering.pk, []),
            }
        )
    checklist = response.checklist(groups)
    window = ""
    if response.window_start and response.window_end:
        window = f"{_month_text(response.window_start)} to {_month_text(response.window_end)}"
    by_choice = checklist.lines_by_choice
    return {
        "campaign": {
            "slug": campaign.slug,
            "bulletin_number": campaign.bulletin_number,
            "name": campaign.name,
            "due_at": campaign.due_at.isoformat(),
        },
        "department": {
            "code": department.code,
            "name": department.name,
            "kind": department.kind,
            "kind_label": department.get_kind_display(),
            "confirmed": response.department_confirmed,
            "kind_flag_note": response.kind_flag_note,
        },
        "contacts": {
            "one_person": response.has_one_contact,
            "manager": _person_data(response.manager),
            "coordinator": _person_data(response.coordinator),
        },
        "services": services,
        "timeframe": {
            "window_start": _month_data(response.window_start),
            "window_end": _month_data(response.window_end),
            "window": window,
            "blackout_periods": response.blackout_periods,
            "migration_plans": response.migration_plans,
            "migration_plans_label": response.get_migration_plans_display(),
            "comments": response.comments,
        },
        "checklist": checklist.as_dict(),
        "counts": {
            "transition": by_choice.get(Choice.TRANSITION, 0),
            "migration": sum(by_choice.get(c, 0) for c in rules.MIGRATIONS),
            "disconnect": by_choice.get(Choice.DISCONNECT, 0),
            "undecided": checklist.undecided_lines,
        },
    }


def suggested_migration_plans(groups):
    """Prefill for "plans to migrate" from the decisions made so far."""
    choices = [g.choice for g in groups] + [e.choice for g in groups for e in g.exceptions]
    if any(choice in rules.MIGRATIONS for choice in choices):
        return MigrationPlans.YES
    if choices and all(choice is not None for choice in choices):
        return MigrationPlans.NO
    return ""


def month_choices(campaign):
    """(value, label) pairs for the preferred window: the campaign's months."""
    return [(m.strftime("%Y-%m"), date_format(m, "F Y")) for m in campaign.months()]


def parse_month(value):
    return datetime.date.fromisoformat(f"{value}-01") if value else None
