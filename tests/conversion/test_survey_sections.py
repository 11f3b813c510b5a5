"""The survey's sections: each saves whole or not at all, validates like the bulletin,
refuses a save based on an old version, and costs the same queries at any inventory size."""

import re

import pytest
from django.urls import reverse

from conversion.models import (
    Choice,
    Decision,
    InventoryLine,
    MigrationPlans,
    Response,
    ResponseStatus,
    Section,
    SectionProgress,
)
from departments.models import Department, DepartmentKind, Person, PersonSource
from tests.conftest import make_department, make_user_for


def url(response, name, **extra):
    return reverse(
        f"survey:{name}",
        kwargs={"campaign": response.campaign.slug, "code": response.department.code, **extra},
    )


def loaded_value(page):
    """The hidden "loaded" value a section page carries (its version and answers)."""
    return re.search(r'name="loaded" value="([^"]+)"', page.content.decode()).group(1)


def post_section(client, response, name, data, *, loaded=None, **extra):
    target = url(response, name, **extra)
    if loaded is None:
        loaded = loaded_value(client.get(target))
    return client.post(target, {**data, "loaded": loaded})


def manager_and_coordinator(**overrides):
    data = {
        "manager_name": "Grace Manager",
        "manager_title": "Chief Information Officer",
        "manager_email": "Grace@Dept.example.gov",
        "manager_phone": "(916) 555-0111",
        "coordinator_name": "Alan Coordinator",
        "coordinator_title": "Telecom Analyst",
        "coordinator_email": "alan@dept.example.gov",
        "coordinator_phone": "(916) 555-0112",
    }
    data.update(overrides)
    return data


def progress(response, section):
    return SectionProgress.objects.get(response=response, section=section)


# --- Department ----------------------------------------------------------------------------------


def test_confirming_the_department_completes_the_section_and_starts_the_response(
    atr_client, response, atr_user
):
    saved = post_section(atr_client, response, "department", {"is_right": "yes"})
    assert saved.status_code == 302
    assert saved["Location"] == url(response, "contacts")  # on to the next section
    response.refresh_from_db()
    assert response.department_confirmed
    assert response.status == ResponseStatus.IN_PROGRESS
    assert response.version == 1
    section = progress(response, Section.DEPARTMENT)
    assert (section.version, section.is_complete, section.saved_by) == (1, True, atr_user)


def test_a_wrong_kind_is_flagged_with_a_note_not_changed(atr_client, response):
    post_section(
        atr_client,
        response,
        "department",
        {"is_right": "no", "kind_flag_note": "We are an Exempt State Agency."},
    )
    response.refresh_from_db()
    assert response.kind_flag_note == "We are an Exempt State Agency."
    assert not response.department_confirmed
    assert Department.objects.get(pk=response.department_id).kind == DepartmentKind.STATE


def test_a_wrong_kind_without_a_note_is_refused_with_a_linked_error_summary(atr_client, response):
    page = post_section(atr_client, response, "department", {"is_right": "no"})
    assert page.status_code == 200
    content = page.content.decode()
    assert 'id="error-summary"' in content and 'role="alert"' in content
    assert 'href="#id_kind_flag_note"' in content
    assert "Tell STND what is wrong." in content
    assert 'value="no" class="form-check-input" id="id_is_right_1" checked' in content or (
        'id="id_is_right_1"' in content and "checked" in content
    )
    response.refresh_from_db()
    assert response.version == 0
    assert not SectionProgress.objects.filter(response=response).exists()


# --- Conversion contacts -------------------------------------------------------------------------


def test_named_contacts_become_people_who_can_sign_in(atr_client, response):
    saved = post_section(atr_client, response, "contacts", manager_and_coordinator())
    assert saved.status_code == 302
    response.refresh_from_db()
    manager, coordinator = response.manager, response.coordinator
    assert (manager.name, manager.email, manager.source) == (
        "Grace Manager",
        "grace@dept.example.gov",
        PersonSource.NAMED,
    )
    assert coordinator.title == "Telecom Analyst"
    assert progress(response, Section.CONTACTS).is_complete
    coordinator_user = make_user_for(coordinator)
    assert list(Department.objects.for_user(coordinator_user)) == [response.department]


