"""Sign-in without passwords: the landing page, the emailed link, its confirmation page."""

import datetime
import re
from urllib.parse import urlsplit

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY, get_user_model
from django.urls import reverse

from conversion.models import EmailKind, OutboundEmail
from departments import tokens
from departments.models import Person, SignInRequest
from tests.conftest import make_department, make_user_for

LANDING = "/"


def link_path(url):
    """The path and query of an absolute sign-in link, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def ask_for_link(client, email, **extra):
    return client.post(LANDING, {"email": email}, **extra)


def sign_in_with(client, url):
    """Open a link and confirm it, as a person would."""
    client.get(link_path(url))
    return client.post(reverse("departments:sign_in_confirm"))


@pytest.fixture
def atr(department):
    return department.atr


def test_landing_page_explains_the_conversion_and_asks_for_an_email(client, campaign):
    page = client.get(LANDING)
    assert page.status_code == 200
    content = page.content.decode()
    for words in ("Transition", "Migration", "Customer Conversion Manager", "Coordinator"):
        assert words in content
    assert 'name="email"' in content
    assert campaign.stnd_phone in content


def test_a_department_email_gets_a_15_minute_sign_in_link(
    client, campaign, atr, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answer = ask_for_link(client, atr.email.upper())
    assert answer.status_code == 302
    assert answer["Location"] == reverse("departments:sign_in_sent")
    email = OutboundEmail.objects.get(kind=EmailKind.SIGN_IN)
    assert email.recipient == atr.email
    assert len(mailoutbox) == 1
    assert "/sign-in/link/?token=" in mailoutbox[0].body
    assert SignInRequest.objects.filter(email=atr.email).count() == 1


def test_an_unknown_email_gets_the_same_answer_and_no_email(
    client, campaign, atr, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = ask_for_link(client, atr.email, follow=True)
        unknown = ask_for_link(client, "nobody@nowhere.example.gov", follow=True)
    assert known.redirect_chain == unknown.redirect_chain
    assert known.status_code == unknown.status_code == 200
    known_page = known.content.decode().replace(atr.email, "EMAIL")
    unknown_page = unknown.content.decode().replace("nobody@nowhere.example.gov", "EMAIL")
    assert known_page == unknown_page
    assert [m.to for m in mailoutbox] == [[atr.email]]


def test_opening_a_link_only_asks_for_confirmation_and_drops_the_token_from_the_address(
    client, campaign, atr
):
    user = make_user_for(atr)
    url = tokens.sign_in_url(user, scope=tokens.SIGN_IN)
    token = urlsplit(url).query.removeprefix("token=")
    opened = client.get(link_path(url))
    assert opened.status_code == 302
    assert opened["Location"] == reverse("departments:sign_in_confirm")
    assert token not in opened["Location"]
    confirm = client.get(opened["Location"])
    assert confirm.status_code == 200
    assert atr.email in confirm.content.decode()
    assert token not in confirm.content.decode()
    assert SESSION_KEY not in client.session
    user.refresh_from_db()
    assert user.last_login is None  # a GET (a mail scanner) does not use the link up


def test_confirming_signs_in_with_a_new_session_and_follows_next(client, campaign, atr):
    user = make_user_for(atr)
    next_path = reverse(
        "survey:review", kwargs={"campaign": campaign.slug, "code": atr.department.code}
    )
    url = tokens.sign_in_url(user, scope=tokens.INVITATION, next_path=next_path)
    client.get(link_path(url))
    key_before = client.session.session_key
    signed_in = client.post(reverse("departments:sign_in_confirm"))
    assert signed_in.status_code == 302
    assert signed_in["Location"] == next_path
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.session.session_key != key_before
    assert "sign_in_token" not in client.session


def test_a_used_link_does_not_work_twice(client, campaign, atr):
    url = tokens.sign_in_url(make_user_for(atr), scope=tokens.SIGN_IN)
    assert sign_in_with(client, url).status_code == 302
    client.post(reverse("departments:sign_out"))
    again = sign_in_with(client, url)
    assert again.status_code == 400
    assert "no longer works" in again.content.decode()
    assert SESSION_KEY not in client.session


def test_a_requested_link_expires_after_15_minutes(client, campaign, atr):
    with time_machine.travel(datetime.datetime(2030, 1, 1, 9, 0, tzinfo=datetime.UTC)):
        url = tokens.sign_in_url(make_user_for(atr), scope=tokens.SIGN_IN)
    with time_machine.travel(datetime.datetime(2030, 1, 1, 9, 16, tzinfo=datetime.UTC)):
        expired = sign_in_with(client, url)
    assert expired.status_code == 400
    content = expired.content.decode()
    assert "no longer works" in content
    assert 'name="email"' in content  # a way to get a new link


def test_an_invitation_link_works_for_72_hours(client, campaign, atr):
    start = datetime.datetime(2030, 1, 1, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start):
        url = tokens.sign_in_url(make_user_for(atr), scope=tokens.INVITATION)
    with time_machine.travel(start + datetime.timedelta(hours=71)):
        client.get(link_path(url))
        assert client.get(reverse("departments:sign_in_confirm")).status_code == 200
    with time_machine.travel(start + datetime.timedelta(hours=73)):
        assert client.post(reverse("departments:sign_in_confirm")).status_code == 400


def test_a_forged_link_is_refused(client, campaign, atr):
    url = tokens.sign_in_url(make_user_for(atr), scope=tokens.SIGN_IN)
    forged = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    answer = sign_in_with(client, forged)
    assert answer.status_code == 400
    assert SESSION_KEY not in client.session


def test_the_link_is_used_up_only_by_the_confirmation_post(client, campaign, atr):
    user = make_user_for(atr)
    url = tokens.sign_in_url(user, scope=tokens.SIGN_IN)
    for _ in range(3):
        client.get(link_path(url))
        client.get(reverse("departments:sign_in_confirm"))
    user.refresh_from_db()
    assert user.last_login is None
    assert client.post(reverse("departments:sign_in_confirm")).status_code == 302


def test_the_confirmation_page_without_a_link_offers_a_new_one(client, campaign):
    answer = client.post(reverse("departments:sign_in_confirm"))
    assert answer.status_code == 400
    assert 'name="email"' in answer.content.decode()


def test_a_next_address_on_another_site_is_ignored(client, campaign, atr):
    user = make_user_for(atr)
    url = tokens.sign_in_url(user, scope=tokens.SIGN_IN, next_path="https://evil.example.com/")
    answer = sign_in_with(client, url)
    assert answer.status_code == 302
    assert "evil" not in answer["Location"]


def test_links_are_rate_limited_per_email(
    client, campaign, atr, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.SIGN_IN_RATE_PER_EMAIL = 2
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            assert ask_for_link(client, atr.email).status_code == 302
        refused = ask_for_link(client, atr.email)
    assert refused.status_code == 429
    assert "Too many" in refused.content.decode()
    assert len(mailoutbox) == 2


def test_links_are_rate_limited_per_address_whatever_the_email(client, campaign, settings):
    settings.SIGN_IN_RATE_PER_ADDRESS = 3
    for n in range(3):
        assert ask_for_link(client, f"person{n}@example.gov").status_code == 302
    assert ask_for_link(client, "person9@example.gov").status_code == 429
    other_office = ask_for_link(client, "person9@example.gov", REMOTE_ADDR="10.0.0.9")
    assert other_office.status_code == 302


def test_the_rate_limit_forgets_requests_after_an_hour(client, campaign, atr, settings):
    settings.SIGN_IN_RATE_PER_EMAIL = 1
    start = datetime.datetime(2030, 1, 1, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start):
        assert ask_for_link(client, atr.email).status_code == 302
        assert ask_for_link(client, atr.email).status_code == 429
    with time_machine.travel(start + datetime.timedelta(minutes=61)):
        assert ask_for_link(client, atr.email).status_code == 302


def test_staff_accounts_get_no_link_and_their_links_do_not_work(
    client, campaign, atr, mailoutbox, django_capture_on_commit_callbacks
):
    user = make_user_for(atr)
    user.is_staff = True
    user.save()
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(client, atr.email)
    assert mailoutbox == []
    url = tokens.sign_in_url(user, scope=tokens.SIGN_IN)
    assert sign_in_with(client, url).status_code == 400


def test_an_inactive_department_gets_no_link(
    client, campaign, catalogue, mailoutbox, django_capture_on_commit_callbacks
):
    closed = make_department(is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        ask_for_link(client, closed.atr.email)
    assert mailoutbox == []


def test_many_colleagues_signing_in_from_one_office_are_not_locked_out(client, campaign, catalogue):
    """Invitation links are checked against both scopes; a miss on the first scope must
    not count as a failed sign-in for the office's address."""
    for _ in range(8):
        department = make_department()
        user = make_user_for(department.atr)
        url = tokens.sign_in_url(user, scope=tokens.INVITATION)
        assert sign_in_with(client, url).status_code == 302
        client.post(reverse("departments:sign_out"))


