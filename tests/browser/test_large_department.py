"""A department with thousands of inventory lines answers in a few clicks: one decision
for a whole group, and two lines of another group decided on their own."""

import re

import pytest
from playwright.sync_api import expect

from conversion.models import Choice, Decision, InventoryLine, Response
from tests.browser.helpers import sign_in_from_landing
from tests.conftest import make_department

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DS1_LINES = 2_500
MPLS_LINES = 1_500


@pytest.fixture
def large_department(catalogue, campaign):
    """A non-exempt state department: its lines transition automatically by default."""
    return make_department(
        name="Department of Large Inventories",
        code="S0001",
        atr_email="atr@large.example.gov",
        lines=[(catalogue.att_ds1_2, DS1_LINES), (catalogue.vz_mpls_2, MPLS_LINES)],
    )


def test_one_group_decision_and_two_line_exceptions(
    page, base_url, large_department, catalogue, campaign, screenshot
):
    ds1_lines = InventoryLine.objects.filter(
        department=large_department, offering=catalogue.att_ds1_2
    ).order_by("identifier")
    first, far = ds1_lines[0], ds1_lines[1_234]

    sign_in_from_landing(page, base_url, large_department.atr.email)
    page.get_by_role("navigation", name="Survey steps").get_by_role("link", name="Services").click()
    expect(page.get_by_text("4,000 lines in 2 groups")).to_be_visible()

    # One decision for all 1,500 MPLS ports: migrate them to AT&T.
    mpls = page.get_by_role("group", name="MPLS port from Verizon", exact=True)
    expect(mpls.get_by_role("group", name="Decision for these 1,500 lines")).to_be_visible()
    mpls.get_by_role("radio", name="Migrate to another contractor").check()
    mpls.get_by_label(re.compile("For a migration")).select_option(str(catalogue.att_mpls_3.pk))
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Your services are saved.")

    # Two DS1 lines differ from their group (which transitions automatically).
    page.get_by_role("link", name="Decide line by line for DS1 from AT&T").click()
    expect(page.get_by_text(f"Lines 1–50 of {DS1_LINES}")).to_be_visible()
    expect(page.get_by_text("Page 1 of 50")).to_be_visible()
    page.get_by_label(f"Decision for {first.identifier}").select_option("disconnect")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("The decisions for these lines are saved.")

    # The other is far down the list: find it by its circuit number.
    page.get_by_label("Find a line by account, telephone or circuit number").fill(far.identifier)
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_text(f"Lines 1–1 of 1 matching “{far.identifier}”")).to_be_visible()
    page.get_by_label(f"Decision for {far.identifier}").select_option(
        f"{Choice.MIGRATE_CONTRACTOR}:{catalogue.vz_ds1_3.pk}"
    )
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("The decisions for these lines are saved.")
    screenshot(page, "survey-lines-large-search")

    page.get_by_role("link", name="Back to all services").click()
    ds1 = page.get_by_role("group", name="DS1 from AT&T", exact=True)
    expect(ds1).to_contain_text("2 lines with their own decision.")
    screenshot(page, "survey-services-large")

    response = Response.objects.get(department=large_department)
    groups = {
        d.offering_id: (d.choice, d.target_id)
        for d in Decision.objects.filter(response=response, line__isnull=True)
    }
    # DS1 keeps its automatic Transition, saved as shown.
    assert groups == {
        catalogue.att_ds1_2.pk: (Choice.TRANSITION, None),
        catalogue.vz_mpls_2.pk: (Choice.MIGRATE_CONTRACTOR, catalogue.att_mpls_3.pk),
    }
    exceptions = {
        d.line_id: (d.choice, d.target_id)
        for d in Decision.objects.filter(response=response, line__isnull=False)
    }
    assert exceptions == {
        first.pk: (Choice.DISCONNECT, None),
        far.pk: (Choice.MIGRATE_CONTRACTOR, catalogue.vz_ds1_3.pk),
    }
    assert (
        response.lines_transition,
        response.lines_migration,
        response.lines_disconnect,
        response.lines_undecided,
    ) == (DS1_LINES - 2, MPLS_LINES + 1, 1, 0)