def test_one_person_may_hold_both_roles(atr_client, response):
    data = manager_and_coordinator(
        one_person="on",
        coordinator_name="",
        coordinator_title="",
        coordinator_email="",
        coordinator_phone="",
    )
    post_section(atr_client, response, "contacts", data)
    response.refresh_from_db()
    assert response.manager_id == response.coordinator_id
    assert response.has_one_contact


def test_naming_an_existing_person_updates_them_instead_of_duplicating(atr_client, response):
    atr = response.department.atr
    post_section(
        atr_client,
        response,
        "contacts",
        manager_and_coordinator(manager_email=atr.email.upper(), manager_name="Ada Renamed"),
    )
    response.refresh_from_db()
    assert response.manager_id == atr.pk
    assert Person.objects.get(pk=atr.pk).name == "Ada Renamed"
    assert response.department.people.count() == 2  # the ATR and the Coordinator


def test_a_half_given_contact_saves_nothing_and_keeps_what_was_typed(atr_client, response):
    data = manager_and_coordinator(coordinator_email="", coordinator_phone="")
    page = post_section(atr_client, response, "contacts", data)
    assert page.status_code == 200
    content = page.content.decode()
    assert 'href="#id_coordinator_email"' in content
    assert 'value="Grace Manager"' in content  # typed values stay
    response.refresh_from_db()
    assert response.manager_id is None  # the valid Manager was not saved alone
    assert not Person.objects.filter(email="grace@dept.example.gov").exists()


def test_the_same_email_for_both_roles_asks_for_the_one_person_box(atr_client, response):
    data = manager_and_coordinator(coordinator_email="grace@dept.example.gov")
    page = post_section(atr_client, response, "contacts", data)
    assert "One person is both the Manager and the Coordinator" in page.content.decode()
    assert page.context["form"].errors["coordinator_email"]


def test_an_invalid_email_is_shown_beside_its_field(atr_client, response):
    page = post_section(
        atr_client, response, "contacts", manager_and_coordinator(manager_email="grace")
    )
    assert page.context["form"].errors["manager_email"] == ["Enter a valid email address."]


# --- Services ------------------------------------------------------------------------------------


def services_data(response):
    """Form data keeping every group's current (or automatic) choice."""
    data = {}
    for group in response.service_groups():
        pk = group.offering.pk
        data[f"choice_{pk}"] = group.choice or ""
        data[f"target_{pk}"] = str(group.target.pk) if group.target else ""
    return data


def test_one_decision_per_group_applies_to_all_its_lines(atr_client, response, catalogue):
    data = services_data(response)
    data[f"choice_{catalogue.att_centrex_2.pk}"] = Choice.DISCONNECT
    data[f"choice_{catalogue.att_ds1_2.pk}"] = Choice.MIGRATE_CONTRACTOR
    data[f"target_{catalogue.att_ds1_2.pk}"] = str(catalogue.vz_ds1_3.pk)
    saved = post_section(atr_client, response, "services", data)
    assert saved.status_code == 302
    decisions = {d.offering_id: d for d in Decision.objects.filter(response=response)}
    assert decisions[catalogue.att_centrex_2.pk].choice == Choice.DISCONNECT
    assert decisions[catalogue.att_ds1_2.pk].target == catalogue.vz_ds1_3
    response.refresh_from_db()
    assert (response.lines_migration, response.lines_disconnect, response.lines_transition) == (
        3,
        2,
        1,
    )
    assert response.lines_undecided == 0
    assert progress(response, Section.SERVICES).is_complete


def test_a_migration_without_its_target_saves_no_group_at_all(atr_client, response, catalogue):
    data = services_data(response)
    data[f"choice_{catalogue.att_centrex_2.pk}"] = Choice.DISCONNECT  # valid
    data[f"choice_{catalogue.att_ds1_2.pk}"] = Choice.MIGRATE_CONTRACTOR  # no target
    page = post_section(atr_client, response, "services", data)
    assert page.status_code == 200
    content = page.content.decode()
    assert "Choose the CALNET 3 service to migrate to." in content
    assert f'href="#id_target_{catalogue.att_ds1_2.pk}"' in content
    assert not Decision.objects.filter(response=response).exists()


