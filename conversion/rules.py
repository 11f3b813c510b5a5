"""The conversion rules of ATR 13-06, in one place.

Each rule below quotes the bulletin it encodes, so that someone who knows
CALNET can check it line by line. Nothing else in the code decides which
choices a department has, which is its default, or what a choice entails:
forms, pages, emails, exports and the admin all ask this module.

The functions take plain values (a department kind, a choice, an offering and
the date) so they can be tested on every combination without a database.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from conversion.models import Choice
from departments.models import DepartmentKind

MIGRATIONS = (Choice.MIGRATE_CONTRACTOR, Choice.MIGRATE_SERVICE)


# --- Transition ----------------------------------------------------------------
# "Transition only applies to CALNET 2 incumbent Contractor services. It is defined
#  as moving a customer's existing CALNET 2 service(s) to the same service(s) and
#  provider on CALNET 3."


def transition_target(offering):
    """The same service from the same (incumbent) contractor on the new contract, or None."""
    return offering.successor


def transition_unavailable_reason(offering, on):
    """Why Transition is impossible for this CALNET 2 offering on this date, or ''.

    Transition needs the incumbent to hold the same service on the new contract,
    in a category that has been awarded (categories are awarded over time)."""
    successor = transition_target(offering)
    if successor is None:
        return f"{offering.contractor.name} holds no CALNET 3 award for this service."
    if not successor.category.is_awarded(on):
        return f"CALNET 3 category {successor.category.number} is not yet awarded."
    return ""


# "Non-exempt CALNET 2 State Customers will automatically transition unless the
#  incumbent Contractor receives notification to disconnect from the Customer prior
#  to Transition." ... "Exempt State Agencies and Non-State Entities (local
#  government) customers may Transition to CALNET 3 at their option."


def transitions_automatically(kind):
    return kind == DepartmentKind.STATE


def default_choice(kind, offering, on):
    """The choice that applies when the department says nothing: Transition for a
    non-exempt state customer where Transition is possible, otherwise none."""
    if transitions_automatically(kind) and not transition_unavailable_reason(offering, on):
        return Choice.TRANSITION
    return None


# --- Migration -------------------------------------------------------------------
# "Migration applies to customers who request replacement of a service from a
#  different Contractor, or request a different service from their incumbent
#  CALNET 2 Contractor. Migration will be considered an order for 'new service' and
#  will require Customers to follow the CALNET 3 User Instructions and complete a
#  Form 20."


def migration_target_error(choice, offering, target, on):
    """Why `target` cannot receive a migration of `offering`, or ''."""
    if target is None:
        return "Choose the CALNET 3 service to migrate to."
    if target.contract_id == offering.contract_id:
        return "Choose a service on the new contract."
    if not target.category.is_awarded(on):
        return f"CALNET 3 category {target.category.number} is not yet awarded."
    incumbent = offering.contractor_id
    if choice == Choice.MIGRATE_CONTRACTOR and target.contractor_id == incumbent:
        return "Migrating to another contractor needs a contractor other than the incumbent."
    if choice == Choice.MIGRATE_SERVICE:
        if target.contractor_id != incumbent:
            return "Migrating to another service stays with the incumbent contractor."
        if target.pk == getattr(offering.successor, "pk", None):
            return "That is the same service: choose Transition instead."
    return ""


def needs_form_20(choice):
    """A migration is a new service order: it needs a Form 20 (STD.20). Transition does
    not ("Transition does not require the Customer to complete a Form 20")."""
    return choice in MIGRATIONS


# --- Authorization to Order ----------------------------------------------------------
# "Non-State Entities that would like to order services from the CALNET 3 are
#  required to submit a new Authorization to Order (ATO) for each service (s) per
#  Contractor prior to the submission of an order request."


def needs_ato(kind, choice):
    """A Non-State Entity needs an ATO for every CALNET 3 service it will hold, with
    that service's contractor: transitions included, disconnects excluded."""
    return kind == DepartmentKind.NON_STATE and choice != Choice.DISCONNECT


# --- Disconnect notices -------------------------------------------------------------


def needs_disconnect_notice(choice):
    """The incumbent must be told to disconnect the CALNET 2 service whenever it does
    not transition: when it is disconnected, and when a migration replaces it. For a
    non-exempt state customer the notice must reach the incumbent before Transition,
    or the service transitions automatically."""
    return choice != Choice.TRANSITION


# --- What each choice entails, for the survey page -------------------------------------


