"""Every kind of page, as served by the production stack, carries the security headers.

One gunicorn with gunicorn.conf.py, DEBUG off, collected static files and a database
of its own (SQLite in a temporary directory, so this runs in every CI pass), reached
as the TLS-terminating load balancer would reach it.
"""

import json
import re
from types import SimpleNamespace

import pytest
from django.urls import reverse

from tests.calnet_survey.production import (
    Browser,
    free_port,
    gunicorn,
    manage,
    production_env,
    seed,
)

ONE_YEAR = 365 * 24 * 3600


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("production")
    env = production_env(
        database_url=f"sqlite:///{tmp / 'db.sqlite3'}", static_root=tmp / "staticfiles"
    )
    manage(env, "migrate", "--no-input")
    manage(env, "collectstatic", "--no-input")
    data = seed(env)
    manifest = json.loads((tmp / "staticfiles" / "staticfiles.json").read_text())
    port = free_port()
    log = tmp / "gunicorn.log"
    with gunicorn(env, port=port, log_path=log):
        department = Browser(port)
        department.sign_in(data["link"])
        yield SimpleNamespace(
            port=port,
            log=log,
            data=data,
            department=department,
            static_path="/static/" + manifest["paths"]["admin/css/base.css"],
        )


def overview_path(data):
    return reverse("survey:overview", kwargs={"campaign": data["campaign"], "code": data["code"]})


def fetch(site, kind):
    """(response, browser) for one kind of page."""
    anonymous = Browser(site.port)
    if kind == "landing":
        return anonymous.get(reverse("departments:landing"))
    if kind == "department":
        return site.department.get(overview_path(site.data))
    if kind == "admin-login":
        return anonymous.get("/admin/login/")
    if kind == "healthz":
        return anonymous.get("/healthz")
    if kind == "static":
        return anonymous.get(site.static_path, headers={"Accept-Encoding": "gzip"})
    if kind == "not-found":
        return anonymous.get("/no-such-page/")
    raise AssertionError(kind)


KINDS = ["landing", "department", "admin-login", "healthz", "static", "not-found"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_page_type_carries_the_security_headers(site, kind):
    page = fetch(site, kind)
    assert page.status == (404 if kind == "not-found" else 200), page.text[:500]
    headers = page.headers

    csp = headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert headers["Strict-Transport-Security"] == (
        f"max-age={ONE_YEAR}; includeSubDomains; preload"
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"

    cache = headers["Cache-Control"]
    if kind == "static":
        # A hashed name changes with the content: browsers may keep it for good.
        assert cache == "max-age=315360000, public, immutable"
        assert headers["Content-Encoding"] == "gzip"
    else:
        assert "no-store" in cache
        assert "public" not in cache

    for name, morsel in page.cookies().items():
        assert morsel["secure"], name
        assert morsel["httponly"], name
        assert morsel["samesite"] == "Lax", name
    if kind in ("healthz", "static"):
        assert page.cookies() == {}


def test_the_signed_in_department_page_shows_the_department_and_is_never_cached(site):
    page = site.department.get(overview_path(site.data))
    assert site.data["name"] in page.text
    assert "no-store" in page.headers["Cache-Control"]


def test_inline_scripts_need_the_nonce_of_their_response(site):
    page = Browser(site.port).get("/admin/login/")
    [nonce] = re.findall(r"'nonce-([^']+)'", page.headers["Content-Security-Policy"])
    assert f'nonce="{nonce}"' in page.text
    again = Browser(site.port).get("/admin/login/")
    assert nonce not in again.headers["Content-Security-Policy"]


def test_sign_in_and_csrf_cookies_are_secure_httponly_and_samesite(site):
    assert set(site.department.cookies) >= {"sessionid", "csrftoken"}
    page = Browser(site.port).get("/admin/login/")
    csrf = page.cookies()["csrftoken"]
    assert (csrf["secure"], csrf["httponly"], csrf["samesite"]) == (True, True, "Lax")


def test_plain_http_is_redirected_to_https_except_the_health_probe(site):
    browser = Browser(site.port)
    page = browser.get("/admin/login/", https=False)
    assert page.status == 301
    assert page.headers["Location"] == "https://127.0.0.1/admin/login/"
    assert browser.get("/healthz", https=False).status == 200


def test_the_server_logs_one_json_line_per_request_without_query_strings(site):
    Browser(site.port).get("/admin/login/?next=/admin/&token=not-for-logs")
    lines = [json.loads(line) for line in site.log.read_text().splitlines() if line[:1] == "{"]
    requests = [line for line in lines if line["logger"] == "calnet_survey.requests"]
    assert {"method": "GET", "path": "/admin/login/", "status_code": 200} in [
        {key: line[key] for key in ("method", "path", "status_code")} for line in requests
    ]
    # Neither the sign-in link's token nor this query string reaches any log line.
    text = site.log.read_text()
    assert "token=" not in text
    assert site.data["email"] not in text