def test_sign_out_needs_a_post(atr_client):
    assert atr_client.get(reverse("departments:sign_out")).status_code == 405
    assert atr_client.post(reverse("departments:sign_out")).status_code == 302
    assert SESSION_KEY not in atr_client.session


def test_a_person_of_one_department_goes_straight_to_its_survey(atr_client, campaign, department):
    answer = atr_client.get(reverse("departments:choose"))
    assert answer.status_code == 302
    assert answer["Location"] == reverse(
        "survey:overview", kwargs={"campaign": campaign.slug, "code": department.code}
    )


def test_a_person_of_several_departments_chooses_which_to_act_for(
    client, campaign, department, catalogue
):
    other = make_department(name="Board of Example Appeals")
    Person.objects.create(department=other, name="Ada", email=department.atr.email, source="admin")
    client.force_login(
        make_user_for(department.atr), backend="django.contrib.auth.backends.ModelBackend"
    )
    page = client.get(reverse("departments:choose"))
    assert page.status_code == 200
    content = page.content.decode()
    for each in (department, other):
        assert (
            reverse("survey:overview", kwargs={"campaign": campaign.slug, "code": each.code})
            in content
        )


def test_a_signed_in_person_without_departments_is_told_to_call_stnd(client, campaign):
    user = get_user_model().objects.create(username="x@example.gov", email="x@example.gov")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(reverse("departments:choose"))
    assert "not listed for any department" in page.content.decode()


