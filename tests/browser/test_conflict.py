"""Two people of one department edit the same section at once, each in their own
browser: the second save is refused with what changed, and keeps what they typed."""

import pytest
from playwright.sync_api import expect

from conversion.models import Response
from departments.models import Person, PersonSource
from tests.browser.helpers import sign_in_from_landing

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_second_save_sees_the_conflict_and_keeps_its_typing(
    browser, base_url, local_government, campaign, axe, screenshot
):
    colleague = Person.objects.create(
        department=local_government,
        name="Alan Turing",
        title="Telecommunications Analyst",
        email="alan@springs.example.gov",
        phone="(916) 555-0112",
        source=PersonSource.NAMED,
    )
    first = browser.new_context(base_url=base_url).new_page()
    second = browser.new_context(base_url=base_url).new_page()
    for page, email in ((first, local_government.atr.email), (second, colleague.email)):
        sign_in_from_landing(page, base_url, email)
        page.get_by_role("navigation", name="Survey steps").get_by_role(
            "link", name="Timeframe"
        ).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Timeframe")

    first.get_by_label("Comments for STND").fill("Convert the main office first.")
    first.get_by_role("button", name="Save draft").click()
    expect(first.get_by_role("status")).to_contain_text("Your timeframe is saved.")

    # The second person typed on a page loaded before that save.
    blackout = "No work during the county budget hearings in June."
    comment = "Call the facilities desk before any site visit."
    second.get_by_label("Constraints or blackout periods").fill(blackout)
    second.get_by_label("Comments for STND").fill(comment)
    second.get_by_role("button", name="Save draft").click()

    conflict = second.get_by_role("alert").filter(has_text="Someone else saved this section")
    expect(conflict).to_be_visible()
    expect(conflict).to_be_focused()
    expect(conflict).to_contain_text(f"{local_government.atr.email} saved it")
    changes = conflict.get_by_role("table", name="What they changed")
    expect(changes.get_by_role("row", name="Comments")).to_contain_text(
        "Convert the main office first."
    )
    expect(second.get_by_label("Constraints or blackout periods")).to_have_value(blackout)
    expect(second.get_by_label("Comments for STND")).to_have_value(comment)
    axe(second, "survey-timeframe-conflict")
    screenshot(second, "survey-timeframe-conflict")

    response = Response.objects.get()
    assert response.comments == "Convert the main office first."
    assert response.blackout_periods == ""

    # Saving again, having seen their change, keeps the second person's answers.
    second.get_by_role("button", name="Save draft").click()
    expect(second.get_by_role("status")).to_contain_text("Your timeframe is saved.")
    response.refresh_from_db()
    assert (response.blackout_periods, response.comments) == (blackout, comment)
