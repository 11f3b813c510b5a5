"""The responses list and page, the email log and the permissions of the two groups."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from conversion.models import (
    Choice,
    EmailKind,
    EmailStatus,
    InternalNote,
    OutboundEmail,
    Response,
    ResponseStatus,
)
from departments.models import DepartmentKind, Person
from tests.conftest import make_department
from tests.conversion import test_admin_support as support
from tests.conversion.test_admin_support import decide, respond, submit

# Shared fixtures (pytest finds them as module attributes).
analyst, analyst_client = support.analyst, support.analyst_client
administrator, admin_client_stnd = support.administrator, support.admin_client_stnd

LIST = reverse("admin:conversion_response_changelist")


def page(response):
    return reverse("admin:conversion_response_change", args=[response.pk])


def act(response, action):
    return reverse("admin:conversion_response_act", args=[response.pk, action])


def make_responses(campaign, catalogue, count):
    responses = []
    for _ in range(count):
        department = make_department(lines=[(catalogue.att_ds1_2, 2), (catalogue.vz_mpls_2, 1)])
        response = respond(campaign, department)
        atr = department.atr
        response.manager = response.coordinator = atr
        response.save()
        OutboundEmail.objects.create(
            key=f"r-{response.pk}",
            kind=EmailKind.REMINDER,
            campaign=campaign,
            department=department,
            recipient=atr.email,
            subject="Reminder",
            body_text="",
            status=EmailStatus.SENT,
            sent_at=timezone.now(),
        )
        responses.append(response)
    return responses


# --- the list ---------------------------------------------------------------------


def test_the_list_shows_counts_contacts_and_last_reminder(analyst_client, campaign, catalogue):
    (response,) = make_responses(campaign, catalogue, 1)
    submit(response)
    result = analyst_client.get(LIST)
    assert result.status_code == 200
    html = result.content.decode()
    assert response.department.name in html
    assert "Submitted" in html
    row = result.context["cl"].result_list[0]
    assert row.lines_transition == 3  # DS1 and MPLS transition by default (state department)
    assert row.lines_migration == 0
    assert row.last_reminded is not None


@pytest.mark.parametrize("count", [3, 30])
def test_the_list_needs_the_same_queries_for_3_or_30_rows(
    analyst_client, campaign, catalogue, count, django_assert_max_num_queries
):
    make_responses(campaign, catalogue, count)
    with django_assert_max_num_queries(20):
        result = analyst_client.get(LIST)
    assert len(result.context["cl"].result_list) == count


def test_the_list_filters_by_status_kind_contractors_category_and_window(
    analyst_client, campaign, catalogue
):
    first, second = make_responses(campaign, catalogue, 2)
    local = make_department(kind=DepartmentKind.NON_STATE, lines=[(catalogue.att_centrex_2, 1)])
    third = respond(campaign, local)
    decide(first, catalogue.vz_mpls_2, Choice.MIGRATE_CONTRACTOR, target=catalogue.att_mpls_3)
    submit(first)
    first.window_start = first.window_end = timezone.localdate().replace(day=1)
    first.save()

    def shown(**params):
        result = analyst_client.get(LIST, params)
        assert result.status_code == 200
        return {r.pk for r in result.context["cl"].result_list}

    assert shown(status="submitted") == {first.pk}
    assert shown(department__kind="non_state") == {third.pk}
    assert shown(incumbent=catalogue.verizon.pk) == {first.pk, second.pk}
    assert shown(target=catalogue.att.pk) == {first.pk}
    assert shown(category=catalogue.cat_1_2.pk) == {first.pk, second.pk}
    assert shown(window=f"{timezone.localdate():%Y-%m}") == {first.pk}
    assert shown(campaign__id__exact=campaign.pk) == {first.pk, second.pk, third.pk}


def test_the_list_searches_by_name_code_and_email(analyst_client, campaign, catalogue):
    first, second = make_responses(campaign, catalogue, 2)
    Person.objects.create(department=first.department, name="Bo", email="bo@first.example.gov")
    for term in (first.department.name, first.department.code, "bo@first.example.gov"):
        result = analyst_client.get(LIST, {"q": term})
        assert [r.pk for r in result.context["cl"].result_list] == [first.pk]


# --- actions from the list ---------------------------------------------------------


def test_accept_action_accepts_only_submitted_responses(analyst_client, campaign, catalogue):
    first, second = make_responses(campaign, catalogue, 2)
    submit(first)
    result = analyst_client.post(
        LIST,
        {"action": "accept_selected", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert "Accepted 1 response(s)." in result.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == ResponseStatus.ACCEPTED
    assert second.status == ResponseStatus.NOT_STARTED


def test_send_reminder_action_emails_non_responders(
    analyst_client, campaign, catalogue, mailoutbox, django_capture_on_commit_callbacks
):
    first, second = make_responses(campaign, catalogue, 2)
    submit(second)
    with django_capture_on_commit_callbacks(execute=True):
        analyst_client.post(
            LIST, {"action": "send_reminders", "_selected_action": [first.pk, second.pk]}
        )
    assert [m.to for m in mailoutbox] == [[first.department.atr.email]]


# --- the response page --------------------------------------------------------------


def test_the_response_page_shows_answers_checklist_and_actions_read_only(
    analyst_client, response, catalogue
):
    decide(response, catalogue.att_centrex_2, Choice.MIGRATE_CONTRACTOR, catalogue.vz_ds1_3)
    submit(response)
    result = analyst_client.get(page(response))
    assert result.status_code == 200
    html = result.content.decode()
    assert "Centrex line" in html
    assert "Migrate to another contractor" in html
    assert "Form 20" in html
    assert "Accept these answers" in html
    assert "Return for changes" in html
    assert 'name="_save"' not in html  # no model form to save
    assert analyst_client.post(page(response), {}).status_code == 405


def test_accept_return_and_note_from_the_page(
    analyst_client, analyst, response, mailoutbox, django_capture_on_commit_callbacks
):
    submit(response)
    analyst_client.post(act(response, "accept"))
    response.refresh_from_db()
    assert response.status == ResponseStatus.ACCEPTED
    with django_capture_on_commit_callbacks(execute=True):
        result = analyst_client.post(
            act(response, "return"), {"note": "Name the Manager, please."}, follow=True
        )
    assert "Returned for changes" in result.content.decode()
    response.refresh_from_db()
    assert response.status == ResponseStatus.RETURNED
    assert "Name the Manager, please." in mailoutbox[0].body
    analyst_client.post(act(response, "note"), {"text": "Phoned the ATR."})
    assert InternalNote.objects.get().text == "Phoned the ATR."
    # Every change is browsable in the history, with who made it.
    history = analyst_client.get(reverse("admin:conversion_response_history", args=[response.pk]))
    assert history.status_code == 200
    assert "analyst" in history.content.decode()
    assert [h.history_user for h in response.history.all()[:2]] == [analyst, analyst]


def test_return_without_a_note_shows_the_error_on_the_page(analyst_client, response):
    submit(response)
    result = analyst_client.post(act(response, "return"), {"note": ""})
    assert result.status_code == 400
    assert "This field is required." in result.content.decode()
    response.refresh_from_db()
    assert response.status == ResponseStatus.SUBMITTED


def test_reopen_from_the_page_after_the_hard_close(analyst_client, analyst, response, time_machine):
    time_machine.move_to(response.campaign.closes_at + datetime.timedelta(days=1))
    # Sessions expire after hours of inactivity: sign in again in the future.
    analyst_client.force_login(analyst, backend="django.contrib.auth.backends.ModelBackend")
    until = timezone.localdate() + datetime.timedelta(days=7)
    analyst_client.post(act(response, "reopen"), {"until": until.isoformat()})
    response.refresh_from_db()
    assert timezone.localdate(response.reopened_until) == until


def test_actions_are_post_only(analyst_client, response):
    assert analyst_client.get(act(response, "accept")).status_code == 405


# --- permissions -------------------------------------------------------------------------


def test_an_analyst_cannot_edit_campaigns(analyst_client, campaign):
    url = reverse("admin:conversion_campaign_change", args=[campaign.pk])
    result = analyst_client.get(url)
    assert result.status_code == 200  # view only
    assert 'name="_save"' not in result.content.decode()
    assert analyst_client.post(url, {"name": "Changed"}).status_code == 403
    assert analyst_client.get(reverse("admin:conversion_campaign_add")).status_code == 403


def test_an_analyst_cannot_import(analyst_client):
    assert analyst_client.get(reverse("admin:conversion_csvimport_add")).status_code == 403
    assert analyst_client.get(reverse("admin:conversion_csvimport_changelist")).status_code == 403


def test_an_analyst_cannot_edit_departments(analyst_client, department):
    url = reverse("admin:departments_department_change", args=[department.pk])
    assert analyst_client.post(url, {"name": "Changed"}).status_code == 403


def test_an_administrator_can_edit_campaigns_and_import(admin_client_stnd, campaign):
    url = reverse("admin:conversion_campaign_change", args=[campaign.pk])
    result = admin_client_stnd.get(url)
    assert 'name="_save"' in result.content.decode()
    assert "Email previews" in result.content.decode()
    assert admin_client_stnd.get(reverse("admin:conversion_csvimport_add")).status_code == 200


def test_a_user_without_review_permission_cannot_accept(client, response, db):
    from tests.conversion.test_admin_support import make_staff

    viewer = make_staff("viewer", "STND analyst")
    viewer.groups.clear()
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_response"))
    client.force_login(viewer, backend="django.contrib.auth.backends.ModelBackend")
    submit(response)
    assert client.post(act(response, "accept")).status_code == 403
    response.refresh_from_db()
    assert response.status == ResponseStatus.SUBMITTED


# --- the email log ----------------------------------------------------------------------


def test_the_email_log_lists_and_retries_failed_messages(analyst_client, campaign, department):
    failed = OutboundEmail.objects.create(
        key="failed-1",
        kind=EmailKind.REMINDER,
        campaign=campaign,
        department=department,
        recipient="atr@example.gov",
        subject="Reminder",
        body_text="",
        status=EmailStatus.FAILED,
        attempts=6,
        last_error="550 mailbox unavailable",
    )
    url = reverse("admin:conversion_outboundemail_changelist")
    result = analyst_client.get(url, {"status__exact": "failed"})
    assert "550 mailbox unavailable" in result.content.decode()
    analyst_client.post(url, {"action": "retry_selected", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.status == EmailStatus.PENDING
    assert failed.attempts == 0


def test_the_admin_index_links_to_the_dashboard(analyst_client):
    html = analyst_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:conversion_dashboard") in html
    assert reverse("admin:conversion_csvimport_add") not in html


def test_responses_cannot_be_added_or_deleted(admin_client_stnd, response):
    assert admin_client_stnd.get(reverse("admin:conversion_response_add")).status_code == 403
    url = reverse("admin:conversion_response_delete", args=[response.pk])
    assert admin_client_stnd.post(url, {"post": "yes"}).status_code == 403
    assert Response.objects.filter(pk=response.pk).exists()


# --- an analyst edits answers through the department's forms ----------------------------


def edit(response, section):
    return reverse("admin:conversion_response_edit", args=[response.pk, section])


def test_an_analyst_edit_is_validated_like_the_department_and_recorded(
    analyst_client, analyst, response
):
    submit(response)
    months = response.campaign.months()
    url = edit(response, "timeframe")
    assert "Constraints or blackout periods" in analyst_client.get(url).content.decode()
    bad = analyst_client.post(
        url,
        {
            "loaded_version": 0,
            "window_start": f"{months[2]:%Y-%m}",
            "window_end": f"{months[0]:%Y-%m}",
            "migration_plans": "no",
        },
    )
    assert bad.status_code == 200
    assert "The last month cannot come before the first." in bad.content.decode()
    response.refresh_from_db()
    assert response.window_start is None
    good = analyst_client.post(
        url,
        {
            "loaded_version": 0,
            "window_start": f"{months[0]:%Y-%m}",
            "window_end": f"{months[2]:%Y-%m}",
            "migration_plans": "no",
            "comments": "Corrected by STND on the phone with the Coordinator.",
        },
    )
    assert good.status_code == 302
    response.refresh_from_db()
    assert (response.window_start, response.window_end) == (months[0], months[2])
    assert response.status == ResponseStatus.SUBMITTED  # still submitted
    latest = response.history.first()
    assert latest.history_user == analyst
    assert latest.history_change_reason == "Edited by STND (timeframe)"


def test_an_analyst_edit_based_on_an_old_version_is_refused(analyst_client, response):
    from conversion.models import SectionProgress

    SectionProgress.objects.create(response=response, section="contacts", version=3)
    result = analyst_client.post(
        edit(response, "contacts"),
        {
            "loaded_version": 2,
            "manager_name": "Ann",
            "manager_title": "CIO",
            "manager_email": "ann@example.gov",
            "manager_phone": "1",
            "one_person": "on",
        },
        follow=True,
    )
    assert "changed this section while you were editing" in result.content.decode()
    response.refresh_from_db()
    assert response.manager is None


def test_an_analyst_edits_services_under_the_bulletins_rules_and_counts_follow(
    analyst_client, analyst, response, catalogue
):
    from conversion.models import Decision

    submit(response)
    url = edit(response, "services")
    page = analyst_client.get(url).content.decode()
    assert "Centrex line (AT&amp;T)" in page
    ds1, centrex, mpls = catalogue.att_ds1_2, catalogue.att_centrex_2, catalogue.vz_mpls_2
    # Centrex has no CALNET 3 successor: Transition is refused, as for the department.
    refused = analyst_client.post(
        url,
        {
            "loaded_version": 0,
            f"choice_{ds1.pk}": "transition",
            f"choice_{centrex.pk}": "transition",
            f"choice_{mpls.pk}": "transition",
        },
    )
    assert refused.status_code == 200
    assert "holds no CALNET 3 award" in refused.content.decode()
    assert not Decision.objects.filter(response=response, offering=centrex).exists()
    saved = analyst_client.post(
        url,
        {
            "loaded_version": 0,
            f"choice_{ds1.pk}": "migrate_contractor",
            f"target_{ds1.pk}": str(catalogue.vz_ds1_3.pk),
            f"choice_{centrex.pk}": "disconnect",
            f"choice_{mpls.pk}": "transition",
        },
    )
    assert saved.status_code == 302
    response.refresh_from_db()
    assert (response.lines_migration, response.lines_disconnect, response.lines_transition) == (
        3,
        2,
        1,
    )
    assert response.status == ResponseStatus.SUBMITTED
    decision = Decision.objects.get(response=response, offering=ds1, line=None)
    assert decision.target == catalogue.vz_ds1_3
    assert decision.history.first().history_user == analyst
