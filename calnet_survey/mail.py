"""The demo's email backend: each message printed as a person would read it.

Django's console backend prints the raw MIME message, in which a text body with
long lines is quoted-printable: a sign-in link comes out as `token=3D...` broken
over lines, and a newcomer cannot copy it from the terminal. This one prints the
headers that matter and the plain-text part as it reads.
"""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.mail.backends.console import EmailBackend as ConsoleBackend

BACKEND = "calnet_survey.mail.ReadableConsoleBackend"


class ReadableConsoleBackend(ConsoleBackend):
    def write_message(self, message):
        lines = [
            f"From: {message.from_email}",
            f"To: {', '.join(message.to)}",
        ]
        if message.cc:
            lines.append(f"Cc: {', '.join(message.cc)}")
        lines += [f"Subject: {message.subject}", "", message.body.rstrip(), "-" * 79, ""]
        self.stream.write("\n".join(lines))


@register(Tags.mail, deploy=True)
def check_not_readable_console(app_configs, **kwargs):
    """Like Django's own mail.E001 for its console backend: not in production."""
    backend = getattr(settings, "MAILERS", {}).get("default", {}).get("BACKEND")
    if backend != BACKEND:
        return []
    return [
        Error(
            "EMAIL_URL is console://: email would be printed, not sent.",
            hint="Set EMAIL_URL to the SMTP relay, for example smtp+tls://user:pass@host:587.",
            id="calnet_survey.E001",
        )
    ]
