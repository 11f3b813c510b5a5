"""WCAG 2.1 AA in a real browser: axe-core finds nothing on any department page (each
section empty, with errors and filled), nor on the sign-in pages; the decision matrix
groups each service's choices under its name. Every page is also saved as a
screenshot at desktop and phone widths (screenshots/)."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from conversion.models import Response, ResponseStatus
from departments.models import Person
from tests.browser.helpers import ask_for_link, follow_link, sign_in_link, signed_in_context
from tests.conftest import make_department

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def check(axe, screenshot):
    """axe (zero violations), reflow at 320 CSS pixels (WCAG 1.4.10: no sideways
    scrolling of the page; a wide table scrolls in its own region) and a screenshot
    at both widths, under one name."""

    def run(page, name):
        page.wait_for_load_state()
        axe(page, name)
        original = page.viewport_size
        page.set_viewport_size({"width": 320, "height": 800})
        width = page.evaluate("document.documentElement.scrollWidth")
        page.set_viewport_size(original)
        assert width <= 320, f"{name} is {width} pixels wide at 320: it scrolls sideways"
        screenshot(page, name)

    return run


def expect_error_summary(page):
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()  # survey.js moves focus there
    return summary


def test_sign_in_pages(page, base_url, local_government, campaign, check):
    page.goto("/")
    check(page, "sign-in-landing")

    page.get_by_role("button", name="Email me a sign-in link").click()
    expect_error_summary(page)
    expect(page.get_by_label("Your work email")).to_have_attribute("aria-invalid", "true")
    check(page, "sign-in-landing-errors")

    ask_for_link(page, base_url, local_government.atr.email)
    check(page, "sign-in-sent")

    page.goto(sign_in_link(local_government.atr.email))
    expect(page.get_by_text(f"You are signing in as {local_government.atr.email}")).to_be_visible()
    check(page, "sign-in-confirm")

    page.goto("/sign-in/link/?token=forged-or-expired")
    expect(page.get_by_role("heading", level=1)).to_have_text("This sign-in link no longer works")
    check(page, "sign-in-link-invalid")


def test_department_chooser(page, base_url, local_government, catalogue, campaign, check):
    """A person listed for two departments chooses which one to answer for."""
    other = make_department(name="Example Springs Water District", code="L0002")
    Person.objects.create(
        department=other,
        name="Ada Example",
        title="ATR",
        email=local_government.atr.email,
        phone="(916) 555-0100",
        is_atr=True,
    )
    ask_for_link(page, base_url, local_government.atr.email)
    follow_link(page, sign_in_link(local_government.atr.email))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose the department to act for")
    check(page, "departments-choose")


def test_every_department_page_empty_with_errors_and_filled(
    browser, base_url, local_government, catalogue, campaign, check
):
    """The ATR is also the Manager here, so one person walks every page, submission
    included. Each section: as first opened, after a save with errors, and saved."""
    context = signed_in_context(browser, base_url, local_government.atr)
    page = context.new_page()
    survey = f"/survey/{campaign.slug}/{local_government.code}"
    save_draft = page.get_by_role("button", name="Save draft")

    page.goto(f"{survey}/")
    check(page, "survey-overview-empty")
    page.goto(f"{survey}/review/")
    expect(
        page.get_by_role("region", name="Still to do before the Manager can submit")
    ).to_be_visible()
    check(page, "survey-review-empty")

    # Department
    page.goto(f"{survey}/department/")
    check(page, "survey-department-empty")
    save_draft.click()
    expect_error_summary(page)
    check(page, "survey-department-errors")
    page.get_by_role("radio", name="Yes, they are right").check()
    save_draft.click()
    expect(page.get_by_role("radio", name="Yes, they are right")).to_be_checked()
    check(page, "survey-department-filled")

    # Conversion contacts
    page.goto(f"{survey}/contacts/")
    check(page, "survey-contacts-empty")
    manager = page.get_by_role("group", name="Customer Conversion Manager")
    manager.get_by_label("Full name").fill("Ada Example")
    save_draft.click()
    summary = expect_error_summary(page)
    expect(summary.get_by_role("link")).to_have_count(3)  # title, email, phone
    expect(manager.get_by_label("Full name")).to_have_value("Ada Example")
    check(page, "survey-contacts-errors")
    manager.get_by_label("Job title").fill("Telecommunications Manager")
    manager.get_by_label("Work email").fill(local_government.atr.email)
    manager.get_by_label("Phone").fill("(916) 555-0100")
    page.get_by_label("One person is both the Manager and the Coordinator").check()
    save_draft.click()
    expect(page.get_by_role("status")).to_contain_text("saved")
    check(page, "survey-contacts-filled")

    # Services
    page.goto(f"{survey}/services/")
    check(page, "survey-services-empty")
    centrex = page.get_by_role("group", name=re.compile("^Centrex line from AT&T"))
    centrex.get_by_role("radio", name="Migrate to another contractor").check()
    save_draft.click()
    summary = expect_error_summary(page)
    expect(summary).to_contain_text("Choose the CALNET 3 service to migrate to.")
    check(page, "survey-services-errors")
    centrex.get_by_label(re.compile("For a migration")).select_option(str(catalogue.vz_ds1_3.pk))
    for name, choice in (
        ("DS1 from AT&T", "Transition"),
        ("MPLS port from Verizon", "Migrate to another service"),
        ("Voicemail from Verizon", "Disconnect"),
    ):
        group = page.get_by_role("group", name=re.compile(f"^{re.escape(name)}"))
        group.get_by_role("radio", name=choice).check()
        if choice.startswith("Migrate"):
            group.get_by_label(re.compile("For a migration")).select_option(
                str(catalogue.vz_mpls_3.pk if "Verizon" in name else catalogue.att_mpls_3.pk)
            )
    save_draft.click()
    summary = expect_error_summary(page)  # MPLS from Verizon to Verizon MPLS is a Transition
    expect(summary).to_contain_text("That is the same service: choose Transition instead.")
    page.get_by_role("group", name=re.compile("^MPLS port from Verizon")).get_by_role(
        "radio", name="Transition"
    ).check()
    save_draft.click()
    expect(page.get_by_role("status")).to_contain_text("Your services are saved.")
    check(page, "survey-services-filled")

    # One group line by line
    page.get_by_role("link", name="Decide line by line for DS1 from AT&T").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("DS1 from AT&T: line by line")
    check(page, "survey-lines-empty")
    first_line = page.get_by_role("combobox", name=re.compile("^Decision for C2-DS1")).first
    # A value the page never offers (a tampered or stale form) is refused, not saved.
    first_line.evaluate(
        "select => { select.add(new Option('Not a choice', 'bogus')); select.value = 'bogus'; }"
    )
    save_draft.click()
    expect_error_summary(page)
    check(page, "survey-lines-errors")
    first_line.select_option("disconnect")
    save_draft.click()
    expect(first_line).to_have_value("disconnect")
    check(page, "survey-lines-filled")

    # Add a missing service
    page.goto(f"{survey}/services/add/")
    check(page, "survey-add-line-empty")
    page.get_by_role("button", name="Add the service").click()
    expect_error_summary(page)
    check(page, "survey-add-line-errors")

    # Timeframe
    page.goto(f"{survey}/timeframe/")
    check(page, "survey-timeframe-empty")
    page.get_by_label("From", exact=True).select_option(index=4)
    page.get_by_label("To", exact=True).select_option(index=2)
    save_draft.click()
    summary = expect_error_summary(page)
    expect(summary).to_contain_text("The last month cannot come before the first.")
    check(page, "survey-timeframe-errors")
    page.get_by_label("To", exact=True).select_option(index=5)
    page.get_by_role("radio", name="No, we plan to transition or disconnect only").check()
    page.get_by_label("Comments for STND").fill("Please schedule after business hours.")
    save_draft.click()
    expect(page.get_by_role("status")).to_contain_text("Your timeframe is saved.")
    check(page, "survey-timeframe-filled")

    # Review, authorization, confirmation and summary
    page.goto(f"{survey}/")
    check(page, "survey-overview-filled")
    page.goto(f"{survey}/review/")
    expect(page.get_by_role("region", name=re.compile("Still to do"))).to_have_count(0)
    check(page, "survey-review-filled")
    page.get_by_role("button", name="Authorize and submit").click()
    expect_error_summary(page)
    check(page, "survey-review-errors")
    page.get_by_label(re.compile("I am the Customer Conversion Manager")).check()
    page.get_by_role("button", name="Authorize and submit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you: your answers are submitted"
    )
    check(page, "survey-submitted")
    page.get_by_role("link", name="Printable summary").click()
    check(page, "survey-summary")
    assert Response.objects.get().status == ResponseStatus.SUBMITTED
    assert any("receipt" in m.subject for m in mail.outbox)


def test_decision_matrix_groups_each_services_choices_under_its_name(
    browser, base_url, local_government, campaign
):
    """A screen reader announces the service with each choice: every group of radios
    is a fieldset whose legend names the service and incumbent."""
    page = signed_in_context(browser, base_url, local_government.atr).new_page()
    page.goto(f"/survey/{campaign.slug}/{local_government.code}/services/")
    choices = [
        "Transition",
        "Migrate to another contractor",
        "Migrate to another service",
        "Disconnect",
        "Not decided yet",
    ]
    for name, lines in (
        ("DS1 from AT&T", 4),
        ("Centrex line from AT&T", 3),
        ("MPLS port from Verizon", 2),
        ("Voicemail from Verizon", 1),
    ):
        service = page.get_by_role("group", name=name, exact=True)
        expect(service).to_have_count(1)
        decision = service.get_by_role(
            "group",
            name=f"Decision for these {lines} lines" if lines > 1 else "Decision for this line",
        )
        expect(decision.get_by_role("radio")).to_have_count(len(choices))
        for choice in choices:
            expect(decision.get_by_role("radio", name=choice, exact=True)).to_have_count(1)
        expect(service.get_by_role("combobox", name=re.compile("^For a migration"))).to_have_count(
            1
        )
    # Each option says what it entails, as the radio's description.
    transition = page.get_by_role("group", name="Centrex line from AT&T", exact=True).get_by_role(
        "radio", name="Transition"
    )
    expect(transition).to_have_accessible_description(re.compile("Unavailable: AT&T holds no"))
    expect(page.get_by_role("radio")).to_have_count(4 * len(choices))
