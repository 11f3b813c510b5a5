"""An HTTP Observatory-style score of the production headers, which must be 100 or more.

Mozilla's HTTP Observatory (httpobs/docs/scoring.md, 2024-02-27): every site starts at
100; each test adds its modifier; bonuses count only when the score without them is at
least 90. The tests below mirror its header tests and modifiers (CORS and the contribute
file are about other things and score 0). The pages come from the production server of
tests/calnet_survey/test_production_headers.py (gunicorn, DEBUG off, as behind the TLS
proxy), whose fixture this module reuses.
"""

import re
from html.parser import HTMLParser

import pytest

from tests.calnet_survey.production import Browser
from tests.calnet_survey.test_production_headers import fetch, site  # noqa: F401 (fixture)
from tests.reliability import support

SIX_MONTHS = 15_768_000
PRIVATE_REFERRERS = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}


def csp_directives(value):
    directives = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives.setdefault(words[0].lower(), words[1:])
    return directives


def score_csp(headers):
    value = headers.get("Content-Security-Policy")
    if not value:
        return "csp-not-implemented", -25
    policy = csp_directives(value)
    default = policy.get("default-src", [])
    scripts = policy.get("script-src", default)
    styles = policy.get("style-src", default)
    if "'unsafe-inline'" in scripts and not any(s.startswith("'nonce-") for s in scripts):
        return "csp-implemented-with-unsafe-inline", -20
    if any(s in ("http:", "*") for s in scripts + policy.get("object-src", default)):
        return "csp-implemented-with-insecure-scheme", -20
    if "'unsafe-eval'" in scripts:
        return "csp-implemented-with-unsafe-eval", -10
    if "'unsafe-inline'" in styles:
        return "csp-implemented-with-unsafe-inline-in-style-src-only", -5
    if default == ["'none'"]:
        return "csp-implemented-with-no-unsafe-default-src-none", 10
    return "csp-implemented-with-no-unsafe", 0


def score_cookies(page, hsts):
    cookies = page.cookies()
    if not cookies:
        return "cookies-not-found", 0
    session = {"sessionid"}
    if any(not m["secure"] for m in cookies.values()):
        if hsts:
            if any(name in session for name, m in cookies.items() if not m["secure"]):
                return "cookies-session-without-secure-flag-but-protected-by-hsts", -10
            return "cookies-without-secure-flag-but-protected-by-hsts", -5
        return "cookies-without-secure-flag", -20
    if any(not cookies[name]["httponly"] for name in session & set(cookies)):
        return "cookies-session-without-httponly-flag", -30
    if all(m["samesite"] in ("Lax", "Strict") for m in cookies.values()):
        return "cookies-secure-with-httponly-sessions-and-samesite", 5
    return "cookies-secure-with-httponly-sessions", 0


def score_hsts(headers):
    value = headers.get("Strict-Transport-Security")
    if not value:
        return "hsts-not-implemented", -20
    match = re.search(r"max-age=(\d+)", value)
    if not match:
        return "hsts-header-invalid", -20
    if int(match.group(1)) < SIX_MONTHS:
        return "hsts-implemented-max-age-less-than-six-months", -10
    # "hsts-preloaded" (+5) needs the host in browsers' preload list, which a test
    # server is not: no bonus claimed.
    return "hsts-implemented-max-age-at-least-six-months", 0


def score_referrer(headers):
    value = headers.get("Referrer-Policy")
    if not value:
        return "referrer-policy-not-implemented", 0
    last = value.split(",")[-1].strip().lower()
    if last in PRIVATE_REFERRERS:
        return "referrer-policy-private", 5
    return "referrer-policy-unsafe", -5


def score_nosniff(headers):
    if headers.get("X-Content-Type-Options", "").lower() == "nosniff":
        return "x-content-type-options-nosniff", 0
    return "x-content-type-options-not-implemented", -5


def score_framing(headers):
    policy = csp_directives(headers.get("Content-Security-Policy", ""))
    if policy.get("frame-ancestors") in (["'none'"], ["'self'"]):
        return "x-frame-options-implemented-via-csp", 5
    if headers.get("X-Frame-Options", "").upper() in ("DENY", "SAMEORIGIN"):
        return "x-frame-options-sameorigin-or-deny", 0
    return "x-frame-options-not-implemented", -20


class Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.sources.append((attrs["src"], attrs.get("integrity")))


def score_sri(page):
    if "text/html" not in page.headers.get("Content-Type", ""):
        return "sri-not-implemented-response-not-html", 0
    parser = Scripts()
    parser.feed(page.text)
    external = [(src, sri) for src, sri in parser.sources if re.match(r"(https?:)?//", src)]
    if not parser.sources:
        return "sri-not-implemented-but-no-scripts-loaded", 0
    if not external:
        return "sri-not-implemented-but-all-scripts-loaded-from-secure-origin", 0
    if all(sri for _, sri in external):
        return "sri-implemented-and-external-scripts-loaded-securely", 5
    return "sri-not-implemented-and-external-scripts-loaded-securely", -5


def score_redirection(port, path):
    page = Browser(port).get(path, https=False)
    if page.status in (301, 302, 307, 308):
        location = page.headers["Location"]
        if location.startswith("https://127.0.0.1/"):
            return "redirection-to-https", 0
        if location.startswith("https://"):
            return "redirection-off-host-from-http", -5
        return "redirection-not-to-https", -20
    return "redirection-missing", -20


def observatory(server, page, path):
    headers = page.headers
    results = [
        score_csp(headers),
        score_cookies(page, "Strict-Transport-Security" in headers),
        score_redirection(server.port, path),
        score_referrer(headers),
        score_hsts(headers),
        score_sri(page),
        score_nosniff(headers),
        score_framing(headers),
    ]
    penalties = 100 + sum(m for _, m in results if m < 0)
    bonuses = sum(m for _, m in results if m > 0) if penalties >= 90 else 0
    return max(0, penalties + bonuses), results


PAGES = {
    "landing": "/",
    "department": None,  # the signed-in overview
    "admin-login": "/admin/login/",
    "not-found": "/no-such-page/",
}


@pytest.mark.parametrize("kind", list(PAGES))
def test_every_kind_of_page_scores_at_least_100(site, kind):  # noqa: F811
    page = fetch(site, kind)
    path = PAGES[kind] or "/"
    score, results = observatory(site, page, path)
    figures = dict(results)
    support.record(f"observatory_{kind}", score=score, modifiers=figures)
    assert score >= 100, figures
    # What earns the score, so a regression names itself.
    assert figures["referrer-policy-private"] == 5
    assert figures["x-frame-options-implemented-via-csp"] == 5
    assert "csp-implemented-with-no-unsafe" in figures


def test_the_scorer_fails_a_page_without_security_headers():
    """The same scorer on a bare page (no CSP, HSTS, nosniff, framing rules; a cookie
    without flags): far below 100, so the test above can fail."""
    bare = {"Content-Type": "text/html"}
    results = [
        score_csp(bare),
        score_hsts(bare),
        score_referrer(bare),
        score_nosniff(bare),
        score_framing(bare),
        ("redirection-missing", -20),
    ]
    assert 100 + sum(m for _, m in results) == 10
