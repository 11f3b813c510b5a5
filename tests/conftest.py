"""Shared fixtures: a small CALNET catalogue, a campaign open now, departments.

Factories are plain functions (`make_department(...)`) exposed through fixtures
so that a test builds exactly the data it asserts on.
"""

import datetime
import itertools

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from conversion.models import (
    Campaign,
    Category,
    Contract,
    Contractor,
    InventoryLine,
    Offering,
    Response,
)
from departments.models import Department, DepartmentKind, Person

_counter = itertools.count(1)


class Catalogue:
    """CALNET 2 and CALNET 3 with two contractors, mirroring the bulletin's situation:

    - AT&T holds DS1 on both contracts (Transition possible, category 1.1 awarded);
    - AT&T's Centrex has no CALNET 3 successor (Transition unavailable);
    - Verizon's MPLS port has a successor in category 1.2, awarded;
    - Verizon's voicemail successor sits in category 2.1, not yet awarded.
    """

    def __init__(self, today):
        self.calnet2 = Contract.objects.create(name="CALNET 2")
        self.calnet3 = Contract.objects.create(name="CALNET 3")
        self.att = Contractor.objects.create(name="AT&T", short_name="ATT")
        self.verizon = Contractor.objects.create(name="Verizon", short_name="VZ")
        old = Category.objects.create(contract=self.calnet2, number="1", name="Voice and data")
        self.cat_1_1 = Category.objects.create(
            contract=self.calnet3,
            number="1.1",
            name="Dedicated Transport",
            awarded_on=today - datetime.timedelta(days=30),
        )
        self.cat_1_2 = Category.objects.create(
            contract=self.calnet3,
            number="1.2",
            name="MPLS",
            awarded_on=today - datetime.timedelta(days=30),
        )
        self.cat_2_1 = Category.objects.create(
            contract=self.calnet3, number="2.1", name="Voicemail", awarded_on=None
        )

        def offering(contract, category, contractor, code, name, successor=None):
            return Offering.objects.create(
                contract=contract,
                category=category,
                contractor=contractor,
                code=code,
                name=name,
                successor=successor,
            )

        self.att_ds1_3 = offering(self.calnet3, self.cat_1_1, self.att, "C3-DS1", "DS1")
        self.vz_ds1_3 = offering(self.calnet3, self.cat_1_1, self.verizon, "C3-DS1", "DS1")
        self.att_mpls_3 = offering(self.calnet3, self.cat_1_2, self.att, "C3-MPLS", "MPLS port")
        self.vz_mpls_3 = offering(self.calnet3, self.cat_1_2, self.verizon, "C3-MPLS", "MPLS port")
        self.vz_vm_3 = offering(self.calnet3, self.cat_2_1, self.verizon, "C3-VM", "Voicemail")

        self.att_ds1_2 = offering(self.calnet2, old, self.att, "C2-DS1", "DS1", self.att_ds1_3)
        self.att_centrex_2 = offering(self.calnet2, old, self.att, "C2-CTX", "Centrex line")
        self.vz_mpls_2 = offering(
            self.calnet2, old, self.verizon, "C2-MPLS", "MPLS port", self.vz_mpls_3
        )
        self.vz_vm_2 = offering(self.calnet2, old, self.verizon, "C2-VM", "Voicemail", self.vz_vm_3)


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def catalogue(db, today):
    return Catalogue(today)


def make_campaign(catalogue, *, now=None, **overrides):
    """A campaign with the bulletin's intervals, open at `now` and due in 7 days."""
    now = now or timezone.now()
    due = now + datetime.timedelta(days=7)
    values = {
        "name": "CALNET 2 to CALNET 3 Conversion Survey",
        "slug": f"atr-13-06-{next(_counter)}",
        "bulletin_number": "ATR 13-06",
        "bulletin_title": "CALNET 2 to CALNET 3 Conversion Survey",
        "bulletin_date": timezone.localdate(now),
        "bulletin_text": "STND requests all departments complete their survey.",
        "old_contract": catalogue.calnet2,
        "new_contract": catalogue.calnet3,
        "opens_at": now - datetime.timedelta(hours=1),
        "due_at": due,
        "closes_at": due + datetime.timedelta(days=14),
        "old_contract_ends_on": timezone.localdate(due) + datetime.timedelta(days=33),
        "stnd_phone": "(916) 657-9150",
        "stnd_email": "calnet@stnd.example.gov",
    }
    values.update(overrides)
    return Campaign.objects.create(**values)


@pytest.fixture
def campaign(catalogue):
    return make_campaign(catalogue)


def make_department(
    *, kind=DepartmentKind.STATE, name=None, code=None, atr_email=None, lines=(), **extra
):
    """A department with its ATR and inventory lines given as (offering, count)."""
    n = next(_counter)
    department = Department.objects.create(
        name=name or f"Department of Example Affairs {n}",
        code=code or f"D{n:04d}",
        kind=kind,
        **extra,
    )
    Person.objects.create(
        department=department,
        name=f"Ada Example {n}",
        title="Agency Telecommunications Representative",
        email=atr_email or f"atr{n}@dept{n}.example.gov",
        phone="(916) 555-0100",
        is_atr=True,
    )
    InventoryLine.objects.bulk_create(
        InventoryLine(
            department=department,
            offering=offering,
            identifier=f"{offering.code}-{n}-{i:06d}",
            location="1325 J Street, Sacramento",
        )
        for offering, count in lines
        for i in range(count)
    )
    return department


@pytest.fixture
def department(catalogue):
    return make_department(
        lines=[(catalogue.att_ds1_2, 3), (catalogue.att_centrex_2, 2), (catalogue.vz_mpls_2, 1)]
    )


@pytest.fixture
def response(campaign, department):
    return Response.objects.create(campaign=campaign, department=department)


def make_user_for(person):
    """The login account of a department person (usernames are emails)."""
    user, _ = get_user_model().objects.get_or_create(
        username=person.email, defaults={"email": person.email}
    )
    return user


@pytest.fixture
def atr_user(department):
    return make_user_for(department.atr)


@pytest.fixture
def atr_client(client, atr_user):
    client.force_login(atr_user, backend="django.contrib.auth.backends.ModelBackend")
    return client
