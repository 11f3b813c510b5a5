"""What is converted: contracts, categories, contractors, offerings, inventories,
campaigns, responses, decisions, and the email log.

The bulletin's conversion rules are not here: they live in `conversion/rules.py`,
which these models call. Every date, category, contractor and text is data, so
the next conversion (CALNET 3 to CALNET NextGen) runs on the same code.
"""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Count, Q, Sum
from django.utils import timezone
from simple_history.models import HistoricalRecords

from departments.models import Department, Person

# ---------------------------------------------------------------------------
# The contracts and what they offer
# ---------------------------------------------------------------------------


class Contract(models.Model):
    """A statewide telecom contract, for example CALNET 2 or CALNET 3."""

    name = models.CharField(max_length=60, unique=True)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Contractor(models.Model):
    name = models.CharField(max_length=100, unique=True)
    short_name = models.CharField(max_length=30, unique=True, help_text="Used in exports.")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Category(models.Model):
    """A category of a contract. CALNET 3 categories are awarded over time."""

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="categories")
    number = models.CharField(max_length=10, help_text="For example 1.1")
    name = models.CharField(max_length=200)
    awarded_on = models.DateField(
        null=True, blank=True, help_text="Empty while the category is not yet awarded."
    )

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["contract", "number"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "number"], name="unique_category_number")
        ]

    def __str__(self):
        return f"{self.contract} {self.number} {self.name}"

    def is_awarded(self, on):
        return self.awarded_on is not None and self.awarded_on <= on


class OfferingQuerySet(models.QuerySet):
    def awarded(self, on):
        return self.filter(category__awarded_on__isnull=False, category__awarded_on__lte=on)


class Offering(models.Model):
    """A service one contractor offers on one contract (a line of its price list)."""

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="offerings")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="offerings")
    contractor = models.ForeignKey(Contractor, on_delete=models.PROTECT, related_name="offerings")
    code = models.CharField(max_length=40, help_text="The contractor's product code.")
    name = models.CharField(max_length=200)
    successor = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="predecessors",
        help_text=(
            "The same service from the same contractor on the next contract: what a "
            "Transition converts this offering to. Empty when the contractor holds no "
            "such service on the next contract."
        ),
    )

    objects = OfferingQuerySet.as_manager()

    class Meta:
        ordering = ["contract", "category__number", "contractor__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "contractor", "code"], name="unique_offering_code"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.contractor.short_name}, {self.contract})"

    def clean(self):
        if self.category_id and self.contract_id and self.category.contract_id != self.contract_id:
            raise ValidationError({"category": "The category belongs to another contract."})
        if self.successor_id:
            if self.successor.contractor_id != self.contractor_id:
                raise ValidationError(
                    {"successor": "A Transition keeps the contractor: pick its own offering."}
                )
            if self.successor.contract_id == self.contract_id:
                raise ValidationError({"successor": "The successor must be on another contract."})


class InventoryLineQuerySet(models.QuerySet):
    def groups(self):
        """Lines grouped by offering (one service from one incumbent), with counts:
        one aggregate query whatever the inventory size."""
        return (
            self.values("offering")
            .annotate(lines=Count("id"), quantity=Sum("quantity"))
            .order_by("offering")
        )


# The most of one service a single inventory line may hold (a form's and an import's
# limit; PostgreSQL's integer column would refuse more than 2,147,483,647 outright).
MAX_LINE_QUANTITY = 100_000


class InventoryLine(models.Model):
    """One CALNET 2 service a department holds today (from STND's inventory import)."""

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="lines")
    offering = models.ForeignKey(Offering, on_delete=models.PROTECT, related_name="lines")
    quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    identifier = models.CharField(
        "account or circuit id", max_length=60, help_text="Account, telephone or circuit number."
    )
    location = models.CharField(max_length=200, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Set when department staff added a service missing from the inventory.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InventoryLineQuerySet.as_manager()

    class Meta:
        ordering = ["department", "offering", "identifier"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "offering", "identifier"], name="unique_inventory_line"
            )
        ]

    def __str__(self):
        return f"{self.identifier}: {self.offering.name}"

    @property
    def incumbent(self):
        """The CALNET 2 contractor that provides this line today."""
        return self.offering.contractor


# ---------------------------------------------------------------------------
# Campaigns
# ---------------------------------------------------------------------------


def validate_reminder_days(value):
    try:
        days = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise ValidationError(
            "Give whole numbers of days separated by commas, for example 7,3,1.", code="invalid"
        ) from None
    if any(day < 1 or day > 60 for day in days):
        raise ValidationError("Each reminder must be 1 to 60 days before the due date.")


