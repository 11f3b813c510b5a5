"""gunicorn.conf.py: sizes from the environment, threads, no query strings in the access log."""

import os
import runpy

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.calnet_survey.production import ROOT

VARIABLES = ["GUNICORN_HOST", "PORT", "GUNICORN_WORKERS", "GUNICORN_THREADS", "LOG_FORMAT"]


def load(monkeypatch, **env):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_defaults_use_every_core_with_threads_on_loopback(monkeypatch):
    conf = load(monkeypatch)
    assert conf["bind"] == ["127.0.0.1:8000"]
    assert conf["workers"] == os.process_cpu_count()
    assert (conf["worker_class"], conf["threads"]) == ("gthread", 4)
    assert (conf["max_requests"], conf["max_requests_jitter"]) == (1000, 100)
    assert conf["accesslog"] == "-"
    assert "logconfig_dict" not in conf


def test_sizes_and_address_come_from_the_environment(monkeypatch):
    conf = load(
        monkeypatch,
        GUNICORN_HOST="10.0.3.7",
        PORT="9000",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="8",
    )
    assert conf["bind"] == ["10.0.3.7:9000"]
    assert (conf["workers"], conf["threads"]) == (3, 8)


def test_a_bad_size_stops_start_up_naming_the_variable(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="GUNICORN_WORKERS"):
        load(monkeypatch, GUNICORN_WORKERS="all")


def test_the_access_log_has_the_path_but_never_the_query_string(monkeypatch):
    log_format = load(monkeypatch)["access_log_format"]
    assert "%(U)s" in log_format
    # %(r)s is the request line and %(q)s the query string: both carry sign-in tokens.
    assert "%(r)s" not in log_format
    assert "%(q)s" not in log_format


def test_json_logs_route_gunicorn_through_the_project_formatter(monkeypatch):
    conf = load(monkeypatch, LOG_FORMAT="json")
    formatters = conf["logconfig_dict"]["formatters"]
    assert formatters["json"]["()"] == "calnet_survey.log_format.JsonFormatter"
