"""Strict readers of environment variables for settings.py.

Each helper either returns a value of the right type or stops start-up with an
ImproperlyConfigured error that names the variable, so a typo in a deployment
fails loudly at boot instead of quietly running with a default.
"""

import os
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name):
    return os.environ.get(name)


def env_str(name, default=None, *, required=False):
    value = _raw(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"The environment variable {name} must be set.")
        return default
    return value


def env_bool(name, default=False):
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use 1/0, true/false, yes/no.")


def env_int(name, default, *, minimum=None):
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}.")
    return number


def env_list(name, default=()):
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name, default, choices):
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}.")
    return value


def database_from_url(
    url, *, name="DATABASE_URL", pool_size=4, prepared_statements=True, server_side_cursors=True
):
    """Turn `sqlite:///path` or `postgres://user:pass@host:port/db` into a DATABASES entry.

    PostgreSQL goes through psycopg 3 with Django's connection pool; health
    checks let the pool drop a dead connection after a database restart
    instead of handing it to a request.

    `prepared_statements`: server-side parameter binding, so that psycopg prepares
    a query a connection has run a few times and PostgreSQL stops planning it
    again. Planning the survey's joins took longer than running them (about 4 ms
    against 0.3 ms for the page's main query). Turn it off behind a pooler in
    transaction mode (PgBouncer before 1.21), which cannot keep prepared statements.

    `server_side_cursors`: streamed exports read through named cursors, which a
    transaction-mode pooler cannot keep either; off, Django fetches in one go.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        # sqlite:////abs/path gives //abs/path; sqlite:///rel gives /rel.
        if path.startswith("//") or path.startswith("/"):
            path = path[1:]
        if not path:
            raise ImproperlyConfigured(f"{name}={url!r} names no SQLite file.")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise ImproperlyConfigured(f"{name}={url!r} names no database.")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        options = dict(query)
        if pool_size > 0:
            options["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 10}
        if prepared_statements:
            # Prepare a query at its second run on a connection (Django's default: never).
            options.update(server_side_binding=True, prepare_threshold=2)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": database,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": True,
            "DISABLE_SERVER_SIDE_CURSORS": not server_side_cursors,
            "OPTIONS": options,
            "TEST": {"NAME": f"test_{database}"},
        }
    raise ImproperlyConfigured(
        f"{name}={url!r}: the scheme must be sqlite:// or postgres:// (got {parts.scheme!r})."
    )


def mailer_from_url(url, *, name="EMAIL_URL", timeout=10):
    """Turn an EMAIL_URL into a Django 6.1 MAILERS entry.

    smtp://user:pass@host:25, smtp+tls://...:587 (STARTTLS), smtps://...:465,
    console:// (prints each message; the demo default), locmem:// (tests).
    """
    parts = urlsplit(url)
    if parts.scheme == "console":
        # Django's console backend, printing each message readably (calnet_survey/mail.py).
        return {"BACKEND": "calnet_survey.mail.ReadableConsoleBackend"}
    if parts.scheme == "locmem":
        return {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    if parts.scheme in {"smtp", "smtp+tls", "smtps"}:
        if not parts.hostname:
            raise ImproperlyConfigured(f"{name}={url!r} names no SMTP host.")
        options = {
            "host": parts.hostname,
            "port": parts.port or {"smtp": 25, "smtp+tls": 587, "smtps": 465}[parts.scheme],
            "timeout": timeout,
        }
        if parts.username:
            options["username"] = unquote(parts.username)
            options["password"] = unquote(parts.password or "")
        if parts.scheme == "smtp+tls":
            options["use_tls"] = True
        if parts.scheme == "smtps":
            options["use_ssl"] = True
        return {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}
    raise ImproperlyConfigured(
        f"{name}={url!r}: the scheme must be smtp://, smtp+tls://, smtps://, console:// "
        "or locmem://."
    )
