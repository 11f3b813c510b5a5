"""Scale-out: app servers keep no state of their own, so any of them can serve any request.

Two gunicorn servers (the production configuration, DEBUG off) on two loopback ports
share the test's PostgreSQL database. A department signs in through one and goes on
with the survey through the other, then two `send_reminders` run at once. Run alone
with `make scale-out-check`; CI runs it there and in the PostgreSQL pass.
"""

import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from conversion.models import EmailStatus, OutboundEmail, Response
from departments.tokens import SIGN_IN, sign_in_url, user_for_email
from tests import smtp
from tests.calnet_survey.production import (
    ROOT,
    Browser,
    free_port,
    gunicorn,
    manage,
    production_env,
)
from tests.conftest import make_campaign, make_department

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def shared_database():
    """The test database as a DATABASE_URL for the servers and commands."""
    if connection.vendor != "postgresql":
        pytest.skip("the scale-out check needs PostgreSQL (set DATABASE_URL)")
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}"
    )


@pytest.fixture
def env(shared_database, tmp_path):
    # The test signs links with its own key: the servers must share it, as replicas do.
    return production_env(
        database_url=shared_database,
        static_root=tmp_path / "staticfiles",
        SECRET_KEY=settings.SECRET_KEY,
    )


@pytest.fixture
def two_servers(env, tmp_path):
    manage(env, "collectstatic", "--no-input")
    ports = free_port(), free_port()
    with (
        gunicorn(env, port=ports[0], log_path=tmp_path / "a.log"),
        gunicorn(env, port=ports[1], log_path=tmp_path / "b.log"),
    ):
        yield ports


def test_sign_in_on_one_server_and_continue_the_survey_on_the_other(catalogue, two_servers):
    a, b = two_servers
    campaign = make_campaign(catalogue)
    department = make_department(lines=[(catalogue.att_ds1_2, 3), (catalogue.vz_mpls_2, 2)])
    link = sign_in_url(user_for_email(department.atr.email), scope=SIGN_IN)
    browser = Browser(a)

    # The link is opened on A (its token goes into the session) and confirmed on B.
    browser.sign_in(link, confirm_on=b)

    # Signed in through B; the survey answers on A, then a section is saved on B...
    browser.port = a
    kwargs = {"campaign": campaign.slug, "code": department.code}
    overview = browser.get(reverse("survey:overview", kwargs=kwargs))
    assert overview.status == 200
    assert department.name in overview.text
    browser.port = b
    timeframe = reverse("survey:timeframe", kwargs=kwargs)
    page = browser.get(timeframe)
    assert page.status == 200
    saved = browser.submit(timeframe, page, blackout_periods="No work during the June close.")
    assert saved.status == 302, saved.text[:3000]

    # ... and A shows what B saved.
    browser.port = a
    assert "No work during the June close." in browser.get(timeframe).text
    response = Response.objects.get(campaign=campaign, department=department)
    assert response.blackout_periods == "No work during the June close."


def test_two_send_reminders_at_once_send_each_email_once(catalogue, env):
    make_campaign(catalogue)
    count = 40
    for _ in range(count):
        make_department()
    server = smtp.SMTPServer(delay=0.01).start()
    try:
        command = [sys.executable, "manage.py", "send_reminders"]
        runs = [
            subprocess.Popen(
                command,
                cwd=ROOT,
                env={**env, "EMAIL_URL": server.url},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=180) for run in runs]
    finally:
        server.stop()

    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert out.startswith("send_reminders: queued="), out
        assert '"command": "send_reminders", "outcome": "ok"' in err
    ids = server.message_ids()
    assert len(ids) == count  # one invitation per department's ATR
    assert len(set(ids)) == count
    assert OutboundEmail.objects.filter(status=EmailStatus.SENT).count() == count
