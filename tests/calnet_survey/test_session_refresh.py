"""Sessions end after inactivity, and a session in use is written only now and then."""

import datetime

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db


def overview_url(response):
    return reverse(
        "survey:overview",
        kwargs={"campaign": response.campaign.slug, "code": response.department.code},
    )


def session_writes(queries):
    return [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "session" in q["sql"]]


def test_a_page_view_does_not_write_the_session_again_within_the_refresh_interval(
    atr_client, response
):
    url = overview_url(response)
    atr_client.get(url)  # the first signed-in page view records the refresh
    with CaptureQueriesContext(connection) as queries:
        assert atr_client.get(url).status_code == 200
    assert session_writes(queries) == []


def test_a_session_in_use_is_extended_and_an_idle_one_expires(atr_client, response, settings):
    settings.SESSION_COOKIE_AGE = 3600
    settings.SESSION_REFRESH_SECONDS = 300
    url = overview_url(response)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        atr_client.get(url)
        first_expiry = Session.objects.get().expire_date
        # Used every 20 minutes for two hours: stays signed in, expiry moves on.
        for _ in range(6):
            clock.shift(datetime.timedelta(minutes=20))
            assert atr_client.get(url).status_code == 200
        assert Session.objects.get().expire_date > first_expiry + datetime.timedelta(hours=1)
        # Then idle for longer than SESSION_COOKIE_AGE: signed out.
        clock.shift(datetime.timedelta(minutes=61))
        answer = atr_client.get(url)
    assert answer.status_code == 302
    assert answer["Location"].startswith(reverse("departments:landing"))
