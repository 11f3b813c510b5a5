"""STND's admin pages in a real browser: accessible, and they look right; and an
analyst's review of a response, with the department's side of it."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from playwright.sync_api import expect

from conversion.models import Response, ResponseStatus
from departments.models import DepartmentKind
from tests.browser.helpers import follow_link, sign_in_link, submitted_response
from tests.conftest import make_department

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "calnet-analyst-Pa55"


def test_admin_sign_in_page_has_no_axe_violations(page, live_server, axe, screenshot):
    page.goto(f"{live_server.url}/admin/login/")
    assert page.get_by_label("Username").is_visible()
    screenshot(page, "admin-login")
    axe(page, "admin sign-in")


@pytest.fixture
def analyst(db):
    """An STND analyst (the group the migrations create). In tests DEBUG is on, so
    STND_REQUIRE_OTP is off and the admin signs in in one step, as in the demo."""
    user = get_user_model().objects.create_user(
        username="analyst", email="analyst@stnd.example.gov", password=PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name="STND analyst"))
    return user


@pytest.fixture
def responses(catalogue, campaign):
    """Three departments: one submitted, one in progress, one not started (no response)."""
    submitted = make_department(
        name="Department of Example Affairs",
        code="S0100",
        atr_email="atr@affairs.example.gov",
        lines=[(catalogue.att_ds1_2, 5), (catalogue.att_centrex_2, 2)],
    )
    in_progress = make_department(
        kind=DepartmentKind.EXEMPT,
        name="Example State University",
        code="E0100",
        lines=[(catalogue.vz_mpls_2, 3)],
    )
    Response.objects.create(
        campaign=campaign, department=in_progress, status=ResponseStatus.IN_PROGRESS
    )
    make_department(name="Example Water Board", code="S0101", lines=[(catalogue.att_ds1_2, 1)])
    return submitted_response(campaign, submitted)


def sign_in_to_admin(page, analyst):
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(analyst.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("STND administration")


def test_dashboard_list_and_response_page_have_no_axe_violations(
    page, analyst, responses, axe, screenshot
):
    sign_in_to_admin(page, analyst)
    screenshot(page, "admin-index")
    axe(page, "admin index")

    page.get_by_role("link", name="Dashboard").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dashboard")
    screenshot(page, "admin-dashboard")
    axe(page, "admin dashboard")

    page.goto("/admin/conversion/response/")
    screenshot(page, "admin-responses")
    axe(page, "admin responses list")

    page.get_by_role("link", name="Department of Example Affairs").click()
    screenshot(page, "admin-response")
    axe(page, "admin response page")


def test_analyst_returns_a_response_and_accepts_the_amended_one(
    browser, base_url, analyst, responses, axe, screenshot
):
    department = responses.department
    stnd = browser.new_context(base_url=base_url).new_page()
    sign_in_to_admin(stnd, analyst)

    # Find the submitted responses with the list's filters.
    stnd.get_by_role("link", name="Responses to review").click()
    expect(stnd.locator("#result_list tbody tr")).to_have_count(2)  # the Water Board: none yet
    stnd.locator("#changelist-filter").get_by_role("link", name="Submitted", exact=True).click()
    rows = stnd.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Department of Example Affairs")
    stnd.locator("#changelist-filter").get_by_role(
        "link", name="Non-exempt state customer", exact=True
    ).click()
    expect(rows).to_have_count(1)
    screenshot(stnd, "admin-responses-filtered")

    # Return it for changes, with a note.
    rows.get_by_role("link", name="Department of Example Affairs").click()
    note = "Your window starts before your Centrex disconnect notice can reach AT&T: move it."
    stnd.get_by_label("What should the department change?").fill(note)
    stnd.get_by_role("button", name="Return for changes and email the department").click()
    expect(stnd.get_by_text("Returned for changes; the note was emailed to")).to_be_visible()
    assert Response.objects.get(pk=responses.pk).status == ResponseStatus.RETURNED

    # The department reads the email, sees the note, amends and resubmits.
    atr = browser.new_context(base_url=base_url).new_page()
    follow_link(atr, sign_in_link(department.atr.email, subject="returned"))
    returned = atr.get_by_role("note").filter(has_text="STND returned your answers for changes")
    expect(returned).to_contain_text(note)
    screenshot(atr, "survey-overview-returned")
    axe(atr, "survey overview, returned for changes")
    atr.get_by_role("navigation", name="Survey steps").get_by_role("link", name="Timeframe").click()
    atr.get_by_label("From", exact=True).select_option(index=3)
    atr.get_by_label("To", exact=True).select_option(index=4)
    atr.get_by_role("button", name="Save and continue").click()
    expect(atr.get_by_role("heading", level=1)).to_have_text("Review and submit")
    atr.get_by_label(re.compile("I am the Customer Conversion Manager")).check()
    atr.get_by_role("button", name="Authorize and submit").click()
    expect(atr.get_by_role("heading", level=1)).to_have_text(
        "Thank you: your answers are submitted"
    )
    assert any("(amendment 1)" in m.subject for m in mail.outbox)

    # The analyst sees the new revision and accepts it.
    stnd.reload()
    expect(stnd.get_by_role("table", name="Status")).to_contain_text("Submitted")
    expect(
        stnd.get_by_role("table", name="Revisions (each submission)").get_by_role("row")
    ).to_have_count(3)
    stnd.get_by_role("button", name="Accept these answers").click()
    expect(stnd.get_by_text("Accepted.", exact=True)).to_be_visible()
    expect(stnd.get_by_role("table", name="Status")).to_contain_text("Accepted")

    response = Response.objects.get(pk=responses.pk)
    assert response.status == ResponseStatus.ACCEPTED
    assert response.accepted_by == analyst
    assert response.window_start == response.campaign.months()[2]  # option 0: "Choose…"
    assert [r.number for r in response.revisions.order_by("number")] == [1, 2]
