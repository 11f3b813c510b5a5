"""STND's review actions: accept, return for changes (emailed), reopen after the
hard close; each recorded in the response's history with who did it."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from conversion import review
from conversion.models import EmailKind, InternalNote, OutboundEmail, ResponseStatus
from tests.conversion import test_admin_support as support
from tests.conversion.test_admin_support import submit

analyst = support.analyst


def test_accepting_a_submitted_response_records_who_and_when(response, analyst):
    submit(response)
    accepted = review.accept(response=response, by=analyst)
    assert accepted.status == ResponseStatus.ACCEPTED
    assert accepted.accepted_by == analyst
    assert accepted.accepted_at is not None
    latest = accepted.history.first()
    assert latest.status == ResponseStatus.ACCEPTED
    assert latest.history_user == analyst
    assert latest.history_change_reason == "Accepted"


def test_a_response_not_submitted_cannot_be_accepted(response, analyst):
    with pytest.raises(ValidationError) as error:
        review.accept(response=response, by=analyst)
    assert error.value.code == "not_submitted"
    response.refresh_from_db()
    assert response.status == ResponseStatus.NOT_STARTED


def test_returning_for_changes_stores_the_note_and_emails_the_department(
    response, analyst, mailoutbox, django_capture_on_commit_callbacks
):
    submit(response)
    with django_capture_on_commit_callbacks(execute=True):
        returned, sent = review.return_for_changes(
            response=response, by=analyst, note="Please name a Coordinator."
        )
    assert returned.status == ResponseStatus.RETURNED
    assert returned.returned_note == "Please name a Coordinator."
    assert returned.returned_at is not None
    assert [e.recipient for e in sent] == [response.department.atr.email]
    assert OutboundEmail.objects.get(kind=EmailKind.RETURNED).recipient == (
        response.department.atr.email
    )
    assert len(mailoutbox) == 1
    assert "Please name a Coordinator." in mailoutbox[0].body
    assert returned.history.first().history_user == analyst


def test_returning_needs_a_note(response, analyst):
    submit(response)
    with pytest.raises(ValidationError) as error:
        review.return_for_changes(response=response, by=analyst, note="   ")
    assert error.value.code == "note_required"


def test_an_accepted_response_can_be_returned_and_loses_its_acceptance(response, analyst):
    submit(response)
    review.accept(response=response, by=analyst)
    returned, _ = review.return_for_changes(response=response, by=analyst, note="One more thing")
    assert returned.status == ResponseStatus.RETURNED
    assert returned.accepted_at is None


def test_returning_after_the_hard_close_asks_to_reopen_first(response, analyst):
    submit(response)
    later = response.campaign.closes_at + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as error:
        review.return_for_changes(response=response, by=analyst, note="Fix it", now=later)
    assert error.value.code == "closed"
    review.reopen(
        response=response, by=analyst, until=later + datetime.timedelta(days=3), now=later
    )
    returned, _ = review.return_for_changes(response=response, by=analyst, note="Fix", now=later)
    assert returned.status == ResponseStatus.RETURNED


def test_reopening_after_the_hard_close_lets_the_department_edit_until_then(response, analyst):
    campaign = response.campaign
    later = campaign.closes_at + datetime.timedelta(days=1)
    assert not response.is_editable(later)
    until = timezone.localdate(later) + datetime.timedelta(days=5)
    reopened = review.reopen(response=response, by=analyst, until=until, now=later)
    assert reopened.is_editable(later)
    assert timezone.localdate(reopened.reopened_until) == until
    assert reopened.history.first().history_user == analyst


def test_reopening_while_the_survey_is_open_is_refused(response, analyst):
    until = timezone.now() + datetime.timedelta(days=30)
    with pytest.raises(ValidationError) as error:
        review.reopen(response=response, by=analyst, until=until)
    assert error.value.code == "still_open"


def test_reopening_until_a_past_moment_is_refused(response, analyst):
    later = response.campaign.closes_at + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as error:
        review.reopen(
            response=response, by=analyst, until=later - datetime.timedelta(hours=1), now=later
        )
    assert error.value.code == "past"


def test_a_reminder_goes_to_a_department_that_has_not_submitted(response, analyst):
    sent = review.send_reminder(response=response, by=analyst)
    assert [e.kind for e in sent] == [EmailKind.REMINDER]
    submit(response)
    with pytest.raises(ValidationError):
        review.send_reminder(response=response, by=analyst)


def test_internal_notes_need_text(response, analyst):
    with pytest.raises(ValidationError):
        review.add_note(response=response, by=analyst, text=" ")
    review.add_note(response=response, by=analyst, text="Called the ATR.")
    assert InternalNote.objects.get().author == analyst
