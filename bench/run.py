"""`make bench`: measure each hot path against the fastest this machine can do.

    python -m bench.run [--smoke] [--output BENCHMARKS.md]

On PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/calnet_bench),
with the large data set (`load_demo --scale large`, built or reused). Each figure is
measured in the same run as its reference and reported as a median with min and max;
ratios compare the two. `--smoke` runs every measurement on the demo data set with
short durations, so CI keeps the harness working; its figures mean little.
"""

import argparse
import cProfile
import csv
import email.policy
import gzip
import io
import os
import pstats
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

TARGETS = {
    "queries": "equal at 10 and 20,000 lines, ≤ 20",
    "overview": 0.25,
    "section": 0.05,
    "save": 0.03,
    "admin_list": 0.05,
    "dashboard": 0.02,
    "export": "≤ 3 × COPY TO; peak RSS ≤ 200 MB",
    "import": "≤ 3 × COPY FROM",
    "reminders": 0.5,
    "weight": "≤ 200 KB",
}


def configure(args):
    """Production settings (DEBUG off) on PostgreSQL, plus the floor view."""
    database = (
        args.database_url
        or os.environ.get("DATABASE_URL")
        or "postgres://postgres@127.0.0.1:5432/"
        + ("calnet_bench_smoke" if args.smoke else "calnet_bench")
    )
    key_file = ROOT / "var" / "bench-secret-key"
    (ROOT / "var").mkdir(exist_ok=True)
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(64))
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "SECRET_KEY": key_file.read_text(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SITE_URL": "http://127.0.0.1",
        "DATABASE_URL": database,
        "EMAIL_URL": "smtp://127.0.0.1:2525",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    return env


def ensure_database(env, smoke):
    """Create the database when missing, migrate, and build (or reuse) the data set."""
    from django.conf import settings

    name = settings.DATABASES["default"]["NAME"]
    exists = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-Atc",
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=os.environ, check=True
    )
    started = time.perf_counter()
    scale = [] if smoke else ["--scale", "large"]
    subprocess.run(
        [*manage, "load_demo", "--no-accounts", *scale],
        cwd=ROOT,
        env=os.environ,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [*manage, "collectstatic", "--no-input", "-v", "0"], cwd=ROOT, env=os.environ, check=True
    )
    return time.perf_counter() - started


# --- The subjects ---------------------------------------------------------------------------


class Subjects:
    """The departments, users and URLs measured."""

    def __init__(self):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db.models import Count
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from conversion.models import Campaign, Response
        from departments.models import Department
        from departments.tokens import user_for_email

        self.campaign = Campaign.objects.get(slug="atr-13-06")
        sized = Department.objects.annotate(n=Count("lines"))
        self.large = sized.order_by("-n", "pk").first()
        # The department whose inventory is closest to 10 lines (the "small" one).
        self.small = min(sized.filter(n__gte=1), key=lambda d: (abs(d.n - 10), d.pk))
        self.departments = {"small": self.small, "large": self.large}
        self.users = {k: user_for_email(d.atr.email) for k, d in self.departments.items()}
        # Both departments start from the same (empty) survey, so that what differs
        # between their pages is the inventory's size alone, not the demo's answers.
        Response.objects.filter(
            campaign=self.campaign, department__in=list(self.departments.values())
        ).delete()
        for department in self.departments.values():
            Response.objects.create(campaign=self.campaign, department=department)
        analyst, _ = get_user_model().objects.get_or_create(
            username="bench-analyst", defaults={"is_staff": True, "email": "bench@stnd.example"}
        )
        analyst.groups.add(Group.objects.get(name="STND analyst"))
        device, _ = TOTPDevice.objects.get_or_create(user=analyst, name="bench", confirmed=True)
        self.analyst = analyst
        self.analyst_cookie = harness.session_cookie(analyst, otp_device=device)
        self.cookies = {k: harness.session_cookie(u) for k, u in self.users.items()}

    def department_pages(self, size):
        """(label, path) of every department page of the survey, for one department."""
        from django.urls import reverse

        from conversion.models import InventoryLine

        department = self.departments[size]
        kwargs = {"campaign": self.campaign.slug, "code": department.code}
        biggest_group = (
            InventoryLine.objects.filter(department=department).groups().order_by("-lines")[0]
        )
        pages = [
            (name, reverse(f"survey:{name}", kwargs=kwargs))
            for name in (
                "overview",
                "department",
                "contacts",
                "services",
                "timeframe",
                "review",
                "summary",
            )
        ]
        pages.insert(
            4,
            (
                "service_lines",
                reverse(
                    "survey:service_lines",
                    kwargs={**kwargs, "offering_id": biggest_group["offering"]},
                ),
            ),
        )
        return pages

    def admin_pages(self):
        from django.urls import reverse

        return [
            ("admin_list", reverse("admin:conversion_response_changelist")),
            ("dashboard", reverse("admin:conversion_dashboard")),
        ]