def test_uptime_monitors_may_probe_the_landing_page_with_head(client, db):
    assert client.head("/").status_code == 200


def test_known_and_unknown_emails_get_their_answer_after_the_same_work(
    rf, db, department, mailoutbox, django_capture_on_commit_callbacks
):
    """The lookup and the email happen after the answer is sent, so neither the page
    nor the time it takes tells whether an email belongs to a department."""
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.core.signals import request_finished
    from django.db import close_old_connections, connection
    from django.test.utils import CaptureQueriesContext

    from departments.views import landing

    def answer(email):
        request = rf.post("/", {"email": email})
        SessionMiddleware(lambda r: None).process_request(request)
        with CaptureQueriesContext(connection) as queries:
            response = landing(request)
        # The statements' shapes: literals (the email, times) removed.
        return response, [re.sub(r"'[^']*'", "?", q["sql"]) for q in queries]

    known, known_queries = answer(department.atr.email)
    unknown, unknown_queries = answer("nobody@nowhere.example.gov")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert known_queries == unknown_queries
    assert mailoutbox == []
    # What the WSGI server does once the answer is sent; like Django's test client, keep
    # request_finished from closing the test's connection inside its transaction.
    request_finished.disconnect(close_old_connections)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            known.close()
            unknown.close()
    finally:
        request_finished.connect(close_old_connections)
    assert [m.to for m in mailoutbox] == [[department.atr.email]]
