"""Who answers the survey: departments and their people.

A person signs in with the work email STND holds for them (the ATR from the
import, or a Customer Conversion Manager or Coordinator named in a survey).
That email is the link between a signed-in user and the departments they may
act for: `Department.objects.for_user(user)`.
"""

from django.db import models
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords


class DepartmentKind(models.TextChoices):
    """The bulletin's three kinds of CALNET customer."""

    STATE = "state", "Non-exempt state customer"
    EXEMPT = "exempt", "Exempt State Agency"
    NON_STATE = "non_state", "Non-State Entity (local government)"


class LocalGovernmentType(models.TextChoices):
    CITY = "city", "City"
    COUNTY = "county", "County"
    SPECIAL_DISTRICT = "special_district", "Special district"
    JPA = "jpa", "Joint powers authority"
    TRIBE = "tribe", "Tribal government"
    OTHER = "other", "Other local government"


class DepartmentQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def for_user(self, user):
        """Departments the signed-in user may act for: those listing their email."""
        if not user.is_authenticated or not user.email:
            return self.none()
        return self.active().filter(people__email=normalize_email(user.email)).distinct()


class Department(models.Model):
    name = models.CharField(max_length=200)
    code = models.CharField(
        max_length=20,
        unique=True,
        help_text="STND's department or organization code, as used on CALNET invoices.",
    )
    kind = models.CharField(max_length=20, choices=DepartmentKind.choices)
    local_government_type = models.CharField(
        max_length=20,
        choices=LocalGovernmentType.choices,
        blank=True,
        help_text="Only for Non-State Entities.",
    )
    is_active = models.BooleanField(
        default=True, help_text="Inactive departments are not invited and cannot sign in."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = DepartmentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("import_data", "Can import departments, people and inventories")]
        constraints = [
            models.CheckConstraint(
                name="local_government_type_only_for_non_state",
                condition=models.Q(kind="non_state") | models.Q(local_government_type=""),
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def is_non_state(self):
        return self.kind == DepartmentKind.NON_STATE

    @property
    def atr(self):
        """The Agency Telecommunications Representative, who receives bulletins."""
        return next((p for p in self.people.all() if p.is_atr), None)


def normalize_email(email):
    """Emails are matched case-insensitively: store and compare them lower-cased."""
    return (email or "").strip().lower()


class PersonSource(models.TextChoices):
    IMPORT = "import", "Imported by STND"
    NAMED = "named", "Named in the survey"
    ADMIN = "admin", "Added by STND"


class Person(models.Model):
    """Someone who may sign in and act for a department."""

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="people")
    name = models.CharField(max_length=200)
    title = models.CharField(max_length=200, blank=True)
    email = models.EmailField(help_text="Work email; the sign-in link goes here.")
    phone = models.CharField(max_length=40, blank=True)
    is_atr = models.BooleanField(
        "ATR", default=False, help_text="Agency Telecommunications Representative."
    )
    source = models.CharField(max_length=10, choices=PersonSource.choices, default="import")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "people"
        # The ATR first, then by name.
        ordering = ["department", "-is_atr", "name"]
        constraints = [
            models.UniqueConstraint(fields=["department", "email"], name="one_person_per_email"),
            models.CheckConstraint(
                name="email_is_lower_case", condition=models.Q(email=Lower("email"))
            ),
        ]
        indexes = [models.Index(fields=["email"])]

    def __str__(self):
        return f"{self.name} <{self.email}>"

    def save(self, *args, **kwargs):
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)


class SignInRequest(models.Model):
    """One request for a sign-in link; counted to rate-limit by email and by address.

    Kept in the database (not a per-process cache) so that the limit holds
    across every app server behind the load balancer.
    """

    email = models.EmailField()
    ip_address = models.GenericIPAddressField(null=True)
    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["email", "requested_at"])]

    def __str__(self):
        return f"{self.email} at {self.requested_at:%Y-%m-%d %H:%M}"
