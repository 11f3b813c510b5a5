"""Run the Docker image's own commands without Docker, so a typo in them fails CI.

CI has no Docker engine. This reads the Dockerfile and compose.yaml and runs, in a
temporary directory standing in for the image's file system (/venv and /app):

1. every RUN of the Dockerfile (except creating the system user), with its ENV:
   the virtual environment, the dependencies from pyproject.toml, collectstatic;
   COPY honours .dockerignore, so a file the image needs but leaves out fails here;
2. compose.yaml's one-off and scheduler commands (migrate, the scheduler's loop until
   its first send_reminders and clearsessions runs are logged);
3. the CMD (gunicorn), then the HEALTHCHECK until it passes, a hashed static file,
   and the HEALTHCHECK again once gunicorn is stopped, which must then fail.

Usage: python deploy/check_image_commands.py   (from any directory; takes a minute)
"""

# Running the commands of this repository's own Dockerfile and compose.yaml is the point.
# ruff: noqa: S603

import fnmatch
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_COMMANDS = {"useradd", "adduser", "groupadd", "apt-get", "chown"}


def dockerfile_instructions(text):
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        yield keyword.upper(), rest.strip()
        current = ""


def compose_commands(text):
    """service name -> command, for compose.yaml's one-line JSON-style `command` lists."""
    commands, service = {}, None
    for line in text.splitlines():
        if match := re.match(r"^  (\w[\w-]*):\s*$", line):
            service = match[1]
        elif match := re.match(r"^\s+command:\s*(\[.*\])\s*$", line):
            commands[service] = json.loads(match[1])
    return commands


class Image:
    """The image's file system under a temporary directory."""

    def __init__(self, base):
        self.base = base
        self.env = {}
        self.workdir = base

    def path(self, text):
        """Map the image's absolute paths (/venv, /app) into the temporary directory."""
        return re.sub(r"(?<![\w/.])/(venv|app)(?=/|\s|$|['\";:])", rf"{self.base}/\1", text)

    def expand(self, value):
        environment = {**os.environ, **self.env}
        return re.sub(r"\$\{?(\w+)\}?", lambda m: environment.get(m[1], ""), self.path(value))

    def set_env(self, arguments):
        for pair in shlex.split(arguments):
            key, _, value = pair.partition("=")
            self.env[key] = self.expand(value)

    def process_env(self, **extra):
        shims = self.base / "shims"  # `python` for hosts that only have python3
        shims.mkdir(exist_ok=True)
        if not (shims / "python").exists():
            (shims / "python").symlink_to(sys.executable)
        env = {
            "PATH": f"{shims}:{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", str(self.base)),
            "LANG": "C.UTF-8",
        }
        env.update(self.env)
        if "PATH" in self.env:
            env["PATH"] = f"{self.env['PATH']}:{shims}"
        env.update(extra)
        return env

    def copy(self, arguments, ignore):
        *sources, destination = shlex.split(arguments)
        if any(source.startswith("--from=") for source in sources):
            return  # the build stage's /venv is already where the runtime stage wants it
        target = Path(self.path(destination))
        if not target.is_absolute():
            target = self.workdir / target
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(path, target, ignore=ignore, dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)


def dockerignore():
    patterns = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("!")
    ]

    def ignore(directory, names):
        relative = Path(directory).relative_to(ROOT)
        ignored = set()
        for name in names:
            path = str(relative / name) if str(relative) != "." else name
            for pattern in patterns:
                bare = pattern.removeprefix("**/")
                if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(name, bare):
                    ignored.add(name)
        return ignored

    return ignore


def step(text):
    print(f"--- {text}", flush=True)


def run(image, command, **env):
    step(command if isinstance(command, str) else shlex.join(command))
    subprocess.run(
        ["sh", "-c", command] if isinstance(command, str) else command,
        cwd=image.workdir,
        env=image.process_env(**env),
        check=True,
    )


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    ignore = dockerignore()
    with tempfile.TemporaryDirectory(prefix="image-") as tmp:
        image = Image(Path(tmp))
        health = cmd = None
        for keyword, arguments in dockerfile_instructions((ROOT / "Dockerfile").read_text()):
            if keyword == "FROM":
                image.env, image.workdir = {}, image.base
            elif keyword == "ENV":
                image.set_env(arguments)
            elif keyword == "WORKDIR":
                image.workdir = Path(image.path(arguments))
                image.workdir.mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY":
                image.copy(arguments, ignore)
            elif keyword == "RUN":
                if shlex.split(arguments)[0] in SYSTEM_COMMANDS:
                    step(f"skipped (changes the system): {arguments}")
                else:
                    run(image, image.path(arguments))
            elif keyword == "HEALTHCHECK":
                health = json.loads(arguments[arguments.index("CMD ") + 4 :])
            elif keyword == "CMD":
                cmd = json.loads(arguments)
        assert cmd and health, "the Dockerfile needs a CMD and a HEALTHCHECK CMD"

        # What compose.yaml (or any deployment) adds: the production values.
        port = free_port()
        runtime = {
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "localhost",
            "SITE_URL": "https://localhost",
            "DATABASE_URL": f"sqlite:///{image.base}/db.sqlite3",
            "EMAIL_URL": "smtp://127.0.0.1:9",
            "BEHIND_PROXY": "1",
            "PORT": str(port),
        }
        services = compose_commands((ROOT / "compose.yaml").read_text())
        assert services["web"] == cmd, "compose.yaml's web command differs from the CMD"
        run(image, services["migrate"], **runtime)

        step(f"scheduler: {shlex.join(services['scheduler'])} (until its first runs are logged)")
        scheduler = subprocess.Popen(
            services["scheduler"],
            cwd=image.workdir,
            env=image.process_env(**runtime),
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            waiting = {"send_reminders", "clearsessions"}
            for line in scheduler.stderr:
                print(line, end="")
                for command in list(waiting):
                    if f"command {command} " in line:
                        assert f"command {command} ok" in line, line
                        waiting.remove(command)
                if not waiting:
                    break
            else:
                raise AssertionError(f"the scheduler ended without running {waiting}")
        finally:
            os.killpg(scheduler.pid, 15)
            scheduler.wait()

        step(shlex.join(cmd))
        server = subprocess.Popen(cmd, cwd=image.workdir, env=image.process_env(**runtime))
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, "gunicorn stopped"
                probe = subprocess.run(
                    health, env=image.process_env(**runtime), capture_output=True, check=False
                )
                if probe.returncode == 0:
                    break
                assert time.monotonic() < deadline, "the HEALTHCHECK never passed"
                time.sleep(1)
            step("HEALTHCHECK passes")
            manifest = json.loads((image.base / "app/staticfiles/staticfiles.json").read_text())
            static = "/static/" + manifest["paths"]["admin/css/base.css"]
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{static}",
                headers={"Host": "localhost", "X-Forwarded-Proto": "https"},  # as Caddy sends
            )
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                assert "immutable" in response.headers["Cache-Control"]
            step(f"{static} served from the collected files")
        finally:
            server.terminate()
            server.wait(timeout=60)
        probe = subprocess.run(health, env=image.process_env(**runtime), capture_output=True)
        assert probe.returncode != 0, "the HEALTHCHECK passes with no server"
        step("HEALTHCHECK fails once gunicorn is stopped")
    print("The image's commands work.")


if __name__ == "__main__":
    main()