def test_transition_is_refused_where_the_incumbent_has_no_award(atr_client, response, catalogue):
    data = services_data(response)
    data[f"choice_{catalogue.att_centrex_2.pk}"] = Choice.TRANSITION
    page = post_section(atr_client, response, "services", data)
    assert "AT&amp;T holds no CALNET 3 award for this service." in page.content.decode()
    assert not Decision.objects.filter(response=response).exists()


def test_migrating_to_another_contractor_must_leave_the_incumbent(atr_client, response, catalogue):
    data = services_data(response)
    data[f"choice_{catalogue.att_ds1_2.pk}"] = Choice.MIGRATE_CONTRACTOR
    data[f"target_{catalogue.att_ds1_2.pk}"] = str(catalogue.att_mpls_3.pk)
    page = post_section(atr_client, response, "services", data)
    assert page.context["form"].errors[f"target_{catalogue.att_ds1_2.pk}"]


def test_every_option_shows_what_it_entails(atr_client, response, catalogue):
    content = atr_client.get(url(response, "services")).content.decode()
    assert "Automatic for your department unless you choose otherwise." in content
    assert "Form 20 (STD.20) needed" in content
    assert "Disconnect notice to the incumbent contractor needed." in content
    assert "Unavailable: AT&amp;T holds no CALNET 3 award for this service." in content
    assert f'<fieldset class="service-group" id="group-{catalogue.att_ds1_2.pk}"' in content
    assert "<legend>DS1 <span" in content


def test_a_non_state_entity_is_told_about_atos(client, campaign, catalogue):
    local = make_department(kind=DepartmentKind.NON_STATE, lines=[(catalogue.att_ds1_2, 1)])
    Response.objects.create(campaign=campaign, department=local)
    client.force_login(
        make_user_for(local.atr), backend="django.contrib.auth.backends.ModelBackend"
    )
    page = client.get(
        reverse("survey:services", kwargs={"campaign": campaign.slug, "code": local.code})
    )
    assert "Authorization to Order (ATO) needed" in page.content.decode()


def test_a_line_can_take_its_own_decision(atr_client, response, catalogue):
    line = response.department.lines.filter(offering=catalogue.att_ds1_2).order_by("identifier")[0]
    data = {
        f"line_{line.pk}": f"{Choice.MIGRATE_CONTRACTOR}:{catalogue.vz_ds1_3.pk}",
    }
    saved = post_section(
        atr_client, response, "service_lines", data, offering_id=catalogue.att_ds1_2.pk
    )
    assert saved.status_code == 302
    exception = Decision.objects.get(response=response, line=line)
    assert (exception.choice, exception.target) == (
        Choice.MIGRATE_CONTRACTOR,
        catalogue.vz_ds1_3,
    )
    response.refresh_from_db()
    assert response.lines_migration == 1
    # Back to "same as the group" removes the exception.
    post_section(
        atr_client,
        response,
        "service_lines",
        {f"line_{line.pk}": ""},
        offering_id=catalogue.att_ds1_2.pk,
    )
    assert not Decision.objects.filter(response=response, line=line).exists()


def test_a_line_decision_is_checked_against_the_rules(atr_client, response, catalogue):
    line = response.department.lines.filter(offering=catalogue.att_centrex_2).first()
    page = post_section(
        atr_client,
        response,
        "service_lines",
        {f"line_{line.pk}": Choice.TRANSITION},
        offering_id=catalogue.att_centrex_2.pk,
    )
    assert page.status_code == 200
    assert page.context["form"].errors
    assert not Decision.objects.filter(response=response).exists()


