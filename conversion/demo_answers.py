"""Demo answers for `load_demo`: departments at every stage of the survey.

Answers go through the survey's own forms and `workflow.save_section`, so they
obey the same validation and rules as a department's; submissions are recorded
as revisions (no email is sent). Deterministic: each department's fate comes
from a generator seeded with its code.
"""

import datetime
import random

from django.utils import timezone

from conversion import rules, workflow
from conversion.demo_data import FIRST_NAMES, LAST_NAMES
from conversion.forms import (
    ContactsForm,
    DepartmentForm,
    ServicesForm,
    TimeframeForm,
    migration_targets,
)
from conversion.models import Choice, Response, ResponseStatus, Revision, Section
from departments.tokens import user_for_email

# Share of departments at each stage (cumulative thresholds of one random draw).
STAGES = [
    (0.30, "not started"),
    (0.52, "contacts named"),
    (0.62, "all sections saved"),
    (0.70, "awaiting Manager"),
    (0.91, "submitted"),
    (0.95, "returned"),
    (1.00, "accepted"),
]

RETURN_NOTE = (
    "Please check the Centrex lines at your headquarters: our records show more lines than "
    "your answers cover. Call us at (916) 657-9150 with questions."
)


def stage_of(department, seed):
    draw = random.Random(f"{seed}-stage-{department.code}").random()
    return next(stage for limit, stage in STAGES if draw < limit)


def answer(*, campaign, department, seed, stnd_user=None, now=None):
    """Bring `department`'s response to its demo stage; returns the stage."""
    now = now or timezone.now()
    stage = stage_of(department, seed)
    if stage == "not started":
        return stage
    rng = random.Random(f"{seed}-answers-{department.code}")
    response, _ = Response.objects.get_or_create(campaign=campaign, department=department)
    response.campaign, response.department = campaign, department
    atr = department.atr
    user = user_for_email(atr.email)

    save(response, Section.DEPARTMENT, user, DepartmentForm, {"is_right": "yes"}, now=now)
    manager = {
        "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        "title": rng.choice(
            ["Chief Information Officer", "Deputy Director, Administration", "IT Division Chief"]
        ),
        "email": f"manager@{department.code.lower()}.example.gov",
        "phone": f"(916) 555-{rng.randint(1000, 9999)}",
    }
    contacts = {f"manager_{k}": v for k, v in manager.items()}
    if rng.random() < 0.3:
        contacts["one_person"] = "on"
    else:
        contacts.update(
            coordinator_name=atr.name,
            coordinator_title=atr.title,
            coordinator_email=atr.email,
            coordinator_phone=atr.phone,
        )
    save(response, Section.CONTACTS, user, ContactsForm, contacts, now=now)
    if stage == "contacts named":
        return stage

    on = timezone.localdate(now)
    groups = response.service_groups(on)
    targets = migration_targets(campaign, on)
    decisions = {}
    for group in groups:
        offering = group.offering
        others = [t for t in targets if t.contractor_id != offering.contractor_id]
        can_transition = not rules.transition_unavailable_reason(offering, on)
        draw = rng.random()
        # Most services transition where they can; some move to another contractor; a
        # few are disconnected.
        if can_transition and draw < 0.75:
            choice, target = Choice.TRANSITION, None
        elif others and draw < 0.9:
            # Prefer the same kind of service from another contractor.
            alike = [t for t in others if t.name == getattr(offering.successor, "name", None)]
            choice, target = Choice.MIGRATE_CONTRACTOR, rng.choice(alike or others)
        else:
            choice, target = Choice.DISCONNECT, None
        decisions[f"choice_{offering.pk}"] = choice
        decisions[f"target_{offering.pk}"] = str(target.pk) if target else ""
    save(
        response,
        Section.SERVICES,
        user,
        ServicesForm,
        decisions,
        now=now,
        groups=groups,
        targets=targets,
        on=on,
    )
    workflow.refresh_counts(response)

    months = [value for value, _ in workflow.month_choices(campaign)]
    start = rng.randrange(1, max(2, len(months) - 3))
    migrating = any(
        v in (Choice.MIGRATE_CONTRACTOR, Choice.MIGRATE_SERVICE) for v in decisions.values()
    )
    save(
        response,
        Section.TIMEFRAME,
        user,
        TimeframeForm,
        {
            "window_start": months[start],
            "window_end": months[min(len(months) - 1, start + rng.randint(0, 3))],
            "blackout_periods": rng.choice(
                [
                    "",
                    "",
                    "No work during fiscal year-end close (June).",
                    "Avoid the legislative session's last two weeks.",
                ]
            ),
            "migration_plans": "yes" if migrating else "no",
            "comments": "",
        },
        now=now,
        groups=response.service_groups(on),
    )
    if stage == "all sections saved":
        return stage

    response.refresh_from_db()
    if stage == "awaiting Manager":
        Response.objects.filter(pk=response.pk).update(
            status=ResponseStatus.AWAITING_MANAGER,
            authorization_requested_at=now,
            authorization_requested_by=user,
        )
        return stage

    submitted_at = max(campaign.opens_at, now - datetime.timedelta(minutes=rng.randint(5, 600)))
    manager_user = user_for_email(response.manager.email)
    Revision.objects.create(
        response=response,
        number=1,
        submitted_at=submitted_at,
        submitted_by=manager_user,
        is_late=False,
        answers=workflow.snapshot(response),
    )
    fields = {
        "status": ResponseStatus.SUBMITTED,
        "submitted_at": submitted_at,
        "submitted_by": manager_user,
    }
    if stage == "returned":
        fields.update(status=ResponseStatus.RETURNED, returned_note=RETURN_NOTE, returned_at=now)
    elif stage == "accepted":
        fields.update(status=ResponseStatus.ACCEPTED, accepted_at=now, accepted_by=stnd_user)
    Response.objects.filter(pk=response.pk).update(**fields)
    return stage


def save(response, section, user, form_class, data, *, now=None, **form_kwargs):
    """Save one section through its form, as a department would."""
    form = form_class(data, response=response, user=user, **form_kwargs)
    if not form.is_valid():
        raise ValueError(f"Demo answers for {response.department.code} {section}: {form.errors}")
    progress = workflow.progress_by_section(response)[section]
    workflow.save_section(
        response=response,
        section=section,
        user=user,
        loaded_version=progress.version if progress else 0,
        loaded_answers={},
        write=form.save,
        now=now,
    )
    response.refresh_from_db()
