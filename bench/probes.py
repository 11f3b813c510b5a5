"""Work the benchmark runs in a child process, so that its time and peak memory are
measured alone: `python -m bench.probes export|copy-export|import|copy-import ...`."""

import os
import sys
import time

import django


def export_lines():
    """Stream the one-row-per-line CSV export of the whole campaign to /dev/null,
    through the same code path as the admin's download."""
    from conversion import exports
    from conversion.models import Campaign

    campaign = Campaign.objects.get(slug="atr-13-06")
    response = exports.streaming_response("lines", campaign=campaign, fmt="csv")
    size = 0
    with open(os.devnull, "wb") as sink:
        for chunk in response.streaming_content:
            sink.write(chunk)
            size += len(chunk)
    print(f"bytes={size}")


COPY_EXPORT = """
COPY (
    SELECT d.code, d.name, c.short_name, o.code, o.name, l.identifier, l.quantity, l.location
    FROM conversion_inventoryline l
    JOIN departments_department d ON d.id = l.department_id
    JOIN conversion_offering o ON o.id = l.offering_id
    JOIN conversion_contractor c ON c.id = o.contractor_id
    ORDER BY d.code, l.id
) TO STDOUT WITH (FORMAT csv)
"""


def copy_export():
    """PostgreSQL's own COPY ... TO STDOUT of the same lines: the floor for an export."""
    from django.db import connection

    size = 0
    with connection.cursor() as cursor:
        raw = cursor.connection.cursor()
        with raw.copy(COPY_EXPORT) as copy:
            for data in copy:
                size += len(data)
    print(f"bytes={size}")


def import_file(path):
    from conversion.imports import import_inventory

    with open(path, encoding="utf-8-sig", newline="") as file:
        result = import_inventory(file)
    if not result.ok:
        raise SystemExit(f"import failed: {result.errors[:5]}")
    print(result.summary)


def copy_import(path):
    """COPY ... FROM STDIN of the same file into a scratch table: the floor for an import."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE scratch_inventory (department_code text, contractor text, "
            "service_code text, identifier text, quantity int, location text)"
        )
        raw = cursor.connection.cursor()
        with (
            open(path, "rb") as file,
            raw.copy("COPY scratch_inventory FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while data := file.read(1 << 16):
                copy.write(data)
        cursor.execute("SELECT count(*) FROM scratch_inventory")
        print(f"rows={cursor.fetchone()[0]}")


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    started = time.perf_counter()
    what, *args = sys.argv[1:]
    {
        "export": export_lines,
        "copy-export": copy_export,
        "import": import_file,
        "copy-import": copy_import,
    }[what](*args)
    print(f"seconds={time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main()
