"""send_reminders: what each department receives over a whole campaign, and when."""

import datetime
import io
import zoneinfo
from collections import Counter

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import timezone

from conversion import emails
from conversion.models import EmailKind, EmailStatus, OutboundEmail, Response, ResponseStatus
from departments.models import Person
from tests.conftest import make_campaign, make_department

PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")
HOUR = datetime.timedelta(hours=1)


def at(*args):
    return datetime.datetime(*args, tzinfo=PACIFIC)


# The bulletin's own dates: out on Friday 20 December 2013, due the 27th at 5 pm;
# late answers accepted until a hard close two weeks later.
OPENS = at(2013, 12, 20, 9)
DUE = at(2013, 12, 27, 17)
CLOSES = at(2014, 1, 10, 17)


@pytest.fixture(autouse=True)
def no_quick_retry_delay(monkeypatch):
    monkeypatch.setattr(emails, "QUICK_RETRY_DELAY", 0)


@pytest.fixture
def bulletin_campaign(catalogue):
    return make_campaign(
        catalogue,
        opens_at=OPENS,
        due_at=DUE,
        closes_at=CLOSES,
        bulletin_date=OPENS.date(),
        old_contract_ends_on=datetime.date(2014, 1, 29),
        reminder_days="7,3,1",
        overdue_every_days=2,
        digest_hour=8,
    )


def person(department, role, name=None):
    code = department.code.lower()
    return Person.objects.create(
        department=department, name=name or f"{role.title()} {code}", email=f"{role}@{code}.gov"
    )


def run(**options):
    out = io.StringIO()
    call_command("send_reminders", stdout=out, **options)
    return out.getvalue()


def delivered(mailoutbox):
    """(department code, kind, recipient) of each message delivered, from the log."""
    rows = {r.message_id: r for r in OutboundEmail.objects.select_related("department")}
    result = []
    for message in mailoutbox:
        row = rows[message.extra_headers["Message-ID"]]
        result.append((row.department.code if row.department else None, row.kind, *message.to))
    return result


