"""/healthz: what a load balancer sees when the database answers, and when it does not."""

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext


@pytest.mark.django_db
def test_healthz_answers_ok_with_one_read_and_no_cookie(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert [q["sql"] for q in queries] == ["SELECT 1"]
    assert "Set-Cookie" not in response.headers
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.django_db
def test_healthz_neither_reads_nor_saves_a_session_it_is_sent(atr_client):
    """Sessions are refreshed while used (SessionRefreshMiddleware); never by a probe."""
    assert atr_client.cookies["sessionid"].value
    with CaptureQueriesContext(connection) as queries:
        response = atr_client.get("/healthz")
    assert response.status_code == 200
    assert [q["sql"] for q in queries] == ["SELECT 1"]
    assert "Set-Cookie" not in response.headers
    assert "Vary" not in response.headers


@pytest.mark.django_db
def test_healthz_says_503_when_the_database_does_not_answer(client, monkeypatch):
    def refuse():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.content == b"database unavailable\n"


@pytest.mark.django_db
def test_healthz_accepts_any_host_and_plain_http_when_production_redirects(client, settings):
    """A probe uses the server's own address and no TLS; pages still redirect to HTTPS."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    settings.ALLOWED_HOSTS = ["calnet.example.gov"]
    assert client.get("/healthz", HTTP_HOST="10.0.3.7:8000").status_code == 200
    page = client.get("/admin/login/", HTTP_HOST="calnet.example.gov")
    assert page.status_code == 301
    assert page["Location"] == "https://calnet.example.gov/admin/login/"


def test_healthz_refuses_writes(client):
    assert client.post("/healthz").status_code == 405