class CampaignQuerySet(models.QuerySet):
    def open_at(self, now):
        """Campaigns whose survey accepts answers at `now` (late ones included)."""
        return self.filter(opens_at__lte=now, closes_at__gt=now)

    def running(self, now):
        """Campaigns that still need email: opened and not past the hard close."""
        return self.open_at(now)


class Campaign(models.Model):
    """One survey round, for example ATR 13-06 (CALNET 2 to CALNET 3)."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True, help_text="Appears in the survey's addresses.")
    bulletin_number = models.CharField(max_length=30, help_text="For example ATR 13-06")
    bulletin_title = models.CharField(max_length=200)
    bulletin_date = models.DateField()
    bulletin_text = models.TextField()
    old_contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="+")
    new_contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="+")
    opens_at = models.DateTimeField(help_text="Invitations go out from this moment.")
    due_at = models.DateTimeField(help_text="Submissions after this are accepted but late.")
    closes_at = models.DateTimeField(
        "hard close", help_text="After this the survey is read-only unless STND reopens it."
    )
    old_contract_ends_on = models.DateField(help_text="The last day of the old contract.")
    stnd_phone = models.CharField("STND phone", max_length=40, default="(916) 657-9150")
    stnd_email = models.EmailField("STND email")
    reminder_days = models.CharField(
        max_length=40,
        default="7,3,1",
        validators=[validate_reminder_days],
        help_text="Reminders go out this many days before the due date, to non-responders only.",
    )
    overdue_every_days = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text="After the due date, an overdue notice (copied to the Manager) this often.",
    )
    digest_hour = models.PositiveSmallIntegerField(
        default=8,
        validators=[MaxValueValidator(23)],
        help_text="Local hour after which the daily non-responder digest goes to STND analysts.",
    )
    history = HistoricalRecords()

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-opens_at"]
        constraints = [
            models.CheckConstraint(
                name="campaign_opens_before_due", condition=Q(opens_at__lt=models.F("due_at"))
            ),
            models.CheckConstraint(
                name="campaign_due_before_close", condition=Q(due_at__lte=models.F("closes_at"))
            ),
        ]

    def __str__(self):
        return f"{self.bulletin_number}: {self.name}"

    def clean(self):
        if self.opens_at and self.due_at and self.opens_at >= self.due_at:
            raise ValidationError({"due_at": "The due date must come after the opening."})
        if self.due_at and self.closes_at and self.closes_at < self.due_at:
            raise ValidationError({"closes_at": "The hard close cannot come before the due date."})
        if self.old_contract_id and self.old_contract_id == self.new_contract_id:
            raise ValidationError({"new_contract": "Choose a different contract to convert to."})

    @property
    def reminder_days_list(self):
        """Days before the due date on which reminders go out, largest first."""
        return sorted({int(p) for p in self.reminder_days.split(",") if p.strip()}, reverse=True)

    def is_open(self, now=None):
        now = now or timezone.now()
        return self.opens_at <= now < self.closes_at

    def is_past_due(self, now=None):
        return (now or timezone.now()) >= self.due_at

    def is_closed(self, now=None):
        return (now or timezone.now()) >= self.closes_at

    def days_left(self, now=None):
        """Whole days until the due date (0 on the due day, negative after it)."""
        now = now or timezone.now()
        due = timezone.localdate(self.due_at)
        return (due - timezone.localdate(now)).days

    def months(self):
        """First days of the months a preferred conversion window may cover:
        from the opening month to six months after the old contract ends."""
        start = timezone.localdate(self.opens_at).replace(day=1)
        last = self.old_contract_ends_on.replace(day=1)
        for _ in range(6):
            last = (last + datetime.timedelta(days=32)).replace(day=1)
        months = []
        month = start
        while month <= last:
            months.append(month)
            month = (month + datetime.timedelta(days=32)).replace(day=1)
        return months


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------


class ResponseStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    IN_PROGRESS = "in_progress", "In progress"
    AWAITING_MANAGER = "awaiting_manager", "Awaiting Manager"
    SUBMITTED = "submitted", "Submitted"
    RETURNED = "returned", "Returned for changes"
    ACCEPTED = "accepted", "Accepted"


class MigrationPlans(models.TextChoices):
    YES = "yes", "Yes, we plan to migrate some services"
    NO = "no", "No, we plan to transition or disconnect only"
    UNDECIDED = "undecided", "Not decided yet"


class ResponseQuerySet(models.QuerySet):
    def not_submitted(self):
        """Responses STND is still waiting for: never submitted, or sent back."""
        return self.filter(
            Q(submitted_at__isnull=True, status__in=WAITING_STATUSES)
            | Q(status=ResponseStatus.RETURNED)
        )


WAITING_STATUSES = [
    ResponseStatus.NOT_STARTED,
    ResponseStatus.IN_PROGRESS,
    ResponseStatus.AWAITING_MANAGER,
]


class Response(models.Model):
    """A department's answers to one campaign: one per department per campaign.

    `version` grows by one at every save of any section, submission or status
    change; each section also keeps its own version (SectionProgress) so that two
    people editing different sections do not block each other.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="responses")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="responses")
    status = models.CharField(
        max_length=20, choices=ResponseStatus.choices, default=ResponseStatus.NOT_STARTED
    )
    version = models.PositiveIntegerField(default=0)

    # Department section: the name and kind confirmed, or a wrong kind flagged.
    department_confirmed = models.BooleanField(default=False)
    kind_flag_note = models.TextField(
        blank=True, help_text="Filled when the department says STND has its kind wrong."
    )

    # Conversion contacts: one Person may hold both roles.
    manager = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="Customer Conversion Manager",
    )
    coordinator = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="Customer Conversion Coordinator",
    )

    # Timeframe: a preferred window of whole months.
    window_start = models.DateField(null=True, blank=True, help_text="First day of the month.")
    window_end = models.DateField(null=True, blank=True, help_text="First day of the month.")
    blackout_periods = models.TextField("constraints or blackout periods", blank=True)
    migration_plans = models.CharField(max_length=10, choices=MigrationPlans.choices, blank=True)
    comments = models.TextField(blank=True)

    # Workflow.
    authorization_requested_at = models.DateTimeField(null=True, blank=True)
    authorization_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the Manager last authorized and submitted."
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_late = models.BooleanField("late", default=False)
    returned_note = models.TextField(blank=True, help_text="STND's note when returned for changes.")
    returned_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reopened_until = models.DateTimeField(
        null=True, blank=True, help_text="Set by STND to allow changes after the hard close."
    )
    # Line counts by effective decision, refreshed whenever decisions change
    # (Response.refresh_counts), so the admin list and dashboard need no aggregation
    # over millions of lines.
    lines_transition = models.PositiveIntegerField(default=0)
    lines_migration = models.PositiveIntegerField(default=0)
    lines_disconnect = models.PositiveIntegerField(default=0)
    lines_undecided = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["version"])

    objects = ResponseQuerySet.as_manager()

    class Meta:
        ordering = ["department__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "department"], name="one_response_per_department"
            ),
            models.CheckConstraint(
                name="window_in_order",
                condition=Q(window_start__isnull=True)
                | Q(window_end__isnull=True)
                | Q(window_start__lte=models.F("window_end")),
            ),
        ]
        indexes = [models.Index(fields=["campaign", "status"])]
        permissions = [
            ("review_response", "Can accept, return for changes and reopen responses"),
            ("send_reminder", "Can send a reminder now"),
            ("export_responses", "Can export responses and inventories"),
        ]

    def __str__(self):
        return f"{self.department} – {self.campaign.bulletin_number}"

    @property
    def has_one_contact(self):
        return self.manager_id is not None and self.manager_id == self.coordinator_id

    def is_editable(self, now=None):
        """Whether the campaign's dates let answers change: until the hard close, or while
        STND reopened it; never once STND accepted them. The survey's further limits
        (amend only until the due date, frozen while awaiting the Manager) are in
        `workflow.editing_closed_reason`."""
        now = now or timezone.now()
        if self.status in (ResponseStatus.ACCEPTED,):
            return False
        if self.reopened_until and now < self.reopened_until:
            return True
        return self.campaign.is_open(now)

    def would_be_late(self, now=None):
        return self.campaign.is_past_due(now)

    def service_groups(self, on=None):
        """The department's inventory groups with each group's decision and exceptions.

        Returns a list of ServiceGroup, one per CALNET 2 offering the department
        holds, in a constant number of queries whatever the inventory size."""
        from conversion import rules

        on = on or timezone.localdate()
        kind = self.department.kind
        counts = {
            g["offering"]: (g["lines"], g["quantity"])
            for g in InventoryLine.objects.filter(department_id=self.department_id).groups()
        }
        offerings = Offering.objects.filter(pk__in=counts).select_related(
            "contractor", "category", "successor__category", "successor__contractor"
        )
        group_decisions = {}
        exceptions = {}
        for decision in self.decisions.select_related(
            "target__contractor", "target__category"
        ).filter(offering_id__in=counts):
            if decision.line_id is None:
                group_decisions[decision.offering_id] = decision
            else:
                exceptions.setdefault(decision.offering_id, []).append(decision)
        groups = []
        for offering in offerings:
            lines, quantity = counts[offering.pk]
            decision = group_decisions.get(offering.pk)
            groups.append(
                ServiceGroup(
                    offering=offering,
                    lines=lines,
                    quantity=quantity,
                    decision=decision,
                    default_choice=rules.default_choice(kind, offering, on),
                    exceptions=exceptions.get(offering.pk, []),
                )
            )
        groups.sort(
            key=lambda g: (g.offering.category.number, g.offering.contractor.name, g.offering.name)
        )
        return groups

    def checklist(self, groups=None, on=None):
        """The department's checklist (Form 20s, ATOs, disconnect notices) under the rules."""
        from conversion import rules

        checklist = rules.Checklist()
        kind = self.department.kind
        for group in groups if groups is not None else self.service_groups(on):
            exception_count = len(group.exceptions)
            checklist.add(
                kind, group.offering, group.choice, group.target, group.lines - exception_count
            )
            for exception in group.exceptions:
                checklist.add(kind, group.offering, exception.choice, exception.target, 1)
        return checklist

    def refresh_counts(self, checklist):
        """Store line counts by effective decision (see the fields' comment)."""
        by_choice = checklist.lines_by_choice
        self.lines_transition = by_choice.get(Choice.TRANSITION, 0)
        self.lines_migration = sum(by_choice.get(c, 0) for c in MIGRATIONS)
        self.lines_disconnect = by_choice.get(Choice.DISCONNECT, 0)
        self.lines_undecided = checklist.undecided_lines


