"""Plain helpers for the browser journeys: sign-in links read from the sent mail,
session cookies for pages that are not about signing in, keyboard focus, and
first-load page weight."""

import gzip
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core import mail
from django.test import Client

from conversion import workflow
from conversion.models import (
    Choice,
    Decision,
    MigrationPlans,
    Response,
    ResponseStatus,
    Section,
    SectionProgress,
)
from tests.conftest import make_user_for

LINK = re.compile(r"https?://\S+/sign-in/link/\?token=[^\s\"'<>]+")

# Bodies a browser fetches already compressed (fonts, images) count as they are;
# text (HTML, CSS, JavaScript, SVG) as gzip -9 would serve it, like bench/run.py.
PRECOMPRESSED = (".woff2", ".woff", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico")


# --- Sign-in, as a person would from their inbox ---------------------------------------------


def sign_in_link(email, *, subject=""):
    """The sign-in link in the latest message sent to `email` (whose subject contains
    `subject`), from Django's test outbox: the live server runs in this process."""
    for message in reversed(mail.outbox):
        if email in message.to and subject in message.subject:
            found = LINK.search(message.body)
            assert found, f"no sign-in link in {message.subject!r}"
            return found.group(0)
    sent = [(m.to, m.subject) for m in mail.outbox]
    raise AssertionError(f"no email to {email} with {subject!r} in its subject; sent: {sent}")


def ask_for_link(page, base_url, email):
    """The landing page's form: enter a work email, ask for a sign-in link."""
    page.goto(f"{base_url}/")
    page.get_by_label("Your work email").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.get_by_role("heading", name="Check your email").wait_for()


def follow_link(page, link):
    """Open a link from an email and press Sign in on the confirmation page."""
    page.goto(link)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_load_state()


def sign_in_from_landing(page, base_url, email):
    ask_for_link(page, base_url, email)
    follow_link(page, sign_in_link(email, subject="sign-in link"))


def signed_in_context(browser, base_url, person, **options):
    """A new browser context already signed in as `person` (a server-side session, as
    the test client's force_login makes), for pages that are not about signing in."""
    client = Client()
    client.force_login(make_user_for(person), backend="django.contrib.auth.backends.ModelBackend")
    context = browser.new_context(base_url=base_url, **options)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base_url,
            }
        ]
    )
    return context


# --- Data ----------------------------------------------------------------------------------


def submitted_response(campaign, department):
    """A complete response, submitted by its Manager (the ATR holds both roles)."""
    atr = department.atr
    response = Response.objects.create(
        campaign=campaign,
        department=department,
        department_confirmed=True,
        manager=atr,
        coordinator=atr,
        window_start=campaign.months()[1],
        window_end=campaign.months()[2],
        migration_plans=MigrationPlans.NO,
        status=ResponseStatus.IN_PROGRESS,
        version=4,
    )
    # Services with no automatic Transition are disconnected.
    for group in response.service_groups():
        if group.choice is None:
            Decision.objects.create(
                response=response, offering=group.offering, choice=Choice.DISCONNECT
            )
    for section in Section:
        SectionProgress.objects.create(
            response=response, section=section, version=1, is_complete=True
        )
    workflow.submit(response=response, user=make_user_for(atr), version=response.version)
    return response


# --- Keyboard ------------------------------------------------------------------------------

FOCUS_STYLE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(),
    text: (el.innerText || el.getAttribute('aria-label') || '').trim().slice(0, 200),
    id: el.id,
    outline: style.outlineStyle === 'none' ? 'none' : style.outlineStyle + ' ' + style.outlineWidth,
    boxShadow: style.boxShadow,
  };
}"""


def focused(page):
    """What has keyboard focus, and how it is drawn."""
    return page.evaluate(FOCUS_STYLE)


def assert_focus_visible(page):
    info = focused(page)
    assert info, "nothing has focus"
    visible = (info["outline"] != "none" and not info["outline"].endswith(" 0px")) or (
        info["boxShadow"] not in ("none", "")
    )
    assert visible, f"no visible focus indicator on {info}"
    return info


def tab_to(page, matches, *, limit=60):
    """Press Tab until `matches(focused info)` holds, checking at every step that the
    focused element shows a focus indicator. Returns the focused element's info."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        info = assert_focus_visible(page)
        if matches(info):
            return info
    raise AssertionError(f"Tab never reached the element; last focused: {focused(page)}")


def tab_to_text(page, text, *, limit=60):
    return tab_to(page, lambda info: info["text"] == text, limit=limit)


def tab_to_id(page, element_id, *, limit=60):
    return tab_to(page, lambda info: info["id"] == element_id, limit=limit)


# --- Page weight ---------------------------------------------------------------------------


def transfer_size(url, body):
    """The bytes a response costs compressed as served: gzip -9 for text, as is for
    formats that are compressed already."""
    if urlsplit(url).path.lower().endswith(PRECOMPRESSED):
        return len(body)
    return len(gzip.compress(body, 9))


def same_host(url, base_url):
    return urlsplit(url).netloc == urlsplit(base_url).netloc or url.startswith("data:")
