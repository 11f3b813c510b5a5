"""Database-held rules and the model methods that apply the bulletin to a response."""

import pytest
from django.db import IntegrityError, transaction

from conversion.models import Choice, Decision, Response
from departments.models import DepartmentKind
from tests.conftest import make_department


def test_one_response_per_department_and_campaign(response):
    with pytest.raises(IntegrityError), transaction.atomic():
        Response.objects.create(campaign=response.campaign, department=response.department)


def test_a_migration_must_name_its_target(response, catalogue):
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(
            response=response, offering=catalogue.att_ds1_2, choice=Choice.MIGRATE_CONTRACTOR
        )


def test_a_transition_has_no_target(response, catalogue):
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(
            response=response,
            offering=catalogue.att_ds1_2,
            choice=Choice.TRANSITION,
            target=catalogue.att_ds1_3,
        )


def test_one_group_decision_per_offering(response, catalogue):
    Decision.objects.create(
        response=response, offering=catalogue.att_ds1_2, choice=Choice.DISCONNECT
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(
            response=response, offering=catalogue.att_ds1_2, choice=Choice.DISCONNECT
        )


def test_service_groups_apply_the_non_exempt_default_and_count_lines(response, catalogue):
    groups = {g.offering: g for g in response.service_groups()}
    assert groups[catalogue.att_ds1_2].lines == 3
    assert groups[catalogue.att_ds1_2].choice == Choice.TRANSITION  # automatic
    assert groups[catalogue.att_centrex_2].choice is None  # no CALNET 3 successor
    assert groups[catalogue.vz_mpls_2].choice == Choice.TRANSITION


def test_checklist_counts_group_decisions_minus_per_line_exceptions(response, catalogue):
    line = response.department.lines.filter(offering=catalogue.att_ds1_2).first()
    Decision.objects.create(
        response=response,
        offering=catalogue.att_ds1_2,
        line=line,
        choice=Choice.MIGRATE_CONTRACTOR,
        target=catalogue.vz_ds1_3,
    )
    Decision.objects.create(
        response=response, offering=catalogue.att_centrex_2, choice=Choice.DISCONNECT
    )
    checklist = response.checklist()
    assert checklist.lines_by_choice[Choice.TRANSITION] == 3  # 2 DS1 + 1 MPLS
    assert checklist.lines_by_choice[Choice.MIGRATE_CONTRACTOR] == 1
    assert checklist.lines_by_choice[Choice.DISCONNECT] == 2
    assert checklist.undecided_lines == 0
    response.refresh_counts(checklist)
    assert (response.lines_transition, response.lines_migration, response.lines_disconnect) == (
        3,
        1,
        2,
    )


def test_exempt_agency_starts_with_every_group_undecided(campaign, catalogue):
    exempt = make_department(kind=DepartmentKind.EXEMPT, lines=[(catalogue.att_ds1_2, 4)])
    response = Response.objects.create(campaign=campaign, department=exempt)
    assert response.checklist().undecided_lines == 4


def test_service_groups_query_count_does_not_grow_with_the_inventory(
    campaign, catalogue, django_assert_max_num_queries
):
    small = make_department(lines=[(catalogue.att_ds1_2, 2), (catalogue.vz_mpls_2, 1)])
    large = make_department(lines=[(catalogue.att_ds1_2, 1500), (catalogue.vz_mpls_2, 500)])
    for department in (small, large):
        response = Response.objects.create(campaign=campaign, department=department)
        with django_assert_max_num_queries(4):
            response.checklist()