def test_lines_are_listed_a_page_at_a_time_and_can_be_searched(
    client, campaign, catalogue, django_assert_max_num_queries
):
    big = make_department(lines=[(catalogue.att_ds1_2, 120)])
    response = Response.objects.create(campaign=campaign, department=big)
    client.force_login(make_user_for(big.atr), backend="django.contrib.auth.backends.ModelBackend")
    lines_url = url(response, "service_lines", offering_id=catalogue.att_ds1_2.pk)
    page = client.get(lines_url + "?page=3")
    assert "Page 3 of 3" in page.content.decode()
    assert len(page.context["form"].fields) == 20
    wanted = big.lines.order_by("identifier")[77].identifier
    found = client.get(lines_url, {"q": wanted})
    assert [line.identifier for line, _, _ in found.context["form"].rows()] == [wanted]


def test_a_missing_service_can_be_added(atr_client, response, catalogue, atr_user):
    answer = atr_client.post(
        url(response, "add_line"),
        {
            "offering": catalogue.vz_vm_2.pk,
            "identifier": "916-555-0199",
            "quantity": 2,
            "location": "Sacramento",
        },
    )
    assert answer.status_code == 302
    line = InventoryLine.objects.get(identifier="916-555-0199")
    assert (line.department, line.added_by, line.quantity) == (response.department, atr_user, 2)
    response.refresh_from_db()
    assert response.version == 1
    groups = {g.offering for g in response.service_groups()}
    assert catalogue.vz_vm_2 in groups


def test_a_service_already_in_the_inventory_cannot_be_added_twice(atr_client, response, catalogue):
    line = response.department.lines.first()
    page = atr_client.post(
        url(response, "add_line"),
        {"offering": line.offering_id, "identifier": line.identifier, "quantity": 1},
    )
    assert page.status_code == 200
    assert "already holds" in page.content.decode()


# --- Timeframe -----------------------------------------------------------------------------------


def months(response):
    return [m.strftime("%Y-%m") for m in response.campaign.months()]


def test_the_timeframe_is_saved_within_the_campaigns_months(atr_client, response):
    first, *_, last = months(response)
    saved = post_section(
        atr_client,
        response,
        "timeframe",
        {
            "window_start": first,
            "window_end": last,
            "blackout_periods": "Not during fiscal year-end.",
            "migration_plans": MigrationPlans.NO,
            "comments": "",
        },
    )
    assert saved.status_code == 302
    assert saved["Location"] == url(response, "review")
    response.refresh_from_db()
    assert response.window_start.strftime("%Y-%m") == first
    assert response.blackout_periods == "Not during fiscal year-end."
    assert progress(response, Section.TIMEFRAME).is_complete


def test_a_window_ending_before_it_starts_is_refused(atr_client, response):
    first, second, *_ = months(response)
    page = post_section(
        atr_client, response, "timeframe", {"window_start": second, "window_end": first}
    )
    assert page.context["form"].errors["window_end"]
    response.refresh_from_db()
    assert response.window_start is None


def test_a_month_outside_the_campaign_is_refused(atr_client, response):
    page = post_section(
        atr_client, response, "timeframe", {"window_start": "1999-01", "window_end": ""}
    )
    assert page.context["form"].errors["window_start"]


def test_plans_to_migrate_are_prefilled_from_the_decisions(atr_client, response, catalogue):
    Decision.objects.create(
        response=response,
        offering=catalogue.att_ds1_2,
        choice=Choice.MIGRATE_CONTRACTOR,
        target=catalogue.vz_ds1_3,
    )
    page = atr_client.get(url(response, "timeframe"))
    assert page.context["form"]["migration_plans"].value() == MigrationPlans.YES


# --- Two people, one section ---------------------------------------------------------------------


