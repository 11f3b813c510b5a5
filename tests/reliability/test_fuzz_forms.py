"""Every form view receives generated data (hypothesis): wrong types, huge strings, any
unicode, missing and repeated fields, forged counts, other departments' ids. Never a
5xx; when the answer reports an error (a status other than a redirect, or an error
message), the database is exactly as before; whatever the answer, department B's data
never changes through department A's member.

Examples per view: RELIABILITY_FUZZ_EXAMPLES (25 in `make test`; `make soak` runs more).
"""

import os
import re

import pytest
from django.contrib.messages import ERROR, get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversion.models import (
    Choice,
    InventoryLine,
    MigrationPlans,
    Offering,
    Response,
    Section,
    SectionProgress,
)
from departments.models import Person, PersonSource
from tests.reliability import support

EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written to the working tree
    derandomize=EXAMPLES <= 25,  # `make test` tries the same inputs every run
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

TRIED = {}

NASTY = [
    "",
    " ",
    "\x00",
    "\ufeff",
    "null",
    "None",
    "true",
    "-1",
    "0",
    "1.5",
    "9" * 40,
    "1e309",
    "NaN",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "ｔｒａｎｓｉｔｉｏｎ",
    "transition\n",
    "2026-13",
    "0000-00",
    "../../etc/passwd",
    "𝕬" * 300,
    "a@b",
    "x" * 70_000,
]


def values(valid):
    """A value for any field: nasty, random, or one of the valid ones (to get deeper)."""
    return st.one_of(
        st.sampled_from(NASTY),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=60),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.sampled_from(valid or [""]),
    )


def form_data(names, valid, *, max_fields=14):
    """A POST body as a dict of lists: any of `names` (and strangers), repeated or not."""
    extra = ["form-TOTAL_FORMS", "form-INITIAL_FORMS", "csrfmiddlewaretoken", "loaded", "then"]
    pairs = st.lists(st.tuples(st.sampled_from(names + extra), values(valid)), max_size=max_fields)

    def group(items):
        data = {}
        for name, value in items:
            data.setdefault(name, []).append(value)
        return data

    return pairs.map(group)


def loaded_value(page):
    match = re.search(rb'name="loaded" value="([^"]*)"', page.content)
    return match.group(1).decode() if match else ""


def reported_error(answer):
    if answer.status_code not in (301, 302, 303):
        return True
    # Only the messages this request added (a client's older ones wait to be shown).
    added = get_messages(answer.wsgi_request)._queued_messages
    return any(m.level >= ERROR for m in added)


def check_post(client, url, data, *, world, name, files=None, staff=False):
    """POST `data`; the answer is no 5xx, and an error leaves the database as it was."""
    TRIED[name] = TRIED.get(name, 0) + 1
    before = support.fingerprint()
    b_before = support.fingerprint(department=world.b)
    answer = client.post(url, {**data, **(files or {})})
    assert answer.status_code < 500
    if reported_error(answer):
        assert support.fingerprint() == before, (answer.status_code, data)
    if not staff:
        assert support.fingerprint(department=world.b) == b_before
    return answer


@pytest.fixture
def fuzz(world):
    """Department A's member is its ATR and its Manager, so submitting can succeed."""
    a = world.a
    Response.objects.filter(pk=world.response_a.pk).update(manager=a.atr, coordinator=a.atr)
    Person.objects.create(
        department=a, name="Cy Coordinator", email="cy@alpha.example.gov", source=PersonSource.NAMED
    )
    world.client = support.client_for(world.member)
    world.kwargs = {"campaign": world.campaign.slug, "code": a.code}
    world.b_lines = [
        str(pk)
        for pk in InventoryLine.objects.filter(department=world.b).values_list("pk", flat=True)
    ]
    world.offerings = [str(pk) for pk in Offering.objects.values_list("pk", flat=True)]
    world.months = [m.strftime("%Y-%m") for m in world.campaign.months()]
    yield world
    support.record("fuzz", examples_per_view=EXAMPLES, posts_by_view=dict(TRIED))


def url(world, name, **extra):
    return reverse(f"survey:{name}", kwargs={**world.kwargs, **extra})


def section(world, name, data, loaded_choice, **extra):
    """A section POST with a fresh, a forged or no "loaded" version."""
    page_url = url(world, name, **extra)
    if loaded_choice == "fresh" and "loaded" not in data:
        data = {**data, "loaded": [loaded_value(world.client.get(page_url))]}
    elif loaded_choice == "stale":
        data = {**data, "loaded": ["eyJ2IjowLCJhIjp7fX0:stale:signature"]}
    return check_post(world.client, page_url, data, world=world, name=name)


LOADED = st.sampled_from(["fresh", "fresh", "stale", "missing"])


def test_landing_sign_in_request(world):
    @FUZZ
    @given(data=form_data(["email"], [world.a.atr.email, "someone@example.gov"]))
    def run(data):
        check_post(Client(), reverse("departments:landing"), data, world=world, name="landing")

    run()


def test_sign_in_confirm(world):
    @FUZZ
    @given(token=values(["AAAAAQ"]), next_path=values(["/departments/", "//evil.example"]))
    def run(token, next_path):
        client = Client()
        client.get(reverse("departments:sign_in_link"), {"token": token, "next": next_path})
        check_post(client, reverse("departments:sign_in_confirm"), {}, world=world, name="confirm")

    run()


