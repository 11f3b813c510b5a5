"""Each message: its recipients, parts, headers and links; the log's claim and retry path."""

import datetime
import smtplib
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from conversion import emails, workflow
from conversion.models import (
    Choice,
    Decision,
    EmailKind,
    EmailStatus,
    OutboundEmail,
    Response,
    ResponseStatus,
    Revision,
)
from departments.models import Person
from tests.conftest import make_user_for
from tests.smtp import SMTPServer


@pytest.fixture(autouse=True)
def no_quick_retry_delay(monkeypatch):
    monkeypatch.setattr(emails, "QUICK_RETRY_DELAY", 0)


def add_person(department, name, email, title=""):
    return Person.objects.create(department=department, name=name, email=email, title=title)


@pytest.fixture
def contacts(response):
    """A Manager and a Coordinator named in the survey, other than the ATR."""
    department = response.department
    response.manager = add_person(department, "Grace Manager", "manager@dept.example.gov")
    response.coordinator = add_person(department, "Alan Coordinator", "coord@dept.example.gov")
    response.save()
    return response


def sign_in_link(text):
    """The sign-in link in a message body, parsed: (path, query)."""
    link = next(word for word in text.split() if "token=" in word)
    parts = urlsplit(link.strip("<>\"'"))
    return parts, parse_qs(parts.query)


def sent(mailoutbox, recipient):
    return [m for m in mailoutbox if recipient in m.to]


