"""Queue the campaign emails that are due and deliver every queued message.

Safe to run every few minutes from cron, a systemd timer or a Kubernetes
CronJob, on any number of nodes at once: each message has a unique key in the
email log (so deciding it twice queues it once) and is claimed with a
conditional update before it is sent (so two runs never both send it).
"""

import logging

from django.core.management.base import BaseCommand
from django.utils import timezone

from conversion import emails, reminders
from conversion.models import OutboundEmail

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Queue due invitations, reminders, overdue notices and digests, then send "
        "every queued email that is due (retrying failures with backoff)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List what would be queued and sent; change nothing.",
        )

    def handle(self, *, dry_run, verbosity, **options):
        now = timezone.now()
        occasions = reminders.new_occasions(now)
        if dry_run:
            self._list(occasions, now)
            return
        queued = errors = 0
        for occasion in occasions:
            try:
                result = occasion.queue()
            except Exception:
                # One department's bad data must not stop everyone else's email.
                errors += 1
                logger.exception("Could not queue %s", occasion.description)
                continue
            rows = result if isinstance(result, list) else [result]
            queued += sum(getattr(row, "is_new", False) for row in rows)
            if verbosity > 1:
                self.stdout.write(f"queued {occasion.description}")
        stats = emails.deliver_due()
        summary = f"send_reminders: queued={queued} {stats}"
        if errors:
            summary += f" errors={errors}"
        self.stdout.write(summary)

    def _list(self, occasions, now):
        """--dry-run: what would be queued, then what is already queued and due."""
        queued = 0
        for occasion in occasions:
            for key, recipient in occasion.missing.items():
                queued += 1
                self.stdout.write(f"would queue {occasion.kind} to {recipient} ({key})")
        due = OutboundEmail.objects.due(now).order_by("next_attempt_at", "pk")
        count = 0
        for email in due.only("kind", "recipient", "key", "attempts"):
            count += 1
            retry = f", attempt {email.attempts + 1}" if email.attempts else ""
            self.stdout.write(f"would send {email.kind} to {email.recipient} ({email.key}{retry})")
        self.stdout.write(f"send_reminders --dry-run: would queue={queued} would send={count}")
