"""Import departments and their people (the ATR list) from a CSV file.

    manage.py import_departments samples/departments.csv [--dry-run]

The format is in README.md ("CSV imports"). Every bad row is listed with its
line number; nothing is imported if any row fails.
"""

from django.core.management.base import BaseCommand, CommandError

from conversion.imports import NotText, import_departments
from conversion.management.commands.import_inventory import report


class Command(BaseCommand):
    help = "Import departments and their people from CSV (UTF-8, with or without BOM)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The CSV file.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report; change nothing."
        )

    def handle(self, *args, path, dry_run=False, **options):
        try:
            with open(path, encoding="utf-8-sig", newline="") as file:
                result = import_departments(file, dry_run=dry_run)
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 ({error.reason}).") from None
        except NotText as error:
            raise CommandError(f"{path}: {error}") from None
        except OSError as error:
            raise CommandError(str(error)) from None
        report(self, result, dry_run=dry_run)
