"""Every message the system sends, and how it is delivered exactly once.

One small function per message (`send_invitation`, `send_receipt`, ...), each
rendered from `templates/emails/<name>-subject.txt`, `-body.txt` and
`-body.html`. A message is first written to the email log (`OutboundEmail`)
under a unique `key` naming its occasion, so deciding to send the same thing
twice creates nothing. It is then delivered by `deliver()`, which claims the row
with a conditional update before talking to SMTP, so two senders (two web
requests, two `send_reminders` on two nodes) never both send it. An SMTP failure
leaves the row pending with its error and a later retry time; after
EMAIL_MAX_ATTEMPTS it is marked failed for the admin to see and retry.

Messages triggered by a person (sign-in link, receipt, authorization request,
returned note) are delivered as soon as the surrounding transaction commits;
when SMTP is down the person's action still succeeds and `send_reminders`
retries the message later.
"""

import datetime
import logging
import smtplib
import time
import uuid
from dataclasses import dataclass
from email import policy as email_policy
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid, parseaddr

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, mailers
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from conversion.models import (
    Campaign,
    EmailKind,
    EmailStatus,
    OutboundEmail,
    ResponseStatus,
)
from departments import tokens
from departments.models import Department, normalize_email

logger = logging.getLogger(__name__)

# How long a sender owns a claimed message. Longer than any SMTP exchange
# (timeout x quick retries), so a live sender is never overtaken; a sender that
# died mid-send lets the message go back to the queue after it.
CLAIM_LEASE = datetime.timedelta(minutes=10)
# Messages one sender claims at once: few enough that even a slow relay (timeout ×
# quick retries for each) gets through a batch within its lease.
CLAIM_BATCH = 20
# Retry delays after a failed attempt: 2, 4, 8, 16... minutes, at most 2 hours.
BACKOFF_FIRST = datetime.timedelta(minutes=2)
BACKOFF_MAX = datetime.timedelta(hours=2)
# Transient SMTP trouble (a dropped connection, a 4xx answer) is retried at once
# a few times before the attempt counts as failed.
QUICK_RETRIES = 2
QUICK_RETRY_DELAY = 0.5  # seconds

STND_ANALYST_GROUP = "STND analyst"


@dataclass
class Stats:
    """What one delivery run did, for the command's one-line summary."""

    sent: int = 0
    retried: int = 0  # failed this time, pending for a later attempt
    failed: int = 0  # failed for the last time: the admin shows it
    skipped: int = 0  # claimed by another sender, or left for a later run

    def add(self, outcome):
        setattr(self, outcome, getattr(self, outcome) + 1)

    def __str__(self):
        return (
            f"sent={self.sent} retried={self.retried} failed={self.failed} skipped={self.skipped}"
        )


# ---------------------------------------------------------------------------
# Links and shared context
# ---------------------------------------------------------------------------


def _survey_path(name, campaign, department):
    """The path of a department's survey page (`survey:overview`, `survey:review`)."""
    return reverse(f"survey:{name}", kwargs={"campaign": campaign.slug, "code": department.code})


def _sign_in_link(email, *, scope=tokens.INVITATION, next_path=""):
    user = tokens.user_for_email(email)
    return tokens.sign_in_url(user, scope=scope, next_path=next_path)


def _contact_campaign(campaign):
    """The campaign whose STND phone and email a message shows: the given one, else
    the latest campaign (a sign-in link asked for on the landing page has none)."""
    return campaign or Campaign.objects.first()


def _context(*, campaign, department=None, **extra):
    return {
        "campaign": campaign,
        "department": department,
        "site_url": settings.SITE_URL,
        "stnd_phone": campaign.stnd_phone if campaign else "",
        "stnd_email": campaign.stnd_email if campaign else "",
        "due_at": campaign.due_at if campaign else None,
        "closes_at": campaign.closes_at if campaign else None,
        **extra,
    }


def _render(name, context):
    """Subject (on one line), text and HTML of template `emails/<name>-*`."""
    subject = render_to_string(f"emails/{name}-subject.txt", context)
    subject = " ".join(subject.split())
    text = render_to_string(f"emails/{name}-body.txt", context)
    html = render_to_string(f"emails/{name}-body.html", context)
    return subject, text, html


