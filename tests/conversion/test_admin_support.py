"""Shared helpers for the STND admin tests (no tests here): accounts in the two
groups, and ways to put a response in a given state."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from conversion.models import Decision, Response, ResponseStatus, Revision


def make_staff(username, group):
    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@stnd.example.gov", password="s3cret-Pa55word!"
    )
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=group))
    return user


# Hashing passwords the production way takes seconds on a busy machine.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def analyst(db, settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return make_staff("analyst", "STND analyst")


@pytest.fixture
def administrator(db, settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return make_staff("administrator", "STND administrator")


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def admin_client_stnd(client, administrator):
    client.force_login(administrator, backend="django.contrib.auth.backends.ModelBackend")
    return client


def decide(response, offering, choice, target=None, line=None):
    return Decision.objects.create(
        response=response, offering=offering, choice=choice, target=target, line=line
    )


def submit(response, *, at=None, late=False, number=1):
    """Mark a response submitted as the survey would, with its revision and counts."""
    at = at or timezone.now()
    response.refresh_counts(response.checklist())
    response.status = ResponseStatus.SUBMITTED
    response.submitted_at = at
    response.is_late = late
    response.save()
    Revision.objects.create(
        response=response, number=number, submitted_at=at, is_late=late, answers={}
    )
    return response


def answer_every_section(response, *, manager, coordinator, centrex):
    """Every section answered, not submitted: the `centrex` group (no CALNET 3
    successor) disconnects, the rest transition automatically."""
    from conversion.models import Choice, MigrationPlans, Section, SectionProgress

    decide(response, centrex, Choice.DISCONNECT)
    months = response.campaign.months()
    Response.objects.filter(pk=response.pk).update(
        department_confirmed=True,
        manager=manager,
        coordinator=coordinator,
        window_start=months[1],
        window_end=months[2],
        migration_plans=MigrationPlans.NO,
        status=ResponseStatus.IN_PROGRESS,
        version=4,
    )
    for section in Section:
        SectionProgress.objects.create(
            response=response, section=section, version=1, is_complete=True
        )
    response.refresh_from_db()
    return response


def respond(campaign, department, **fields):
    return Response.objects.create(campaign=campaign, department=department, **fields)
