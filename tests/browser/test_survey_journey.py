"""The survey as a department takes it, in a real browser, with and without JavaScript.

The ATR signs in from the landing page with the link from their inbox, answers every
section, and names a Manager and a Coordinator (two people). The Coordinator signs
in and sends the answers for authorization; the Manager signs in from that email,
authorizes, sees the confirmation page and gets the receipt.
"""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from conversion.models import Choice, Decision, MigrationPlans, Response, ResponseStatus
from tests.browser.helpers import follow_link, sign_in_from_landing, sign_in_link

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MANAGER = {
    "Full name": "Grace Hopper",
    "Job title": "Chief Information Officer",
    "Work email": "grace@springs.example.gov",
    "Phone": "(916) 555-0111",
}
COORDINATOR = {
    "Full name": "Alan Turing",
    "Job title": "Telecommunications Analyst",
    "Work email": "alan@springs.example.gov",
    "Phone": "(916) 555-0112",
}


def service_group(page, name):
    return page.get_by_role("group", name=re.compile(f"^{re.escape(name)}"))


def answer_every_section(page, catalogue):
    """From the overview: every section, each saved with "Save and continue"."""
    page.get_by_role("navigation", name="Survey steps").get_by_role(
        "link", name="Department"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your department")
    page.get_by_role("radio", name="Yes, they are right").check()
    page.get_by_role("button", name="Save and continue").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Conversion contacts")
    expect(page.get_by_role("status")).to_contain_text("Your department's details are saved.")
    for role, person in (
        ("Customer Conversion Manager", MANAGER),
        ("Customer Conversion Coordinator", COORDINATOR),
    ):
        group = page.get_by_role("group", name=role)
        for label, value in person.items():
            group.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Save and continue").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Services")
    service_group(page, "DS1 from AT&T").get_by_role("radio", name="Transition").check()
    centrex = service_group(page, "Centrex line from AT&T")
    expect(centrex.get_by_role("radio", name="Transition")).to_be_disabled()
    centrex.get_by_role("radio", name="Migrate to another contractor").check()
    centrex.get_by_label(re.compile("For a migration")).select_option(str(catalogue.vz_ds1_3.pk))
    service_group(page, "MPLS port from Verizon").get_by_role("radio", name="Transition").check()
    service_group(page, "Voicemail from Verizon").get_by_role("radio", name="Disconnect").check()
    page.get_by_role("button", name="Save and continue").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Timeframe")
    page.get_by_label("From", exact=True).select_option(index=2)
    page.get_by_label("To", exact=True).select_option(index=4)
    page.get_by_label("Constraints or blackout periods").fill(
        "No changes during the fiscal year-end close, 20 June to 10 July."
    )
    page.get_by_role("radio", name="Yes, we plan to migrate some services").check()
    page.get_by_label("Comments for STND").fill("Our Centrex moves to Verizon DS1 circuits.")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Review and submit")


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_atr_answers_coordinator_sends_and_manager_authorizes(
    browser, base_url, local_government, catalogue, campaign, javascript
):
    def person_context():
        return browser.new_context(base_url=base_url, java_script_enabled=javascript)

    # The ATR: from the landing page to the review page.
    atr = person_context().new_page()
    sign_in_from_landing(atr, base_url, local_government.atr.email)
    expect(atr.get_by_role("heading", level=1)).to_have_text("Your conversion survey")
    answer_every_section(atr, catalogue)
    expect(atr.locator(".missing")).to_have_count(0)
    # Only the Manager authorizes: the ATR is offered to send it to them.
    expect(atr.get_by_role("button", name="Send to Grace Hopper for authorization")).to_be_enabled()

    # The Coordinator, named in the survey, signs in and sends it to the Manager.
    coordinator = person_context().new_page()
    sign_in_from_landing(coordinator, base_url, COORDINATOR["Work email"])
    coordinator.get_by_role("link", name="Review and submit").first.click()
    expect(coordinator.get_by_text("Alan Turing, Telecommunications Analyst")).to_be_visible()
    coordinator.get_by_role("button", name="Send to Grace Hopper for authorization").click()
    expect(coordinator.get_by_role("status")).to_contain_text(
        "Sent to Grace Hopper (grace@springs.example.gov) for authorization."
    )
    assert Response.objects.get().status == ResponseStatus.AWAITING_MANAGER

    # The Manager opens the link in that email: it leads to the review page.
    manager = person_context().new_page()
    follow_link(
        manager, sign_in_link(MANAGER["Work email"], subject="waiting for your authorization")
    )
    expect(manager.get_by_role("heading", level=1)).to_have_text("Review and submit")
    manager.get_by_label(re.compile("I am the Customer Conversion Manager")).check()
    manager.get_by_role("button", name="Authorize and submit").click()

    expect(manager.get_by_role("heading", level=1)).to_have_text(
        "Thank you: your answers are submitted"
    )
    receipts = manager.get_by_role("heading", name="Your receipt").locator("+ p + ul")
    expect(receipts).to_contain_text(MANAGER["Work email"])
    expect(receipts).to_contain_text(COORDINATOR["Work email"])

    # The receipt: a copy of the answers to the Manager and the Coordinator.
    receipts = [m for m in mail.outbox if "receipt for City of Example Springs" in m.subject]
    assert sorted(m.to[0] for m in receipts) == [COORDINATOR["Work email"], MANAGER["Work email"]]
    assert "Migrate to another contractor" in receipts[0].body

    response = Response.objects.select_related("manager", "coordinator").get()
    assert response.status == ResponseStatus.SUBMITTED
    assert (response.manager.name, response.coordinator.name) == ("Grace Hopper", "Alan Turing")
    assert response.migration_plans == MigrationPlans.YES
    assert response.revisions.count() == 1
    decisions = {
        d.offering.code: (d.choice, d.target_id)
        for d in Decision.objects.filter(response=response).select_related("offering")
    }
    assert decisions == {
        "C2-DS1": (Choice.TRANSITION, None),
        "C2-CTX": (Choice.MIGRATE_CONTRACTOR, catalogue.vz_ds1_3.pk),
        "C2-MPLS": (Choice.TRANSITION, None),
        "C2-VM": (Choice.DISCONNECT, None),
    }