def _message_id():
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or None
    return make_msgid(domain=domain)


# ---------------------------------------------------------------------------
# The email log: queue once, deliver once
# ---------------------------------------------------------------------------


def _queue(*, key, kind, recipient, name, context, campaign=None, department=None, cc=()):
    """Write a message to the log under `key`, unless that occasion already has one.

    Returns the row (new or existing). Rendering happens only for a new row, so a
    repeated decision costs one query."""
    existing = OutboundEmail.objects.filter(key=key).first()
    if existing is not None:
        return existing
    subject, text, html = _render(name, context)
    try:
        with transaction.atomic():
            email = OutboundEmail.objects.create(
                key=key,
                kind=kind,
                campaign=campaign,
                department=department,
                recipient=recipient,
                cc=", ".join(cc),
                subject=subject[:300],
                body_text=text,
                body_html=html,
                message_id=_message_id(),
            )
            email.is_new = True  # for send_reminders' count of what it queued
            return email
    except IntegrityError:
        # Another request or node decided the same message at the same moment.
        return OutboundEmail.objects.get(key=key)


def _deliver_on_commit(emails):
    """Try the rows at once when the caller's transaction commits (at once outside
    one). The row objects are updated in place, so the caller can tell whether the
    email went or will follow."""

    def deliver_now():
        try:
            deliver_rows(emails)
        except Exception:
            # Never fail the person's action: the rows stay queued for send_reminders.
            logger.exception("Immediate delivery failed; send_reminders will retry.")

    transaction.on_commit(deliver_now)


def deliver_rows(emails, *, mailer=None):
    """Deliver the given rows (those due), updating each object in place; returns Stats."""
    stats = Stats()
    mailer = mailer or mailers.default
    try:
        for email in emails:
            stats.add(deliver(email, mailer=mailer))
    finally:
        _close(mailer)
    return stats


def deliver_due(*, now=None):
    """Claim and send every message that is due (pending past its retry time, and in
    a run's first batch those whose sender died mid-send). Safe to run on any number
    of nodes at once.

    Messages are claimed CLAIM_BATCH at a time (FOR UPDATE SKIP LOCKED, so
    concurrent senders take disjoint batches) and each is marked sent as soon as
    the relay accepts it."""
    stats = Stats()
    mailer = mailers.default
    try:
        _commit_without_disk_wait(True)
        first = True
        while batch := _claim_batch(now or timezone.now(), lapsed=first):
            first = False
            for index, email in enumerate(batch):
                outcome = _send_claimed(email, mailer, in_sender_run=True)
                stats.add(outcome)
                if outcome != "sent" and _unreachable(email.last_error):
                    # The relay is down: hand the rest back for the next run rather
                    # than spend every message's attempts on it now.
                    _release(batch[index + 1 :])
                    stats.skipped += OutboundEmail.objects.due(timezone.now()).count()
                    return stats
    finally:
        _commit_without_disk_wait(False)
        _close(mailer)
    return stats