class Section(models.TextChoices):
    DEPARTMENT = "department", "Department"
    CONTACTS = "contacts", "Conversion contacts"
    SERVICES = "services", "Services"
    TIMEFRAME = "timeframe", "Timeframe"


class SectionProgress(models.Model):
    """Draft state of one section of a response: its version, completeness, last editor."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="sections")
    section = models.CharField(max_length=20, choices=Section.choices)
    version = models.PositiveIntegerField(default=0)
    is_complete = models.BooleanField(default=False)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    saved_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = "section progress"
        verbose_name_plural = "section progress"
        ordering = ["response", "section"]
        constraints = [
            models.UniqueConstraint(fields=["response", "section"], name="one_progress_per_section")
        ]

    def __str__(self):
        return f"{self.response} – {self.get_section_display()} v{self.version}"


class Choice(models.TextChoices):
    """What a department decides for a CALNET 2 service (the bulletin's words)."""

    TRANSITION = "transition", "Transition"
    MIGRATE_CONTRACTOR = "migrate_contractor", "Migrate to another contractor"
    MIGRATE_SERVICE = "migrate_service", "Migrate to another service"
    DISCONNECT = "disconnect", "Disconnect"


MIGRATIONS = [Choice.MIGRATE_CONTRACTOR, Choice.MIGRATE_SERVICE]


class Decision(models.Model):
    """How a group of inventory lines (one CALNET 2 offering) converts, or, when `line`
    is set, a per-line exception to its group's decision."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="decisions")
    offering = models.ForeignKey(
        Offering,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The CALNET 2 offering: the group (service and incumbent contractor).",
    )
    line = models.ForeignKey(
        InventoryLine,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="decisions",
        help_text="Empty for the group's decision; set for a per-line exception.",
    )
    choice = models.CharField(max_length=20, choices=Choice.choices)
    target = models.ForeignKey(
        Offering,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The CALNET 3 offering a migration moves to.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["response", "offering", "line"]
        constraints = [
            models.UniqueConstraint(
                fields=["response", "offering"],
                condition=Q(line__isnull=True),
                name="one_decision_per_group",
            ),
            models.UniqueConstraint(
                fields=["response", "line"],
                condition=Q(line__isnull=False),
                name="one_exception_per_line",
            ),
            # A migration names where it goes; a transition or disconnect does not.
            models.CheckConstraint(
                name="migration_has_target",
                condition=(
                    Q(choice__in=MIGRATIONS, target__isnull=False)
                    | Q(choice__in=[Choice.TRANSITION, Choice.DISCONNECT], target__isnull=True)
                ),
            ),
        ]

    def __str__(self):
        return f"{self.offering.name}: {self.get_choice_display()}"

    @property
    def is_migration(self):
        return self.choice in MIGRATIONS

    @property
    def needs_form_20(self):
        from conversion import rules

        return rules.needs_form_20(self.choice)


class ServiceGroup:
    """One CALNET 2 offering a department holds: its lines, decision and exceptions."""

    def __init__(self, *, offering, lines, quantity, decision, default_choice, exceptions):
        self.offering = offering
        self.lines = lines
        self.quantity = quantity
        self.decision = decision
        self.default_choice = default_choice
        self.exceptions = exceptions

    @property
    def choice(self):
        """The group's effective choice: what the department chose, else the default."""
        return self.decision.choice if self.decision else self.default_choice

    @property
    def target(self):
        return self.decision.target if self.decision else None

    @property
    def is_decided(self):
        return self.choice is not None

    @property
    def incumbent(self):
        return self.offering.contractor


class Revision(models.Model):
    """A copy of the answers as submitted: each submission and amendment is kept."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    submitted_at = models.DateTimeField()
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    is_late = models.BooleanField(default=False)
    answers = models.JSONField(help_text="The answers and checklist as submitted.")

    class Meta:
        ordering = ["response", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["response", "number"], name="unique_revision_number")
        ]

    def __str__(self):
        return f"{self.response} revision {self.number}"


class InternalNote(models.Model):
    """An STND analyst's note on a response; never shown to the department."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Note by {self.author} on {self.created_at:%Y-%m-%d}"


class ImportKind(models.TextChoices):
    DEPARTMENTS = "departments", "Departments and people"
    INVENTORY = "inventory", "Inventory lines"


class CsvImport(models.Model):
    """A CSV file uploaded in the admin, kept between its preview and its confirmation
    (in the database, so any app server can finish what another started)."""

    kind = models.CharField(max_length=20, choices=ImportKind.choices)
    filename = models.CharField(max_length=200)
    content = models.TextField(help_text="The file as uploaded, decoded from UTF-8.")
    row_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[line number, reason] pairs.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    summary = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = "CSV import"
        ordering = ["-uploaded_at"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.filename}"


# ---------------------------------------------------------------------------
# Outbound email log
# ---------------------------------------------------------------------------


class EmailKind(models.TextChoices):
    INVITATION = "invitation", "Invitation"
    SIGN_IN = "sign_in", "Sign-in link"
    REMINDER = "reminder", "Reminder"
    OVERDUE = "overdue", "Overdue notice"
    AUTHORIZATION_REQUEST = "authorization_request", "Authorization request to the Manager"
    RECEIPT = "receipt", "Receipt"
    RETURNED = "returned", "Returned for changes"
    DIGEST = "digest", "Non-responder digest"


class EmailStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


# What counts as chasing a department: the "last reminded" and "reminders sent" figures.
REMINDER_KINDS = [EmailKind.REMINDER, EmailKind.OVERDUE]


class OutboundEmailQuerySet(models.QuerySet):
    def reminders_sent(self):
        """Reminders and overdue notices that went out."""
        return self.filter(kind__in=REMINDER_KINDS, sent_at__isnull=False)

    def reminder_figures(self, departments):
        """{(campaign id, department id): (how many reminders and overdue notices were
        sent, when the last went)} for the given departments, in one query. Pages
        ask it for the rows they show, never for every department."""
        rows = (
            self.reminders_sent()
            .filter(department__in=departments)
            .values_list("campaign", "department")
            .annotate(n=models.Count("pk"), last=models.Max("sent_at"))
            .order_by()
        )
        return {(campaign, department): (n, last) for campaign, department, n, last in rows}

    def due(self, now):
        """Messages a sender may claim now: pending and past their retry time, or
        'sending' whose claim lapsed (the sender died mid-send)."""
        return self.filter(
            Q(status=EmailStatus.PENDING, next_attempt_at__lte=now)
            | Q(status=EmailStatus.SENDING, claimed_until__lt=now)
        )


class OutboundEmail(models.Model):
    """Every message the system sends, from the moment it is decided until delivered.

    `key` is unique: it names the occasion (for example the 3-day reminder of one
    campaign to one person of one department), so deciding to send the same
    thing twice creates nothing; senders claim a row with a conditional update
    before sending, so two concurrent senders never both send it.
    """

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=30, choices=EmailKind.choices)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, null=True, blank=True, related_name="emails"
    )
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, null=True, blank=True, related_name="emails"
    )
    recipient = models.EmailField()
    cc = models.CharField(max_length=500, blank=True, help_text="Comma-separated copies.")
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=10, choices=EmailStatus.choices, default=EmailStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = OutboundEmailQuerySet.as_manager()

    class Meta:
        verbose_name = "email"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["campaign", "department", "kind"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.recipient}"