def client_for(cookie):
    from django.test import Client

    client = Client()
    name, value = cookie.split("=", 1)
    client.cookies[name] = value
    return client


# --- Measurements ---------------------------------------------------------------------------


def query_counts(subjects):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rows = []
    for size in ("small", "large"):
        client = client_for(subjects.cookies[size])
        for label, path in subjects.department_pages(size):
            client.get(path)  # warm: the response row, caches
            with CaptureQueriesContext(connection) as queries:
                status = client.get(path).status_code
            assert status == 200, f"{path} answered {status}"
            rows.append((size, label, len(queries)))
    admin = client_for(subjects.analyst_cookie)
    for label, path in subjects.admin_pages():
        admin.get(path)
        with CaptureQueriesContext(connection) as queries:
            status = admin.get(path).status_code
        assert status == 200, f"{path} answered {status}"
        rows.append(("admin", label, len(queries)))
    return rows


def loaded_token(response, section):
    from conversion import workflow

    progress = workflow.progress_by_section(response)[section]
    return workflow.loaded_token(
        progress=progress, answers=workflow.section_answers(response, section)
    )


def department_form(response):
    return {"is_right": "yes", "kind_flag_note": "", "loaded": loaded_token(response, "department")}


def server_times(subjects, repeats):
    """Median server time in process (Django's test client: full middleware, no socket)."""
    from django.middleware.csrf import _get_new_csrf_string

    from conversion.models import Response

    results = {}
    profiles = {}
    for size in ("small", "large"):
        client = client_for(subjects.cookies[size])
        for label, path in subjects.department_pages(size):
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                client.get(path)
                samples.append((time.perf_counter() - started) * 1000)
            results[(size, label)] = harness.summary(samples)
            profiles[(size, label)] = path
    # A section save: a valid POST of the department section, from a fresh version each time.
    client = client_for(subjects.cookies["large"])
    client.cookies["csrftoken"] = _get_new_csrf_string()
    response = Response.objects.get(campaign=subjects.campaign, department=subjects.large)
    path = dict(subjects.department_pages("large"))["department"]
    samples = []
    for _ in range(repeats):
        data = department_form(response)
        started = time.perf_counter()
        answer = client.post(path, data)
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 302, f"save answered {answer.status_code}"
    results[("large", "section save")] = harness.summary(samples)
    admin = client_for(subjects.analyst_cookie)
    for label, path in subjects.admin_pages():
        samples = []
        for _ in range(max(3, repeats // 2)):
            started = time.perf_counter()
            admin.get(path)
            samples.append((time.perf_counter() - started) * 1000)
        results[("admin", label)] = harness.summary(samples)
        profiles[("admin", label)] = path
    slowest = max((key for key in results if key in profiles), key=lambda k: results[k]["median"])
    profile_client = admin if slowest[0] == "admin" else client_for(subjects.cookies[slowest[0]])
    profiler = cProfile.Profile()
    profiler.enable()
    profile_client.get(profiles[slowest])
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
    trimmed = "\n".join(line for line in out.getvalue().splitlines() if line.strip())
    return results, (slowest, trimmed)


SAVE_LUA = """
-- POST the department section of a different department each time: each body carries
-- that department's current version, so every save is valid (no conflicts).
local requests = {}
local n = 0
init = function(args)
  for line in io.lines(args[1]) do
    local cookie, path, body = line:match("^(.-)\\t(.-)\\t(.*)$")
    n = n + 1
    requests[n] = wrk.format("POST", path, {
      ["Cookie"] = cookie,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, body)
  end
  i = 0
end
request = function()
  i = i + 1
  if i > n then
    wrk.thread:stop()
    i = n
  end
  return requests[i]
end
"""


def save_requests(subjects, count, path):
    """One valid department-section POST for each of `count` departments (signed in,
    with a CSRF token and the section's current version), in a file for wrk's script."""
    from urllib.parse import urlencode

    from django.middleware.csrf import _get_new_csrf_string
    from django.urls import reverse

    from conversion.models import Response
    from departments.models import Department
    from departments.tokens import user_for_email

    lines = []
    departments = Department.objects.exclude(
        pk__in=[d.pk for d in subjects.departments.values()]
    ).prefetch_related("people")[:count]
    for department in departments:
        response, _ = Response.objects.get_or_create(
            campaign=subjects.campaign, department=department
        )
        user = user_for_email(department.atr.email)
        csrf = _get_new_csrf_string()
        cookie = f"{harness.session_cookie(user)}; csrftoken={csrf}"
        body = urlencode({**department_form(response), "csrfmiddlewaretoken": csrf})
        url = reverse(
            "survey:department",
            kwargs={"campaign": subjects.campaign.slug, "code": department.code},
        )
        lines.append(f"{cookie}\t{url}\t{body}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


SIGNED_IN_FLOOR = "floor, signed in"


def throughput(subjects, env, *, rounds, seconds, save_count):
    """Requests per second under gunicorn (2 sync workers), each page alternating with the
    floor view, reported as a ratio to the floor."""
    results = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    with harness.gunicorn(env, workers=2) as url:
        floor = lambda s: harness.wrk(f"{url}/bench/floor/", seconds=s)  # noqa: E731
        jobs = [
            (f"{size} {label}", f"{url}{path}", subjects.cookies[size])
            for size in ("small", "large")
            for label, path in subjects.department_pages(size)
        ]
        jobs += [
            (label, f"{url}{path}", subjects.analyst_cookie)
            for label, path in subjects.admin_pages()
        ]
        # The floor view again, signed in: the session and user every signed-in page
        # must load, with nothing else. The ceiling for any department page's ratio.
        jobs.insert(0, (SIGNED_IN_FLOOR, f"{url}/bench/floor/", subjects.cookies["small"]))
        for label, page_url, cookie in jobs:
            page = lambda s, u=page_url, c=cookie: harness.wrk(u, seconds=s, cookie=c)  # noqa: E731
            pages, floors, ratios = harness.alternate(page, floor, rounds=rounds, seconds=seconds)
            results[label] = (
                harness.summary(pages),
                harness.summary(floors),
                harness.summary(ratios),
            )
        # The section save: each round POSTs fresh, valid bodies of other departments.
        script = workdir / "save.lua"
        script.write_text(SAVE_LUA)
        pages, floors, ratios = [], [], []
        for round_number in range(rounds):
            bodies = workdir / f"save-{round_number}.tsv"
            n = save_requests(subjects, save_count, bodies)
            f, _ = floor(seconds)
            started = time.perf_counter()
            output = subprocess.run(
                # One wrk thread (one Lua state, so each body is sent once) with as
                # many connections as the floor's run, to keep both workers busy.
                [
                    "wrk",
                    "-t1",
                    "-c4",
                    f"-d{seconds * 3}s",
                    "-s",
                    str(script),
                    f"{url}/",
                    str(bodies),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            done = int(re.search(r"(\d+) requests in", output).group(1))
            elapsed = time.perf_counter() - started
            errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
            if errors:
                raise RuntimeError(f"section saves failed:\n{output}")
            p = min(done, n) / elapsed
            floors.append(f)
            pages.append(p)
            ratios.append(p / f)
        results["section save (POST)"] = (
            harness.summary(pages),
            harness.summary(floors),
            harness.summary(ratios),
        )
    return results


def export_vs_copy():
    probe = [sys.executable, "-m", "bench.probes"]
    times, peaks, copies = [], [], []
    for _ in range(2):
        seconds, peak = harness.peak_rss_of([*probe, "export"])
        times.append(seconds)
        peaks.append(peak)
        seconds, _ = harness.peak_rss_of([*probe, "copy-export"])
        copies.append(seconds)
    return harness.summary(times), harness.summary(peaks), harness.summary(copies)


def write_import_file(path, lines):
    """An inventory CSV of `lines` new lines (identifiers not in the data set)."""
    from conversion.models import Offering
    from departments.models import Department

    codes = list(Department.objects.order_by("pk").values_list("code", flat=True))
    offerings = list(
        Offering.objects.filter(contract__name="CALNET 2")
        .select_related("contractor")
        .order_by("pk")
    )
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["department_code", "contractor", "service_code", "identifier", "quantity", "location"]
        )
        for i in range(lines):
            offering = offerings[i % len(offerings)]
            writer.writerow(
                [
                    codes[i % len(codes)],
                    offering.contractor.short_name,
                    offering.code,
                    f"BENCH-IMPORT-{i:07d}",
                    1 + i % 3,
                    "1325 J Street, Sacramento",
                ]
            )


def import_vs_copy(lines):
    from conversion.models import InventoryLine

    path = ROOT / "var" / "bench-import.csv"
    write_import_file(path, lines)
    probe = [sys.executable, "-m", "bench.probes"]
    copy_seconds, _ = harness.peak_rss_of([*probe, "copy-import", str(path)])
    seconds, peak = harness.peak_rss_of([*probe, "import", str(path)])
    InventoryLine.objects.filter(identifier__startswith="BENCH-IMPORT-").delete()
    path.unlink()
    return seconds, peak, copy_seconds


def reminders_vs_smtplib(count):
    """`send_reminders` delivering `count` queued emails to a local SMTP server, against
    a plain smtplib loop sending the same messages to the same server."""
    import smtplib

    from django.conf import settings
    from django.core.management import call_command

    from conversion import emails
    from conversion.models import EmailKind, OutboundEmail

    port = harness.free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.smtp_sink", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    sink.stdout.readline()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 10},
        }
    }
    try:
        # A first run sends what the campaign's schedule itself asks for (invitations,
        # reminders), so the timed run below delivers only the queued messages.
        call_command("send_reminders", stdout=io.StringIO())
        OutboundEmail.objects.filter(key__startswith="bench:").delete()
        template = {
            "kind": EmailKind.REMINDER,
            "subject": "Reminder: CALNET 2 to CALNET 3 Conversion Survey due in 3 days",
            "body_text": "Please complete the survey.\n" * 40,
            "body_html": "<p>Please complete the survey.</p>\n" * 40,
        }
        OutboundEmail.objects.bulk_create(
            OutboundEmail(
                key=f"bench:{i}",
                recipient=f"atr{i}@bench.example.gov",
                message_id=f"<bench-{i}@calnet.example>",
                **template,
            )
            for i in range(count)
        )
        messages = [
            emails.email_message(e)
            for e in OutboundEmail.objects.filter(key__startswith="bench:")[:count]
        ]
        raw = [
            (m.from_email, m.recipients(), m.message(policy=email.policy.SMTP).as_bytes())
            for m in messages
        ]
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for sender, recipients, data in raw:
                smtp.sendmail(sender, recipients, data)
        smtplib_seconds = time.perf_counter() - started
        started = time.perf_counter()
        call_command("send_reminders", stdout=io.StringIO())
        command_seconds = time.perf_counter() - started
        sent = OutboundEmail.objects.filter(key__startswith="bench:", status="sent").count()
        assert sent == count, f"send_reminders sent {sent} of {count}"
        OutboundEmail.objects.filter(key__startswith="bench:").delete()
    finally:
        sink.terminate()
        sink.wait()
    return count / command_seconds, count / smtplib_seconds


ASSET = re.compile(r'<(?:link[^>]+href|script[^>]+src)="(/static/[^"]+)"')
CSS_URL = re.compile(r"url\(['\"]?([^'\")]+)['\"]?\)")


def page_weights(subjects):
    """First-load bytes of each department page: the HTML and every stylesheet, script
    and font it loads, gzip-compressed as whitenoise serves them."""
    from django.contrib.staticfiles import finders
    from django.contrib.staticfiles.storage import staticfiles_storage

    def static_size(url, seen):
        if url in seen:
            return 0
        seen.add(url)
        name = url.split("/static/", 1)[1].split("?")[0].split("#")[0]
        path = Path(staticfiles_storage.path(name))
        if not path.exists():
            found = finders.find(name)
            if found is None:
                raise RuntimeError(f"{url} is not a static file")
            path = Path(found)
        data = path.read_bytes()
        size = len(gzip.compress(data, 9)) if not name.endswith((".woff2", ".woff")) else len(data)
        if name.endswith(".css"):
            base = url.rsplit("/", 1)[0]
            for ref in CSS_URL.findall(data.decode("utf-8", "replace")):
                # Only files a browser fetches: fonts (woff2 only; it skips the fallbacks)
                # and images. Not data: URIs or SVG fragment references like url(#grad1).
                if not ref.split("?")[0].endswith((".woff2", ".png", ".svg", ".jpg", ".gif")):
                    continue
                if not ref.startswith("/"):
                    ref = f"{base}/{ref}"
                ref = os.path.normpath(ref)
                if "/static/" in ref:
                    size += static_size(ref, seen)
        return size

    results = []
    client = client_for(subjects.cookies["large"])
    for label, path in subjects.department_pages("large"):
        html = client.get(path).content
        seen = set()
        total = len(gzip.compress(html, 9))
        for url in ASSET.findall(html.decode()):
            total += static_size(url, seen)
        results.append((label, total / 1024))
    return results


# --- Report -----------------------------------------------------------------------------------


def fmt(s, unit="", digits=1):
    return f"{s['median']:.{digits}f}{unit} (min {s['min']:.{digits}f}, max {s['max']:.{digits}f})"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def report(
    args, facts, build_seconds, queries, times, profile, rates, export, imported, reminders, weights
):
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `{'make bench-smoke' if args.smoke else 'make bench'}` on "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}."
        + (
            " **Smoke run: demo data, short durations; the figures mean little.**"
            if args.smoke
            else ""
        ),
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in facts.items()],
        f"- data set: {args.dataset} (built or reused in {build_seconds:.0f} s)",
        "",
    ]
    results = []

    lines += [
        "## Query counts per page",
        "",
        "| page | 10-line dept | 20,000-line dept |",
        "|---|---|---|",
    ]
    counts = {}
    for size, label, n in queries:
        counts.setdefault(label, {})[size] = n
    all_equal = True
    highest = 0
    for label, sizes in counts.items():
        if "admin" in sizes:
            lines.append(f"| admin {label} | {sizes['admin']} | (5,000 responses) |")
            continue
        equal = sizes.get("small") == sizes.get("large")
        all_equal &= equal
        highest = max(highest, sizes.get("small", 0), sizes.get("large", 0))
        lines.append(f"| {label} | {sizes.get('small')} | {sizes.get('large')} |")
    results.append(
        (
            "department pages: queries at 10 vs 20,000 lines",
            TARGETS["queries"],
            f"equal: {all_equal}, highest {highest}",
            all_equal and highest <= 20,
        )
    )

    lines += [
        "",
        "## Server time in process (ms, median of repeated requests)",
        "",
        "| department | page | median (min, max) |",
        "|---|---|---|",
    ]
    for (size, label), s in times.items():
        lines.append(f"| {size} | {label} | {fmt(s, ' ms')} |")
    (slow_size, slow_label), text = profile
    lines += [
        "",
        f"Profile of the slowest page ({slow_size} {slow_label}), cumulative time:",
        "",
        "```",
        text,
        "```",
        "",
    ]

    lines += [
        "## Throughput under gunicorn (2 sync workers, wrk on loopback)",
        "",
        "Each page alternates with the floor view; the ratio is page / floor.",
        "",
        "| page | page req/s | floor req/s | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for label, (page, floor, ratio) in rates.items():
        if label == SIGNED_IN_FLOOR:
            lines.append(
                f"| {label} | {fmt(page, '', 0)} | {fmt(floor, '', 0)} | "
                f"{fmt(ratio, '', 3)} | (reference: no page can be faster) |"
            )
            continue
        if "overview" in label:
            target = TARGETS["overview"]
        elif label.startswith("section save"):
            target = TARGETS["save"]
        elif label in TARGETS:
            target = TARGETS[label]
        else:
            target = TARGETS["section"]
        ok = ratio["median"] >= target
        lines.append(
            f"| {label} | {fmt(page, '', 0)} | {fmt(floor, '', 0)} | "
            f"{fmt(ratio, '', 3)} | ≥ {target} {verdict(ok)} |"
        )
        results.append(
            (f"{label} throughput", f"≥ {target} × floor", f"{ratio['median']:.3f} × floor", ok)
        )

    times_, peaks, copies = export
    ratio = times_["median"] / copies["median"]
    ok = ratio <= 3 and peaks["max"] <= 200
    lines += [
        "",
        "## Export of every inventory line (CSV)",
        "",
        f"- export: {fmt(times_, ' s', 2)}, peak RSS {fmt(peaks, ' MB', 0)}",
        f"- PostgreSQL `COPY ... TO STDOUT` of the same rows: {fmt(copies, ' s', 2)}",
        f"- ratio: {ratio:.2f} × COPY",
        "",
    ]
    results.append(
        (
            "CSV export of every line",
            TARGETS["export"],
            f"{ratio:.2f} × COPY, peak {peaks['max']:.0f} MB",
            ok,
        )
    )

    seconds, peak, copy_seconds = imported
    ratio = seconds / copy_seconds
    lines += [
        "## Import of an inventory CSV",
        "",
        f"- `import_inventory` of {args.import_lines:,} new lines: {seconds:.2f} s "
        f"(peak RSS {peak:.0f} MB)",
        f"- `COPY ... FROM STDIN` of the same file into a scratch table: {copy_seconds:.2f} s",
        f"- ratio: {ratio:.2f} × COPY",
        "",
    ]
    results.append(
        (
            f"import, {args.import_lines:,} lines",
            TARGETS["import"],
            f"{ratio:.2f} × COPY",
            ratio <= 3,
        )
    )

    command_rate, smtplib_rate = reminders
    ratio = command_rate / smtplib_rate
    lines += [
        "## Reminders",
        "",
        f"- `send_reminders` delivering {args.emails:,} queued emails: "
        f"{command_rate:,.0f} emails/s",
        f"- plain `smtplib` loop, same messages, same server: {smtplib_rate:,.0f} emails/s",
        f"- ratio: {ratio:.2f}",
        "",
    ]
    results.append(
        (
            f"reminders, {args.emails:,} emails",
            "≥ 0.5 × raw smtplib",
            f"{ratio:.2f} ×",
            ratio >= 0.5,
        )
    )

    lines += [
        "## First-load page weight (gzip, HTML + CSS + JS + fonts)",
        "",
        "| page | KB |",
        "|---|---|",
    ]
    heaviest = 0
    for label, kb in weights:
        heaviest = max(heaviest, kb)
        lines.append(f"| {label} | {kb:.1f} |")
    results.append(
        (
            "first-load page weight",
            TARGETS["weight"],
            f"heaviest {heaviest:.1f} KB",
            heaviest <= 200,
        )
    )

    lines += ["", "## Targets", "", "| measure | target | measured | |", "|---|---|---|---|"]
    for measure, target, measured, ok in results:
        lines.append(f"| {measure} | {target} | {measured} | {verdict(ok)} |")
    lines.append("")
    analysis = ROOT / "bench" / "analysis.md"
    if analysis.exists() and not args.smoke:
        lines += [analysis.read_text()]
    return "\n".join(lines), results


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--database-url")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    args.dataset = "demo (load_demo)" if args.smoke else "large (load_demo --scale large)"
    args.import_lines = 5_000 if args.smoke else 1_000_000
    args.emails = 300 if args.smoke else 15_000
    output = Path(
        args.output or ROOT / ("var/BENCHMARKS-smoke.md" if args.smoke else "BENCHMARKS.md")
    )
    env = configure(args)
    step = lambda what: print(f"bench: {what}…", flush=True)  # noqa: E731
    step("data set")
    build_seconds = ensure_database(env, args.smoke)
    facts = harness.machine_facts()
    subjects = Subjects()
    step("query counts")
    queries = query_counts(subjects)
    step("server time")
    times, profile = server_times(subjects, repeats=3 if args.smoke else 15)
    step("throughput under gunicorn")
    rates = throughput(
        subjects,
        env,
        rounds=1 if args.smoke else 3,
        seconds=1 if args.smoke else 4,
        save_count=40 if args.smoke else 2000,
    )
    step("export")
    export = export_vs_copy()
    step("import")
    imported = import_vs_copy(args.import_lines)
    step("reminders")
    reminders = reminders_vs_smtplib(args.emails)
    step("page weight")
    weights = page_weights(subjects)
    text, results = report(
        args,
        facts,
        build_seconds,
        queries,
        times,
        profile,
        rates,
        export,
        imported,
        reminders,
        weights,
    )
    output.write_text(text)
    missed = [r for r in results if not r[3]]
    print(
        f"bench: wrote {output.relative_to(ROOT)}; {len(results) - len(missed)} targets met, "
        f"{len(missed)} missed."
    )
    for measure, target, measured, _ in missed:
        print(f"  missed: {measure}: {measured} (target {target})")


if __name__ == "__main__":
    main()
