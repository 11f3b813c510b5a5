"""The three exports: their columns, one row per department / line, the effective
decision of each line, CSV and XLSX, from the list and from the dashboard."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from openpyxl import load_workbook

from conversion import exports
from conversion.models import Choice
from departments.models import Department, DepartmentKind
from tests.conftest import make_campaign, make_department
from tests.conversion import test_admin_support as support
from tests.conversion.test_admin_support import decide, respond, submit

analyst, analyst_client = support.analyst, support.analyst_client


def read_csv(response):
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def read_xlsx(response):
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [[("" if v is None else v) for v in row] for row in workbook.active.values]


@pytest.fixture
def answered(campaign, catalogue):
    """A state department that answered (Centrex migrating to Verizon DS1, one DS1 line
    disconnected as an exception, its Coordinator named), and a Non-State Entity that
    has not answered."""
    c = catalogue
    state = make_department(name="Alpha", code="A1", lines=[(c.att_ds1_2, 3), (c.att_centrex_2, 2)])
    local = make_department(
        name="Beta", code="B1", kind=DepartmentKind.NON_STATE, lines=[(c.vz_mpls_2, 1)]
    )
    response = respond(campaign, state)
    response.coordinator = response.manager = state.atr
    response.save()
    decide(response, c.att_centrex_2, Choice.MIGRATE_CONTRACTOR, target=c.vz_ds1_3)
    line = state.lines.filter(offering=c.att_ds1_2).order_by("identifier").first()
    decide(response, c.att_ds1_2, Choice.DISCONNECT, line=line)
    submit(response)
    return {"state": state, "local": local, "response": response, "excepted": line}


def test_department_export_has_one_row_per_department_answered_or_not(campaign, answered):
    rows = read_csv(exports.streaming_response("departments", campaign=campaign))
    assert rows[0] == exports.DEPARTMENT_COLUMNS
    assert [r[0] for r in rows[1:]] == ["A1", "B1"]
    alpha = dict(zip(rows[0], rows[1], strict=True))
    assert alpha["status"] == "Submitted"
    assert alpha["coordinator email"] == answered["state"].atr.email
    assert (alpha["transition lines"], alpha["migration lines"]) == ("2", "2")
    assert alpha["disconnect lines"] == "1"
    beta = dict(zip(rows[0], rows[2], strict=True))
    assert beta["status"] == "Not started"


def test_line_export_gives_each_line_its_effective_decision(campaign, answered):
    rows = read_csv(exports.streaming_response("lines", campaign=campaign))
    assert rows[0] == exports.LINE_COLUMNS
    assert len(rows) == 1 + 6
    by_id = {r[6]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    excepted = by_id[answered["excepted"].identifier]
    assert (excepted["decision"], excepted["decided by"]) == (
        "Disconnect",
        "department (this line)",
    )
    assert excepted["disconnect notice needed"] == "yes"
    decisions = sorted(
        (r["CALNET 2 service"], r["decision"], r["decided by"]) for r in by_id.values()
    )
    assert decisions == [
        ("Centrex line", "Migrate to another contractor", "department"),
        ("Centrex line", "Migrate to another contractor", "department"),
        ("DS1", "Disconnect", "department (this line)"),
        ("DS1", "Transition", "default (automatic transition)"),
        ("DS1", "Transition", "default (automatic transition)"),
        # A Non-State Entity transitions only if it chooses to: undecided until then.
        ("MPLS port", "undecided", ""),
    ]
    centrex = next(r for r in by_id.values() if r["CALNET 2 service"] == "Centrex line")
    assert (centrex["CALNET 3 contractor"], centrex["Form 20 needed"]) == ("Verizon", "yes")


def test_contractor_export_lists_lines_to_transition_or_receive_with_contacts(
    campaign, catalogue, answered
):
    rows = read_csv(exports.streaming_response("contractors", campaign=campaign))
    assert rows[0] == exports.CONTRACTOR_COLUMNS
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert sorted((r["contractor"], r["conversion"]) for r in body) == [
        ("AT&T", "Transition"),
        ("AT&T", "Transition"),
        ("Verizon", "Migrate to another contractor"),
        ("Verizon", "Migrate to another contractor"),
    ]
    assert {r["coordinator email"] for r in body} == {answered["state"].atr.email}
    only_verizon = read_csv(
        exports.streaming_response("contractors", campaign=campaign, contractor=catalogue.verizon)
    )
    assert len(only_verizon) == 1 + 2


def test_xlsx_exports_have_the_same_rows(campaign, answered):
    rows = read_xlsx(exports.streaming_response("lines", campaign=campaign, fmt="xlsx"))
    assert rows[0] == exports.LINE_COLUMNS
    assert len(rows) == 1 + 6


def test_xlsx_lines_hold_the_same_cells_as_csv_with_numbers_as_numbers(campaign, answered):
    csv_rows = read_csv(exports.streaming_response("lines", campaign=campaign))
    xlsx_rows = read_xlsx(exports.streaming_response("lines", campaign=campaign, fmt="xlsx"))
    assert [[str(v) for v in row] for row in xlsx_rows] == csv_rows
    assert {row[7] for row in xlsx_rows[1:]} == {1}  # quantity, a number


def test_line_export_ignores_decisions_of_another_campaign(campaign, catalogue, answered):
    other = make_campaign(catalogue)
    response = respond(other, answered["state"])
    decide(response, catalogue.att_ds1_2, Choice.DISCONNECT)
    decide(
        response,
        catalogue.att_centrex_2,
        Choice.DISCONNECT,
        line=answered["state"].lines.filter(offering=catalogue.att_centrex_2).first(),
    )
    rows = read_csv(exports.streaming_response("lines", campaign=campaign))
    decisions = sorted((r[5], r[9]) for r in rows[1:])
    assert decisions == [
        ("Centrex line", "Migrate to another contractor"),
        ("Centrex line", "Migrate to another contractor"),
        ("DS1", "Disconnect"),
        ("DS1", "Transition"),
        ("DS1", "Transition"),
        ("MPLS port", "undecided"),
    ]


def test_line_export_reads_a_fixed_number_of_queries_whatever_the_departments(
    campaign, catalogue, answered, django_assert_max_num_queries
):
    for _ in range(5):
        department = make_department(lines=[(catalogue.att_ds1_2, 2)])
        decide(respond(campaign, department), catalogue.att_ds1_2, Choice.DISCONNECT)
    with django_assert_max_num_queries(4):
        rows = read_csv(exports.streaming_response("lines", campaign=campaign))
    assert len(rows) == 1 + 6 + 5 * 2


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_awkward_text_reaches_the_file_intact(campaign, catalogue, fmt):
    awkward = [
        'Suite 5, "B" wing',
        "two\nlines",
        "=SUM(A1)",
        "-5 below",
        "café & <tea>",
        " padded ",
        "bell\x07",
    ]
    department = make_department(code="AWK", lines=[(catalogue.att_ds1_2, len(awkward))])
    for line, location in zip(department.lines.order_by("identifier"), awkward, strict=True):
        line.location = location
        line.save()
    response = exports.streaming_response("lines", campaign=campaign, fmt=fmt)
    rows = read_csv(response) if fmt == "csv" else read_xlsx(response)
    expected = [
        'Suite 5, "B" wing',
        "two\nlines",
        "'=SUM(A1)",
        "'-5 below",
        "café & <tea>",
        " padded ",
        "bell\x07" if fmt == "csv" else "bell",  # XML cannot hold control characters
    ]
    assert sorted(r[8] for r in rows[1:]) == sorted(expected)


def test_cells_that_look_like_formulas_are_quoted(campaign, catalogue):
    make_department(name="=HYPERLINK(1)", code="EVIL")
    rows = read_csv(exports.streaming_response("departments", campaign=campaign))
    assert rows[1][1] == "'=HYPERLINK(1)"


def test_export_action_from_the_list_exports_the_selection(analyst_client, campaign, answered):
    response = answered["response"]
    result = analyst_client.post(
        reverse("admin:conversion_response_changelist"),
        {"action": "export_lines_csv", "_selected_action": [response.pk]},
    )
    assert result.status_code == 200
    assert result["Content-Disposition"].endswith('.csv"')
    rows = read_csv(result)
    assert len(rows) == 1 + 5  # Alpha's lines only
    result = analyst_client.post(
        reverse("admin:conversion_response_changelist"),
        {"action": "export_departments_xlsx", "_selected_action": [response.pk]},
    )
    assert [r[0] for r in read_xlsx(result)] == ["department code", "A1"]


def test_dashboard_exports_need_the_export_permission(analyst_client, analyst, campaign, answered):
    url = reverse("admin:conversion_dashboard_export", args=["departments", "csv"])
    result = analyst_client.get(url, {"campaign": campaign.pk})
    assert len(read_csv(result)) == 1 + Department.objects.count()
    analyst.groups.clear()
    analyst.user_permissions.add(Permission.objects.get(codename="view_response"))
    assert analyst_client.get(url, {"campaign": campaign.pk}).status_code == 403
