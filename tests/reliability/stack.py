"""The production stack for the fault and load tests: databases of their own, a
throwaway PostgreSQL cluster, a data set of departments with sign-in links, and one
department's whole survey over HTTP (sign in, every section, submit), timed per step.

Servers come from tests/calnet_survey/production.py (gunicorn with gunicorn.conf.py,
DEBUG off, behind the TLS proxy as the load balancer reaches it).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.calnet_survey.production import Browser, PostForms, free_port, manage

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))

# --- Databases ------------------------------------------------------------------------------


def with_database(url, name):
    """`url` (postgres://...) naming database `name` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(url):
    """Drop and create the database `url` names, on its server (through its "postgres")."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def drop_database(url):
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(url, sql, params=()):
    """Rows of `sql` on `url`, in a fresh connection (not the servers' pool)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        return db.execute(sql, params).fetchall()


@contextmanager
def throwaway_postgres():
    """A PostgreSQL cluster of its own (initdb into a temporary directory owned by the
    `postgres` OS user, on a free port, socket in that directory), stopped and deleted
    afterwards. Yields (url of its "postgres" database, data directory). Skips when the
    binaries or the `postgres` user are missing, except in CI, where it must run."""
    from tests.reliability.support import in_ci

    runuser = shutil.which("runuser")
    problem = None
    if not (PG_BIN / "initdb").exists():
        problem = f"no PostgreSQL binaries in {PG_BIN} (set PG_BIN)"
    elif os.geteuid() != 0 or runuser is None:
        problem = "initdb must run as the postgres OS user: needs root and runuser"
    else:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            problem = "no `postgres` OS user"
    if problem:
        if in_ci():
            pytest.fail(f"the PostgreSQL restart test must run in CI: {problem}")
        pytest.skip(problem)

    # Not under pytest's tmp_path: its parents are private to root, and the cluster
    # runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="calnet-pg-"))
    shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    log = base / "postgres.log"
    port = free_port()

    def as_postgres(*args, **kwargs):
        return subprocess.run(
            [runuser, "-u", "postgres", "--", *map(str, args)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            **kwargs,
        )

    as_postgres(PG_BIN / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
    pg_ctl = [PG_BIN / "pg_ctl", "-D", data, "-l", log, "-w"]
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    as_postgres(*pg_ctl, "-o", options, "start")
    instance = Instance(
        url=f"postgres://postgres@127.0.0.1:{port}/postgres",
        restart=lambda: as_postgres(*pg_ctl, "-m", "fast", "-o", options, "restart"),
        log=log,
    )
    try:
        yield instance
    finally:
        with suppress(subprocess.CalledProcessError):
            as_postgres(*pg_ctl, "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


class Instance:
    def __init__(self, *, url, restart, log):
        self.url, self.restart, self.log = url, restart, log


# --- The data set ---------------------------------------------------------------------------

SEED = """
import json
from django.utils import timezone
from departments.tokens import SIGN_IN, sign_in_url, user_for_email
from tests.conftest import Catalogue, make_campaign, make_department

catalogue = Catalogue(timezone.localdate())
campaign = make_campaign(catalogue)
out = []
for _ in range({count}):
    d = make_department(lines=[(catalogue.att_ds1_2, 3), (catalogue.vz_mpls_2, 2)])
    out.append({{
        "code": d.code,
        "email": d.atr.email,
        "name": d.atr.name,
        "link": sign_in_url(user_for_email(d.atr.email), scope=SIGN_IN),
    }})
print(json.dumps({{"campaign": campaign.slug, "departments": out}}))
"""


def prepare(env, *, departments):
    """Migrate the database of `env`, collect static files and seed `departments`
    departments (two CALNET 2 services each) in an open campaign. Returns the campaign
    slug and, per department, its code, ATR and a sign-in link."""
    manage(env, "migrate", "--no-input", "-v", "0", timeout=600)
    manage(env, "collectstatic", "--no-input", "-v", "0")
    output = manage(env, "shell", "--no-imports", "-c", SEED.format(count=departments))
    return json.loads(output.strip().splitlines()[-1])


# --- One department's survey over HTTP ------------------------------------------------------

STEPS = ("sign_in_link", "sign_in_confirm", "department", "contacts", "services", "timeframe")
STEPS += ("review", "submit")


class StepFailed(AssertionError):
    pass


def form_fields(page, action):
    """The hidden and text fields of the page's POST form that posts to `action`."""
    forms = PostForms.on(page.text)
    form = next((f for f in forms if f.action in (None, "", action)), None)
    if form is None:
        raise StepFailed(f"no form posting to {action} ({page.status}): {page.text[:500]}")
    return dict(form.fields)


def select_values(page, name):
    """The non-empty option values of <select name=`name`>."""
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page.text, re.S)
    if match is None:
        raise StepFailed(f"no select {name}: {page.text[:500]}")
    return [v for v in re.findall(r'<option value="([^"]*)"', match.group(1)) if v]


class Department:
    """One simulated department: its browser, and the time of each step in seconds."""

    def __init__(self, port, campaign, info):
        self.browser = Browser(port)
        self.campaign = campaign
        self.info = info
        self.base = f"/survey/{campaign}/{info['code']}/"
        self.timings = {}

    def _timed(self, step, call, *, expect):
        start = time.perf_counter()
        page = call()
        self.timings[step] = time.perf_counter() - start
        if page.status not in expect:
            raise StepFailed(f"{step}: {page.status} {page.text[:1500]}")
        return page

    def _save(self, step, path, values):
        """GET the section, POST it with its hidden fields and `values` (both timed)."""
        page = self._timed(f"{step}_get", lambda: self.browser.get(path), expect=(200,))
        fields = {**form_fields(page, path), **values(page)}
        answer = self._timed(step, lambda: self.browser.post(path, fields), expect=(302,))
        return page, answer

    def sign_in(self):
        link = urlsplit(self.info["link"])
        page = self._timed(
            "sign_in_link",
            lambda: self.browser.get(f"{link.path}?{link.query}"),
            expect=(302,),
        )
        confirm = urlsplit(page.headers["Location"]).path
        page = self.browser.get(confirm)
        if page.status != 200:
            raise StepFailed(f"confirm page: {page.status}")
        fields = form_fields(page, confirm)
        self._timed(
            "sign_in_confirm", lambda: self.browser.post(confirm, fields), expect=(302, 303)
        )
        if "sessionid" not in self.browser.cookies:
            raise StepFailed("no session after the confirmation")

    def department(self):
        self._save("department", f"{self.base}department/", lambda page: {"is_right": "yes"})

    def contacts(self):
        info = self.info
        self._save(
            "contacts",
            f"{self.base}contacts/",
            lambda page: {
                "one_person": "on",
                "manager_name": info["name"],
                "manager_title": "Agency Telecommunications Representative",
                "manager_email": info["email"],
                "manager_phone": "(916) 555-0100",
            },
        )

    def services(self):
        def decisions(page):
            offerings = sorted(set(re.findall(r'name="choice_(\d+)"', page.text)))
            if not offerings:
                raise StepFailed(f"no services: {page.text[:500]}")
            return {f"choice_{pk}": "disconnect" for pk in offerings}

        self._save("services", f"{self.base}services/", decisions)

    def timeframe(self, *, blackout="No work during the June close."):
        def answers(page):
            months = select_values(page, "window_start")
            return {
                "window_start": months[0],
                "window_end": months[-1],
                "blackout_periods": blackout,
                "migration_plans": "no",
                "comments": f"Load test, {self.info['code']}",
            }

        self._save("timeframe", f"{self.base}timeframe/", answers)

    def submit(self):
        path = f"{self.base}review/"
        page = self._timed("review", lambda: self.browser.get(path), expect=(200,))
        fields = {**form_fields(page, path), "action": "submit", "attest": "on"}
        if "version" not in fields:
            raise StepFailed(f"no version on the review page: {page.text[:1500]}")
        self._timed("submit", lambda: self.browser.post(path, fields), expect=(302,))

    def whole_survey(self):
        self.sign_in()
        self.department()
        self.contacts()
        self.services()
        self.timeframe()
        self.submit()
        return self.timings


def percentiles(samples, points=(50, 95, 99)):
    """Nearest-rank percentiles of `samples` (seconds), in milliseconds."""
    ordered = sorted(samples)
    result = {}
    for p in points:
        rank = max(1, -(-p * len(ordered) // 100))
        result[f"p{p}"] = round(ordered[rank - 1] * 1000, 1)
    result["max"] = round(ordered[-1] * 1000, 1)
    return result


def worker_pids(master_pid):
    """The PIDs of the gunicorn master's worker processes, from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == master_pid:
            pids.append(int(entry.name))
    return pids
