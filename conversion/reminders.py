"""The email schedule of a campaign: which messages are due at a given moment.

Everything is chosen by time window, never by an exact date, so a missed
`send_reminders` run catches up and a repeated one does nothing:

- the invitation, from the opening, to each active department's ATR;
- a reminder at each of `campaign.reminder_days_list` days before the due date,
  only to departments that have not submitted: a late run sends only the most
  recent one (never a burst of stale reminders); one falling within a day of
  the opening is left out because the invitation has just gone, and answers
  STND returned after a reminder's time skip it (the returned note went instead);
- after the due date, an overdue notice every `campaign.overdue_every_days` days
  until the hard close, escalated to the Customer Conversion Manager;
- from `campaign.digest_hour` (local time) each day, a digest of the departments
  that have not submitted to each STND analyst.

Each occasion names its messages by their `OutboundEmail.key`; a key that is
already in the log is not queued again.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone

from conversion import emails
from conversion.models import Campaign, EmailKind, OutboundEmail, Response, ResponseStatus
from departments.models import Department

# The invitation is the first reminder: a scheduled reminder this close to the
# opening is left out.
INVITATION_GRACE = datetime.timedelta(days=1)


@dataclass
class Occasion:
    """One decision to write: the keys of its messages and how to queue them."""

    kind: str
    campaign: Campaign
    description: str
    keys: dict  # key -> recipient
    queue: Callable = field(repr=False)


def current_reminder_days(campaign, now):
    """The reminder (days before due) whose time came last, or None: at most one."""
    if now >= campaign.due_at:
        return None
    current = None
    for days in campaign.reminder_days_list:  # largest first: later ones override
        at = campaign.due_at - datetime.timedelta(days=days)
        if at <= now and at >= campaign.opens_at + INVITATION_GRACE:
            current = days
    return current


def current_overdue_period(campaign, now):
    """How many overdue periods have begun since the due date (0 for the first
    notice, at the due date), or None before the due date or after the hard close."""
    if not campaign.due_at <= now < campaign.closes_at:
        return None
    every = datetime.timedelta(days=campaign.overdue_every_days)
    return (now - campaign.due_at) // every


def current_digest_day(campaign, now):
    """The local day whose digest time (digest_hour) came last, or None before the
    first one after the opening."""
    local = timezone.localtime(now)
    day = (
        local.date() if local.hour >= campaign.digest_hour else local.date() - datetime.timedelta(1)
    )
    at = timezone.make_aware(datetime.datetime.combine(day, datetime.time(campaign.digest_hour)))
    if at < campaign.opens_at or at >= campaign.closes_at:
        return None
    return day


def waiting_departments(campaign):
    """(department, response or None) for each active department STND is still
    waiting for: no response yet, or one not submitted (or returned)."""
    responses = {
        r.department_id: r
        for r in Response.objects.filter(campaign=campaign).select_related(
            "manager", "coordinator", "campaign"
        )
    }
    waiting = set(
        Response.objects.filter(campaign=campaign).not_submitted().values_list("pk", flat=True)
    )
    for department in Department.objects.active().prefetch_related("people").order_by("code"):
        response = responses.get(department.pk)
        if response is None or response.pk in waiting:
            yield department, response


def occasions(now, *, campaigns=None):
    """Every occasion due at `now` across running campaigns (keys already logged included)."""
    if campaigns is None:
        campaigns = Campaign.objects.running(now).select_related("old_contract", "new_contract")
    for campaign in campaigns:
        yield from campaign_occasions(campaign, now)


def campaign_occasions(campaign, now):
    reminder_days = current_reminder_days(campaign, now)
    overdue_period = current_overdue_period(campaign, now)
    waiting = list(waiting_departments(campaign))
    reminder_at = overdue_at = None
    if reminder_days is not None:
        reminder_at = campaign.due_at - datetime.timedelta(days=reminder_days)
    if overdue_period is not None:
        overdue_at = campaign.due_at + overdue_period * datetime.timedelta(
            days=campaign.overdue_every_days
        )
    for department, response in waiting:
        # Answers STND returned after a reminder's time skip that reminder: the
        # returned note, with the due date, has just gone to the same people.
        returned_at = (
            response.returned_at
            if response is not None and response.status == ResponseStatus.RETURNED
            else None
        )
        atr = department.atr
        if atr is not None:
            yield Occasion(
                kind=EmailKind.INVITATION,
                campaign=campaign,
                description=f"invitation to {department.code}",
                keys={emails.invitation_key(campaign, department, atr.email): atr.email},
                queue=_bind(emails.send_invitation, campaign=campaign, person=atr, deliver=False),
            )
        if reminder_days is not None and not (returned_at and returned_at >= reminder_at):
            state = emails.response_state(response)
            people = emails.reminder_recipients(department, response)
            occasion = f"{reminder_days}d"
            yield Occasion(
                kind=EmailKind.REMINDER,
                campaign=campaign,
                description=f"{reminder_days}-day reminder to {department.code} ({state})",
                keys={
                    emails.reminder_key(campaign, department, occasion, p.email): p.email
                    for p, _ in people
                },
                queue=_bind(
                    emails.queue_reminder,
                    campaign=campaign,
                    department=department,
                    response=response,
                    occasion=occasion,
                    now=now,
                ),
            )
        if overdue_period is not None and not (returned_at and returned_at >= overdue_at):
            people = emails.overdue_recipients(department, response)
            yield Occasion(
                kind=EmailKind.OVERDUE,
                campaign=campaign,
                description=f"overdue notice {overdue_period + 1} to {department.code}",
                keys={
                    emails.overdue_key(campaign, department, overdue_period, p.email): p.email
                    for p, _ in people
                },
                queue=_bind(
                    emails.queue_overdue,
                    campaign=campaign,
                    department=department,
                    response=response,
                    occasion=overdue_period,
                    now=now,
                ),
            )
    day = current_digest_day(campaign, now)
    if day is not None and waiting:
        non_responders = [(d, emails.response_state(r)) for d, r in waiting]
        for user in emails.stnd_analysts():
            yield Occasion(
                kind=EmailKind.DIGEST,
                campaign=campaign,
                description=f"digest of {len(waiting)} non-responders to {user.username}",
                keys={emails.digest_key(campaign, day, user.email): user.email},
                queue=_bind(
                    emails.queue_digest,
                    campaign=campaign,
                    day=day,
                    user=user,
                    non_responders=non_responders,
                    now=now,
                ),
            )


def _bind(function, **kwargs):
    return lambda: function(**kwargs)


def logged_keys(keys):
    """Which of `keys` are already in the email log (in chunks: a campaign with
    thousands of departments has thousands of keys)."""
    keys = list(keys)
    found = set()
    for start in range(0, len(keys), 500):
        found.update(
            OutboundEmail.objects.filter(key__in=keys[start : start + 500]).values_list(
                "key", flat=True
            )
        )
    return found


def new_occasions(now):
    """The occasions due at `now` with at least one message not yet in the log,
    each with `missing`: {key: recipient} of its messages still to queue."""
    found = list(occasions(now))
    logged = logged_keys(key for occasion in found for key in occasion.keys)
    for occasion in found:
        occasion.missing = {k: r for k, r in occasion.keys.items() if k not in logged}
    return [occasion for occasion in found if occasion.missing]