def test_invitation_has_both_parts_the_link_the_due_date_and_stnd_phone(
    campaign, department, mailoutbox, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        row = emails.send_invitation(campaign=campaign, person=department.atr)

    assert row.status == EmailStatus.SENT
    assert row.kind == EmailKind.INVITATION
    assert row.department == department and row.campaign == campaign
    [message] = mailoutbox
    assert message.to == [department.atr.email]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert message.reply_to == [campaign.stnd_email]
    assert "\n" not in message.subject
    assert "ATR 13-06" in message.subject
    headers = message.message()
    assert headers["Message-ID"] == row.message_id
    assert settings.EMAIL_LIST_ID in headers["List-Id"]
    due = timezone.localtime(campaign.due_at)
    for body in (message.body, message.alternatives[0].content):
        assert campaign.stnd_phone in body
        assert f"{due:%B} {due.day}, {due.year}" in body
        assert department.atr.name in body
    assert message.alternatives[0].mimetype == "text/html"
    assert "<img" not in message.alternatives[0].content
    assert "stylesheet" not in message.alternatives[0].content
    parts, query = sign_in_link(message.body)
    assert parts.path == reverse("departments:sign_in_link")
    assert query["next"] == [
        reverse("survey:overview", kwargs={"campaign": campaign.slug, "code": department.code})
    ]
    assert len(query["token"][0]) >= 22  # 128 bits and more


def test_deciding_the_same_message_twice_queues_and_sends_it_once(
    campaign, department, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = emails.send_invitation(campaign=campaign, person=department.atr)
        second = emails.send_invitation(campaign=campaign, person=department.atr)

    assert first.pk == second.pk
    assert OutboundEmail.objects.count() == 1
    assert len(mailoutbox) == 1


def test_each_sign_in_request_sends_a_new_15_minute_link(
    campaign, department, mailoutbox, django_capture_on_commit_callbacks
):
    user = make_user_for(department.atr)
    with django_capture_on_commit_callbacks(execute=True):
        first = emails.send_sign_in_link(user=user)
        second = emails.send_sign_in_link(user=user)

    assert first.key != second.key
    assert [m.to for m in mailoutbox] == [[user.email], [user.email]]
    assert "15 minutes" in mailoutbox[0].body
    assert campaign.stnd_phone in mailoutbox[0].body
    assert first.department == department


def test_authorization_request_goes_to_the_manager_with_a_link_to_review(
    contacts, mailoutbox, django_capture_on_commit_callbacks
):
    response = contacts
    coordinator_user = make_user_for(response.coordinator)
    response.authorization_requested_at = timezone.now()
    response.save()
    with django_capture_on_commit_callbacks(execute=True):
        row = emails.send_authorization_request(response=response, requested_by=coordinator_user)

    assert row.kind == EmailKind.AUTHORIZATION_REQUEST
    [message] = mailoutbox
    assert message.to == ["manager@dept.example.gov"]
    assert "Alan Coordinator" in message.body
    _, query = sign_in_link(message.body)
    assert query["next"] == [
        reverse(
            "survey:review",
            kwargs={"campaign": response.campaign.slug, "code": response.department.code},
        )
    ]
    assert "72 hours" in message.body


def test_receipt_goes_once_to_manager_coordinator_and_submitter_with_answers_and_checklist(
    contacts, catalogue, mailoutbox, django_capture_on_commit_callbacks
):
    response = contacts
    Decision.objects.create(
        response=response,
        offering=catalogue.att_centrex_2,
        choice=Choice.MIGRATE_CONTRACTOR,
        target=catalogue.vz_mpls_3,
    )
    response.window_start = datetime.date(2014, 1, 1)
    response.window_end = datetime.date(2014, 3, 1)
    response.save()
    manager_user = make_user_for(response.manager)  # the Manager submits: one receipt to them
    revision = Revision.objects.create(
        response=response,
        number=1,
        submitted_at=timezone.now(),
        submitted_by=manager_user,
        answers=workflow.snapshot(response),
    )
    with django_capture_on_commit_callbacks(execute=True):
        rows = emails.send_receipt(response=response, revision=revision)

    assert sorted(r.recipient for r in rows) == [
        "coord@dept.example.gov",
        "manager@dept.example.gov",
    ]
    assert all(r.status == EmailStatus.SENT for r in rows)
    message = sent(mailoutbox, "coord@dept.example.gov")[0]
    for body in (message.body, message.alternatives[0].content):
        assert (
            "Centrex line (AT&amp;T), 2 lines</strong>: Migrate to another contractor to "
            "MPLS port (Verizon)"
            in body
            or "Centrex line (AT&T), 2 lines: Migrate to another contractor to MPLS port (Verizon)"
            in body
        )
        assert "Verizon: MPLS port (2 lines)" in body  # the Form 20 to prepare
        assert "January 2014 to March 2014" in body
        assert "Grace Manager" in body
    assert "DS1 (AT&T), 3 lines: Transition (automatic)" in message.body


def test_receipt_renders_answers_of_any_shape(contacts, mailoutbox):
    revision = Revision.objects.create(
        response=contacts,
        number=2,
        submitted_at=timezone.now(),
        answers={"odd": [1, None, {"deep": {"deeper": True}}], "checklist": "not a dict"},
    )
    rows = emails.send_receipt(response=contacts, revision=revision)

    assert len(rows) == 2
    assert "Deeper: Yes" in rows[0].body_text
    assert "Form 20 (STD.20) to prepare" in rows[0].body_text  # from the response itself


def test_returned_note_goes_to_the_contacts_and_the_atr(
    contacts, mailoutbox, django_capture_on_commit_callbacks
):
    response = contacts
    response.status = ResponseStatus.RETURNED
    response.returned_note = "Please name a Coordinator in your Sacramento office."
    response.returned_at = timezone.now()
    response.save()
    with django_capture_on_commit_callbacks(execute=True):
        rows = emails.send_returned(response=response)

    assert sorted(m.to[0] for m in mailoutbox) == sorted(
        [response.department.atr.email, "manager@dept.example.gov", "coord@dept.example.gov"]
    )
    assert {r.kind for r in rows} == {EmailKind.RETURNED}
    assert all("Sacramento office" in m.body for m in mailoutbox)


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (ResponseStatus.NOT_STARTED, "has not started the survey"),
        (ResponseStatus.IN_PROGRESS, "has started the survey but not submitted"),
        (ResponseStatus.AWAITING_MANAGER, "waiting for the Customer Conversion Manager"),
        (ResponseStatus.RETURNED, "returned"),
    ],
)
def test_reminder_now_is_worded_by_state(
    contacts, status, phrase, mailoutbox, django_capture_on_commit_callbacks
):
    response = contacts
    response.status = status
    response.save()
    with django_capture_on_commit_callbacks(execute=True):
        rows = emails.send_reminder_now(response=response)

    atr_message = sent(mailoutbox, response.department.atr.email)[0]
    assert phrase in atr_message.body
    recipients = {r.recipient for r in rows}
    if status == ResponseStatus.AWAITING_MANAGER:
        assert "manager@dept.example.gov" in recipients
        assert "your authorization" in sent(mailoutbox, "manager@dept.example.gov")[0].body
    else:
        assert "manager@dept.example.gov" not in recipients
    assert "coord@dept.example.gov" in recipients


