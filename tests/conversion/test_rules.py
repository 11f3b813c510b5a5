"""The bulletin's rules, on every kind × choice × availability combination.

Offerings here are plain stand-ins (no database): the rules module takes plain
values so that these tables can cover every case quickly.
"""

import datetime
from types import SimpleNamespace

import pytest

from conversion import rules
from conversion.models import Choice
from departments.models import DepartmentKind

TODAY = datetime.date(2013, 12, 20)
AWARDED = datetime.date(2013, 11, 15)

STATE, EXEMPT, NON_STATE = DepartmentKind.STATE, DepartmentKind.EXEMPT, DepartmentKind.NON_STATE
ALL_KINDS = [STATE, EXEMPT, NON_STATE]


def contractor(name, pk):
    return SimpleNamespace(name=name, pk=pk)


ATT, VERIZON = contractor("AT&T", 1), contractor("Verizon", 2)


def offering(pk, name, contractor_, *, contract_id, awarded_on=AWARDED, successor=None):
    category = SimpleNamespace(
        number="1.1" if contract_id == 3 else "1",
        awarded_on=awarded_on,
        is_awarded=lambda on: awarded_on is not None and awarded_on <= on,
    )
    return SimpleNamespace(
        pk=pk,
        name=name,
        contractor=contractor_,
        contractor_id=contractor_.pk,
        contract_id=contract_id,
        category=category,
        successor=successor,
    )


ATT_DS1_C3 = offering(10, "DS1", ATT, contract_id=3)
VZ_DS1_C3 = offering(11, "DS1", VERIZON, contract_id=3)
ATT_MPLS_C3 = offering(12, "MPLS port", ATT, contract_id=3)
ATT_VM_C3_NOT_AWARDED = offering(13, "Voicemail", ATT, contract_id=3, awarded_on=None)

# The three availability cases of Transition:
WITH_AWARD = offering(1, "DS1", ATT, contract_id=2, successor=ATT_DS1_C3)
NO_CALNET3_SERVICE = offering(2, "Centrex line", ATT, contract_id=2)
CATEGORY_NOT_YET_AWARDED = offering(
    3, "Voicemail", ATT, contract_id=2, successor=ATT_VM_C3_NOT_AWARDED
)


# --- Transition availability and the default --------------------------------------


@pytest.mark.parametrize(
    ("incumbent_service", "reason_contains"),
    [
        (WITH_AWARD, ""),
        (NO_CALNET3_SERVICE, "holds no CALNET 3 award"),
        (CATEGORY_NOT_YET_AWARDED, "not yet awarded"),
    ],
)
def test_transition_only_applies_where_the_incumbent_holds_the_service_on_calnet3(
    incumbent_service, reason_contains
):
    reason = rules.transition_unavailable_reason(incumbent_service, TODAY)
    if reason_contains:
        assert reason_contains in reason
    else:
        assert reason == ""


@pytest.mark.parametrize(
    ("kind", "incumbent_service", "expected_default"),
    [
        # "Non-exempt CALNET 2 State Customers will automatically transition"
        (STATE, WITH_AWARD, Choice.TRANSITION),
        (STATE, NO_CALNET3_SERVICE, None),
        (STATE, CATEGORY_NOT_YET_AWARDED, None),
        # "Exempt State Agencies and Non-State Entities ... may Transition ... at their option"
        (EXEMPT, WITH_AWARD, None),
        (EXEMPT, NO_CALNET3_SERVICE, None),
        (EXEMPT, CATEGORY_NOT_YET_AWARDED, None),
        (NON_STATE, WITH_AWARD, None),
        (NON_STATE, NO_CALNET3_SERVICE, None),
        (NON_STATE, CATEGORY_NOT_YET_AWARDED, None),
    ],
)
def test_non_exempt_state_customers_transition_automatically_others_only_by_choice(
    kind, incumbent_service, expected_default
):
    assert rules.default_choice(kind, incumbent_service, TODAY) == expected_default


# --- What each choice entails, for every kind -----------------------------------------

ENTAILMENTS = [
    # kind, choice, Form 20, ATO, disconnect notice
    (STATE, Choice.TRANSITION, False, False, False),
    (STATE, Choice.MIGRATE_CONTRACTOR, True, False, True),
    (STATE, Choice.MIGRATE_SERVICE, True, False, True),
    (STATE, Choice.DISCONNECT, False, False, True),
    (EXEMPT, Choice.TRANSITION, False, False, False),
    (EXEMPT, Choice.MIGRATE_CONTRACTOR, True, False, True),
    (EXEMPT, Choice.MIGRATE_SERVICE, True, False, True),
    (EXEMPT, Choice.DISCONNECT, False, False, True),
    # "Non-State Entities ... are required to submit a new Authorization to Order (ATO)
    #  for each service (s) per Contractor": transitions included.
    (NON_STATE, Choice.TRANSITION, False, True, False),
    (NON_STATE, Choice.MIGRATE_CONTRACTOR, True, True, True),
    (NON_STATE, Choice.MIGRATE_SERVICE, True, True, True),
    (NON_STATE, Choice.DISCONNECT, False, False, True),
]


