"""Faults: the SMTP relay down during a submission (nothing lost, nothing duplicated).

The relay down or refusing during send_reminders is proven in
tests/conversion/test_smtp.py (`test_server_down_for_a_while_then_every_message_arrives_once`,
`test_server_refusing_for_a_while_then_every_message_arrives_once`): every message
arrives once after recovery.
"""

import datetime
import io
import os
import signal
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from conversion import emails
from conversion.models import EmailKind, EmailStatus, OutboundEmail, ResponseStatus
from tests import smtp
from tests.calnet_survey.production import Browser, free_port, gunicorn, production_env
from tests.reliability import stack, support


def test_a_submission_while_smtp_is_down_completes_and_each_receipt_arrives_once(
    world, settings, monkeypatch, time_machine, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(emails, "QUICK_RETRY_DELAY", 0)
    time_machine.move_to(timezone.now(), tick=False)
    response = support.complete(world)
    client = support.client_for(world.member)
    url = reverse("survey:review", kwargs={"campaign": world.campaign.slug, "code": world.a.code})
    with smtp.running(settings) as server:
        with server.down(), django_capture_on_commit_callbacks(execute=True):
            answer = client.post(
                url, {"action": "submit", "version": response.version, "attest": "on"}
            )
            # The person's action completes: submitted, with the receipt queued.
            assert answer.status_code == 302
            response.refresh_from_db()
            assert response.status == ResponseStatus.SUBMITTED
            receipts = OutboundEmail.objects.filter(kind=EmailKind.RECEIPT)
            assert receipts.count() == 1
            assert receipts.get().status == EmailStatus.PENDING
            page = client.get(answer["Location"])
            assert page.status_code == 200
        # Runs of send_reminders while it is down, then after it is back.
        out = io.StringIO()
        for _ in range(3):
            time_machine.shift(datetime.timedelta(minutes=30))
            call_command("send_reminders", stdout=out)
        ids = server.message_ids()
    receipt = OutboundEmail.objects.get(kind=EmailKind.RECEIPT)
    assert receipt.status == EmailStatus.SENT
    delivered = [i for i in ids if i == receipt.message_id]
    assert delivered == [receipt.message_id]  # once, not twice
    assert len(ids) == len(set(ids))
    assert response.revisions.count() == 1
    support.record(
        "fault_smtp_during_submission",
        submissions=1,
        receipts_queued=1,
        receipts_delivered=len(delivered),
        lost=0,
        duplicated=len(ids) - len(set(ids)),
    )


# --- PostgreSQL restarted under load ------------------------------------------------------------

RESTART_THREADS = 6
RECOVERY_SECONDS = 5


def test_postgresql_restarted_under_load_errors_only_while_down_nothing_lost(tmp_path):
    """A PostgreSQL cluster of the test's own (never the shared server) serves gunicorn
    (production settings, 2 workers x 4 threads) while 6 departments each load and save
    their timeframe section in a loop; `pg_ctl restart -m fast` in the middle.

    Errors only for requests running while it is down; every request started 5 s after
    it is back succeeds, and the first success comes within 5 s; every acknowledged save
    is in the database, and each section holds exactly one whole save (its version
    counts the saves that committed: all acknowledged ones, at most the failed ones
    more; the blackout and comments written by one save belong to the same round)."""
    with stack.throwaway_postgres() as instance:
        url = stack.with_database(instance.url, "calnet_restart")
        stack.recreate_database(url)
        env = production_env(
            database_url=url,
            static_root=tmp_path / "static",
            GUNICORN_WORKERS="2",
            GUNICORN_THREADS="4",
        )
        data = stack.prepare(env, departments=RESTART_THREADS)
        port = free_port()
        with gunicorn(env, port=port, log_path=tmp_path / "gunicorn.log"):
            departments = [stack.Department(port, data["campaign"], i) for i in data["departments"]]
            for department in departments:
                department.sign_in()
                department.department()
                department.contacts()
                department.services()
                department.timeframe()
            base_versions = _timeframe_versions(url)
            log, stop = [], threading.Event()

            def drive(department):
                path = f"{department.base}timeframe/"
                n = 0
                while not stop.is_set():
                    n += 1
                    for kind in ("get", "save"):
                        start = time.monotonic()
                        try:
                            if kind == "get":
                                page = department.browser.get(path)
                                ok = page.status == 200
                                fields = stack.form_fields(page, path) if ok else None
                            else:
                                text = f"Round {n} of {department.info['code']}"
                                answer = department.browser.post(
                                    path, {**fields, "blackout_periods": text, "comments": text}
                                )
                                ok = answer.status == 302
                        except Exception:
                            ok = False
                        log.append((department.info["code"], kind, n, start, time.monotonic(), ok))
                        if not ok:
                            time.sleep(0.05)
                            break
                    time.sleep(0.01)

            threads = [threading.Thread(target=drive, args=(d,)) for d in departments]
            for thread in threads:
                thread.start()
            time.sleep(3)
            down = time.monotonic()
            instance.restart()  # pg_ctl -w: returns once the server accepts connections
            up = time.monotonic()
            time.sleep(RECOVERY_SECONDS + 3)
            stop.set()
            for thread in threads:
                thread.join(60)

        stored = _timeframes(url)
        versions = _timeframe_versions(url)

    errors = [entry for entry in log if not entry[5]]
    after_up = sorted((e for e in log if e[3] >= up and e[5]), key=lambda e: e[4])
    recovery = after_up[0][4] - up if after_up else None
    figures = {
        "departments": RESTART_THREADS,
        "requests": len(log),
        "saves_acknowledged": sum(1 for e in log if e[1] == "save" and e[5]),
        "errors": len(errors),
        "restart_seconds": round(up - down, 2),
        "error_window_seconds": round(max(e[4] for e in errors) - min(e[3] for e in errors), 2)
        if errors
        else 0,
        "last_error_after_up_seconds": round(max(e[4] for e in errors) - up, 2) if errors else None,
        "first_success_after_up_seconds": round(recovery, 2) if recovery is not None else None,
    }
    # Errors only while it was down: each failed request ran during the restart or ended
    # within the recovery time after it.
    early = [e for e in errors if e[4] < down]
    late = [e for e in errors if e[3] > up + RECOVERY_SECONDS]
    assert early == [], f"errors before the restart: {early[:5]} {figures}"
    assert late == [], f"errors {RECOVERY_SECONDS} s after the restart: {late[:5]} {figures}"
    assert recovery is not None and recovery <= RECOVERY_SECONDS, figures
    assert any(e[3] > up + RECOVERY_SECONDS and e[5] for e in log), "no load after recovery"

    lost = half = 0
    for department in departments:
        code = department.info["code"]
        saves = [e for e in log if e[0] == code and e[1] == "save"]
        acknowledged = [e[2] for e in saves if e[5]]
        failed = [e[2] for e in saves if not e[5]]
        blackout, comments = stored[code]
        assert blackout == comments, (code, blackout, comments)  # one save, whole
        round_ = int(blackout.split()[1]) if blackout.startswith("Round ") else 0
        if acknowledged and round_ < max(acknowledged):
            lost += 1
        committed = versions[code] - base_versions[code]
        if not len(acknowledged) <= committed <= len(acknowledged) + len(failed):
            half += 1
        assert round_ in acknowledged + failed, (code, round_)
    figures.update(lost=lost, half_saved=half)
    support.record("fault_postgres_restart", **figures)
    assert lost == 0 and half == 0, figures


def _timeframes(url):
    rows = stack.query(
        url,
        "SELECT d.code, r.blackout_periods, r.comments FROM conversion_response r "
        "JOIN departments_department d ON d.id = r.department_id",
    )
    return {code: (blackout, comments) for code, blackout, comments in rows}


def _timeframe_versions(url):
    rows = stack.query(
        url,
        "SELECT d.code, p.version FROM conversion_sectionprogress p "
        "JOIN conversion_response r ON r.id = p.response_id "
        "JOIN departments_department d ON d.id = r.department_id "
        "WHERE p.section = 'timeframe'",
    )
    return dict(rows)


# --- A gunicorn worker killed in the middle of a POST -------------------------------------------

KILL_DATABASE = os.environ.get("RELIABILITY_KILL_DATABASE", "calnet_load_k")
DATA_TABLES = (
    "conversion_response",
    "conversion_sectionprogress",
    "conversion_decision",
    "conversion_revision",
    "departments_person",
)


def test_a_worker_killed_in_the_middle_of_a_post_saves_the_section_whole_or_not_at_all(
    tmp_path,
):
    """gunicorn (production settings, one worker) on a database of the test's own on
    the shared server. A department has saved every section; it saves its timeframe
    again while the test holds a row lock from another connection, so the POST stops
    inside its transaction: first on the section's progress row (before any write),
    then on the response row (after the save has claimed the section's version). The
    worker is killed with SIGKILL there, found as the gunicorn master's child in /proc;
    the lock is released. Each time: the database is exactly as before, the master
    starts a new worker, and the next save works."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    import psycopg

    url = stack.with_database(support.database_url(), KILL_DATABASE)
    stack.recreate_database(url)
    try:
        env = production_env(
            database_url=url, static_root=tmp_path / "static", GUNICORN_TIMEOUT="60"
        )
        data = stack.prepare(env, departments=1)
        port = free_port()
        with gunicorn(env, port=port, log_path=tmp_path / "gunicorn.log") as master:
            department = stack.Department(port, data["campaign"], data["departments"][0])
            department.sign_in()
            department.department()
            department.contacts()
            department.services()
            department.timeframe(blackout="Saved before the kill.")
            path = f"{department.base}timeframe/"
            (response_id,) = stack.query(url, "SELECT id FROM conversion_response")[0]
            locks = {
                "section progress row (before any write)": (
                    "SELECT 1 FROM conversion_sectionprogress WHERE response_id = %s "
                    "AND section = 'timeframe' FOR UPDATE"
                ),
                "response row (after the version claim)": (
                    "SELECT 1 FROM conversion_response WHERE id = %s FOR UPDATE"
                ),
            }
            kills = []
            for where, lock in locks.items():
                before = _snapshot(url)
                page = department.browser.get(path)
                assert page.status == 200
                fields = {
                    **stack.form_fields(page, path),
                    "blackout_periods": "Killed in the middle of the POST.",
                    "comments": "Killed in the middle of the POST.",
                }
                workers = stack.worker_pids(master.pid)
                assert len(workers) == 1, workers
                result = {}
                with psycopg.connect(url) as holder:
                    holder.execute(lock, (response_id,))
                    poster = threading.Thread(
                        target=_post, args=(department.browser, path, fields, result)
                    )
                    poster.start()
                    _wait_for_lock_waiter(url)
                    # Where it waits: the claim of the section's version (an UPDATE,
                    # the first write), or the response's lock after that claim.
                    waiting = _waiting_query(url)
                    expected = (
                        'SELECT "conversion_response".'
                        if where.startswith("response")
                        else 'UPDATE "conversion_sectionprogress"'
                    )
                    assert expected in waiting, (where, waiting)
                    os.kill(workers[0], signal.SIGKILL)
                    poster.join(30)
                    holder.rollback()  # release the lock
                assert "error" in result, f"the POST answered: {result}"
                _wait_for_backends_to_end(url)
                after = _snapshot(url)
                assert after == before, f"{where}: the database changed"
                new = _wait_for_new_worker(master.pid, workers[0], port)
                kills.append(where)

                # The next save works, on the new worker.
                page = department.browser.get(path)
                assert page.status == 200, page.status
                text = f"Saved after the kill at the {where}."
                answer = department.browser.post(
                    path, {**stack.form_fields(page, path), "blackout_periods": text}
                )
                assert answer.status == 302, answer.text[:1000]
                (saved,) = stack.query(
                    url,
                    "SELECT blackout_periods FROM conversion_response WHERE id = %s",
                    (response_id,),
                )[0]
                assert saved == text
                assert stack.worker_pids(master.pid) == [new]
        support.record(
            "fault_worker_sigkill_mid_post",
            kills=len(kills),
            lock_points=kills,
            database_changed=0,
            next_save_ok=len(kills),
        )
    finally:
        stack.drop_database(url)


def _post(browser, path, fields, result):
    try:
        result["status"] = browser.post(path, fields).status
    except Exception as error:  # the worker died under the request
        result["error"] = repr(error)


def _snapshot(url):
    return {
        table: stack.query(url, f"SELECT row_to_json(t)::text FROM {table} t ORDER BY t.id")  # noqa: S608
        for table in DATA_TABLES
    }


def _wait_for_lock_waiter(url, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (waiting,) = stack.query(
            url,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'",
        )[0]
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the POST never waited for the lock")


def _waiting_query(url):
    """The statement of the session waiting for a lock."""
    return stack.query(
        url,
        "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'",
    )[0][0]


def _wait_for_backends_to_end(url, timeout=15):
    """Until no other session of the database is inside a transaction (the killed
    worker's backend has rolled back and gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (busy,) = stack.query(
            url,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')",
        )[0]
        if not busy:
            return
        time.sleep(0.05)
    raise AssertionError("a session stayed in its transaction")


def _wait_for_new_worker(master_pid, killed, port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = [p for p in stack.worker_pids(master_pid) if p != killed]
        if workers:
            try:
                if Browser(port).get("/healthz").status == 200:
                    return workers[0]
            except OSError:
                pass
        time.sleep(0.1)
    raise AssertionError("gunicorn started no new worker")
