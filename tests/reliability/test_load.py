"""Load: 200 simulated departments sign in, fill every section and submit, on loopback.

The production stack (gunicorn with gunicorn.conf.py, DEBUG off, two workers of four
threads, as `make serve` runs on this 2-core machine) on PostgreSQL, in a database of
its own on the test's server (RELIABILITY_LOAD_DATABASE, default calnet_load_l; dropped
and created again, dropped afterwards). A fixed pool of threads, each a browser with its
own cookie jar, goes through each department's real flow: the emailed link (GET), the
confirmation (POST), the department, contacts, services and timeframe sections (GET,
then POST with the page's hidden fields), the review page and the Manager's submission.

Bounded so that it runs in CI: a time limit for the run, and the test fails on any
error. Then every submission is checked in the database: one Revision each, status
submitted, every section complete, every answer stored. Latencies per step (p50, p95,
p99) go to var/reliability/load.json and RELIABILITY.md.
"""

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tests import smtp
from tests.calnet_survey.production import free_port, gunicorn, manage, production_env
from tests.reliability import stack, support

pytestmark = pytest.mark.postgres

DEPARTMENTS = int(os.environ.get("RELIABILITY_LOAD_DEPARTMENTS", "200"))
THREADS = int(os.environ.get("RELIABILITY_LOAD_THREADS", "8"))
TIME_LIMIT = float(os.environ.get("RELIABILITY_LOAD_SECONDS", "150"))
DATABASE = os.environ.get("RELIABILITY_LOAD_DATABASE", "calnet_load_l")

CHECK = """
import json
from conversion.models import Response, Section
out = {}
for r in Response.objects.filter(campaign__slug=%(campaign)r).select_related("department"):
    out[r.department.code] = {
        "status": r.status,
        "revisions": list(r.revisions.values_list("number", flat=True)),
        "submitted_by": r.submitted_by.username if r.submitted_by else None,
        "manager": r.manager.email if r.manager else None,
        "coordinator": r.coordinator.email if r.coordinator else None,
        "confirmed": r.department_confirmed,
        "window": [str(r.window_start), str(r.window_end)],
        "plans": r.migration_plans,
        "blackout": r.blackout_periods,
        "decisions": sorted(r.decisions.values_list("choice", flat=True)),
        "complete": sorted(r.sections.filter(is_complete=True).values_list("section", flat=True)),
        "revision_answers": bool(r.revisions.get().answers) if r.revisions.count() == 1 else None,
    }
print(json.dumps(out))
"""


@pytest.fixture
def load_database():
    if connection.vendor != "postgresql":
        pytest.skip("the load run needs PostgreSQL (set DATABASE_URL)")
    url = stack.with_database(support.database_url(), DATABASE)
    stack.recreate_database(url)
    yield url
    stack.drop_database(url)


@pytest.fixture
def relay():
    server = smtp.SMTPServer().start()
    yield server
    server.stop()


def test_200_departments_sign_in_fill_every_section_and_submit(load_database, relay, tmp_path):
    env = production_env(
        database_url=load_database,
        email_url=relay.url,
        static_root=tmp_path / "static",
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="4",
    )
    started = time.monotonic()
    data = stack.prepare(env, departments=DEPARTMENTS)
    prepared = time.monotonic() - started
    port = free_port()
    errors, timings = [], []
    deadline_hit = threading.Event()

    with gunicorn(env, port=port, log_path=tmp_path / "gunicorn.log"):
        run_started = time.monotonic()
        deadline = run_started + TIME_LIMIT

        def one(info):
            if time.monotonic() > deadline:
                deadline_hit.set()
                return
            department = stack.Department(port, data["campaign"], info)
            try:
                timings.append(department.whole_survey())
            except Exception as error:  # counted, reported below
                errors.append(f"{info['code']}: {type(error).__name__}: {str(error)[:300]}")

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            list(pool.map(one, data["departments"]))
        elapsed = time.monotonic() - run_started

    assert not deadline_hit.is_set(), f"not done within {TIME_LIMIT} s"
    assert errors == [], f"{len(errors)} errors, first: {errors[:5]}"
    assert len(timings) == DEPARTMENTS

    # Every submission present and complete in the database.
    stored = json.loads(
        manage(env, "shell", "--no-imports", "-c", CHECK % {"campaign": data["campaign"]})
        .strip()
        .splitlines()[-1]
    )
    incomplete = []
    for info in data["departments"]:
        row = stored.get(info["code"])
        expected = {
            "status": "submitted",
            "revisions": [1],
            "submitted_by": info["email"],
            "manager": info["email"],
            "coordinator": info["email"],
            "confirmed": True,
            "plans": "no",
            "blackout": "No work during the June close.",
            "decisions": ["disconnect", "disconnect"],
            "complete": sorted(["contacts", "department", "services", "timeframe"]),
            "revision_answers": True,
        }
        if row is None or any(row[k] != v for k, v in expected.items()) or "None" in row["window"]:
            incomplete.append((info["code"], row))
    assert incomplete == [], f"{len(incomplete)} incomplete, first: {incomplete[:3]}"

    # Each submission's receipt reached the relay once (sent after the commit).
    receipts = relay.message_ids()
    assert len(receipts) >= DEPARTMENTS
    assert len(receipts) == len(set(receipts))

    requests = sum(len(t) for t in timings) + len(timings)  # + each confirmation page
    figures = {
        "departments": DEPARTMENTS,
        "threads": THREADS,
        "gunicorn": "2 workers x 4 threads",
        "seconds_to_prepare": round(prepared, 1),
        "seconds": round(elapsed, 1),
        "requests": requests,
        "requests_per_second": round(requests / elapsed, 1),
        "submissions_per_minute": round(DEPARTMENTS / elapsed * 60, 1),
        "errors": len(errors),
        "emails_delivered": len(receipts),
        "emails_duplicated": len(receipts) - len(set(receipts)),
        "submitted_and_complete": DEPARTMENTS - len(incomplete),
        "latency_ms": {step: stack.percentiles([t[step] for t in timings]) for step in timings[0]},
        "whole_survey_ms": stack.percentiles([sum(t.values()) for t in timings]),
    }
    support.record("load", **figures)
