"""The access matrix: every URL pattern of the project, found from the resolver, requested
as each kind of visitor with GET and POST, against the expected status in the tables
below. A new URL pattern without an expectation fails `test_every_url_has_an_expectation`.

The URLs are filled in for department A. Its member reaches its pages; a member of
department B gets 404 on every one of them and never sees A's name, code or people;
nobody's empty POST changes anything; the admin follows the two STND groups'
permissions (analysts review; administrators also edit the catalogue and import).
STND's second factor is checked separately: with it required, every admin page sends
a staff member who has not passed it to the sign-in (see
`test_staff_without_the_second_factor_reach_no_admin_page`).

Survey pages' finer rules (an unknown campaign, a service the department does not
hold, an inactive department) are in tests/departments/test_access.py.
"""

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from conversion.models import (
    Choice,
    CsvImport,
    Decision,
    EmailKind,
    InternalNote,
    OutboundEmail,
    Revision,
    Section,
    SectionProgress,
)
from departments.models import SignInRequest
from tests.reliability import support
from tests.reliability.urls import concrete, patterns

ROLES = ["anonymous", "other", "member", "analyst", "administrator"]
STAFF = {"analyst", "administrator"}

# --- The expected statuses ---------------------------------------------------------------
#
# Pages other than the admin's per-model pages: (GET, POST) for each role, in the order
# anonymous, member of another department, member of the department, analyst, administrator.
# Survey URLs are department A's. 302* means "to the landing page" for the survey and
# "to the admin's sign-in" for the admin (its Location is checked too).
# fmt: off
PAGES = {
    "departments:landing":         ((200, 200), (200, 200), (200, 200), (200, 200), (200, 200)),
    "departments:sign_in_sent":    ((200, 405), (200, 405), (200, 405), (200, 405), (200, 405)),
    "departments:sign_in_link":    ((302, 405), (302, 405), (302, 405), (302, 405), (302, 405)),
    "departments:sign_in_confirm": ((400, 400), (400, 400), (400, 400), (400, 400), (400, 400)),
    "departments:sign_out":        ((405, 302), (405, 302), (405, 302), (405, 302), (405, 302)),
    "departments:choose":          ((302, 302), (302, 405), (302, 405), (200, 405), (200, 405)),
    # A department's own pages: 404 for everybody but its members (staff use the admin).
    # Empty POSTs: a section without its "loaded" version is a conflict (409), a form
    # with required fields shows their errors (200); the review page redirects to itself.
    "survey:overview":             ((302, 302), (404, 404), (200, 200), (404, 404), (404, 404)),
    "survey:department":           ((302, 302), (404, 404), (200, 200), (404, 404), (404, 404)),
    "survey:contacts":             ((302, 302), (404, 404), (200, 409), (404, 404), (404, 404)),
    "survey:services":             ((302, 302), (404, 404), (200, 409), (404, 404), (404, 404)),
    "survey:add_line":             ((302, 302), (404, 404), (200, 200), (404, 404), (404, 404)),
    "survey:service_lines":        ((302, 302), (404, 404), (200, 409), (404, 404), (404, 404)),
    "survey:timeframe":            ((302, 302), (404, 404), (200, 409), (404, 404), (404, 404)),
    "survey:review":               ((302, 302), (404, 404), (200, 302), (404, 404), (404, 404)),
    "survey:submitted":            ((302, 302), (404, 404), (200, 200), (404, 404), (404, 404)),
    "survey:summary":              ((302, 302), (404, 404), (200, 200), (404, 404), (404, 404)),
    # The admin: nobody but STND staff gets past the sign-in.
    "admin:login":                 ((200, 200), (200, 200), (200, 200), (302, 200), (302, 200)),
    "admin:logout":                ((302, 302), (302, 302), (302, 302), (405, 200), (405, 200)),
    "admin:second_factor":         ((302, 302), (302, 302), (302, 302), (302, 302), (302, 302)),
    "admin:index":                 ((302, 302), (302, 302), (302, 302), (200, 200), (200, 200)),
    "admin:password_change":       ((302, 302), (302, 302), (302, 302), (200, 200), (200, 200)),
    "admin:password_change_done":  ((302, 302), (302, 302), (302, 302), (200, 405), (200, 405)),
    "admin:autocomplete":          ((302, 302), (302, 302), (302, 302), (403, 405), (403, 405)),
    "admin:jsi18n":                ((302, 302), (302, 302), (302, 302), (200, 405), (200, 405)),
    "admin:view_on_site":          ((302, 302), (302, 302), (302, 302), (404, 404), (404, 404)),
    "admin:app_list":              ((302, 302), (302, 302), (302, 302), (200, 200), (200, 200)),
    "admin:admin/(?P<url>.*)$":    ((302, 302), (302, 302), (302, 302), (404, 404), (404, 404)),
    "admin:conversion_dashboard":  ((302, 302), (302, 302), (302, 302), (200, 200), (200, 200)),
    "admin:conversion_dashboard_export": (
                                    (302, 302), (302, 302), (302, 302), (200, 200), (200, 200)),
    "admin:conversion_dashboard_remind": (
                                    (302, 302), (302, 302), (302, 302), (405, 302), (405, 302)),
}