def test_a_campaign_from_opening_to_hard_close_run_every_hour(
    bulletin_campaign, mailoutbox, time_machine, django_user_model
):
    campaign = bulletin_campaign
    # A: never starts.
    make_department(code="A", atr_email="atr@a.gov")
    # B: in progress, with a Coordinator.
    b = make_department(code="B", atr_email="atr@b.gov")
    Response.objects.create(
        campaign=campaign,
        department=b,
        status=ResponseStatus.IN_PROGRESS,
        coordinator=person(b, "coordinator"),
    )
    # C: waiting for its Manager's authorization all along.
    c = make_department(code="C", atr_email="atr@c.gov")
    Response.objects.create(
        campaign=campaign,
        department=c,
        status=ResponseStatus.AWAITING_MANAGER,
        coordinator=person(c, "coordinator"),
        manager=person(c, "manager"),
    )
    # D: submits on the 21st; STND returns it for changes on the 25th.
    d = make_department(code="D", atr_email="atr@d.gov")
    d_response = Response.objects.create(
        campaign=campaign,
        department=d,
        status=ResponseStatus.IN_PROGRESS,
        coordinator=person(d, "coordinator"),
        manager=person(d, "manager"),
    )
    # E: in progress, submits on Christmas morning, between the 3-day and 1-day reminders.
    e = make_department(code="E", atr_email="atr@e.gov")
    e_response = Response.objects.create(
        campaign=campaign,
        department=e,
        status=ResponseStatus.IN_PROGRESS,
        coordinator=person(e, "coordinator"),
    )
    # G: one person is ATR, Manager and Coordinator.
    g = make_department(code="G", atr_email="atr@g.gov")
    Response.objects.create(
        campaign=campaign,
        department=g,
        status=ResponseStatus.IN_PROGRESS,
        manager=g.atr,
        coordinator=g.atr,
    )
    # An inactive department hears nothing.
    make_department(code="X", atr_email="atr@x.gov", is_active=False)
    # Analysts: one active with an email; one inactive; one without an email.
    analysts = Group.objects.get(name="STND analyst")
    for username, email, active in [
        ("ana", "ana@stnd.gov", True),
        ("old", "old@stnd.gov", False),
        ("noemail", "", True),
    ]:
        user = django_user_model.objects.create_user(username, email=email, is_active=active)
        user.groups.add(analysts)
    django_user_model.objects.create_user("admin", email="admin@stnd.gov", is_staff=True)

    events = {
        at(2013, 12, 21, 11): lambda: Response.objects.filter(pk=d_response.pk).update(
            status=ResponseStatus.SUBMITTED, submitted_at=timezone.now()
        ),
        at(2013, 12, 25, 10): lambda: Response.objects.filter(pk=e_response.pk).update(
            status=ResponseStatus.SUBMITTED, submitted_at=timezone.now()
        ),
        at(2013, 12, 25, 12): lambda: Response.objects.filter(pk=d_response.pk).update(
            status=ResponseStatus.RETURNED,
            returned_at=timezone.now(),
            returned_note="Name your Coordinator.",
        ),
    }
    sent_at = {}  # (code, kind, recipient) -> local times delivered
    time_machine.move_to(OPENS, tick=False)
    runs = 0
    while timezone.now() < CLOSES + datetime.timedelta(days=2):
        if timezone.now() in events:
            events[timezone.now()]()
        before = len(mailoutbox)
        summary = run()
        runs += 1
        assert summary.startswith("send_reminders: queued=")
        for item in delivered(mailoutbox[before:]):
            sent_at.setdefault(item, []).append(timezone.localtime())
        time_machine.shift(HOUR)

    assert runs == (CLOSES + datetime.timedelta(days=2) - OPENS) / HOUR
    received = Counter(delivered(mailoutbox))
    # Reminders 3 and 1 days before the due date (the 7-day one falls on the opening
    # day: the invitation stands for it). Overdue notices every 2 days from the due
    # date to the hard close: 27, 29, 31 December, 2, 4, 6, 8 January.
    overdue = 7
    expected = Counter()

    def expect(code, kind, recipients, times=1):
        for recipient in recipients:
            expected[(code, kind, recipient)] += times

    expect("A", EmailKind.INVITATION, ["atr@a.gov"])
    expect("A", EmailKind.REMINDER, ["atr@a.gov"], 2)
    expect("A", EmailKind.OVERDUE, ["atr@a.gov"], overdue)
    expect("B", EmailKind.INVITATION, ["atr@b.gov"])
    expect("B", EmailKind.REMINDER, ["atr@b.gov", "coordinator@b.gov"], 2)
    expect("B", EmailKind.OVERDUE, ["atr@b.gov", "coordinator@b.gov"], overdue)
    expect("C", EmailKind.INVITATION, ["atr@c.gov"])
    expect("C", EmailKind.REMINDER, ["atr@c.gov", "coordinator@c.gov", "manager@c.gov"], 2)
    expect("C", EmailKind.OVERDUE, ["atr@c.gov", "coordinator@c.gov", "manager@c.gov"], overdue)
    # D: invited; submitted before the 3-day reminder, returned after it (the
    # returned note stands for it): the 1-day reminder.
    expect("D", EmailKind.INVITATION, ["atr@d.gov"])
    expect("D", EmailKind.REMINDER, ["atr@d.gov", "coordinator@d.gov"])
    expect("D", EmailKind.OVERDUE, ["atr@d.gov", "coordinator@d.gov", "manager@d.gov"], overdue)
    # E: invited, reminded 3 days before, then submitted: nothing more.
    expect("E", EmailKind.INVITATION, ["atr@e.gov"])
    expect("E", EmailKind.REMINDER, ["atr@e.gov", "coordinator@e.gov"])
    # G: one person, one message each time.
    expect("G", EmailKind.INVITATION, ["atr@g.gov"])
    expect("G", EmailKind.REMINDER, ["atr@g.gov"], 2)
    expect("G", EmailKind.OVERDUE, ["atr@g.gov"], overdue)
    # The digest each morning from 21 December to 10 January, to the active analyst.
    expect(None, EmailKind.DIGEST, ["ana@stnd.gov"], 21)
    assert received == expected

    # Each went out in the first run after its time.
    assert sent_at[("A", EmailKind.INVITATION, "atr@a.gov")] == [OPENS]
    assert sent_at[("A", EmailKind.REMINDER, "atr@a.gov")] == [
        at(2013, 12, 24, 17),
        at(2013, 12, 26, 17),
    ]
    assert sent_at[("D", EmailKind.REMINDER, "atr@d.gov")] == [at(2013, 12, 26, 17)]
    assert sent_at[("C", EmailKind.OVERDUE, "manager@c.gov")] == [
        at(2013, 12, 27, 17) + datetime.timedelta(days=2 * n) for n in range(overdue)
    ]
    assert sent_at[(None, EmailKind.DIGEST, "ana@stnd.gov")][0] == at(2013, 12, 21, 8)
    assert sent_at[(None, EmailKind.DIGEST, "ana@stnd.gov")][-1] == at(2014, 1, 10, 8)
    assert not OutboundEmail.objects.exclude(status=EmailStatus.SENT).exists()

    # Wording follows the state at the time.
    def body(code, kind, recipient, index=0):
        rows = OutboundEmail.objects.filter(
            department__code=code, kind=kind, recipient=recipient
        ).order_by("created_at")
        return rows[index].body_text

    assert "has not started" in body("A", EmailKind.REMINDER, "atr@a.gov")
    assert "started the survey but not submitted" in body("B", EmailKind.REMINDER, "atr@b.gov")
    assert "waiting for your authorization" in body("C", EmailKind.REMINDER, "manager@c.gov")
    assert "waiting for the Customer Conversion Manager" in body(
        "C", EmailKind.REMINDER, "atr@c.gov"
    )
    assert "Name your Coordinator." in body("D", EmailKind.REMINDER, "atr@d.gov")
    assert "Customer Conversion Manager because the survey is overdue" in body(
        "D", EmailKind.OVERDUE, "manager@d.gov"
    )
    assert "because the survey is overdue" not in body("D", EmailKind.OVERDUE, "atr@d.gov")


