"""Import departments and their people (the ATR list) from a CSV file.

    manage.py import_departments samples/departments.csv [--dry-run]

The format is in README.md ("CSV imports"). Every bad row is listed with its
line number; nothing is imported if any row fails.
"""

from django.core.management.base import BaseCommand

from conversion.imports import import_departments
from conversion.management.commands.import_inventory import import_file, report


class Command(BaseCommand):
    help = "Import departments and their people from CSV (UTF-8, with or without BOM)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The CSV file.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report; change nothing."
        )

    def handle(self, *args, path, dry_run=False, **options):
        result = import_file(path, import_departments, dry_run=dry_run)
        report(self, result, dry_run=dry_run)