def test_department_section(fuzz):
    @FUZZ
    @given(
        data=form_data(["is_right", "kind_flag_note"], ["yes", "no", "It is wrong"]), loaded=LOADED
    )
    def run(data, loaded):
        section(fuzz, "department", data, loaded)

    run()


def test_contacts_section(fuzz):
    names = [
        f"{role}_{f}"
        for role in ("manager", "coordinator")
        for f in ("name", "title", "email", "phone")
    ]
    valid = ["Ada", "CIO", "ada@alpha.example.gov", "atr@beta.example.gov", "(916) 555-0100", "on"]

    @FUZZ
    @given(data=form_data([*names, "one_person"], valid), loaded=LOADED)
    def run(data, loaded):
        section(fuzz, "contacts", data, loaded)

    run()


def test_services_section(fuzz):
    offerings = fuzz.offerings
    names = [f"choice_{pk}" for pk in offerings] + [f"target_{pk}" for pk in offerings]
    valid = [c.value for c in Choice] + offerings + fuzz.b_lines

    @FUZZ
    @given(data=form_data(names, valid), loaded=LOADED)
    def run(data, loaded):
        section(fuzz, "services", data, loaded)

    run()


def test_line_exceptions(fuzz):
    offering = fuzz.catalogue.att_ds1_2
    lines = InventoryLine.objects.filter(department=fuzz.a, offering=offering)
    names = [f"line_{line.pk}" for line in lines] + [f"line_{pk}" for pk in fuzz.b_lines]
    valid = ["", "transition", "disconnect"] + [
        f"{c}:{pk}" for c in ("migrate_contractor", "migrate_service") for pk in fuzz.offerings
    ]

    @FUZZ
    @given(data=form_data(names, valid), loaded=LOADED)
    def run(data, loaded):
        section(fuzz, "service_lines", data, loaded, offering_id=offering.pk)

    run()


def test_add_line(fuzz):
    valid = fuzz.offerings + ["C2-NEW-1", "1", "100000", "100001", "1325 J Street"]

    @FUZZ
    @given(data=form_data(["offering", "identifier", "quantity", "location"], valid))
    def run(data):
        check_post(fuzz.client, url(fuzz, "add_line"), data, world=fuzz, name="add_line")

    run()


def test_timeframe_section(fuzz):
    names = ["window_start", "window_end", "blackout_periods", "migration_plans", "comments"]
    valid = fuzz.months + [m.value for m in MigrationPlans] + ["June close"]

    @FUZZ
    @given(data=form_data(names, valid), loaded=LOADED)
    def run(data, loaded):
        section(fuzz, "timeframe", data, loaded)

    run()


def test_review_submit_and_authorization(fuzz):
    @FUZZ
    @given(
        data=form_data(
            ["action", "version", "attest"], ["submit", "request", "withdraw", "0", "1", "2", "on"]
        )
    )
    def run(data):
        if "version" not in data:
            response = Response.objects.get(pk=fuzz.response_a.pk)
            data = {**data, "version": [str(response.version)]}
        check_post(fuzz.client, url(fuzz, "review"), data, world=fuzz, name="review")

    run()


def test_admin_response_actions(fuzz):
    admin = support.client_for(fuzz.administrator)
    pk = fuzz.response_a.pk

    @FUZZ
    @given(
        action=st.sampled_from(["note", "return", "reopen", "accept", "remind", "nope"]),
        data=form_data(["text", "note", "until"], ["Call them", "2099-01-01", "2000-01-01"]),
    )
    def run(action, data):
        target = reverse("admin:conversion_response_act", args=[pk, action])
        check_post(admin, target, data, world=fuzz, name="admin_act", staff=True)

    run()


def test_admin_section_edits(fuzz):
    admin = support.client_for(fuzz.administrator)
    pk = fuzz.response_a.pk
    # A refused edit creates the section's empty progress row (reported: see
    # test_access_matrix.test_a_refused_admin_section_edit_changes_nothing); with the rows
    # there already, everything else an edit may touch is checked.
    for name in Section:
        SectionProgress.objects.get_or_create(response_id=pk, section=name)
    names = [
        "is_right",
        "kind_flag_note",
        "manager_name",
        "manager_email",
        "one_person",
        "window_start",
        "window_end",
        "migration_plans",
        "comments",
        "loaded_version",
    ]

    @FUZZ
    @given(
        section_name=st.sampled_from(["department", "contacts", "timeframe", "services", "nope"]),
        data=form_data(names, ["yes", "no", "0", "1", *fuzz.months, "yes@x.gov"]),
    )
    def run(section_name, data):
        target = reverse("admin:conversion_response_edit", args=[pk, section_name])
        check_post(admin, target, data, world=fuzz, name="admin_edit", staff=True)

    run()


def test_admin_import_upload(fuzz):
    admin = support.client_for(fuzz.administrator)
    rows = st.lists(
        st.lists(values(["ALPHA1", "state", "Ada", "ada@x.gov", "C2-DS1", "AT&T"]), max_size=6).map(
            ",".join
        ),
        max_size=6,
    )

    @FUZZ
    @given(
        kind=values(["departments", "inventory"]),
        content=st.one_of(rows.map(lambda r: "\n".join(r).encode()), st.binary(max_size=300)),
    )
    def run(kind, content):
        upload = SimpleUploadedFile("fuzz.csv", content, content_type="text/csv")
        check_post(
            admin,
            reverse("admin:conversion_csvimport_add"),
            {"kind": kind},
            files={"file": upload},
            world=fuzz,
            name="admin_import",
            staff=True,
        )

    run()