def test_a_missed_week_catches_up_with_the_latest_reminder_only(
    bulletin_campaign, mailoutbox, time_machine
):
    make_department(code="A", atr_email="atr@a.gov")
    time_machine.move_to(at(2013, 12, 26, 18), tick=False)  # the cron was off until now

    run()

    reminders = OutboundEmail.objects.filter(kind=EmailKind.REMINDER)
    assert [row.key.split(":")[3] for row in reminders] == ["1d"]
    assert sorted(m.to[0] for m in mailoutbox) == ["atr@a.gov", "atr@a.gov"]


def test_a_second_run_at_once_does_nothing(bulletin_campaign, mailoutbox, time_machine):
    make_department(code="A", atr_email="atr@a.gov")
    time_machine.move_to(at(2013, 12, 24, 17, 30), tick=False)

    first = run()
    second = run()

    assert "queued=2 sent=2" in first
    assert second.strip() == "send_reminders: queued=0 sent=0 retried=0 failed=0 skipped=0"
    assert len(mailoutbox) == 2


def test_dry_run_lists_what_would_be_sent_and_changes_nothing(
    bulletin_campaign, mailoutbox, time_machine, django_user_model
):
    make_department(code="A", atr_email="atr@a.gov")
    users_before = django_user_model.objects.count()
    time_machine.move_to(at(2013, 12, 24, 17, 30), tick=False)

    out = run(dry_run=True)

    assert "would queue invitation to atr@a.gov" in out
    assert "would queue reminder to atr@a.gov" in out
    assert out.strip().endswith("would queue=2 would send=0")
    assert OutboundEmail.objects.count() == 0
    assert django_user_model.objects.count() == users_before
    assert mailoutbox == []


def test_dry_run_lists_messages_waiting_for_a_retry(bulletin_campaign, time_machine):
    department = make_department(code="A", atr_email="atr@a.gov")
    time_machine.move_to(at(2013, 12, 21, 9), tick=False)
    row = emails.send_invitation(campaign=bulletin_campaign, person=department.atr, deliver=False)
    OutboundEmail.objects.filter(pk=row.pk).update(attempts=2, last_error="451")

    out = run(dry_run=True)

    assert f"would send invitation to atr@a.gov ({row.key}, attempt 3)" in out


def test_campaigns_not_yet_open_or_closed_send_nothing(catalogue, mailoutbox, time_machine):
    make_department(code="A", atr_email="atr@a.gov")
    now = at(2013, 12, 24, 12)
    make_campaign(catalogue, now=now + datetime.timedelta(days=2))  # opens in 2 days
    make_campaign(
        catalogue,
        opens_at=now - datetime.timedelta(days=30),
        due_at=now - datetime.timedelta(days=20),
        closes_at=now - datetime.timedelta(days=1),
    )
    time_machine.move_to(now, tick=False)

    assert "queued=0 sent=0" in run()
    assert mailoutbox == []


def test_one_departments_bad_data_does_not_stop_the_others(
    bulletin_campaign, mailoutbox, time_machine, monkeypatch
):
    make_department(code="A", atr_email="atr@a.gov")
    make_department(code="B", atr_email="atr@b.gov")
    original = emails.send_invitation

    def broken_for_a(*, campaign, person, deliver=True):
        if person.department.code == "A":
            raise ValueError("bad data")
        return original(campaign=campaign, person=person, deliver=deliver)

    monkeypatch.setattr(emails, "send_invitation", broken_for_a)
    time_machine.move_to(at(2013, 12, 20, 10), tick=False)

    out = run()

    assert "queued=1 sent=1" in out and "errors=1" in out
    assert [m.to for m in mailoutbox] == [["atr@b.gov"]]
