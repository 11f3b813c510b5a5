"""Sign-in links as an attacker would probe them: guessing, replaying, harvesting emails,
and reading the token where it should not be (redirects, logs, Referer).

The single rules (expiry, single use, only the POST uses a link up, rate limits) are
proven one by one in tests/departments/test_sign_in.py; gunicorn's access-log format
(path without query) in tests/calnet_survey/test_gunicorn_conf.py; the production
server's log in tests/calnet_survey/test_production_headers.py. Here: the figures
(bits, distinct tokens), the whole flow end to end, and what stays identical.
"""

import base64
import datetime
import logging
import re
import runpy
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from gunicorn.glogging import Logger
from sesame import packers

from departments import tokens
from departments.models import SignInRequest
from tests.conftest import make_department, make_user_for
from tests.reliability import support

LANDING = reverse("departments:landing")
CONFIRM = reverse("departments:sign_in_confirm")


def token_of(url):
    return parse_qs(urlsplit(url).query)["token"][0]


def signature_of(token):
    data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    _, rest = packers.packer.unpack_pk(data)
    return rest[4:]  # after the 4-byte timestamp


def test_a_token_carries_128_bits_of_signature_and_no_two_are_alike(world, time_machine):
    users = [tokens.user_for_email(f"person{n}@example.gov") for n in range(300)]
    time_machine.move_to(datetime.datetime.now(tz=datetime.UTC), tick=False)
    links = [tokens.sign_in_url(user, scope=tokens.SIGN_IN) for user in users]
    # The same person asking again a second later gets another token.
    time_machine.shift(datetime.timedelta(seconds=1))
    links += [tokens.sign_in_url(user, scope=tokens.SIGN_IN) for user in users[:100]]
    signatures = [signature_of(token_of(link)) for link in links]
    assert {len(s) * 8 for s in signatures} == {128}
    assert len(set(map(token_of, links))) == len(links) == 400
    assert len(set(signatures)) == 400
    # Bits look random: each of the 128 positions is set in 30-70% of the signatures.
    for bit in range(128):
        share = sum((s[bit // 8] >> (bit % 8)) & 1 for s in signatures) / len(signatures)
        assert 0.3 < share < 0.7, bit
    support.record("token_entropy", signature_bits=128, tokens_generated=len(links))


def test_every_single_bit_flip_of_a_signature_is_refused(world):
    client = Client()
    link = tokens.sign_in_url(world.member, scope=tokens.SIGN_IN)
    token = token_of(link)
    data = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    refused = 0
    for bit in range(len(data) * 8 - 128, len(data) * 8):
        forged = bytearray(data)
        forged[bit // 8] ^= 1 << (bit % 8)
        forged_token = base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode()
        client.get(reverse("departments:sign_in_link"), {"token": forged_token})
        refused += client.post(CONFIRM).status_code == 400
    assert refused == 128
    assert SESSION_KEY not in client.session
    # The genuine one still works: the forgeries did not use it up.
    client.get(reverse("departments:sign_in_link"), {"token": token})
    assert client.post(CONFIRM).status_code == 302


def sign_in_flow(client, link):
    """Open the link, see the confirmation page, confirm; every answer on the way."""
    parts = urlsplit(link)
    opened = client.get(f"{parts.path}?{parts.query}")
    page = client.get(opened["Location"])
    confirmed = client.post(CONFIRM)
    return SimpleNamespace(opened=opened, page=page, confirmed=confirmed)


def test_the_token_is_in_no_redirect_no_page_and_no_log_line(
    world, caplog, mailoutbox, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(LANDING, {"email": world.a.atr.email})
    [message] = mailoutbox
    link = re.search(r"https?://\S+token=\S+", message.body).group(0)
    token = token_of(link)
    flow = sign_in_flow(client, link)

    assert flow.opened.status_code == 302
    assert flow.page.status_code == 200
    assert flow.confirmed.status_code == 302
    assert client.session[SESSION_KEY] == str(world.member.pk)
    for answer in (asked, flow.opened, flow.page, flow.confirmed):
        for header, value in answer.items():
            assert token not in value, header
        assert token.encode() not in answer.content
    # The confirmation page, whose address a browser would send as Referer, has none.
    assert flow.opened["Location"] == CONFIRM
    assert flow.page["Referrer-Policy"] == "same-origin"
    assert flow.opened["Referrer-Policy"] == "same-origin"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "calnet_survey.requests" in {record.name for record in caplog.records}
    assert token not in logged
    assert "token=" not in logged


def test_gunicorns_access_line_of_a_sign_in_link_has_no_token(world):
    """The access line as gunicorn.conf.py formats it, for the link's request."""
    from gunicorn.config import Config

    config = Config()
    config.set(
        "access_log_format",
        runpy.run_path(str(support.ROOT / "gunicorn.conf.py"))["access_log_format"],
    )
    link = tokens.sign_in_url(world.member, scope=tokens.SIGN_IN)
    parts = urlsplit(link)
    request = SimpleNamespace(
        method="GET",
        path=parts.path,
        query=parts.query,
        uri=f"{parts.path}?{parts.query}",
        version=(1, 1),
        headers=[("REFERER", link)],
    )
    response = SimpleNamespace(status="302 Found", response_length=0, headers=[], sent=0)
    environ = {
        "REQUEST_METHOD": "GET",
        "REMOTE_ADDR": "203.0.113.9",
        "RAW_URI": request.uri,
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    atoms = Logger(config).atoms(response, request, environ, datetime.timedelta(seconds=0.01))
    line = config.access_log_format % atoms
    assert parts.path in line
    assert token_of(link) not in line


def normalized(answer, email):
    """An answer with what must differ from one request to another blanked out: the
    email typed, CSRF tokens, CSP nonces, the session cookie's value."""
    text = answer.content.decode()
    text = text.replace(email, "EMAIL")
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", text)
    text = re.sub(r'nonce="[^"]+"', "NONCE", text)
    headers = {}
    for name, value in answer.items():
        if name in ("Date", "Expires"):  # the time of the answer
            continue
        value = re.sub(r"'nonce-[^']+'", "NONCE", value)
        headers[name] = value
    cookies = {
        name: {key: morsel[key] for key in ("path", "secure", "httponly", "samesite", "max-age")}
        for name, morsel in answer.cookies.items()
    }
    return answer.status_code, headers, cookies, text


def test_known_and_unknown_emails_get_identical_answers(
    world, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.SIGN_IN_RATE_PER_EMAIL = 2
    # Of the same length, so that even Content-Length cannot tell them apart.
    known, unknown = world.a.atr.email, "zzz@alpha.example.gov"
    assert len(known) == len(unknown)
    answers = {}
    for email in (known, unknown):
        client = Client()
        sequence = []
        for _ in range(3):  # twice accepted, then refused by the per-email limit
            with django_capture_on_commit_callbacks(execute=True):
                posted = client.post(LANDING, {"email": email})
            sequence.append(normalized(posted, email))
            if posted.status_code == 302:
                sequence.append(normalized(client.get(posted["Location"]), email))
        answers[email] = sequence
    assert [a[0] for a in answers[known]] == [302, 200, 302, 200, 429]
    assert answers[known] == answers[unknown]
    assert SignInRequest.objects.filter(email=unknown).count() == 2  # counted the same way
    assert len(mailoutbox) == 2  # only the known one got mail


def test_the_rate_limit_counts_an_email_whatever_its_case(world, settings):
    settings.SIGN_IN_RATE_PER_EMAIL = 2
    client = Client()
    email = world.a.atr.email
    assert client.post(LANDING, {"email": email.upper()}).status_code == 302
    assert client.post(LANDING, {"email": f"  {email.title()} "}).status_code == 302
    assert client.post(LANDING, {"email": email}).status_code == 429


def test_behind_the_proxy_each_visitor_has_their_own_address_limit(world, settings):
    """With BEHIND_PROXY=1 every request reaches the app from the proxy's address; the
    limit per address must count the visitor's (X-Forwarded-For, set by the proxy)."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SIGN_IN_RATE_PER_ADDRESS = 3
    proxy = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_PROTO": "https"}
    office = {**proxy, "HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    for n in range(3):
        answer = Client().post(LANDING, {"email": f"p{n}@example.gov"}, **office)
        assert answer.status_code == 302
    assert Client().post(LANDING, {"email": "p9@example.gov"}, **office).status_code == 429
    elsewhere = {**proxy, "HTTP_X_FORWARDED_FOR": "198.51.100.4"}
    assert Client().post(LANDING, {"email": "p9@example.gov"}, **elsewhere).status_code == 302
    # A client cannot pick its address: the proxy appends the one it saw, which counts.
    spoofed = {**proxy, "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.7"}
    assert Client().post(LANDING, {"email": "p8@example.gov"}, **spoofed).status_code == 429
    # Garbage in the header falls back to the connection's address, never a 500.
    odd = {**proxy, "HTTP_X_FORWARDED_FOR": "not-an-address"}
    assert Client().post(LANDING, {"email": "p7@example.gov"}, **odd).status_code == 302


def test_behind_the_proxy_one_visitors_failures_do_not_lock_out_staff(world, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.STND_REQUIRE_OTP = False
    proxy = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_PROTO": "https"}
    attacker = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        attacker.post(
            "/admin/login/",
            {"username": f"guess{n}", "password": "wrong"},
            **proxy,
            HTTP_X_FORWARDED_FOR="203.0.113.66",
        )
    analyst = Client().post(
        "/admin/login/",
        {"username": "analyst", "password": "s3cret-Pa55word!"},
        **proxy,
        HTTP_X_FORWARDED_FOR="198.51.100.10",
    )
    assert analyst.status_code == 302


def test_links_opened_from_one_office_do_not_lock_it_out(world):
    """Opening links counts no failed login: a link tried in the wrong scope first, an
    expired or a forged one must not lock out an office's (or the proxy's) address."""
    for n in range(8):
        department = make_department()
        link = tokens.sign_in_url(make_user_for(department.atr), scope=tokens.INVITATION)
        assert sign_in_flow(Client(), link).page.status_code == 200
        expired = Client()
        expired.get(reverse("departments:sign_in_link"), {"token": f"forged{n}"})
        assert expired.post(CONFIRM).status_code == 400
    flow = sign_in_flow(Client(), tokens.sign_in_url(world.member, scope=tokens.INVITATION))
    assert (flow.page.status_code, flow.confirmed.status_code) == (200, 302)


def test_a_link_for_another_department_never_opens_this_one(world):
    """B's member signed in with B's own link reaches B's pages, never A's."""
    link = tokens.sign_in_url(world.other, scope=tokens.SIGN_IN)
    client = Client()
    sign_in_flow(client, link)
    own = {"campaign": world.campaign.slug, "code": world.b.code}
    theirs = {"campaign": world.campaign.slug, "code": world.a.code}
    assert client.get(reverse("survey:overview", kwargs=own)).status_code == 200
    assert client.get(reverse("survey:overview", kwargs=theirs)).status_code == 404


def test_a_person_of_two_departments_links_stay_personal(world, catalogue):
    """A link names a person, not a department: the same person, two departments."""
    third = make_department(atr_email=world.a.atr.email)
    link = tokens.sign_in_url(world.member, scope=tokens.SIGN_IN)
    client = Client()
    flow = sign_in_flow(client, link)
    assert flow.confirmed["Location"] == reverse("departments:choose")
    page = client.get(reverse("departments:choose")).content.decode()
    assert world.a.name in page and third.name in page
    assert world.b.name not in page