# What each STND group may do with each model the admin shows: v(iew), c(hange), a(dd),
# d(elete), as (analyst, administrator). Analysts review; administrators also keep the
# catalogue, departments and imports; neither manages accounts or devices (superusers do).
MODELS = {
    "auth.group":                  ("", ""),
    "auth.user":                   ("", ""),
    "otp_totp.totpdevice":         ("", ""),
    "axes.accessattempt":          ("", ""),
    "axes.accesslog":              ("", ""),
    "axes.accessfailurelog":       ("", ""),
    "departments.department":      ("v", "vcad"),
    "departments.person":          ("v", "vcad"),
    "departments.signinrequest":   ("", "vcad"),
    "conversion.contract":         ("v", "vcad"),
    "conversion.contractor":       ("v", "vcad"),
    "conversion.category":         ("v", "vcad"),
    "conversion.offering":         ("v", "vcad"),
    "conversion.inventoryline":    ("v", "vcad"),
    "conversion.campaign":         ("v", "vcad"),
    "conversion.response":         ("vc", "vc"),    # never added nor deleted in the admin
    "conversion.decision":         ("vc", "vcad"),
    "conversion.sectionprogress":  ("v", "vcad"),
    "conversion.revision":         ("v", "vcd"),    # revisions come from submissions only
    "conversion.internalnote":     ("va", "vcad"),
    "conversion.outboundemail":    ("vc", "vc"),    # the email log is kept whole
    "conversion.csvimport":        ("", "vcad"),
}

# Model pages whose status differs from what the permissions alone give (role: (GET, POST)).
MODEL_EXCEPTIONS = {
    # The answers are read-only on the response page: changes go through named actions.
    ("conversion.response", "change"): {"analyst": (200, 405), "administrator": (200, 405)},
    # An action needs a POST; an empty note is refused with the page again (400).
    ("conversion.response", "act"): {"analyst": (405, 400), "administrator": (405, 400)},
    # A section edit without the version it was loaded at is refused: back to the form.
    ("conversion.response", "edit"): {"analyst": (200, 302), "administrator": (200, 302)},
    # Every field is read-only: an empty POST saves nothing and returns to the list.
    ("conversion.revision", "change"): {"administrator": (200, 302)},
    ("conversion.outboundemail", "change"): {"analyst": (200, 302), "administrator": (200, 302)},
    # The preview's POST is the "import" button (nothing to import in the matrix's file).
    ("conversion.csvimport", "change"): {"administrator": (200, 302)},
    # django-otp's pages of a device: only for those who may change devices.
    ("otp_totp.totpdevice", "config"): {"analyst": (403, 403), "administrator": (403, 403)},
    ("otp_totp.totpdevice", "qrcode"): {"analyst": (403, 403), "administrator": (403, 403)},
    ("auth.user", "password_change"): {"analyst": (403, 403), "administrator": (403, 403)},
}
# fmt: on