def _commit_without_disk_wait(on):
    """For a sender run's own connection: commits return before PostgreSQL has flushed
    them to disk. If the database crashed in that instant, a "sent" mark could be lost:
    the row falls back to "sending" and goes again, with the same Message-ID, after its
    lease. Waiting for the disk at every message would slow delivery several times."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF" if on else "RESET synchronous_commit")


def _claim_batch(now, *, lapsed=True):
    """Claim up to CLAIM_BATCH due messages for this sender; returns them.

    The two kinds of due message (see OutboundEmailQuerySet.due) are taken by two
    queries, each reading the (status, next_attempt_at) index in order: one query
    with an OR between them sorted every due row to find the first twenty, so a
    queue of 15,000 messages cost 10 ms a batch. `lapsed=False` skips the claims of
    dead senders: a run takes those in its first batch only, since reading past the
    index entries its own claims leave behind costs more as the run goes on."""
    with transaction.atomic():
        pks = []
        if lapsed:
            pks = list(
                OutboundEmail.objects.filter(status=EmailStatus.SENDING, claimed_until__lt=now)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:CLAIM_BATCH]
            )
        pending = (
            OutboundEmail.objects.filter(status=EmailStatus.PENDING, next_attempt_at__lte=now)
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at")
        )
        if len(pks) < CLAIM_BATCH:
            pks += pending.values_list("pk", flat=True)[: CLAIM_BATCH - len(pks)]
        if not pks:
            return []
        # The lease runs from the claim; CLAIM_BATCH keeps a whole batch inside it.
        OutboundEmail.objects.filter(pk__in=pks).update(
            status=EmailStatus.SENDING,
            claimed_until=timezone.now() + CLAIM_LEASE,
            attempts=F("attempts") + 1,
        )
    return list(
        OutboundEmail.objects.filter(pk__in=pks)
        .select_related("campaign")
        .order_by("next_attempt_at", "pk")
    )


def _release(emails):
    """Give claimed but unsent messages back to the queue, as if never attempted."""
    OutboundEmail.objects.filter(pk__in=[e.pk for e in emails], status=EmailStatus.SENDING).update(
        status=EmailStatus.PENDING, claimed_until=None, attempts=F("attempts") - 1
    )


def deliver(email, *, mailer=None):
    """Claim one row, send it, record the outcome; returns "sent", "retried",
    "failed" or "skipped" (another sender has it, or it is not due)."""
    # The lease runs from the moment of the claim, not from the start of a long run.
    now = timezone.now()
    claimed = (
        OutboundEmail.objects.due(now)
        .filter(pk=email.pk)
        .update(
            status=EmailStatus.SENDING,
            claimed_until=now + CLAIM_LEASE,
            attempts=F("attempts") + 1,
        )
    )
    email.refresh_from_db()
    if claimed != 1:
        return "skipped"
    return _send_claimed(email, mailer or mailers.default)


def _send_claimed(email, mailer, *, in_sender_run=False):
    """Send a message this sender has claimed and record the outcome at once, one
    message at a time, so that a crash can repeat at most the message in flight."""
    try:
        _send(email, mailer)
    except Exception as error:  # SMTP, socket, or a bad address: all recorded, none raised
        logger.warning("Email %s to %s failed: %s", email.key, email.recipient, error)
        return _record_failure(email, error)
    email.status = EmailStatus.SENT
    email.sent_at = timezone.now()
    email.claimed_until = None
    email.last_error = ""
    # One statement, in plain SQL: building it with the ORM cost as much as running it.
    sent_at = connection.ops.adapt_datetimefield_value(email.sent_at)  # as the ORM stores it
    mark = [email.status, sent_at, email.pk]
    if in_sender_run:
        # Autocommitted, without waiting for the disk (deliver_due set that).
        with connection.cursor() as cursor:
            cursor.execute(_MARK_SENT, mark)
        return "sent"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The same trade as a sender run (see _commit_without_disk_wait), for
            # this one transaction of a web request.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(_MARK_SENT, mark)
    return "sent"


_MARK_SENT = (
    "UPDATE conversion_outboundemail "
    "SET status = %s, sent_at = %s, claimed_until = NULL, last_error = '' WHERE id = %s"
)


def _record_failure(email, error):
    email.last_error = f"{type(error).__name__}: {error}"[:2000]
    email.claimed_until = None
    if email.attempts >= settings.EMAIL_MAX_ATTEMPTS:
        email.status = EmailStatus.FAILED
        outcome = "failed"
    else:
        email.status = EmailStatus.PENDING
        delay = min(BACKOFF_FIRST * 2 ** (email.attempts - 1), BACKOFF_MAX)
        email.next_attempt_at = timezone.now() + delay
        outcome = "retried"
    email.save(update_fields=["status", "last_error", "claimed_until", "next_attempt_at"])
    return outcome


def _send(email, mailer):
    for attempt in range(QUICK_RETRIES + 1):
        try:
            mailer.open()
            connection = getattr(mailer, "connection", None)
            if isinstance(connection, smtplib.SMTP):
                # An SMTP mailer: hand the relay the bytes directly (see smtp_envelope).
                connection.sendmail(*smtp_envelope(email))
            else:  # the console, locmem or file backends of the demo and the tests
                mailer.send_messages([email_message(email)])
            return
        except Exception as error:
            _close(mailer)
            if attempt == QUICK_RETRIES or not _transient(error):
                raise
            time.sleep(QUICK_RETRY_DELAY * (attempt + 1))


def _transient(error):
    """A dropped or refused connection, or a 4xx answer: worth retrying at once. Not a
    timeout: a relay that did not answer in EMAIL_TIMEOUT will not in a second, and
    a person may be waiting for the page."""
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in error.recipients.values())
    return isinstance(error, (smtplib.SMTPServerDisconnected, ConnectionError))


def _unreachable(last_error):
    return last_error.startswith(
        ("ConnectionRefusedError", "SMTPConnectError", "TimeoutError", "gaierror", "OSError")
    )


def _close(mailer):
    try:
        mailer.close()
    except Exception:  # closing a dead connection must not hide the real outcome
        logger.debug("Closing the mail connection failed", exc_info=True)


def email_message(email):
    """The EmailMultiAlternatives for a logged row: both parts, its stored Message-ID
    (the same at every retry), List-Id, and Reply-To STND."""
    reply_to = [email.campaign.stnd_email] if email.campaign_id else []
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.recipient],
        cc=[address.strip() for address in email.cc.split(",") if address.strip()],
        reply_to=reply_to,
        headers={
            "Message-ID": email.message_id,
            "List-Id": f"CALNET Conversion Survey <{settings.EMAIL_LIST_ID}>",
            "Auto-Submitted": "auto-generated",
        },
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    return message


# Bodies in quoted-printable UTF-8: readable in the raw message, and no line over SMTP's limit.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


class _SMTPCompat32(email_policy.Compat32):
    """compat32 with SMTP's CRLF line endings: serialising without re-parsing each header.

    compat32 folds every header through an email.header.Header, even one that already
    fits on a line: that was almost half the cost of building a message. A short,
    plain ASCII header is written as it is (the same bytes Header would give); any
    other goes the standard way."""

    def _fold(self, name, value, sanitize):
        if (
            isinstance(value, str)
            and value.isascii()
            and value.isprintable()
            and "  " not in value
            and value == value.strip()
            and len(name) + 2 + len(value) <= self.max_line_length
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


_SMTP_COMPAT32 = _SMTPCompat32(linesep="\r\n")


def smtp_envelope(email):
    """(sender, recipients, message bytes) for a logged row: the same headers and parts
    as `email_message`, built with the standard library's compat32 MIME classes.

    Django's EmailMessage builds through the policy-based email API, which parses
    every header it is given; that cost about 8 ms a message, several times the SMTP
    exchange itself, when send_reminders sends thousands."""
    cc = [address.strip() for address in email.cc.split(",") if address.strip()]
    text = MIMEText(email.body_text, "plain", _UTF8_QP)
    if email.body_html:
        message = MIMEMultipart("alternative")
        message.attach(text)
        message.attach(MIMEText(email.body_html, "html", _UTF8_QP))
    else:
        message = text
    subject = email.subject
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    message["From"] = settings.DEFAULT_FROM_EMAIL
    message["To"] = email.recipient
    if cc:
        message["Cc"] = ", ".join(cc)
    if email.campaign_id:
        message["Reply-To"] = email.campaign.stnd_email
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = email.message_id
    message["List-Id"] = f"CALNET Conversion Survey <{settings.EMAIL_LIST_ID}>"
    message["Auto-Submitted"] = "auto-generated"
    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return sender, [email.recipient, *cc], message.as_bytes(policy=_SMTP_COMPAT32)


def retry(queryset):
    """Put failed messages back in the queue (the admin's retry action); returns how many."""
    return queryset.filter(status=EmailStatus.FAILED).update(
        status=EmailStatus.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        claimed_until=None,
    )


# ---------------------------------------------------------------------------
# Who a department's messages go to
# ---------------------------------------------------------------------------


def response_state(response):
    """The state a reminder is worded for; no response row yet means not started."""
    return response.status if response is not None else ResponseStatus.NOT_STARTED


def department_recipients(department, response, *, manager=False):
    """(person, role) pairs for a department's reminders, one per email address:
    the ATR and the Coordinator; with `manager`, the Manager too. A person holding
    several roles is written to once, in the most senior role."""
    people = []
    if manager and response is not None and response.manager_id:
        people.append((response.manager, "manager"))
    if response is not None and response.coordinator_id:
        people.append((response.coordinator, "coordinator"))
    atr = department.atr
    if atr is not None:
        people.append((atr, "atr"))
    seen = set()
    unique = []
    for person, role in people:
        email = normalize_email(person.email)
        if email and email not in seen:
            seen.add(email)
            unique.append((person, role))
    return unique


# ---------------------------------------------------------------------------
# The messages
# ---------------------------------------------------------------------------


def send_sign_in_link(*, user, campaign=None):
    """A 15-minute sign-in link the person asked for on the landing page."""
    campaign = _contact_campaign(campaign)
    department = Department.objects.for_user(user).first()
    link = tokens.sign_in_url(user, scope=tokens.SIGN_IN)
    email = _queue(
        # Sign-in links may be asked for again and again: each request is its own occasion.
        key=f"sign-in:u{user.pk}:{uuid.uuid4().hex}",
        kind=EmailKind.SIGN_IN,
        recipient=user.email,
        name="sign-in-link",
        campaign=campaign,
        department=department,
        context=_context(
            campaign=campaign,
            department=department,
            sign_in_url=link,
            minutes=settings.SIGN_IN_LINK_MINUTES,
        ),
    )
    _deliver_on_commit([email])
    return email


def invitation_key(campaign, department, email):
    return f"invitation:c{campaign.pk}:d{department.pk}:{normalize_email(email)}"


def send_invitation(*, campaign, person, deliver=True):
    """The invitation to answer the survey, with a 72-hour link to the department's page."""
    department = person.department
    email = _queue(
        key=invitation_key(campaign, department, person.email),
        kind=EmailKind.INVITATION,
        recipient=person.email,
        name="invitation",
        campaign=campaign,
        department=department,
        context=_department_context(campaign, department, person, "atr", "overview"),
    )
    if deliver:
        _deliver_on_commit([email])
    return email


def _department_context(campaign, department, person, role, page, **extra):
    return _context(
        campaign=campaign,
        department=department,
        person=person,
        role=role,
        hours=settings.INVITATION_LINK_HOURS,
        sign_in_url=_sign_in_link(person.email, next_path=_survey_path(page, campaign, department)),
        **extra,
    )


def send_authorization_request(*, response, requested_by):
    """Ask the Manager to review and authorize the answers (a 72-hour link to review)."""
    campaign, department, manager = response.campaign, response.department, response.manager
    requested_at = response.authorization_requested_at or timezone.now()
    email = _queue(
        key=(
            f"authorization:r{response.pk}:{normalize_email(manager.email)}:"
            f"{requested_at:%Y%m%dT%H%M%S.%f}"
        ),
        kind=EmailKind.AUTHORIZATION_REQUEST,
        recipient=manager.email,
        name="authorization-request",
        campaign=campaign,
        department=department,
        context=_department_context(
            campaign,
            department,
            manager,
            "manager",
            "review",
            response=response,
            requested_by=_display_name(requested_by, department),
        ),
    )
    _deliver_on_commit([email])
    return email


def _display_name(user, department):
    """A user's name as the department knows it (their Person), else their email."""
    if user is None:
        return ""
    person = department.people.filter(email=normalize_email(user.email)).first()
    return person.name if person else (user.get_full_name() or user.email)


def send_receipt(*, response, revision):
    """A copy of the submitted answers and the checklist to the Manager, the
    Coordinator and the submitter (each once)."""
    campaign, department = response.campaign, response.department
    recipients = []
    if response.manager_id:
        recipients.append((response.manager.email, response.manager, "manager"))
    if response.coordinator_id:
        recipients.append((response.coordinator.email, response.coordinator, "coordinator"))
    submitter = revision.submitted_by
    if submitter is not None and submitter.email:
        person = department.people.filter(email=normalize_email(submitter.email)).first()
        recipients.append((submitter.email, person, "submitter"))
    answers = revision.answers if isinstance(revision.answers, dict) else {}
    checklist = answers.get("checklist")
    if not isinstance(checklist, dict):
        checklist = response.checklist().as_dict()
    emails = []
    seen = set()
    for address, person, role in recipients:
        address = normalize_email(address)
        if address in seen:
            continue
        seen.add(address)
        emails.append(
            _queue(
                key=f"receipt:r{response.pk}:n{revision.number}:{address}",
                kind=EmailKind.RECEIPT,
                recipient=address,
                name="receipt",
                campaign=campaign,
                department=department,
                context=_context(
                    campaign=campaign,
                    department=department,
                    person=person,
                    role=role,
                    response=response,
                    revision=revision,
                    sections=answer_sections(revision.answers),
                    checklist=checklist_lines(checklist),
                    hours=settings.INVITATION_LINK_HOURS,
                    sign_in_url=_sign_in_link(
                        address, next_path=_survey_path("review", campaign, department)
                    ),
                ),
            )
        )
    _deliver_on_commit(emails)
    return emails


def send_returned(*, response):
    """STND's note asking for changes, to the contacts and the ATR."""
    campaign, department = response.campaign, response.department
    returned_at = response.returned_at or timezone.now()
    emails = [
        _queue(
            key=(
                f"returned:r{response.pk}:{returned_at:%Y%m%dT%H%M%S.%f}:"
                f"{normalize_email(person.email)}"
            ),
            kind=EmailKind.RETURNED,
            recipient=person.email,
            name="returned",
            campaign=campaign,
            department=department,
            context=_department_context(
                campaign, department, person, role, "overview", response=response
            ),
        )
        for person, role in department_recipients(department, response, manager=True)
    ]
    _deliver_on_commit(emails)
    return emails


def send_reminder_now(*, response, sent_by=None):
    """An immediate reminder from STND (the admin's action), worded by the response's
    state; after the due date, an overdue notice (escalated to the Manager)."""
    now = timezone.now()
    # A double click within the same minute is one decision.
    occasion = f"now-{now:%Y%m%dT%H%M}"
    queue = queue_overdue if response.campaign.is_past_due(now) else queue_reminder
    emails = queue(
        campaign=response.campaign,
        department=response.department,
        response=response,
        occasion=occasion,
        now=now,
    )
    _deliver_on_commit(emails)
    return emails


def reminder_key(campaign, department, occasion, email):
    return f"reminder:c{campaign.pk}:d{department.pk}:{occasion}:{normalize_email(email)}"


def reminder_recipients(department, response):
    """Who a reminder goes to: the ATR and the Coordinator, and the Manager too while
    the answers wait for their authorization."""
    awaiting = response_state(response) == ResponseStatus.AWAITING_MANAGER
    return department_recipients(department, response, manager=awaiting)


def overdue_recipients(department, response):
    """Who an overdue notice goes to: escalated to the Manager, always."""
    return department_recipients(department, response, manager=True)


def queue_reminder(*, campaign, department, response, occasion, now=None):
    """A reminder before the due date to `reminder_recipients`, worded by the
    response's state."""
    return _queue_chase(
        EmailKind.REMINDER,
        key=reminder_key,
        campaign=campaign,
        department=department,
        response=response,
        occasion=occasion,
        people=reminder_recipients(department, response),
        state=response_state(response),
        days_left=campaign.days_left(now),
    )


def overdue_key(campaign, department, occasion, email):
    return f"overdue:c{campaign.pk}:d{department.pk}:{occasion}:{normalize_email(email)}"


def queue_overdue(*, campaign, department, response, occasion, now=None):
    """An overdue notice after the due date to the ATR and Coordinator, escalated to
    the Manager in a message of its own. `occasion` names it in the key (the number
    of notices since the due date, for the scheduled ones)."""
    now = now or timezone.now()
    return _queue_chase(
        EmailKind.OVERDUE,
        key=overdue_key,
        campaign=campaign,
        department=department,
        response=response,
        occasion=occasion,
        people=overdue_recipients(department, response),
        state=response_state(response),
        days_late=-campaign.days_left(now),
    )


def _queue_chase(kind, *, key, campaign, department, response, occasion, people, **context):
    """One reminder or overdue notice per recipient of the department; the Manager's
    links lead to the review page (where they authorize), everyone else's to the overview."""
    return [
        _queue(
            key=key(campaign, department, occasion, person.email),
            kind=kind,
            recipient=person.email,
            name=str(kind),
            campaign=campaign,
            department=department,
            context=_department_context(
                campaign,
                department,
                person,
                role,
                "review" if role == "manager" else "overview",
                response=response,
                **context,
            ),
        )
        for person, role in people
    ]


def stnd_analysts():
    """Active STND analysts with an email: who gets the daily digest."""
    return (
        get_user_model()
        .objects.filter(groups__name=STND_ANALYST_GROUP, is_active=True)
        .exclude(Q(email="") | Q(email__isnull=True))
        .distinct()
        .order_by("pk")
    )


def digest_key(campaign, day, email):
    return f"digest:c{campaign.pk}:{day:%Y-%m-%d}:{normalize_email(email)}"


DIGEST_LIST_LIMIT = 200


def queue_digest(*, campaign, day, user, non_responders, now=None):
    """The day's list of departments that have not submitted, for one STND analyst.

    `non_responders` is a list of (department, state) pairs."""
    admin_url = settings.SITE_URL + reverse("admin:conversion_response_changelist")
    by_state = {}
    for _, state in non_responders:
        by_state[state] = by_state.get(state, 0) + 1
    return _queue(
        key=digest_key(campaign, day, user.email),
        kind=EmailKind.DIGEST,
        recipient=user.email,
        name="digest",
        campaign=campaign,
        context=_context(
            campaign=campaign,
            day=day,
            user=user,
            total=len(non_responders),
            by_state=[
                (ResponseStatus(state).label, count) for state, count in sorted(by_state.items())
            ],
            rows=[
                (department, ResponseStatus(state).label)
                for department, state in non_responders[:DIGEST_LIST_LIMIT]
            ],
            more=max(0, len(non_responders) - DIGEST_LIST_LIMIT),
            admin_url=f"{admin_url}?campaign__id__exact={campaign.pk}",
            days_left=campaign.days_left(now),
        ),
    )


# ---------------------------------------------------------------------------
# Submitted answers, for the receipt
# ---------------------------------------------------------------------------


def _label(key):
    return str(key).replace("_", " ").capitalize()


@dataclass(frozen=True)
class AnswerLine:
    depth: int
    label: str
    value: str

    @property
    def indent(self):
        return "    " * self.depth


def answer_sections(answers):
    """The submitted answers (a revision's JSON snapshot, see `conversion.workflow.snapshot`)
    as (heading, [AnswerLine]) sections for the receipt.

    The snapshot belongs to the survey: the sections it is known to hold read like
    the survey's pages; anything else is shown generically, so a receipt never
    fails on a field it does not know."""
    if not isinstance(answers, dict):
        return [("Answers", answer_lines(answers))]
    sections = []
    known = {
        "department": _department_lines,
        "contacts": _contact_lines,
        "services": _service_lines,
        "timeframe": _timeframe_lines,
    }
    for key, value in answers.items():
        if key in ("campaign", "checklist", "counts"):
            continue  # in the message itself, or in the checklist
        lines = None
        if key in known:
            try:
                lines = known[key](value)
            except (AttributeError, TypeError, KeyError):
                lines = None  # an unexpected shape: fall back to the generic view
        if lines is None:
            lines = answer_lines(value)
        sections.append(
            (_label(key) if key not in SECTION_HEADINGS else SECTION_HEADINGS[key], lines)
        )
    return sections


SECTION_HEADINGS = {
    "department": "Department",
    "contacts": "Conversion contacts",
    "services": "Services",
    "timeframe": "Timeframe",
}


def _department_lines(data):
    lines = [AnswerLine(0, "Department", f"{data.get('name', '')} ({data.get('code', '')})")]
    if data.get("kind_label"):
        lines.append(AnswerLine(0, "Kind", data["kind_label"]))
    lines.append(AnswerLine(0, "Name and kind confirmed", _text(bool(data.get("confirmed")))))
    if data.get("kind_flag_note"):
        lines.append(AnswerLine(0, "Note to STND about the kind", data["kind_flag_note"]))
    return lines


def _person_line(person):
    if not person:
        return "—"
    return ", ".join(
        str(person[part]) for part in ("name", "title", "email", "phone") if person.get(part)
    )


def _contact_lines(data):
    if data.get("one_person"):
        return [
            AnswerLine(
                0, "Customer Conversion Manager and Coordinator", _person_line(data.get("manager"))
            )
        ]
    return [
        AnswerLine(0, "Customer Conversion Manager", _person_line(data.get("manager"))),
        AnswerLine(0, "Customer Conversion Coordinator", _person_line(data.get("coordinator"))),
    ]


def _decision(item):
    text = item.get("choice_label") or "No decision"
    if item.get("target"):
        text += f" to {item['target']}"
        if item.get("target_contractor"):
            text += f" ({item['target_contractor']})"
    return text


def _service_lines(services):
    lines = []
    for item in services:
        count = item.get("lines", 0)
        label = f"{item.get('offering', '')} ({item.get('incumbent', '')}), {count} line" + (
            "s" if count != 1 else ""
        )
        decision = _decision(item)
        if item.get("chosen") is False and item.get("choice"):
            decision += " (automatic)"
        lines.append(AnswerLine(0, label, decision))
        for exception in item.get("exceptions") or []:
            lines.append(
                AnswerLine(
                    1, f"Except line {exception.get('identifier', '')}", _decision(exception)
                )
            )
    return lines


def _timeframe_lines(data):
    return [
        AnswerLine(0, "Preferred conversion window", _text(data.get("window"))),
        AnswerLine(0, "Constraints or blackout periods", _text(data.get("blackout_periods"))),
        AnswerLine(0, "Plans to migrate", _text(data.get("migration_plans_label"))),
        AnswerLine(0, "Comments", _text(data.get("comments"))),
    ]


def answer_lines(answers, depth=0):
    """Any JSON value as indented label/value lines (nested dicts and lists)."""
    lines = []
    if isinstance(answers, dict):
        for key, value in answers.items():
            if depth == 0 and key == "checklist":
                continue
            if isinstance(value, (dict, list)):
                lines.append(AnswerLine(depth, _label(key), ""))
                lines.extend(answer_lines(value, depth + 1))
            else:
                lines.append(AnswerLine(depth, _label(key), _text(value)))
    elif isinstance(answers, list):
        for item in answers:
            if isinstance(item, dict):
                summary = ", ".join(
                    f"{_label(k)}: {_text(v)}"
                    for k, v in item.items()
                    if not isinstance(v, (dict, list))
                )
                lines.append(AnswerLine(depth, "", summary))
                for key, value in item.items():
                    if isinstance(value, (dict, list)) and value:
                        lines.append(AnswerLine(depth + 1, _label(key), ""))
                        lines.extend(answer_lines(value, depth + 2))
            else:
                lines.append(AnswerLine(depth, "", _text(item)))
    elif answers not in (None, ""):
        lines.append(AnswerLine(depth, "", _text(answers)))
    return lines


def _text(value):
    if value is None or value == "":
        return "—"
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    return str(value)


def checklist_lines(checklist):
    """The checklist (`rules.Checklist.as_dict()` shape) as (heading, [lines]) sections."""
    sections = []
    headings = [
        ("form_20s", "Form 20 (STD.20) to prepare"),
        ("atos", "Authorizations to Order (ATO) to sign"),
        ("disconnect_notices", "Disconnect notices to send to the incumbent"),
    ]
    for key, heading in headings:
        items = checklist.get(key) or []
        lines = []
        for item in items:
            if isinstance(item, dict):
                lines.append(
                    f"{item.get('contractor', '')}: {item.get('service', '')} "
                    f"({item.get('lines', 0)} line{'s' if item.get('lines', 0) != 1 else ''})"
                )
            else:
                lines.append(_text(item))
        sections.append((heading, lines))
    return sections
