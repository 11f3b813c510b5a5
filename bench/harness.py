"""Tools the benchmark uses: statistics, sessions without a browser, gunicorn and wrk.

Kept apart from bench/run.py (which decides what to measure) so each piece is
small enough to read.
"""

import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def summary(values):
    """median, min, max of a list of numbers."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_cookie(user, *, otp_device=None):
    """A signed-in session for `user`, stored in the database like a real sign-in, so
    wrk can send its cookie. `otp_device` marks the session as second-factor verified."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from calnet_survey.middleware import SessionRefreshMiddleware

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if otp_device is not None:
        session["otp_device_id"] = otp_device.persistent_id
    # As after a real sign-in: the request that signed in marked the session refreshed.
    session[SessionRefreshMiddleware.KEY] = int(time.time())
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


@contextlib.contextmanager
def gunicorn(env, *, workers=2, port=None):
    """Serve the app under gunicorn with the production configuration file, overriding
    only the worker model: `workers` sync workers (one per core on this machine)."""
    port = port or free_port()
    command = [
        PYTHON,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--threads",
        "1",
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        "/dev/null",
        "--max-requests",
        "0",
        "calnet_survey.wsgi",
    ]
    log = open(ROOT / "var" / "bench-gunicorn.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2)  # noqa: S310
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "gunicorn did not start; see var/bench-gunicorn.log"
                    ) from None
                time.sleep(0.3)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_REQUESTS = re.compile(r"(\d+) requests in")


def wrk(url, *, seconds, cookie="", connections=4, threads=1, script=None):
    """Requests per second wrk sustains on `url`; refuses a run with error responses."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = _NON2XX.search(output)
    if errors and int(errors.group(1)) > 0:
        raise RuntimeError(f"wrk got {errors.group(1)} error responses from {url}:\n{output}")
    return float(_RPS.search(output).group(1)), int(_REQUESTS.search(output).group(1))


def alternate(page, floor, *, rounds, seconds):
    """Alternate the page and the floor so both see the same machine conditions;
    returns (page rps list, floor rps list, ratios list)."""
    pages, floors, ratios = [], [], []
    for _ in range(rounds):
        f, _ = floor(seconds)
        p, _ = page(seconds)
        floors.append(f)
        pages.append(p)
        ratios.append(p / f)
    return pages, floors, ratios


def peak_rss_of(command, env=None):
    """Run a command; return (seconds, peak resident memory in MB of the child)."""
    started = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    peak_kb = int(result.stderr.strip().splitlines()[-1])
    return elapsed, peak_kb / 1024


def machine_facts():
    facts = {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    try:
        with open("/proc/cpuinfo") as f:
            facts["cpu"] = next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
        with open("/proc/meminfo") as f:
            kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
            facts["memory"] = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        pass
    with contextlib.suppress(OSError):
        facts["postgresql"] = subprocess.run(
            ["psql", "--version"], capture_output=True, text=True
        ).stdout.strip()
    return facts