# Requests that change data by design (an empty POST is the button): (key, role, method).
CHANGES_BY_DESIGN = {
    (("page", "admin:conversion_dashboard_remind"), "analyst", "POST"),
    (("page", "admin:conversion_dashboard_remind"), "administrator", "POST"),
    (("model", "conversion.csvimport", "change"), "administrator", "POST"),
    # Reported: a refused section edit leaves an empty SectionProgress row behind (see
    # test_a_refused_admin_section_edit_changes_nothing).
    (("model", "conversion.response", "edit"), "analyst", "POST"),
    (("model", "conversion.response", "edit"), "administrator", "POST"),
}


def model_status(label, view, role):
    if role not in STAFF:
        return (302, 302)
    exception = MODEL_EXCEPTIONS.get((label, view), {}).get(role)
    if exception:
        return exception
    ops = MODELS[label][role == "administrator"]
    allowed = {
        "changelist": "v" in ops or "c" in ops,
        "history": "v" in ops or "c" in ops,
        "simple_history": "v" in ops or "c" in ops,
        "change": "v" in ops or "c" in ops,  # a view-only user may not POST: below
        "add": "a" in ops,
        "delete": "d" in ops,
        "view": True,  # the bare object URL redirects to its change page
    }[view]
    if view == "view":
        return (302, 302)
    status = 200 if allowed else 403
    if view == "change" and "c" not in ops:
        return (status, 403)
    return (status, status)


def expected(key, role):
    if key[0] == "model":
        return model_status(key[1], key[2], role)
    return PAGES[key[1]][ROLES.index(role)]


def known(key):
    if key[0] == "page":
        return key[1] in PAGES
    label, view = key[1], key[2]
    return label in MODELS and (
        view in ("changelist", "add", "change", "delete", "history", "simple_history", "view")
        or (label, view) in MODEL_EXCEPTIONS
    )


def test_every_url_has_an_expectation():
    unknown = [(key, route) for key, route in patterns() if not known(key)]
    assert unknown == [], "add these URL patterns to the tables of test_access_matrix.py"
    # ... and no expectation is left for a URL that went away.
    keys = {key for key, _ in patterns()}
    assert set(PAGES) <= {key[1] for key in keys if key[0] == "page"}
    assert set(MODELS) == {key[1] for key in keys if key[0] == "model"}


@pytest.fixture
def full_world(world):
    """One object of every model the admin shows, A's where it belongs to a department."""
    a, response = world.a, world.response_a
    cat = world.catalogue
    Decision.objects.create(response=response, offering=cat.att_centrex_2, choice=Choice.DISCONNECT)
    SectionProgress.objects.create(response=response, section=Section.DEPARTMENT, version=1)
    Revision.objects.create(response=response, number=1, submitted_at=timezone.now(), answers={})
    InternalNote.objects.create(response=response, author=world.analyst, text="Call them.")
    OutboundEmail.objects.create(
        key="matrix",
        kind=EmailKind.REMINDER,
        campaign=world.campaign,
        department=a,
        recipient=a.atr.email,
        subject="Reminder",
        body_text="Hello",
    )
    CsvImport.objects.create(kind="departments", filename="d.csv", content="code\n")
    SignInRequest.objects.create(email=a.atr.email, ip_address="127.0.0.1")
    TOTPDevice.objects.create(user=world.analyst, name="phone", confirmed=False)
    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        extra = {"get_data": "", "post_data": "", "failures_since_start": 1}
        model.objects.create(
            user_agent="test",
            ip_address="127.0.0.1",
            username="nobody",
            http_accept="*/*",
            path_info="/admin/login/",
            **(extra if model is AccessAttempt else {}),
        )
    assert Group.objects.exists()
    return world


def client_for(role, world):
    user = {
        "anonymous": None,
        "other": world.other,
        "member": world.member,
        "analyst": world.analyst,
        "administrator": world.administrator,
    }[role]
    return support.client_for(user)


