"""Review and submit: what is missing, the Manager's authorization (directly or at a
Coordinator's request), the receipt, amendments, late submissions, the hard close,
STND reopening and returning a response."""

import datetime
import re
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from conversion.models import (
    EmailKind,
    OutboundEmail,
    Response,
    ResponseStatus,
    Revision,
)
from departments.models import Person, PersonSource
from tests.conftest import make_user_for
from tests.conversion.test_admin_support import answer_every_section

BACKEND = "django.contrib.auth.backends.ModelBackend"


def url(response, name):
    return reverse(
        f"survey:{name}",
        kwargs={"campaign": response.campaign.slug, "code": response.department.code},
    )


def client_for(person):
    client = Client()
    client.force_login(make_user_for(person), backend=BACKEND)
    return client


@pytest.fixture
def manager(department):
    return Person.objects.create(
        department=department,
        name="Grace Manager",
        title="CIO",
        email="grace@dept.example.gov",
        phone="(916) 555-0111",
        source=PersonSource.NAMED,
    )


@pytest.fixture
def coordinator(department):
    return Person.objects.create(
        department=department,
        name="Alan Coordinator",
        title="Telecom Analyst",
        email="alan@dept.example.gov",
        phone="(916) 555-0112",
        source=PersonSource.NAMED,
    )


@pytest.fixture
def complete(response, manager, coordinator, catalogue):
    """A response with every section answered (Centrex, with no CALNET 3 successor,
    disconnects; the rest transition automatically)."""
    return answer_every_section(
        response, manager=manager, coordinator=coordinator, centrex=catalogue.att_centrex_2
    )


def submit(client, response, *, attest=True, version=None):
    data = {"action": "submit", "version": response.version if version is None else version}
    if attest:
        data["attest"] = "on"
    return client.post(url(response, "review"), data)


def review_action(client, response, action):
    response.refresh_from_db()
    return client.post(url(response, "review"), {"action": action, "version": response.version})


# --- Review --------------------------------------------------------------------------------------


def test_the_review_page_lists_what_is_missing_with_links(atr_client, response):
    page = atr_client.get(url(response, "review"))
    content = page.content.decode()
    assert "Still to do before the Manager can submit" in content
    assert f'href="{url(response, "contacts")}"' in content
    assert "Name the Customer Conversion Manager." in content
    assert "Give your preferred conversion window." in content


def test_the_review_page_shows_all_answers_and_the_checklist(complete, manager):
    content = client_for(manager).get(url(complete, "review")).content.decode()
    assert "Still to do" not in content
    assert "Grace Manager, CIO, grace@dept.example.gov" in content
    assert "Disconnect notices to send to the incumbent contractor" in content
    assert "AT&amp;T: Centrex line (2 lines)" in content
    assert "Authorize and submit" in content


# --- The Manager submits -------------------------------------------------------------------------


def test_the_manager_submits_with_an_attestation_and_everyone_gets_a_receipt(
    complete, manager, coordinator, mailoutbox, django_capture_on_commit_callbacks
):
    client = client_for(manager)
    with django_capture_on_commit_callbacks(execute=True):
        answer = submit(client, complete)
    assert answer.status_code == 302
    assert answer["Location"] == url(complete, "submitted")
    complete.refresh_from_db()
    assert complete.status == ResponseStatus.SUBMITTED
    assert complete.submitted_by.email == manager.email
    assert not complete.is_late
    revision = Revision.objects.get(response=complete)
    assert revision.number == 1
    assert revision.answers["contacts"]["manager"]["email"] == manager.email
    assert revision.answers["checklist"]["disconnect_notices"] == [
        {"contractor": "AT&T", "service": "Centrex line", "lines": 2}
    ]
    # Receipts: the Manager (who is also the submitter) and the Coordinator, once each.
    receipts = OutboundEmail.objects.filter(kind=EmailKind.RECEIPT)
    assert sorted(r.recipient for r in receipts) == sorted([manager.email, coordinator.email])
    assert sorted(m.to[0] for m in mailoutbox) == sorted([manager.email, coordinator.email])
    body = mailoutbox[0].body
    assert complete.department.name in body
    assert "Centrex line" in body
    assert mailoutbox[0].alternatives  # an HTML part too

    confirmation = client.get(answer["Location"]).content.decode()
    assert "your answers are submitted" in confirmation
    assert coordinator.email in confirmation