def test_reminder_now_after_the_due_date_is_an_overdue_notice_escalated_to_the_manager(
    contacts, mailoutbox, django_capture_on_commit_callbacks, time_machine
):
    response = contacts
    time_machine.move_to(response.campaign.due_at + datetime.timedelta(days=3), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        rows = emails.send_reminder_now(response=response)

    assert {r.kind for r in rows} == {EmailKind.OVERDUE}
    assert "3 days ago" in sent(mailoutbox, response.department.atr.email)[0].body
    manager = sent(mailoutbox, "manager@dept.example.gov")[0]
    assert "escalation" in manager.subject
    assert "Customer Conversion Manager because the survey is overdue" in manager.body


def test_reminder_now_clicked_twice_in_a_minute_sends_once(
    response, mailoutbox, django_capture_on_commit_callbacks, time_machine
):
    time_machine.move_to(timezone.now().replace(second=5), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        emails.send_reminder_now(response=response)
        emails.send_reminder_now(response=response)
    assert len(mailoutbox) == 1


def test_one_person_in_several_roles_gets_one_message(
    response, mailoutbox, django_capture_on_commit_callbacks
):
    atr = response.department.atr
    response.manager = response.coordinator = atr
    response.status = ResponseStatus.AWAITING_MANAGER
    response.save()
    with django_capture_on_commit_callbacks(execute=True):
        rows = emails.send_reminder_now(response=response)
    assert [r.recipient for r in rows] == [atr.email]
    assert "your authorization" in mailoutbox[0].body


# --- Failures, retries and claims ---------------------------------------------------------


@pytest.fixture
def relay_down(settings):
    """MAILERS pointing at a loopback port where nothing listens."""
    settings.MAILERS = SMTPServer().mailers(timeout=2)


def test_smtp_down_the_action_still_succeeds_and_the_email_waits_for_a_retry(
    campaign, department, relay_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        row = emails.send_invitation(campaign=campaign, person=department.atr)

    assert row.status == EmailStatus.PENDING
    assert row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at > timezone.now() + datetime.timedelta(minutes=1)
    row.refresh_from_db()
    assert row.status == EmailStatus.PENDING and row.claimed_until is None


def test_retries_back_off_then_the_message_is_failed_and_can_be_retried(
    campaign, department, relay_down, settings, time_machine, mailoutbox
):
    settings.EMAIL_MAX_ATTEMPTS = 4
    time_machine.move_to(timezone.now(), tick=False)
    row = emails.send_invitation(campaign=campaign, person=department.atr, deliver=False)
    delays = []
    outcomes = []
    for _ in range(4):
        before = timezone.now()
        stats = emails.deliver_due()
        outcomes.append((stats.retried, stats.failed))
        row.refresh_from_db()
        delays.append(row.next_attempt_at - before)
        time_machine.move_to(row.next_attempt_at, tick=False)

    assert outcomes == [(1, 0), (1, 0), (1, 0), (0, 1)]
    assert [d.total_seconds() / 60 for d in delays[:3]] == [2, 4, 8]
    assert row.status == EmailStatus.FAILED and row.attempts == 4
    assert emails.deliver_due().sent == 0  # failed messages wait for STND

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    assert emails.retry(OutboundEmail.objects.all()) == 1
    assert emails.deliver_due().sent == 1
    row.refresh_from_db()
    assert row.status == EmailStatus.SENT and row.last_error == ""
    assert len(mailoutbox) == 1


def test_a_message_claimed_by_another_sender_is_skipped(campaign, department, mailoutbox):
    row = emails.send_invitation(campaign=campaign, person=department.atr, deliver=False)
    OutboundEmail.objects.filter(pk=row.pk).update(
        status=EmailStatus.SENDING, claimed_until=timezone.now() + datetime.timedelta(minutes=5)
    )

    stats = emails.deliver_due()
    assert (stats.sent, stats.skipped) == (0, 0)  # not due: another sender holds it
    assert emails.deliver(row) == "skipped"
    assert mailoutbox == []


def test_a_claim_whose_sender_died_is_taken_over(campaign, department, mailoutbox, time_machine):
    row = emails.send_invitation(campaign=campaign, person=department.atr, deliver=False)
    OutboundEmail.objects.filter(pk=row.pk).update(
        status=EmailStatus.SENDING,
        attempts=1,
        claimed_until=timezone.now() + emails.CLAIM_LEASE,
    )
    time_machine.move_to(timezone.now() + emails.CLAIM_LEASE + datetime.timedelta(seconds=1))

    assert emails.deliver_due().sent == 1
    row.refresh_from_db()
    assert row.status == EmailStatus.SENT and row.attempts == 2
    assert len(mailoutbox) == 1


def test_an_unreachable_relay_stops_the_run_and_leaves_the_rest_untouched(
    campaign, department, relay_down
):
    for n in range(3):
        person = add_person(department, f"Person {n}", f"p{n}@dept.example.gov")
        emails.send_invitation(campaign=campaign, person=person, deliver=False)

    stats = emails.deliver_due()
    assert (stats.sent, stats.retried, stats.failed, stats.skipped) == (0, 1, 0, 2)
    assert sorted(OutboundEmail.objects.values_list("attempts", flat=True)) == [0, 0, 1]


def test_transient_errors_are_retried_at_once(campaign, department, settings, monkeypatch):
    calls = []

    class Flaky:
        def open(self):
            pass

        def close(self):
            pass

        def send_messages(self, messages):
            calls.append(messages)
            if len(calls) < 3:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            return 1

    row = emails.send_invitation(campaign=campaign, person=department.atr, deliver=False)
    assert emails.deliver(row, mailer=Flaky()) == "sent"
    assert len(calls) == 3
    row.refresh_from_db()
    assert row.attempts == 1 and row.status == EmailStatus.SENT


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (smtplib.SMTPDataError(554, b"5.7.1 Rejected"), "554"),
        (TimeoutError("timed out"), "TimeoutError"),
    ],
)
def test_a_refusal_or_a_timeout_is_not_retried_at_once(campaign, department, error, logged):
    calls = []

    class Refusing:
        def open(self):
            pass

        def close(self):
            pass

        def send_messages(self, messages):
            calls.append(messages)
            raise error

    row = emails.send_invitation(campaign=campaign, person=department.atr, deliver=False)
    assert emails.deliver(row, mailer=Refusing()) == "retried"
    assert len(calls) == 1
    row.refresh_from_db()
    assert logged in row.last_error


def test_a_message_decided_inside_a_rolled_back_transaction_is_never_sent(
    campaign, department, mailoutbox, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        emails.send_invitation(campaign=campaign, person=department.atr)
        raise RuntimeError("the person's action failed")

    assert OutboundEmail.objects.count() == 0
    assert callbacks == []
    assert mailoutbox == []


def test_digest_lists_non_responders_for_analysts(campaign, department, django_user_model):
    response = Response.objects.create(campaign=campaign, department=department)
    user = django_user_model.objects.create_user("ana", email="ana@stnd.example.gov")
    row = emails.queue_digest(
        campaign=campaign,
        day=timezone.localdate(),
        user=user,
        non_responders=[(department, response.status)],
    )
    assert row.kind == EmailKind.DIGEST
    assert department.name in row.body_text and department.code in row.body_html
    assert "1 department not submitted" in row.subject
    assert "/admin/conversion/response/" in row.body_text


def test_smtp_bytes_carry_the_same_headers_and_parts_as_the_django_message(campaign, settings):
    """send_reminders hands the relay bytes built by `smtp_envelope` (fast); they must say
    what Django's EmailMessage for the same row says."""
    import email as email_lib
    import email.policy

    from conversion.models import EmailKind, OutboundEmail

    row = OutboundEmail.objects.create(
        key="test:envelope",
        kind=EmailKind.REMINDER,
        campaign=campaign,
        recipient="atr@dept.example.gov",
        cc="manager@dept.example.gov, coordinator@dept.example.gov",
        subject="Reminder – survey due in 3 days: ¡ahora!",
        body_text="Dear ATR,\n\nPlease answer by Friday – thank you.\n" + "x" * 300,
        body_html="<p>Dear ATR,</p><p>Please answer by Friday – thank you.</p>",
        message_id="<abc123@calnet.example>",
    )
    sender, recipients, data = emails.smtp_envelope(row)
    assert sender == "calnet-survey@localhost" or "@" in sender
    assert recipients == [
        "atr@dept.example.gov",
        "manager@dept.example.gov",
        "coordinator@dept.example.gov",
    ]
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    fast = email_lib.message_from_bytes(data, policy=email.policy.default)
    django = email_lib.message_from_bytes(
        emails.email_message(row).message().as_bytes(), policy=email.policy.default
    )
    for header in (
        "Subject",
        "From",
        "To",
        "Cc",
        "Reply-To",
        "Message-ID",
        "List-Id",
        "Auto-Submitted",
    ):
        assert str(fast[header]) == str(django[header]), header

    def text_of(message, kind):
        return message.get_body((kind,)).get_content().replace("\r\n", "\n").strip()

    assert text_of(fast, "plain") == text_of(django, "plain") == row.body_text.strip()
    assert text_of(fast, "html") == text_of(django, "html") == row.body_html
    assert fast["Date"]


@pytest.mark.parametrize(
    "value",
    [
        "Reminder: CALNET 2 to CALNET 3 Conversion Survey due in 3 days",
        "x" * 200,
        "word " * 15,
        "two  spaces",
        " leading space",
        "tab\there",
        "é",
        "=?utf-8?b?w6k=?=",
        'multipart/alternative; boundary="===============1234567890123456789=="',
    ],
)
def test_the_fast_header_folding_writes_what_compat32_writes(value):
    # smtp_envelope skips compat32's Header object for short ASCII headers: the bytes
    # must be the standard library's own, whatever the header holds.
    import email.policy

    standard = email.policy.compat32.clone(linesep="\r\n")
    assert emails._SMTP_COMPAT32.fold_binary("Subject", value) == standard.fold_binary(
        "Subject", value
    )
