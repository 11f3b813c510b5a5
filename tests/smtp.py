"""A real SMTP server for tests: aiosmtpd on a free loopback port.

    from tests import smtp

    @pytest.fixture
    def smtp_server(settings):             # MAILERS point at it during the test
        with smtp.running(settings) as server:
            yield server

    def test_something(smtp_server):
        ...
        assert smtp_server.count() == 1
        message = smtp_server.messages[0]  # email.message.EmailMessage

(`tests.smtp.smtp_server` is that fixture, for a module that imports it.)

`smtp_server.refusing()` answers "451 try again later" to every message while
the block runs; `smtp_server.down()` stops the server (connections are refused)
and starts it again on the same port afterwards. `SMTPServer` can also be used
without the fixture, for example to serve a subprocess (`.url` is an EMAIL_URL).
"""

import asyncio
import contextlib
import email
import email.policy
import socket
import threading

import pytest
from aiosmtpd.controller import Controller


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler:
    def __init__(self, server):
        self.server = server

    async def handle_DATA(self, smtp, session, envelope):
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        if self.server.is_refusing:
            return "451 4.3.0 Temporary failure, try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(message)
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 OK"


class SMTPServer:
    """An SMTP server recording every message it accepts, in `messages`."""

    def __init__(self, *, host="127.0.0.1", port=None, delay=0):
        self.host = host
        self.delay = delay  # seconds spent on each message, to widen race windows
        self.port = port or free_port()
        self.messages = []
        self.envelopes = []  # (MAIL FROM, [RCPT TO...]) of each accepted message
        self.lock = threading.Lock()
        self.is_refusing = False
        self._controller = None

    @property
    def url(self):
        """The EMAIL_URL that points at this server."""
        return f"smtp://{self.host}:{self.port}"

    def mailers(self, *, timeout=5):
        """A MAILERS setting that sends through this server."""
        return {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": self.host, "port": self.port, "timeout": timeout},
            }
        }

    def start(self):
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def count(self):
        with self.lock:
            return len(self.messages)

    def message_ids(self):
        with self.lock:
            return [message["Message-ID"] for message in self.messages]

    @contextlib.contextmanager
    def refusing(self):
        """Answer every message with a temporary failure (451) inside the block."""
        self.is_refusing = True
        try:
            yield self
        finally:
            self.is_refusing = False

    @contextlib.contextmanager
    def down(self):
        """Stop the server inside the block (connections are refused), then restart it."""
        self.stop()
        try:
            yield self
        finally:
            self.start()


@contextlib.contextmanager
def running(settings, **options):
    """A running SMTPServer with the default mailer pointed at it (pytest-django's
    `settings` restores MAILERS after the test)."""
    server = SMTPServer(**options).start()
    settings.MAILERS = server.mailers()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server(settings):
    """A running SMTPServer, with the default mailer pointed at it for the test."""
    with running(settings) as server:
        yield server
