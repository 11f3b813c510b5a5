"""Shared helpers for the reliability tests: two departments side by side, a client
per role, a fingerprint of the database, and the answers that complete a survey.

Department A is the one every URL is filled in for; department B is "another
department", whose people must never see or change A's data (and the other way
round).
"""

import json
import os
from pathlib import Path
from types import SimpleNamespace

from django.apps import apps
from django.test import Client

from conversion.models import Response
from departments.models import Person, PersonSource
from tests.conftest import make_department, make_user_for
from tests.conversion.test_admin_support import answer_every_section, make_staff

BACKEND = "django.contrib.auth.backends.ModelBackend"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "var" / "reliability"

# The apps whose rows a department's request may change.
DATA_APPS = ("conversion", "departments", "auth")
# Rows every request may touch without changing anyone's data.
NOT_DATA = {"auth.permission", "auth.group_permissions"}


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user, backend=BACKEND)
    return client


def make_world(catalogue, campaign):
    """Departments A and B with inventories, responses, people and STND staff."""
    a = make_department(
        name="Department of Alpha Affairs",
        code="ALPHA1",
        atr_email="atr@alpha.example.gov",
        lines=[(catalogue.att_ds1_2, 3), (catalogue.att_centrex_2, 2), (catalogue.vz_mpls_2, 1)],
    )
    b = make_department(
        name="Bureau of Beta Matters",
        code="BETA22",
        atr_email="atr@beta.example.gov",
        lines=[(catalogue.att_ds1_2, 2), (catalogue.vz_vm_2, 2)],
    )
    manager_b = Person.objects.create(
        department=b,
        name="Bertha Betamanager",
        title="CIO",
        email="bertha@beta.example.gov",
        phone="(916) 555-0222",
        source=PersonSource.NAMED,
    )
    response_a = Response.objects.create(campaign=campaign, department=a)
    response_b = Response.objects.create(
        campaign=campaign,
        department=b,
        manager=manager_b,
        coordinator=manager_b,
        comments="Beta's private comment",
    )
    return SimpleNamespace(
        catalogue=catalogue,
        campaign=campaign,
        a=a,
        b=b,
        response_a=response_a,
        response_b=response_b,
        member=make_user_for(a.atr),
        other=make_user_for(b.atr),
        analyst=make_staff("analyst", "STND analyst"),
        administrator=make_staff("administrator", "STND administrator"),
    )


def identifiers(department):
    """What would betray that a page shows a department's data."""
    people = list(department.people.values_list("email", "name"))
    return [department.name, department.code, *(e for e, _ in people), *(n for _, n in people)]


def fingerprint(*, department=None):
    """Every row of the data apps, as plain values; with `department`, only the rows
    that belong to it (its people, lines, responses and everything under them)."""
    rows = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if model._meta.app_label not in DATA_APPS or label in NOT_DATA:
            continue
        queryset = model._default_manager.order_by("pk")
        if department is not None:
            field = _department_path(model)
            if field is None:
                continue
            queryset = queryset.filter(**{field: department.pk})
        rows[label] = [
            {k: v for k, v in row.items() if k not in ("last_login",)} for row in queryset.values()
        ]
    return rows


def _department_path(model):
    names = {f.name for f in model._meta.get_fields()}
    if model._meta.label_lower == "departments.department":
        return "pk"
    for path in ("department", "response__department", "line__department"):
        if path.split("__")[0] in names:
            return path
    return None


def record(name, **figures):
    """Keep a test's figures in var/reliability/<name>.json, for RELIABILITY.md."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(f"\n[reliability] {name}: {json.dumps(figures, default=str)}")


def in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def complete(world):
    """Department A's answers complete (its ATR is Manager and Coordinator), not submitted."""
    return answer_every_section(
        world.response_a,
        manager=world.a.atr,
        coordinator=world.a.atr,
        centrex=world.catalogue.att_centrex_2,
    )


def postgres_only():
    import pytest
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


def database_url():
    """The test database as a DATABASE_URL, for servers and commands in subprocesses."""
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