@pytest.mark.parametrize(("kind", "choice", "form_20", "ato", "notice"), ENTAILMENTS)
def test_migration_needs_form_20_non_state_entity_needs_ato_and_disconnects_need_notice(
    kind, choice, form_20, ato, notice
):
    assert rules.needs_form_20(choice) is form_20
    assert rules.needs_ato(kind, choice) is ato
    assert rules.needs_disconnect_notice(choice) is notice


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize(
    "incumbent_service", [WITH_AWARD, NO_CALNET3_SERVICE, CATEGORY_NOT_YET_AWARDED]
)
def test_every_option_shows_availability_and_what_it_entails(kind, incumbent_service):
    options = {o.choice: o for o in rules.options_for(kind, incumbent_service, TODAY)}
    assert list(options) == list(Choice)
    transition = options[Choice.TRANSITION]
    assert transition.available is (incumbent_service is WITH_AWARD)
    if not transition.available:
        assert transition.entails[0].startswith("Unavailable:")
    assert transition.is_default is (kind == STATE and incumbent_service is WITH_AWARD)
    if transition.is_default:
        assert any("Automatic" in note for note in transition.entails)
    for choice, option in options.items():
        assert option.needs_form_20 is rules.needs_form_20(choice)
        assert option.needs_ato is rules.needs_ato(kind, choice)
        if option.available and option.needs_form_20:
            assert any("Form 20" in note for note in option.entails)
        if option.available and option.needs_ato:
            assert any("ATO" in note for note in option.entails)
    assert options[Choice.DISCONNECT].available


def test_migration_options_unavailable_when_nothing_is_awarded_to_migrate_to():
    options = {
        o.choice: o
        for o in rules.options_for(
            STATE, WITH_AWARD, TODAY, has_other_contractors=False, has_other_services=False
        )
    }
    assert not options[Choice.MIGRATE_CONTRACTOR].available
    assert not options[Choice.MIGRATE_SERVICE].available
    assert "No other contractor" in options[Choice.MIGRATE_CONTRACTOR].unavailable_reason


# --- Migration targets ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "target", "error_contains"),
    [
        (Choice.MIGRATE_CONTRACTOR, VZ_DS1_C3, ""),
        (Choice.MIGRATE_CONTRACTOR, ATT_DS1_C3, "other than the incumbent"),
        (Choice.MIGRATE_CONTRACTOR, None, "Choose the CALNET 3 service"),
        (Choice.MIGRATE_CONTRACTOR, NO_CALNET3_SERVICE, "new contract"),
        (Choice.MIGRATE_SERVICE, ATT_MPLS_C3, ""),
        (Choice.MIGRATE_SERVICE, VZ_DS1_C3, "stays with the incumbent"),
        (Choice.MIGRATE_SERVICE, ATT_DS1_C3, "choose Transition instead"),
        (Choice.MIGRATE_SERVICE, ATT_VM_C3_NOT_AWARDED, "not yet awarded"),
    ],
)
def test_migration_is_to_a_different_contractor_or_a_different_service_of_the_incumbent(
    choice, target, error_contains
):
    error = rules.choice_error(STATE, WITH_AWARD, choice, target, TODAY)
    if error_contains:
        assert error_contains in error
    else:
        assert error == ""


def test_transition_where_unavailable_is_refused_with_the_reason():
    error = rules.choice_error(EXEMPT, NO_CALNET3_SERVICE, Choice.TRANSITION, None, TODAY)
    assert "holds no CALNET 3 award" in error


def test_disconnect_is_always_allowed():
    for kind in ALL_KINDS:
        for service in (WITH_AWARD, NO_CALNET3_SERVICE, CATEGORY_NOT_YET_AWARDED):
            assert rules.choice_error(kind, service, Choice.DISCONNECT, None, TODAY) == ""


# --- The checklist --------------------------------------------------------------------


def test_checklist_of_a_non_state_entity_lists_atos_per_contractor_form_20s_and_notices():
    checklist = rules.Checklist()
    checklist.add(NON_STATE, WITH_AWARD, Choice.TRANSITION, None, 5)
    checklist.add(NON_STATE, WITH_AWARD, Choice.MIGRATE_CONTRACTOR, VZ_DS1_C3, 2)
    checklist.add(NON_STATE, NO_CALNET3_SERVICE, Choice.DISCONNECT, None, 3)
    checklist.add(NON_STATE, CATEGORY_NOT_YET_AWARDED, None, None, 4)
    data = checklist.as_dict()
    assert data["atos"] == [
        {"contractor": "AT&T", "service": "DS1", "lines": 5},
        {"contractor": "Verizon", "service": "DS1", "lines": 2},
    ]
    assert data["form_20s"] == [{"contractor": "Verizon", "service": "DS1", "lines": 2}]
    assert data["disconnect_notices"] == [
        {"contractor": "AT&T", "service": "Centrex line", "lines": 3},
        {"contractor": "AT&T", "service": "DS1", "lines": 2},
    ]
    assert data["undecided_lines"] == 4
    assert checklist.ato_count == 2 and checklist.form_20_count == 1


def test_checklist_of_a_state_customer_needs_no_ato():
    checklist = rules.Checklist()
    checklist.add(STATE, WITH_AWARD, Choice.TRANSITION, None, 5)
    checklist.add(STATE, WITH_AWARD, Choice.MIGRATE_SERVICE, ATT_MPLS_C3, 1)
    assert checklist.ato_count == 0
    assert checklist.form_20_count == 1
    assert checklist.lines_by_choice == {Choice.TRANSITION: 5, Choice.MIGRATE_SERVICE: 1}
