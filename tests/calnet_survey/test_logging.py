"""Logs: one line per request and per command run, JSON on demand, errors with tracebacks."""

import json
import logging

import pytest
from django.core.management import load_command_class
from django.http import HttpResponse
from django.test import Client
from django.urls import path
from django.views.decorators.cache import cache_control

from calnet_survey.log_format import JsonFormatter


def boom(request):
    raise RuntimeError("the export broke")


def plain(request):
    return HttpResponse("hello")


@cache_control(max_age=600, public=True)
def cacheable(request):
    return HttpResponse("public notice")


urlpatterns = [
    path("boom/", boom),
    path("plain/", plain),
    path("cacheable/", cacheable),
]


def request_lines(caplog):
    return [r for r in caplog.records if r.name == "calnet_survey.requests"]


@pytest.mark.urls(__name__)
def test_one_line_per_request_without_the_query_string(client, caplog):
    caplog.set_level(logging.INFO)
    client.get("/plain/?token=sesame-secret&email=ada@dept.example.gov")
    [line] = request_lines(caplog)
    assert line.getMessage().startswith("GET /plain/ 200 ")
    assert (line.method, line.path, line.status_code) == ("GET", "/plain/", 200)
    assert line.duration_ms >= 0
    assert "sesame-secret" not in caplog.text
    assert "ada@" not in caplog.text


@pytest.mark.django_db
def test_a_passing_health_probe_is_not_logged_at_info(client, caplog):
    caplog.set_level(logging.INFO)
    client.get("/healthz")
    assert request_lines(caplog) == []


@pytest.mark.urls(__name__)
def test_an_unhandled_error_is_logged_with_its_traceback_and_a_500_line(caplog):
    caplog.set_level(logging.INFO)
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    [error] = [r for r in caplog.records if r.name == "django.request"]
    assert error.levelno == logging.ERROR
    assert error.exc_info[0] is RuntimeError
    formatted = json.loads(JsonFormatter().format(error))
    assert 'raise RuntimeError("the export broke")' in formatted["traceback"]
    assert [r.status_code for r in request_lines(caplog)] == [500]


def test_json_lines_carry_the_request_fields():
    record = logging.LogRecord("calnet_survey.requests", logging.INFO, "", 0, "GET / 200", (), None)
    record.__dict__.update(method="GET", path="/", status_code=200, duration_ms=3.2)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "INFO"
    assert entry["logger"] == "calnet_survey.requests"
    assert (entry["method"], entry["path"], entry["status_code"], entry["duration_ms"]) == (
        "GET",
        "/",
        200,
        3.2,
    )


def command_lines(caplog):
    return [r for r in caplog.records if r.name == "calnet_survey.commands"]


def run_from_command_line(*argv):
    """What `manage.py check ...` runs, without django.setup() resetting the log handlers."""
    load_command_class("django.core", "check").run_from_argv(["manage.py", *argv])


@pytest.mark.django_db
def test_each_command_run_logs_one_line(caplog):
    caplog.set_level(logging.INFO)
    run_from_command_line("check")
    [line] = command_lines(caplog)
    assert (line.command, line.outcome, line.levelno) == ("check", "ok", logging.INFO)


def test_a_command_stopped_by_a_command_error_logs_an_error(caplog):
    caplog.set_level(logging.INFO)
    with pytest.raises(SystemExit):
        run_from_command_line("check", "--tag", "no_such_tag")
    [line] = command_lines(caplog)
    assert (line.command, line.outcome, line.levelno) == ("check", "failed", logging.ERROR)


def test_a_command_that_raises_logs_its_traceback(caplog):
    caplog.set_level(logging.INFO)
    with pytest.raises(LookupError):
        run_from_command_line("check", "no_such_app")
    [line] = command_lines(caplog)
    assert (line.command, line.outcome, line.levelno) == ("check", "raised", logging.ERROR)
    assert "No installed app with label 'no_such_app'" in JsonFormatter().format(line)


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_pages_are_no_store_unless_an_anonymous_view_chose_otherwise(client, atr_client):
    assert "no-store" in Client().get("/plain/")["Cache-Control"]
    assert Client().get("/cacheable/")["Cache-Control"] == "max-age=600, public"
    signed_in = atr_client.get("/cacheable/")["Cache-Control"]
    assert "no-store" in signed_in
    assert "public" not in signed_in
