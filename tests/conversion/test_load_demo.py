"""`load_demo`: realistic data, open today, at every stage of the survey, and idempotent."""

import datetime
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from conversion.models import (
    Campaign,
    Category,
    InventoryLine,
    Offering,
    Response,
    ResponseStatus,
    Revision,
)
from departments.models import Department, DepartmentKind, Person

pytestmark = pytest.mark.django_db


def counts():
    models = (Department, Person, InventoryLine, Offering, Response, Revision)
    return [m.objects.count() for m in models]


def test_load_demo_builds_a_realistic_campaign_open_today_and_twice_changes_nothing():
    call_command("load_demo", stdout=StringIO())
    first = counts()
    call_command("load_demo", stdout=StringIO())
    assert counts() == first
    assert first[0] > 200  # ~150 state departments, exempt agencies, local governments

    # Open today, with the bulletin's intervals.
    campaign = Campaign.objects.get(slug="atr-13-06")
    now = timezone.now()
    assert campaign.is_open(now) and not campaign.is_past_due(now)
    due = timezone.localdate(campaign.due_at)
    assert due - timezone.localdate(campaign.opens_at) == datetime.timedelta(days=7)
    assert campaign.old_contract_ends_on - due == datetime.timedelta(days=33)

    # Every kind of customer, each with an ATR and an inventory.
    for kind in DepartmentKind:
        assert Department.objects.filter(kind=kind).count() >= 15
    assert not Department.objects.exclude(people__is_atr=True).exists()
    assert not Department.objects.filter(lines__isnull=True).exists()
    # Some CALNET 2 services have no CALNET 3 successor, and some categories are not awarded.
    assert Offering.objects.filter(contract__name="CALNET 2", successor__isnull=True).exists()
    assert Category.objects.filter(contract__name="CALNET 3", awarded_on__isnull=True).exists()

    # Departments at every stage; submitted answers are complete under the rules.
    statuses = set(Response.objects.values_list("status", flat=True))
    assert {
        ResponseStatus.IN_PROGRESS,
        ResponseStatus.AWAITING_MANAGER,
        ResponseStatus.SUBMITTED,
        ResponseStatus.RETURNED,
        ResponseStatus.ACCEPTED,
    } <= statuses
    submitted = Response.objects.filter(submitted_at__isnull=False)
    assert Revision.objects.filter(response__in=submitted).count() == submitted.count()
    for response in submitted:
        assert response.checklist().undecided_lines == 0
        assert response.manager_id and response.coordinator_id
    # The departments the sign-in help names are left for a newcomer to fill in.
    assert not Response.objects.filter(department__code__in=["S0001", "L0172"]).exists()

    # STND accounts in their groups.
    admin = get_user_model().objects.get(username="stnd")
    assert admin.is_staff and admin.groups.filter(name="STND administrator").exists()
    assert admin.check_password("calnet-demo")
    analyst = get_user_model().objects.get(username="analyst")
    assert analyst.groups.filter(name="STND analyst").exists()


def test_real_dates_give_the_bulletins_2013_calendar_with_answers_given_in_time():
    call_command("load_demo", "--real-dates", stdout=StringIO())
    campaign = Campaign.objects.get(slug="atr-13-06")
    assert timezone.localdate(campaign.due_at) == datetime.date(2013, 12, 27)
    assert campaign.old_contract_ends_on == datetime.date(2014, 1, 29)
    first_award = Category.objects.get(contract__name="CALNET 3", number="1.1").awarded_on
    assert first_award == datetime.date(2013, 11, 15)
    assert Revision.objects.exists()
    assert not Revision.objects.filter(submitted_at__gt=campaign.due_at).exists()


def test_large_scale_builds_exact_counts_with_one_largest_state_department(monkeypatch):
    """The large data set's shape, on scaled-down numbers (the real run takes a minute)."""
    from conversion.management.commands import load_demo

    monkeypatch.setattr(load_demo, "LARGE_DEPARTMENTS", 300)
    monkeypatch.setattr(load_demo, "LARGE_LINES", 9_000)
    monkeypatch.setattr(load_demo, "LARGEST_DEPARTMENT_LINES", 1_200)
    # The demo first: the large scale replaces its inventories.
    call_command("load_demo", "--no-answers", stdout=StringIO())
    call_command("load_demo", "--scale", "large", "--no-answers", stdout=StringIO())
    assert Department.objects.count() == 300
    assert InventoryLine.objects.count() == 9_000
    largest = Department.objects.get(code="S0001")
    assert largest.kind == DepartmentKind.STATE
    assert largest.lines.count() == 1_200
    assert max(d.lines.count() for d in Department.objects.exclude(pk=largest.pk)) < 1_200
    assert Department.objects.get(code="S0002").lines.count() == 10
    call_command("load_demo", "--scale", "large", "--no-answers", stdout=StringIO())
    assert InventoryLine.objects.count() == 9_000
