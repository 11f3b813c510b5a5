"""Who reaches which survey page: every URL pattern of the survey, found from the resolver.

A new survey URL without an entry in OWN_PAGE_STATUS fails
`test_every_survey_url_has_an_access_expectation`, so no page escapes these rules.
"""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, get_resolver, reverse
from django.utils import timezone

from conversion.models import Response
from tests.conftest import make_campaign, make_department, make_user_for

# What a member of the department gets on GET, for each survey page.
OWN_PAGE_STATUS = {
    "overview": 200,
    "department": 200,
    "contacts": 200,
    "services": 200,
    "add_line": 200,
    "service_lines": 200,
    "timeframe": 200,
    "review": 200,
    "submitted": 302,  # nothing submitted yet: back to the review page
    "summary": 200,
}


def survey_url_names():
    resolver = get_resolver()
    namespace_resolver = resolver.namespace_dict["survey"][1]
    return sorted(
        p.name for p in namespace_resolver.url_patterns if isinstance(p, URLPattern) and p.name
    )


def url_for(name, response, catalogue, **overrides):
    kwargs = {"campaign": response.campaign.slug, "code": response.department.code}
    if name == "service_lines":
        kwargs["offering_id"] = catalogue.att_ds1_2.pk
    kwargs.update(overrides)
    return reverse(f"survey:{name}", kwargs=kwargs)


@pytest.fixture
def other_client(client, campaign, catalogue):
    """Someone signed in for another department."""
    other = make_department(lines=[(catalogue.att_ds1_2, 2)])
    client.force_login(
        make_user_for(other.atr), backend="django.contrib.auth.backends.ModelBackend"
    )
    return client


ALL_NAMES = survey_url_names()


def test_every_survey_url_has_an_access_expectation():
    assert set(ALL_NAMES) == set(OWN_PAGE_STATUS)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_a_member_reaches_their_department_pages(name, atr_client, response, catalogue):
    answer = atr_client.get(url_for(name, response, catalogue))
    assert answer.status_code == OWN_PAGE_STATUS[name]


@pytest.mark.parametrize("name", ALL_NAMES)
def test_anonymous_visitors_are_sent_to_the_landing_page(name, client, response, catalogue):
    answer = client.get(url_for(name, response, catalogue))
    assert answer.status_code == 302
    assert answer["Location"].startswith(reverse("departments:landing"))


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_departments_pages_answer_404(name, method, other_client, response, catalogue):
    answer = getattr(other_client, method)(url_for(name, response, catalogue))
    assert answer.status_code == 404
    # Nothing was created or changed for the department it does not belong to.
    response.refresh_from_db()
    assert response.version == 0


@pytest.mark.parametrize("name", ALL_NAMES)
def test_stnd_staff_are_not_department_members(name, client, response, catalogue):
    staff = get_user_model().objects.create(
        username="analyst", email=response.department.atr.email, is_staff=True
    )
    client.force_login(staff, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(url_for(name, response, catalogue)).status_code == 404


@pytest.mark.parametrize("name", ALL_NAMES)
def test_an_unknown_campaign_or_department_answers_404(name, atr_client, response, catalogue):
    assert atr_client.get(url_for(name, response, catalogue, campaign="nope")).status_code == 404
    assert atr_client.get(url_for(name, response, catalogue, code="NOPE")).status_code == 404


def test_a_service_the_department_does_not_hold_answers_404(atr_client, response, catalogue):
    url = url_for("service_lines", response, catalogue, offering_id=catalogue.vz_vm_2.pk)
    assert atr_client.get(url).status_code == 404


def test_a_campaign_not_yet_open_answers_404(atr_client, response, catalogue):
    future = make_campaign(catalogue, now=timezone.now() + datetime.timedelta(days=30))
    url = reverse(
        "survey:overview", kwargs={"campaign": future.slug, "code": response.department.code}
    )
    assert atr_client.get(url).status_code == 404


def test_a_first_visit_creates_the_departments_response(atr_client, campaign, department):
    url = reverse("survey:overview", kwargs={"campaign": campaign.slug, "code": department.code})
    assert atr_client.get(url).status_code == 200
    assert Response.objects.filter(campaign=campaign, department=department).count() == 1


def test_an_inactive_department_is_not_reachable(atr_client, response, catalogue):
    response.department.is_active = False
    response.department.save()
    assert atr_client.get(url_for("overview", response, catalogue)).status_code == 404