def test_a_save_based_on_an_old_version_is_refused_showing_what_changed(
    client, atr_client, response, catalogue
):
    colleague = Person.objects.create(
        department=response.department, name="Bea", email="bea@dept.example.gov"
    )
    other = client.__class__()
    other.force_login(make_user_for(colleague), backend="django.contrib.auth.backends.ModelBackend")
    contacts = url(response, "contacts")
    mine = loaded_value(atr_client.get(contacts))
    theirs = loaded_value(other.get(contacts))

    first = other.post(contacts, {**manager_and_coordinator(), "loaded": theirs})
    assert first.status_code == 302

    late = atr_client.post(
        contacts,
        {
            **manager_and_coordinator(manager_name="Hedy Mine", manager_email="hedy@x.gov"),
            "loaded": mine,
        },
    )
    assert late.status_code == 409
    content = late.content.decode()
    assert "Someone else saved this section" in content
    assert "bea@dept.example.gov" in content
    assert "Grace Manager, Chief Information Officer" in content  # what they changed
    assert 'value="Hedy Mine"' in content  # what I typed stays
    response.refresh_from_db()
    assert response.manager.name == "Grace Manager"  # theirs is kept

    # Having seen their change, saving again keeps mine.
    again = atr_client.post(
        contacts,
        {
            **manager_and_coordinator(manager_name="Hedy Mine", manager_email="hedy@x.gov"),
            "loaded": loaded_value(late),
        },
    )
    assert again.status_code == 302
    response.refresh_from_db()
    assert response.manager.name == "Hedy Mine"
    assert progress(response, Section.CONTACTS).version == 2


def test_a_tampered_version_is_treated_as_a_conflict(atr_client, response):
    page = post_section(atr_client, response, "department", {"is_right": "yes"}, loaded="x")
    assert page.status_code == 409
    assert not response.__class__.objects.get(pk=response.pk).department_confirmed


def test_people_editing_different_sections_do_not_block_each_other(atr_client, response):
    department_loaded = loaded_value(atr_client.get(url(response, "department")))
    post_section(atr_client, response, "contacts", manager_and_coordinator())
    saved = atr_client.post(
        url(response, "department"), {"is_right": "yes", "loaded": department_loaded}
    )
    assert saved.status_code == 302


# --- Constant work whatever the inventory --------------------------------------------------------

PAGES = [
    "overview",
    "department",
    "contacts",
    "services",
    "service_lines",
    "add_line",
    "timeframe",
    "review",
    "summary",
]
MAX_QUERIES = 20


@pytest.fixture
def small_and_large(campaign, catalogue):
    """A 10-line and a 20,000-line department holding the same services."""
    made = []
    for ds1, mpls, centrex in ((6, 3, 1), (12_000, 6_000, 2_000)):
        department = make_department(
            lines=[
                (catalogue.att_ds1_2, ds1),
                (catalogue.vz_mpls_2, mpls),
                (catalogue.att_centrex_2, centrex),
            ]
        )
        response = Response.objects.create(campaign=campaign, department=department)
        # A few per-line exceptions, so those queries are exercised too.
        for line in department.lines.filter(offering=catalogue.att_ds1_2)[:3]:
            Decision.objects.create(
                response=response,
                offering=catalogue.att_ds1_2,
                line=line,
                choice=Choice.DISCONNECT,
            )
        made.append(response)
    return made


def test_every_department_page_runs_the_same_queries_for_10_and_20000_lines(
    client, small_and_large, catalogue, django_assert_max_num_queries
):
    counts = {}
    for response in small_and_large:
        client.force_login(
            make_user_for(response.department.atr),
            backend="django.contrib.auth.backends.ModelBackend",
        )
        for name in PAGES:
            extra = {"offering_id": catalogue.att_ds1_2.pk} if name == "service_lines" else {}
            with django_assert_max_num_queries(MAX_QUERIES) as captured:
                page = client.get(url(response, name, **extra))
            assert page.status_code == 200, name
            counts.setdefault(name, []).append(len(captured.captured_queries))
    assert all(small == large for small, large in counts.values()), counts


def test_the_services_pages_post_stays_far_below_djangos_field_limit(
    client, small_and_large, catalogue
):
    response = small_and_large[1]
    client.force_login(
        make_user_for(response.department.atr), backend="django.contrib.auth.backends.ModelBackend"
    )
    for page in (
        client.get(url(response, "services")),
        client.get(url(response, "service_lines", offering_id=catalogue.att_ds1_2.pk)),
    ):
        fields = set(re.findall(r'name="([^"]+)"', page.content.decode()))
        assert len(fields) < 100
    saved = post_section(client, response, "services", services_data(response))
    assert saved.status_code == 302
    response.refresh_from_db()
    assert response.lines_transition == 18_000 - 3
    assert Department.objects.filter(pk=response.department_id).exists()
