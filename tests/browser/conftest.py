"""Browser suite: Playwright for Python driving Debian's Chromium against the live server.

Skipped, with a clear reason, when /usr/bin/chromium is missing (`make test` on a
machine without it); under CI it must run, so a missing browser fails instead.

Every module marks its tests `browser` and `django_db(transaction=True,
serialized_rollback=True)`: the live server sees only committed data, and the
rows the data migrations made (the STND permission groups) come back after each
test's flush for the tests that follow. Sign-in links are read from Django's test
outbox (the live server runs in this process); screenshots go to screenshots/.
"""

import asyncio
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# Playwright's sync API runs an event loop in the test thread; the test's own ORM
# calls (fixtures, assertions) are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists() and shutil.which("chromium"):
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI must run the browser suite but {CHROMIUM} is missing.")
    skip = pytest.mark.skip(reason=f"browser suite skipped: {CHROMIUM} is not installed")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session", autouse=True)
def _same_database_connections(django_db_setup, playwright):
    """Keep the test thread's database connections once Playwright has started.

    Playwright's sync API leaves its asyncio loop marked as running in this thread,
    and while a loop runs Django keeps connections per async context: every later
    test (browser or not) would get new connection objects, without the test
    database's serialized contents, so `serialized_rollback` would silently restore
    nothing and the flush would drop the data migrations' rows (the STND groups) for
    the rest of the session. Put the thread's own connections in that context."""
    from django.db import connections

    loop = asyncio.get_running_loop()
    asyncio.events._set_running_loop(None)  # look at the thread's connections
    try:
        own = {alias: connections[alias] for alias in connections}
    finally:
        asyncio.events._set_running_loop(loop)
    for alias, connection in own.items():
        connections[alias] = connection


@pytest.fixture(scope="session")
def base_url(_same_database_connections, live_server):
    """Playwright's contexts resolve relative URLs against the live server."""
    return live_server.url


@pytest.fixture(autouse=True)
def _links_to_live_server(settings, live_server):
    """Links in emails point at the live server, as SITE_URL does in production."""
    settings.SITE_URL = live_server.url
    # Hashing passwords the production way takes seconds on a busy machine.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def axe():
    from axe_playwright_python.sync_playwright import Axe

    def check(page, label):
        results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
        violations = results.response["violations"]
        report = "\n".join(
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(n["target"]) for n in v["nodes"][:5])
            for v in violations
        )
        assert not violations, f"axe violations on {label}:\n{report}"
        return results

    return check


@pytest.fixture
def screenshot():
    """Save the page at desktop and phone widths under screenshots/ for reviewers."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name):
        original = page.viewport_size
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=True)
        if original:
            page.set_viewport_size(original)

    return take


@pytest.fixture
def local_government(catalogue, campaign):
    """A Non-State Entity (every group needs a decision, ATOs apply) with four groups:
    DS1 (Transition possible), Centrex (no CALNET 3 successor), MPLS, and voicemail
    (its CALNET 3 category not yet awarded)."""
    from departments.models import DepartmentKind
    from tests.conftest import make_department

    return make_department(
        kind=DepartmentKind.NON_STATE,
        name="City of Example Springs",
        code="L0001",
        atr_email="atr@springs.example.gov",
        lines=[
            (catalogue.att_ds1_2, 4),
            (catalogue.att_centrex_2, 3),
            (catalogue.vz_mpls_2, 2),
            (catalogue.vz_vm_2, 1),
        ],
    )
