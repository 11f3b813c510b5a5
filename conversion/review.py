"""STND's review actions on a response: accept, return for changes, reopen.

Each function checks that the action is allowed, changes the response under a
row lock (two analysts clicking at once cannot both act), bumps its version
and records who did it in the response's history (django-simple-history).
They take keyword arguments only so they can move into `Response` methods
later without touching their callers.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from conversion.models import Response, ResponseStatus

# Statuses an analyst can act on: the department has submitted (or STND already decided).
REVIEWABLE = [ResponseStatus.SUBMITTED, ResponseStatus.ACCEPTED]


def _locked(response):
    return Response.objects.select_for_update().select_related("campaign").get(pk=response.pk)


def _save(response, *, by, reason):
    response.version += 1
    response._history_user = by
    response._change_reason = reason
    response.save()


def accept(*, response, by, now=None):
    """Mark a submitted response accepted: STND has everything it needs."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked(response)
        if locked.status != ResponseStatus.SUBMITTED:
            raise ValidationError(
                "Only a submitted response can be accepted (this one is %(status)s).",
                code="not_submitted",
                params={"status": locked.get_status_display().lower()},
            )
        locked.status = ResponseStatus.ACCEPTED
        locked.accepted_at = now
        locked.accepted_by = by
        _save(locked, by=by, reason="Accepted")
    return locked


def return_for_changes(*, response, by, note, now=None):
    """Send a submitted (or accepted) response back to the department with a note.

    The department sees the note on its pages and gets it by email. After the
    hard close, the department could not change anything: reopen it first."""
    from conversion import emails

    now = now or timezone.now()
    note = (note or "").strip()
    if not note:
        raise ValidationError("Say what the department should change.", code="note_required")
    with transaction.atomic():
        locked = _locked(response)
        if locked.status not in REVIEWABLE:
            raise ValidationError(
                "Only a submitted or accepted response can be returned (this one is %(status)s).",
                code="not_reviewable",
                params={"status": locked.get_status_display().lower()},
            )
        if locked.campaign.is_closed(now) and not (
            locked.reopened_until and locked.reopened_until > now
        ):
            raise ValidationError(
                "The survey is past its hard close: reopen it first so the department can "
                "make the changes.",
                code="closed",
            )
        locked.status = ResponseStatus.RETURNED
        locked.returned_note = note
        locked.returned_at = now
        locked.accepted_at = None
        locked.accepted_by = None
        _save(locked, by=by, reason="Returned for changes")
    sent = emails.send_returned(response=locked)
    return locked, sent


def reopen(*, response, by, until, now=None):
    """Let the department change its answers after the hard close, until `until`."""
    now = now or timezone.now()
    if isinstance(until, datetime.date) and not isinstance(until, datetime.datetime):
        # A date means the end of that day, local time.
        until = timezone.make_aware(datetime.datetime.combine(until, datetime.time(23, 59, 59)))
    if until <= now:
        raise ValidationError("Reopen until a moment in the future.", code="past")
    with transaction.atomic():
        locked = _locked(response)
        if not locked.campaign.is_closed(now):
            raise ValidationError(
                "The survey is still open: the department can already change its answers.",
                code="still_open",
            )
        if locked.status == ResponseStatus.ACCEPTED:
            raise ValidationError(
                "This response is accepted: return it for changes to let the department edit.",
                code="accepted",
            )
        locked.reopened_until = until
        _save(locked, by=by, reason=f"Reopened until {timezone.localtime(until):%Y-%m-%d %H:%M}")
    return locked


def add_note(*, response, by, text):
    """An internal note, for STND only."""
    from conversion.models import InternalNote

    text = (text or "").strip()
    if not text:
        raise ValidationError("Write the note first.", code="empty")
    return InternalNote.objects.create(response=response, author=by, text=text)


def send_reminder(*, response, by):
    """Send a reminder to a department that has not submitted, now."""
    from conversion import emails

    if response.status not in (
        ResponseStatus.NOT_STARTED,
        ResponseStatus.IN_PROGRESS,
        ResponseStatus.AWAITING_MANAGER,
        ResponseStatus.RETURNED,
    ):
        raise ValidationError(
            "%(department)s has already submitted: no reminder needed.",
            code="submitted",
            params={"department": response.department.name},
        )
    return emails.send_reminder_now(response=response, sent_by=by)


def edit_section(*, response, section, form, by, loaded_version, now=None):
    """Save an analyst's change to one section with the department's own form (`form`,
    already valid), recorded in the history as STND's edit.

    Unlike a department's save, the status stays as it is (an analyst correcting a
    submitted answer does not un-submit it). The section's version is claimed with
    a conditional update, so an analyst's edit and a department's save based on
    the same version cannot both win; returns False when the section changed since
    `loaded_version` was read."""
    from django.db.models import F

    from conversion import workflow
    from conversion.models import Section, SectionProgress

    now = now or timezone.now()
    with transaction.atomic():
        progress, _ = SectionProgress.objects.get_or_create(response=response, section=section)
        claimed = SectionProgress.objects.filter(pk=progress.pk, version=loaded_version).update(
            version=F("version") + 1, saved_by=by, saved_at=now
        )
        if not claimed:
            # Roll back everything, the progress row get_or_create may have made included:
            # a refused edit writes nothing.
            transaction.set_rollback(True)
            return False
        form.response._history_user = by
        form.response._change_reason = f"Edited by STND ({section})"
        complete = form.save()
        SectionProgress.objects.filter(pk=progress.pk).update(is_complete=complete)
        Response.objects.filter(pk=response.pk).update(version=F("version") + 1)
        if section == Section.SERVICES:
            workflow.refresh_counts(response)
    return True