@dataclass(frozen=True)
class Option:
    choice: Choice
    available: bool
    unavailable_reason: str = ""
    is_default: bool = False
    needs_form_20: bool = False
    needs_ato: bool = False
    needs_disconnect_notice: bool = False

    @property
    def label(self):
        return self.choice.label

    @property
    def entails(self):
        """Plain-language notes shown next to the option."""
        notes = []
        if not self.available:
            return [f"Unavailable: {self.unavailable_reason}"]
        if self.is_default:
            notes.append("Automatic for your department unless you choose otherwise.")
        if self.choice == Choice.TRANSITION:
            notes.append("No Form 20; usually a billing change only (“Admin Change”).")
        if self.needs_form_20:
            notes.append("New service order: Form 20 (STD.20) needed.")
        if self.needs_ato:
            notes.append("Authorization to Order (ATO) needed for this service and contractor.")
        if self.needs_disconnect_notice:
            notes.append("Disconnect notice to the incumbent contractor needed.")
        return notes


def options_for(kind, offering, on, *, has_other_contractors=True, has_other_services=True):
    """The four choices for one CALNET 2 offering, each with availability and what it entails.

    `has_other_contractors` / `has_other_services` tell whether any awarded CALNET 3
    offering exists to migrate to (the caller knows the catalogue)."""
    reason = transition_unavailable_reason(offering, on)
    default = default_choice(kind, offering, on)
    availability = {
        Choice.TRANSITION: reason,
        Choice.MIGRATE_CONTRACTOR: ""
        if has_other_contractors
        else "No other contractor holds an awarded CALNET 3 service yet.",
        Choice.MIGRATE_SERVICE: ""
        if has_other_services
        else f"{offering.contractor.name} has no other awarded CALNET 3 service yet.",
        Choice.DISCONNECT: "",
    }
    return [
        Option(
            choice=choice,
            available=not availability[choice],
            unavailable_reason=availability[choice],
            is_default=choice == default,
            needs_form_20=needs_form_20(choice),
            needs_ato=needs_ato(kind, choice),
            needs_disconnect_notice=needs_disconnect_notice(choice),
        )
        for choice in Choice
    ]


def choice_error(kind, offering, choice, target, on):
    """Validate one decision against the rules; '' when it is allowed."""
    if choice == Choice.TRANSITION:
        return transition_unavailable_reason(offering, on)
    if choice in MIGRATIONS:
        return migration_target_error(choice, offering, target, on)
    return ""


# --- The department's checklist ----------------------------------------------------------


@dataclass
class Checklist:
    """What a department must do after the survey, computed from its decisions."""

    # (contractor name, CALNET 3 service name) -> number of lines
    form_20s: dict = field(default_factory=lambda: defaultdict(int))
    # contractor name -> {service name: number of lines}
    atos: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    # incumbent contractor name -> {CALNET 2 service name: number of lines}
    disconnect_notices: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    lines_by_choice: dict = field(default_factory=lambda: defaultdict(int))
    undecided_lines: int = 0

    def add(self, kind, offering, choice, target, lines):
        """Account for `lines` inventory lines of `offering` converting by `choice`."""
        if choice is None:
            self.undecided_lines += lines
            return
        self.lines_by_choice[choice] += lines
        if needs_form_20(choice):
            self.form_20s[(target.contractor.name, target.name)] += lines
        if needs_ato(kind, choice):
            new_service = target if choice in MIGRATIONS else transition_target(offering)
            self.atos[new_service.contractor.name][new_service.name] += lines
        if needs_disconnect_notice(choice):
            self.disconnect_notices[offering.contractor.name][offering.name] += lines

    @property
    def form_20_count(self):
        return len(self.form_20s)

    @property
    def ato_count(self):
        return sum(len(services) for services in self.atos.values())

    @property
    def disconnect_notice_count(self):
        return len(self.disconnect_notices)

    def as_dict(self):
        """Plain data, for a submitted revision's snapshot and for exports."""
        return {
            "form_20s": [
                {"contractor": c, "service": s, "lines": n}
                for (c, s), n in sorted(self.form_20s.items())
            ],
            "atos": [
                {"contractor": c, "service": s, "lines": n}
                for c, services in sorted(self.atos.items())
                for s, n in sorted(services.items())
            ],
            "disconnect_notices": [
                {"contractor": c, "service": s, "lines": n}
                for c, services in sorted(self.disconnect_notices.items())
                for s, n in sorted(services.items())
            ],
            "lines_by_choice": {str(k): v for k, v in sorted(self.lines_by_choice.items())},
            "undecided_lines": self.undecided_lines,
        }
