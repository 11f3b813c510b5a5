"""The dashboard's figures against values computed by hand on a small fixture."""

import pytest
from django.urls import reverse
from django.utils import timezone

from conversion import dashboard
from conversion.models import Choice, EmailKind, EmailStatus, OutboundEmail, ResponseStatus
from departments.models import DepartmentKind
from tests.conftest import make_department
from tests.conversion import test_admin_support as support
from tests.conversion.test_admin_support import decide, respond, submit

analyst, analyst_client = support.analyst, support.analyst_client


@pytest.fixture
def figures(campaign, catalogue):
    """Four departments:

    A (state, submitted): DS1 x3 (default Transition, one line excepted to migrate to
      Verizon DS1), Centrex x2 migrating to Verizon DS1, Verizon MPLS x1 disconnected;
      preferred window: the first two months.
    B (Non-State, submitted): DS1 x2 transition; Verizon voicemail x1 undecided (its
      CALNET 3 category is not yet awarded, so no default).
    C (exempt, in progress): DS1 x4 - not counted in answers.
    D (state, no response): two reminders sent.
    """
    c = catalogue
    a = make_department(name="A", lines=[(c.att_ds1_2, 3), (c.att_centrex_2, 2), (c.vz_mpls_2, 1)])
    b = make_department(
        name="B", kind=DepartmentKind.NON_STATE, lines=[(c.att_ds1_2, 2), (c.vz_vm_2, 1)]
    )
    cc = make_department(name="C", kind=DepartmentKind.EXEMPT, lines=[(c.att_ds1_2, 4)])
    d = make_department(name="D", lines=[(c.att_ds1_2, 1)])
    months = campaign.months()
    ra = respond(campaign, a, window_start=months[0], window_end=months[1])
    decide(ra, c.att_centrex_2, Choice.MIGRATE_CONTRACTOR, target=c.vz_ds1_3)
    decide(ra, c.vz_mpls_2, Choice.DISCONNECT)
    decide(
        ra,
        c.att_ds1_2,
        Choice.MIGRATE_CONTRACTOR,
        target=c.vz_ds1_3,
        line=a.lines.filter(offering=c.att_ds1_2).first(),
    )
    submit(ra)
    rb = respond(campaign, b)
    decide(rb, c.att_ds1_2, Choice.TRANSITION)
    submit(rb)
    respond(campaign, cc, status=ResponseStatus.IN_PROGRESS)
    for n in range(2):
        OutboundEmail.objects.create(
            key=f"reminder-d-{n}",
            kind=EmailKind.REMINDER,
            campaign=campaign,
            department=d,
            recipient=d.atr.email,
            subject="Reminder",
            body_text="",
            status=EmailStatus.SENT,
            sent_at=timezone.now(),
        )
    return {"A": a, "B": b, "C": cc, "D": d}


def test_response_rate_by_kind_and_status(campaign, figures):
    rate = dashboard.response_rate(campaign)
    by_kind = {r.kind: (r.departments, r.responded, r.percent) for r in rate["by_kind"]}
    assert by_kind == {
        DepartmentKind.STATE: (2, 1, 50.0),
        DepartmentKind.EXEMPT: (1, 0, 0.0),
        DepartmentKind.NON_STATE: (1, 1, 100.0),
    }
    assert (rate["total"].departments, rate["total"].responded) == (4, 2)
    statuses = dict(rate["statuses"])
    assert statuses["Submitted"] == 2
    assert statuses["In progress"] == 1
    assert statuses["Not started"] == 1  # D, which has no response row


def test_response_rate_over_time_ends_at_todays_share(campaign, figures):
    over_time = dashboard.response_rate_over_time(campaign)
    assert over_time["days"][-1] == timezone.localdate()
    last = {s["kind"]: s["points"][-1][1:] for s in over_time["series"]}
    assert last["all"] == (2, 50.0)
    assert last[DepartmentKind.STATE] == (1, 50.0)
    assert last[DepartmentKind.NON_STATE] == (1, 100.0)
    assert last[DepartmentKind.EXEMPT] == (0, 0.0)


def test_decisions_by_incumbent_flows_and_checklist_totals(campaign, figures):
    decided = dashboard.decisions(campaign)
    assert decided.departments == 2
    by_incumbent = {k: dict(v) for k, v in decided.by_incumbent.items()}
    assert by_incumbent == {
        "AT&T": {Choice.TRANSITION: 4, Choice.MIGRATE_CONTRACTOR: 3},
        "Verizon": {Choice.DISCONNECT: 1, dashboard.UNDECIDED: 1},
    }
    assert dict(decided.flows) == {("AT&T", "Verizon"): 3}
    # A: one Form 20 (Verizon DS1, whatever the number of lines); B: one ATO (AT&T DS1).
    assert dict(decided.form_20s) == {"Verizon": 1}
    assert dict(decided.atos) == {"AT&T": 1}
    # A must notify AT&T (the migrating DS1 and Centrex) and Verizon (MPLS disconnected).
    assert decided.disconnect_notices == 2


def test_windows_count_submitted_responses_per_month(campaign, figures):
    months = dashboard.windows(campaign)
    assert [n for _, n in months[:3]] == [1, 1, 0]
    assert sum(n for _, n in months) == 2


def test_non_responders_with_their_reminder_counts(campaign, figures):
    departments = dashboard.with_reminders(campaign, dashboard.non_responders(campaign))
    rows = {d.name: d.reminders for d in departments}
    assert rows == {"C": 0, "D": 2}


def test_the_dashboard_page_draws_each_chart_with_its_table(analyst_client, campaign, figures):
    result = analyst_client.get(reverse("admin:conversion_dashboard"), {"campaign": campaign.pk})
    assert result.status_code == 200
    html = result.content.decode()
    assert html.count('<svg class="chart"') == 5
    assert html.count("<caption>") >= 8
    assert '<th scope="row">AT&amp;T</th><td>4</td><td>3</td>' in html
    assert "AT&amp;T → Verizon" in html
    assert "<script" not in html.split('id="content-main"')[1]
    assert 'style="' not in html


def test_send_a_reminder_from_the_dashboard(
    analyst_client, campaign, figures, mailoutbox, django_capture_on_commit_callbacks
):
    d = figures["D"]
    url = reverse("admin:conversion_dashboard_remind", args=[d.pk]) + f"?campaign={campaign.pk}"
    assert analyst_client.get(url).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        result = analyst_client.post(url)
    assert result.status_code == 302
    assert [m.to for m in mailoutbox] == [[d.atr.email]]


def test_the_dashboard_is_fast_in_queries(
    analyst_client, campaign, figures, django_assert_max_num_queries
):
    with django_assert_max_num_queries(30):
        analyst_client.get(reverse("admin:conversion_dashboard"))
