"""Import inventory lines (each department's CALNET 2 services) from a CSV file.

    manage.py import_inventory samples/inventory.csv [--contract "CALNET 2"] [--dry-run]

The format is in README.md ("CSV imports"). Built for large files: rows are
checked and staged in batches, with progress on standard error, then applied by
the database in two statements, all in one transaction, so nothing is imported
if any row fails.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from conversion.imports import NotText, import_inventory
from conversion.models import Contract


def import_file(path, importer, **options):
    """Run `importer` on the CSV file at `path`; a file that cannot be read as UTF-8
    text stops the command with a message naming the file."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            return importer(file, **options)
    except UnicodeDecodeError as error:
        raise CommandError(f"{path} is not UTF-8 ({error.reason}).") from None
    except NotText as error:
        raise CommandError(f"{path}: {error}") from None
    except OSError as error:
        raise CommandError(str(error)) from None


def report(command, result, *, dry_run):
    """Print an import's errors and summary; fail (exit status 1) if there were errors."""
    for line, reason in result.errors:
        command.stderr.write(f"line {line}: {reason}")
    if result.errors:
        raise CommandError(result.summary)
    prefix = "Dry run, nothing changed: " if dry_run else ""
    command.stdout.write(command.style.SUCCESS(prefix + result.summary))


class Command(BaseCommand):
    help = "Import inventory lines from CSV (UTF-8, with or without BOM)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The CSV file.")
        parser.add_argument(
            "--contract",
            help="The contract whose services the file lists (default: the latest "
            "campaign's old contract).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report; change nothing."
        )

    def handle(self, *args, path, contract=None, dry_run=False, **options):
        if contract is not None:
            try:
                contract = Contract.objects.get(name=contract)
            except Contract.DoesNotExist:
                raise CommandError(f"No contract named {contract!r}.") from None
        started = time.monotonic()

        def progress(rows):
            rate = rows / max(time.monotonic() - started, 0.001)
            self.stderr.write(f"  {rows:,} rows ({rate:,.0f} rows/s)")

        result = import_file(
            path, import_inventory, contract=contract, dry_run=dry_run, progress=progress
        )
        report(self, result, dry_run=dry_run)
        self.stdout.write(f"Took {time.monotonic() - started:.1f}s.")
