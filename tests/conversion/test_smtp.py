"""Delivery through a real SMTP server (aiosmtpd on a free loopback port)."""

import datetime
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from conversion import emails
from conversion.models import EmailStatus, OutboundEmail
from tests import smtp
from tests.conftest import make_campaign, make_department

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def smtp_server(settings):
    with smtp.running(settings) as server:
        yield server


@pytest.fixture(autouse=True)
def no_quick_retry_delay(monkeypatch):
    monkeypatch.setattr(emails, "QUICK_RETRY_DELAY", 0)


def run():
    out = io.StringIO()
    call_command("send_reminders", stdout=out)
    return out.getvalue()


def test_a_message_arrives_with_its_text_and_html_parts(
    smtp_server, campaign, department, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        row = emails.send_invitation(campaign=campaign, person=department.atr)

    assert row.status == EmailStatus.SENT
    [message] = smtp_server.messages
    assert smtp_server.envelopes[0][1] == [department.atr.email]
    assert message["Message-ID"] == row.message_id
    assert message["Reply-To"] == campaign.stnd_email
    assert "calnet-conversion" in message["List-Id"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert campaign.stnd_phone in body
        assert "token=" in body
    assert html.lstrip().startswith("<!DOCTYPE html>")


@pytest.fixture
def departments(campaign):
    return [make_department(code=f"S{n:03d}") for n in range(5)]


def test_server_refusing_for_a_while_then_every_message_arrives_once(
    smtp_server, departments, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    with smtp_server.refusing():
        assert "queued=5 sent=0 retried=5 failed=0" in run()
        time_machine.shift(datetime.timedelta(minutes=3))
        assert "queued=0 sent=0 retried=5" in run()
    assert smtp_server.count() == 0
    assert set(OutboundEmail.objects.values_list("attempts", flat=True)) == {2}
    assert "451" in OutboundEmail.objects.first().last_error

    time_machine.shift(datetime.timedelta(minutes=1))
    assert "sent=0" in run()  # the 4-minute backoff is not over
    time_machine.shift(datetime.timedelta(minutes=4))
    assert "sent=5" in run()
    time_machine.shift(datetime.timedelta(hours=1))
    assert "sent=0" in run()

    ids = smtp_server.message_ids()
    assert len(ids) == len(set(ids)) == 5
    assert sorted(ids) == sorted(OutboundEmail.objects.values_list("message_id", flat=True))
    assert not OutboundEmail.objects.exclude(status=EmailStatus.SENT).exists()


def test_server_down_for_a_while_then_every_message_arrives_once(
    smtp_server, departments, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    with smtp_server.down():
        # The first message finds the relay down; the others wait for the next run.
        assert "queued=5 sent=0 retried=1 failed=0 skipped=4" in run()
        time_machine.shift(datetime.timedelta(minutes=5))
        assert "sent=0 retried=1 failed=0 skipped=4" in run()
    time_machine.shift(datetime.timedelta(minutes=5))
    assert "sent=5" in run()
    assert "sent=0" in run()

    ids = smtp_server.message_ids()
    assert len(ids) == len(set(ids)) == 5
    assert {m["To"] for m in smtp_server.messages} == {d.atr.email for d in departments}


def test_a_person_is_told_the_email_follows_when_the_server_is_down(
    smtp_server, campaign, department, django_capture_on_commit_callbacks, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    with smtp_server.down(), django_capture_on_commit_callbacks(execute=True):
        row = emails.send_invitation(campaign=campaign, person=department.atr)
    assert row.status == EmailStatus.PENDING

    time_machine.shift(datetime.timedelta(minutes=3))
    assert "sent=1" in run()
    assert smtp_server.message_ids() == [row.message_id]


# --- Two send_reminders processes at once, on PostgreSQL ------------------------------------


def start_send_reminders(database, email_url):
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": database,
        "EMAIL_URL": email_url,
        "SITE_URL": "http://testserver",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "send_reminders"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_processes_at_once_deliver_each_message_exactly_once(catalogue):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    make_campaign(catalogue)
    count = 60
    for n in range(count):
        make_department(code=f"P{n:03d}")
    server = smtp.SMTPServer(delay=0.01).start()
    try:
        settings = connection.settings_dict
        database = (
            f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
            f"{settings['PORT'] or 5432}/{settings['NAME']}"
        )
        processes = [start_send_reminders(database, server.url) for _ in range(2)]
        outputs = [process.communicate(timeout=120) for process in processes]
    finally:
        server.stop()

    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert out.startswith("send_reminders: queued=")
    ids = server.message_ids()
    assert len(ids) == count
    assert len(set(ids)) == count
    assert OutboundEmail.objects.filter(status=EmailStatus.SENT).count() == count

    def figure(name):
        return sum(int(out.split(f"{name}=")[1].split()[0]) for out, _ in outputs)

    # Both decided and sent at the same time; between them, each message once.
    assert figure("queued") == count
    assert figure("sent") == count