def test_submitting_without_the_attestation_is_refused(complete, manager):
    page = submit(client_for(manager), complete, attest=False)
    assert page.status_code == 200
    assert "Tick the box to authorize the answers." in page.content.decode()
    assert 'href="#id_attest"' in page.content.decode()
    assert not Revision.objects.exists()


def test_an_incomplete_response_cannot_be_submitted(response, manager):
    Response.objects.filter(pk=response.pk).update(manager=manager)
    response.refresh_from_db()
    page = submit(client_for(manager), response)
    assert "Complete the survey before submitting it." in page.content.decode()
    assert not Revision.objects.exists()


def test_only_the_manager_can_submit(complete, coordinator):
    page = submit(client_for(coordinator), complete)
    assert "Only the Customer Conversion Manager" in page.content.decode()
    assert not Revision.objects.exists()


def test_answers_changed_since_the_manager_reviewed_them_are_not_submitted(complete, manager):
    page = submit(client_for(manager), complete, version=complete.version - 1)
    assert "changed since you reviewed them" in page.content.decode()
    assert not Revision.objects.exists()


# --- A Coordinator asks the Manager --------------------------------------------------------------


def test_a_coordinator_sends_the_answers_to_the_manager_who_authorizes_from_the_email(
    complete, manager, coordinator, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sent = review_action(client_for(coordinator), complete, "request")
    assert sent.status_code == 302
    complete.refresh_from_db()
    assert complete.status == ResponseStatus.AWAITING_MANAGER
    assert complete.authorization_requested_by.email == coordinator.email
    request_email = OutboundEmail.objects.get(kind=EmailKind.AUTHORIZATION_REQUEST)
    assert request_email.recipient == manager.email
    assert [m.to for m in mailoutbox] == [[manager.email]]

    # While it waits, the answers are frozen.
    frozen = client_for(coordinator).post(
        url(complete, "department"), {"is_right": "yes", "loaded": ""}
    )
    assert frozen.status_code == 302
    assert frozen["Location"] == url(complete, "overview")

    # The Manager follows the link in the email, signs in and lands on the review page.
    link = re.search(r"http://testserver(/sign-in/link/\?\S+)", request_email.body_text).group(1)
    manager_client = Client()
    manager_client.get(link)
    landed = manager_client.post(reverse("departments:sign_in_confirm"))
    assert urlsplit(landed["Location"]).path == url(complete, "review")
    page = manager_client.get(landed["Location"]).content.decode()
    assert "sent these answers to you for authorization" in page

    with django_capture_on_commit_callbacks(execute=True):
        authorized = submit(manager_client, complete)
    assert authorized.status_code == 302
    complete.refresh_from_db()
    assert complete.status == ResponseStatus.SUBMITTED
    assert complete.submitted_by.email == manager.email


def test_the_manager_does_not_send_the_answers_to_themselves(complete, manager):
    review_action(client_for(manager), complete, "request")
    complete.refresh_from_db()
    assert complete.status == ResponseStatus.IN_PROGRESS


def test_a_request_can_be_withdrawn_to_make_changes(
    complete, coordinator, django_capture_on_commit_callbacks
):
    client = client_for(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        review_action(client, complete, "request")
    review_action(client, complete, "withdraw")
    complete.refresh_from_db()
    assert complete.status == ResponseStatus.IN_PROGRESS


# --- After submission ----------------------------------------------------------------------------


def save_department(client, response):
    page = client.get(url(response, "department"))
    loaded = re.search(r'name="loaded" value="([^"]+)"', page.content.decode())
    return client.post(
        url(response, "department"),
        {"is_right": "yes", "loaded": loaded.group(1) if loaded else ""},
    )


def test_answers_can_be_amended_until_the_due_date_keeping_each_revision(
    complete, manager, django_capture_on_commit_callbacks
):
    client = client_for(manager)
    with django_capture_on_commit_callbacks(execute=True):
        submit(client, complete)
    assert save_department(client, complete).status_code == 302
    complete.refresh_from_db()
    assert complete.status == ResponseStatus.IN_PROGRESS  # an amendment in progress
    assert (
        "You have changed answers since" in client.get(url(complete, "overview")).content.decode()
    )
    with django_capture_on_commit_callbacks(execute=True):
        submit(client, complete)
    assert list(complete.revisions.values_list("number", flat=True)) == [2, 1]
    summary = client.get(url(complete, "summary") + "?revision=1").content.decode()
    assert "revision 1" in summary


def test_a_submission_after_the_due_date_is_accepted_and_marked_late(
    complete, manager, django_capture_on_commit_callbacks
):
    with time_machine.travel(complete.campaign.due_at + datetime.timedelta(hours=1), tick=False):
        client = client_for(manager)
        page = client.get(url(complete, "review")).content.decode()
        assert "marked late" in page
        with django_capture_on_commit_callbacks(execute=True):
            assert submit(client, complete).status_code == 302
    complete.refresh_from_db()
    assert complete.is_late
    assert complete.revisions.get().is_late


def test_a_submitted_response_is_read_only_after_the_due_date(
    complete, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submit(client_for(manager), complete)
    with time_machine.travel(complete.campaign.due_at + datetime.timedelta(hours=1), tick=False):
        client = client_for(manager)
        page = client.get(url(complete, "department")).content.decode()
        assert "Amendments were accepted until the due date" in page
        assert save_department(client, complete)["Location"] == url(complete, "overview")
    complete.refresh_from_db()
    assert complete.status == ResponseStatus.SUBMITTED


def test_everything_is_read_only_after_the_hard_close(complete, manager):
    with time_machine.travel(complete.campaign.closes_at + datetime.timedelta(hours=1), tick=False):
        client = client_for(manager)
        page = client.get(url(complete, "contacts")).content.decode()
        assert "The survey closed on" in page
        assert "Save and continue" not in page
        assert save_department(client, complete)["Location"] == url(complete, "overview")
        assert submit(client, complete).status_code == 200
    assert not Revision.objects.exists()
    complete.refresh_from_db()
    assert complete.version == 4


def test_a_response_stnd_reopened_can_change_and_be_submitted_after_the_hard_close(
    complete, manager, django_capture_on_commit_callbacks
):
    closes = complete.campaign.closes_at
    Response.objects.filter(pk=complete.pk).update(
        reopened_until=closes + datetime.timedelta(days=3)
    )
    complete.refresh_from_db()
    with time_machine.travel(closes + datetime.timedelta(days=1), tick=False):
        client = client_for(manager)
        assert save_department(client, complete).status_code == 302
        complete.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            assert submit(client, complete).status_code == 302
    complete.refresh_from_db()
    assert complete.status == ResponseStatus.SUBMITTED
    assert complete.is_late


def test_a_response_returned_by_stnd_shows_its_note_and_can_be_submitted_again(
    complete, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submit(client_for(manager), complete)
    Response.objects.filter(pk=complete.pk).update(
        status=ResponseStatus.RETURNED, returned_note="Please name a different Coordinator."
    )
    complete.refresh_from_db()
    client = client_for(manager)
    overview = client.get(url(complete, "overview")).content.decode()
    assert "STND returned your answers for changes" in overview
    assert "Please name a different Coordinator." in overview
    assert save_department(client, complete).status_code == 302
    complete.refresh_from_db()
    assert complete.status == ResponseStatus.RETURNED  # until submitted again
    with django_capture_on_commit_callbacks(execute=True):
        submit(client, complete)
    complete.refresh_from_db()
    assert complete.status == ResponseStatus.SUBMITTED
    assert complete.revisions.count() == 2


def test_an_accepted_response_is_read_only(complete, manager):
    Response.objects.filter(pk=complete.pk).update(status=ResponseStatus.ACCEPTED)
    page = client_for(manager).get(url(complete, "timeframe")).content.decode()
    assert "STND has accepted these answers." in page


def test_the_printable_summary_has_a_print_stylesheet(complete, manager):
    page = client_for(manager).get(url(complete, "summary")).content.decode()
    assert 'media="print"' in page
    assert "Draft: not submitted." in page
    assert "Centrex line" in page
