"""The production stack in subprocesses, for the header test and the scale-out check.

Each server is a real gunicorn with gunicorn.conf.py and DEBUG off, talked to over
HTTP as the TLS-terminating load balancer would (X-Forwarded-Proto: https, with
BEHIND_PROXY=1), so the tests see exactly the headers and cookies a browser gets.
"""

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"  # the public host name, as the load balancer forwards it


def free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def production_env(*, database_url, static_root, email_url="smtp://127.0.0.1:9", **extra):
    """The environment of a production server: the variables a deployment must set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "EMAIL_URL", "SITE_URL", "DATABASE_URL"}
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS=HOST,
        SITE_URL=f"https://{HOST}",
        DATABASE_URL=database_url,
        EMAIL_URL=email_url,
        STATIC_ROOT=str(static_root),
        BEHIND_PROXY="1",
        LOG_FORMAT="json",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="2",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(env, *args, timeout=300):
    """Run manage.py with `env`; returns its standard output, fails with its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


SEED = """
import json
from django.utils import timezone
from departments.tokens import SIGN_IN, sign_in_url, user_for_email
from tests.conftest import Catalogue, make_campaign, make_department

catalogue = Catalogue(timezone.localdate())
campaign = make_campaign(catalogue)
departments = [
    make_department(lines=[(catalogue.att_ds1_2, 3), (catalogue.vz_mpls_2, 2)])
    for _ in range({count})
]
first = departments[0]
print(json.dumps({{
    "campaign": campaign.slug,
    "code": first.code,
    "name": first.name,
    "email": first.atr.email,
    "link": sign_in_url(user_for_email(first.atr.email), scope=SIGN_IN),
}}))
"""


def seed(env, *, departments=1):
    """A campaign open now and departments with inventories; the first ATR's sign-in link."""
    output = manage(env, "shell", "--no-imports", "-c", SEED.format(count=departments))
    return json.loads(output.strip().splitlines()[-1])


@contextmanager
def gunicorn(env, *, port, log_path):
    """The image's command, `gunicorn --config gunicorn.conf.py calnet_survey.wsgi`."""
    with open(log_path, "ab") as log:
        server = subprocess.Popen(
            [BIN / "gunicorn", "--config", "gunicorn.conf.py", "calnet_survey.wsgi"],
            cwd=ROOT,
            env={**env, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"gunicorn stopped:\n{Path(log_path).read_text()}"
            try:
                if Browser(port).get("/healthz").status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"gunicorn never healthy:\n{log_path}"
            time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=60)


class Page:
    def __init__(self, response):
        self.status = response.status
        self.headers = response.headers
        self.text = response.read().decode("utf-8", "replace")

    def cookies(self):
        """The Set-Cookie headers as SimpleCookie morsels, by name."""
        jar = SimpleCookie()
        for header in self.headers.get_all("Set-Cookie") or []:
            jar.load(header)
        return dict(jar)


class Browser:
    """A browser behind the load balancer: it keeps cookies and can switch servers."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def request(self, method, path, *, body=None, headers=(), https=True):
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        sent = {"Host": HOST}
        if https:
            sent["X-Forwarded-Proto"] = "https"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent.update(headers)
        try:
            connection.request(method, path, body=body, headers=sent)
            page = Page(connection.getresponse())
        finally:
            connection.close()
        for name, morsel in page.cookies().items():
            if morsel.value and morsel["max-age"] != "0":
                self.cookies[name] = morsel.value
            else:
                self.cookies.pop(name, None)
        return page

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, fields):
        return self.request(
            "POST",
            path,
            body=urlencode(fields),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"https://{HOST}",
                "Referer": f"https://{HOST}{path}",
            },
        )

    def submit(self, path, page, **fields):
        """POST the page's form that posts back to `path` (not, say, the sign-out
        button), with its hidden and prefilled fields and `fields`."""
        path_only = urlsplit(path).path
        forms = PostForms.on(page.text)
        form = next((f for f in forms if f.action in (None, "", path, path_only)), None)
        assert form is not None, f"no form posting to {path} among {[f.action for f in forms]}"
        return self.post(form.action or path, {**form.fields, **fields})

    def follow(self, page):
        """Follow a redirect within the site; returns (path, page)."""
        assert page.status in (301, 302, 303), (page.status, page.text[:2000])
        location = urlsplit(page.headers["Location"])
        path = location.path + (f"?{location.query}" if location.query else "")
        return path, self.get(path)

    def sign_in(self, link, *, confirm_on=None):
        """The department sign-in: open the emailed link (it redirects to a confirmation
        page), then confirm there, on `confirm_on`'s server if given. Returns the page
        signed in to."""
        parts = urlsplit(link)
        path, page = f"{parts.path}?{parts.query}", self.get(f"{parts.path}?{parts.query}")
        while page.status in (301, 302, 303):
            path, page = self.follow(page)
        assert page.status == 200, (page.status, page.text[:2000])
        if confirm_on is not None:
            self.port = confirm_on
        done = self.submit(path, page)
        while done.status in (301, 302, 303):
            path, done = self.follow(done)
        assert done.status == 200, (done.status, done.text[:2000])
        assert "sessionid" in self.cookies
        return done


class PostForms(HTMLParser):
    """The POST forms of a page: action and the values of hidden and text inputs."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self._current = None

    @classmethod
    def on(cls, html):
        parser = cls()
        parser.feed(html)
        return parser.forms

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._current = SimpleNamespace(action=attrs.get("action"), fields={})
            self.forms.append(self._current)
        elif self._current is not None and tag == "input" and attrs.get("name"):
            kind = (attrs.get("type") or "text").lower()
            if kind in ("hidden", "text", "email"):
                self._current.fields.setdefault(attrs["name"], attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None
