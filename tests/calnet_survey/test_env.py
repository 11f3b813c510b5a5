"""Settings helpers: a bad environment value stops start-up and names the variable."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from calnet_survey import env


def test_bool_accepts_common_spellings_and_rejects_others(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env.env_bool("FLAG") is True
    monkeypatch.setenv("FLAG", "0")
    assert env.env_bool("FLAG", default=True) is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env.env_bool("FLAG")


def test_int_rejects_words_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("WORKERS", "two")
    with pytest.raises(ImproperlyConfigured, match="WORKERS"):
        env.env_int("WORKERS", 1)
    monkeypatch.setenv("WORKERS", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env.env_int("WORKERS", 1, minimum=1)


def test_required_string_names_the_missing_variable(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        env.env_str("SECRET_KEY", required=True)


def test_postgres_url_uses_psycopg_with_the_pool_and_health_checks():
    db = env.database_from_url("postgres://app:s%40cret@db.internal:5433/calnet?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "calnet",
        "app",
        "s@cret",
        "db.internal",
        "5433",
    )
    assert db["OPTIONS"]["pool"]["max_size"] == 4
    assert db["OPTIONS"]["sslmode"] == "require"
    assert db["CONN_HEALTH_CHECKS"] is True
    # Prepared statements (server-side binding) unless a transaction pooler forbids them.
    assert db["OPTIONS"]["server_side_binding"] is True
    assert db["OPTIONS"]["prepare_threshold"] == 2
    plain = env.database_from_url("postgres://app@db/calnet", prepared_statements=False)
    assert "server_side_binding" not in plain["OPTIONS"]
    assert "prepare_threshold" not in plain["OPTIONS"]
    assert db["DISABLE_SERVER_SIDE_CURSORS"] is False
    pooled = env.database_from_url("postgres://app@db/calnet", server_side_cursors=False)
    assert pooled["DISABLE_SERVER_SIDE_CURSORS"] is True


def test_sqlite_url_and_unknown_scheme():
    assert env.database_from_url("sqlite:////tmp/x.db")["NAME"] == "/tmp/x.db"
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        env.database_from_url("mysql://x/y")


def test_email_url_becomes_a_mailers_entry_with_a_timeout():
    mailer = env.mailer_from_url("smtp+tls://user:pw@relay.example.gov:587", timeout=7)
    assert mailer["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert mailer["OPTIONS"] == {
        "host": "relay.example.gov",
        "port": 587,
        "timeout": 7,
        "username": "user",
        "password": "pw",
        "use_tls": True,
    }
    assert (
        env.mailer_from_url("console://")["BACKEND"] == "calnet_survey.mail.ReadableConsoleBackend"
    )
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        env.mailer_from_url("http://nope")


def test_the_demos_console_email_prints_a_sign_in_link_that_can_be_copied(settings, capsys):
    """Raw MIME would show quoted-printable (token=3D...) broken over lines."""
    from django.core.mail import EmailMultiAlternatives

    settings.MAILERS = {"default": {"BACKEND": "calnet_survey.mail.ReadableConsoleBackend"}}
    link = "http://127.0.0.1:8000/sign-in/link/?token=AAAA2Az5Xj8iopfG0ytHi0lyLUw1JkV6&next=/x"
    message = EmailMultiAlternatives(
        subject="Your sign-in link – CALNET",
        body=f"Sign in here, within 15 minutes – it works once:\n\n{link}\n" + "x" * 200,
        to=["atr@s0001.example.gov"],
    )
    message.attach_alternative(f'<a href="{link}">Sign in</a>', "text/html")
    message.send()
    printed = capsys.readouterr().out
    assert f"\n{link}\n" in printed
    assert "Subject: Your sign-in link – CALNET" in printed
    assert "=3D" not in printed


def test_deploy_check_refuses_the_console_backend(settings):
    from calnet_survey.mail import check_not_readable_console

    settings.MAILERS = {"default": {"BACKEND": "calnet_survey.mail.ReadableConsoleBackend"}}
    assert [e.id for e in check_not_readable_console(None)] == ["calnet_survey.E001"]
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend"}}
    assert check_not_readable_console(None) == []