# Signing out ends the session the next requests need: those get a session of their own.
ENDS_SESSION = {("page", "admin:logout"), ("page", "departments:sign_out")}


@pytest.mark.parametrize("role", ROLES)
# django-simple-history's history page of a model without foreign keys (Department) warns;
# see test_admin_history_page_of_a_model_without_foreign_keys_does_not_warn.
@pytest.mark.filterwarnings("ignore:Calling select_related.. with no arguments")
def test_access_matrix(full_world, role):
    world = full_world
    client = client_for(role, world)
    others = support.identifiers(world.a if role == "other" else world.b)
    if role in STAFF:
        others = []  # STND sees every department: that is what the admin is for
    wrong = []
    snapshot = support.fingerprint()
    for key, _ in patterns():
        url = concrete(key, world)
        for method, status in zip(("GET", "POST"), expected(key, role), strict=True):
            used = client_for(role, world) if key in ENDS_SESSION else client
            answer = getattr(used, method.lower())(url)
            problems = check(answer, status, key=key, role=role, others=others)
            before, snapshot = snapshot, support.fingerprint()
            if snapshot != before and (key, role, method) not in CHANGES_BY_DESIGN:
                problems.append("changed data")
            wrong += [f"{method} {url} as {role}: {problem}" for problem in problems]
    assert wrong == [], "\n".join(wrong)


def check(answer, status, *, key, role, others):
    """What is wrong with one answer of the matrix."""
    problems = []
    got = answer.status_code
    if got != status:
        problems.append(f"status {got}, expected {status}")
    if got == 302 and role not in STAFF:
        location = answer["Location"]
        if key[0] == "model" or key[1].startswith("admin:"):
            # /admin/ itself sends them on to the sign-in (after signing out, say).
            if not (location.startswith("/admin/login/") or location == "/admin/"):
                problems.append(f"redirects to {location}, not the admin's sign-in")
        elif (
            key[1].startswith("survey:")
            and role == "anonymous"
            and not location.startswith("/?next=")
        ):
            problems.append(f"redirects to {location}, not the landing page")
    body = b"".join(answer) if answer.streaming else answer.content
    text = body.decode("utf-8", "replace")
    leaked = [value for value in others if value in text]
    if leaked:
        problems.append(f"shows another department's {leaked}")
    return problems


def test_staff_without_the_second_factor_reach_no_admin_page(full_world, settings):
    """With the second factor required (production), a signed-in analyst who has not
    given their code is sent to the sign-in, which sends them on to the code."""
    settings.STND_REQUIRE_OTP = True
    client = client_for("analyst", full_world)
    reached = []
    for key, _ in patterns():
        if key[0] == "page" and not key[1].startswith("admin:"):
            continue
        if key in {("page", "admin:login"), ("page", "admin:logout")}:
            continue
        url = concrete(key, full_world)
        answer = client.get(url)
        if key == ("page", "admin:second_factor") and answer.status_code == 200:
            continue  # the page that asks for the code
        if answer.status_code != 302 or not answer["Location"].startswith(
            ("/admin/login/", "/admin/second-factor/")
        ):
            reached.append(f"{url}: {answer.status_code}")
    assert reached == []
    page = client.get("/admin/login/")
    assert page.status_code == 302
    assert page["Location"].startswith("/admin/second-factor/")


def test_admin_history_page_of_a_model_without_foreign_keys_does_not_warn(full_world, recwarn):
    client = client_for("administrator", full_world)
    url = concrete(("model", "departments.department", "history"), full_world)
    assert client.get(url).status_code == 200
    assert [str(w.message) for w in recwarn if "select_related" in str(w.message)] == []


def test_a_refused_admin_section_edit_changes_nothing(full_world):
    client = client_for("analyst", full_world)
    url = concrete(("model", "conversion.response", "edit"), full_world)
    before = support.fingerprint()
    answer = client.post(url, {"loaded_version": "7", "comments": "Stale"})
    assert answer.status_code == 302  # back to the form, with "the department changed it"
    assert support.fingerprint() == before
