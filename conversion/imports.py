"""CSV imports: departments with their people (the ATR list), and inventories.

Both imports follow the same rules (PRODUCT.md, "Bad input and failures"):

- every bad row is reported with its line number and reason, and nothing is
  imported if any row fails: the whole file is applied in one transaction,
  rolled back at the end if an error was found;
- UTF-8 with or without a byte-order mark;
- a row repeating another row's natural key is an error (duplicate);
- rows are upserts by natural key (department code; person by department and
  email; inventory line by department, offering and identifier), so importing
  the same file again changes nothing. Imports add and update; they never delete.

An inventory is checked row by row against dictionaries of the departments and
the contract's services, and its good rows are staged in a temporary table
(with PostgreSQL's COPY; plain inserts on SQLite). The database then finds the
duplicates and applies the file with two statements, an update of the changed
lines and an insert of the new ones: no per-row queries, and memory holds one
batch of rows, whatever the size of the file.
"""

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from conversion.models import MAX_LINE_QUANTITY, Contract, Contractor, Offering
from departments.models import (
    Department,
    DepartmentKind,
    LocalGovernmentType,
    Person,
    PersonSource,
    normalize_email,
)

BATCH = 5_000
MAX_ERRORS = 1_000  # beyond this the report would help nobody; the file is refused anyway

DEPARTMENT_COLUMNS = [
    "department_code",
    "department_name",
    "kind",
    "local_government_type",
    "name",
    "title",
    "email",
    "phone",
    "atr",
]
DEPARTMENT_REQUIRED = ["department_code", "department_name", "kind", "name", "email"]

INVENTORY_COLUMNS = ["department_code", "contractor", "service_code", "identifier"]
INVENTORY_OPTIONAL = ["quantity", "location"]

YES = {"yes", "y", "true", "1", "x"}
NO = {"no", "n", "false", "0", ""}


class Rollback(Exception):
    """Raised inside the import's transaction to undo it (errors, or a dry run)."""


@dataclass
class ImportResult:
    rows: int = 0
    errors: list = field(default_factory=list)  # [line number, reason]
    counts: dict = field(default_factory=dict)  # "departments created" -> n
    applied: bool = False

    def error(self, line, reason):
        if len(self.errors) < MAX_ERRORS:
            self.errors.append([line, reason])
        elif len(self.errors) == MAX_ERRORS:
            self.errors.append([line, "Too many errors: the rest of the file was not checked."])

    def count(self, what, n=1):
        self.counts[what] = self.counts.get(what, 0) + n

    @property
    def ok(self):
        return not self.errors

    @property
    def summary(self):
        if self.errors:
            return f"{len(self.errors)} error(s) in {self.rows:,} rows: nothing imported."
        parts = [f"{n:,} {what}" for what, n in self.counts.items() if n]
        return f"{self.rows:,} rows: " + (", ".join(parts) if parts else "nothing to change") + "."


class NotText(ValueError):
    """The file holds a NUL character: it is not a text CSV file (a spreadsheet saved
    in its own format, say). PostgreSQL refuses NUL in text, so it is stopped here."""

    def __init__(self, line):
        super().__init__(f"Line {line} holds a NUL character: this is not a text CSV file.")
        self.line = line


def _text_only(lines):
    """The lines unchanged, or NotText at the first one holding a NUL character."""
    for number, line in enumerate(lines, start=1):
        if "\x00" in line:
            raise NotText(number)
        yield line


def decode(data):
    """Text from uploaded bytes: UTF-8, with or without a byte-order mark.
    Raises ValidationError naming the line of the first byte that is not UTF-8,
    or of the first NUL byte."""
    if b"\x00" in data:
        error = NotText(data[: data.index(b"\x00")].count(b"\n") + 1)
        raise ValidationError(str(error), code="not_text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValidationError(
            "Line %(line)d is not UTF-8: save the file as “CSV UTF-8” and upload it again.",
            code="encoding",
            params={"line": line},
        ) from None


def _reader(lines, *, required, optional, result):
    """csv.DictReader-like rows with normalised headers; None if the header is wrong.
    Raises NotText on a NUL character."""
    reader = csv.reader(_text_only(lines))
    try:
        header = next(reader)
    except StopIteration:
        result.error(1, "The file is empty.")
        return None, None
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    header = [h.strip().lower().replace(" ", "_") for h in header]
    missing = [c for c in required if c not in header]
    unknown = [h for h in header if h not in required and h not in optional]
    if missing:
        result.error(1, "Missing column(s): " + ", ".join(missing) + ".")
    if unknown:
        result.error(1, "Unknown column(s): " + ", ".join(unknown) + ".")
    if len(set(header)) != len(header):
        result.error(1, "A column appears twice.")
    if result.errors:
        return None, None
    return reader, header


def _rows(reader, header, result):
    """(line number, {column: stripped value}) for each non-blank row."""
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        result.rows += 1
        if len(values) != len(header):
            result.error(reader.line_num, f"Expected {len(header)} values, found {len(values)}.")
            continue
        yield reader.line_num, {h: v.strip() for h, v in zip(header, values, strict=True)}


def _choice(value, choices):
    """A TextChoices value from its code or its label, case-insensitively."""
    wanted = value.strip().lower()
    for code, label in choices:
        if wanted in (code.lower(), label.lower()):
            return code
    return None


def _too_long(row, limits):
    for column, limit in limits.items():
        if len(row.get(column, "")) > limit:
            return f"{column} is longer than {limit} characters."
    return ""


# ---------------------------------------------------------------------------
# Departments and people
# ---------------------------------------------------------------------------

DEPARTMENT_LIMITS = {
    "department_code": 20,
    "department_name": 200,
    "name": 200,
    "title": 200,
    "email": 254,
    "phone": 40,
}


def _check_person_row(line, row, result):
    """The cleaned (department, person) values of one row, or None after reporting."""
    reasons = [f"{c} is required." for c in DEPARTMENT_REQUIRED if not row.get(c)]
    if too_long := _too_long(row, DEPARTMENT_LIMITS):
        reasons.append(too_long)
    kind = _choice(row.get("kind", ""), DepartmentKind.choices)
    if row.get("kind") and kind is None:
        reasons.append(
            f"Unknown kind “{row['kind']}”: use one of " + ", ".join(DepartmentKind.values) + "."
        )
    lgt = ""
    if row.get("local_government_type"):
        lgt = _choice(row["local_government_type"], LocalGovernmentType.choices)
        if lgt is None:
            reasons.append(f"Unknown local government type “{row['local_government_type']}”.")
        elif kind and kind != DepartmentKind.NON_STATE:
            reasons.append("A local government type is only for a Non-State Entity.")
    email = normalize_email(row.get("email"))
    if email:
        try:
            validate_email(email)
        except ValidationError:
            reasons.append(f"“{row['email']}” is not an email address.")
    atr = row.get("atr", "").lower()
    if atr not in YES | NO:
        reasons.append(f"atr must be yes or no, not “{row['atr']}”.")
    if reasons:
        result.error(line, " ".join(reasons))
        return None
    department = {
        "code": row["department_code"],
        "name": row["department_name"],
        "kind": kind,
        "local_government_type": lgt or "",
    }
    person = {
        "name": row["name"],
        "title": row.get("title", ""),
        "email": email,
        "phone": row.get("phone", ""),
        "is_atr": atr in YES,
    }
    return department, person


def import_departments(lines, *, dry_run=False, user=None):
    """Import departments and their people from CSV text lines (see README).

    One row per person; the department's columns repeat on each of its rows
    and must agree. Returns an ImportResult; nothing is written unless it is ok
    (and not a dry run)."""
    result = ImportResult()
    reader, header = _reader(
        lines, required=DEPARTMENT_REQUIRED, optional=DEPARTMENT_COLUMNS, result=result
    )
    if reader is None:
        return result
    departments = {}  # code -> (first line, values)
    people = {}  # (code, email) -> (line, values)
    atrs = {}  # code -> line of its ATR row
    for line, row in _rows(reader, header, result):
        checked = _check_person_row(line, row, result)
        if checked is None:
            continue
        department, person = checked
        code = department["code"]
        if code in departments:
            first, known = departments[code]
            if known != department:
                result.error(
                    line,
                    f"Department {code} is described differently on line {first} "
                    "(name, kind and local government type must agree).",
                )
                continue
        else:
            departments[code] = (line, department)
        key = (code, person["email"])
        if key in people:
            result.error(line, f"Duplicate of line {people[key][0]}: {person['email']} in {code}.")
            continue
        if person["is_atr"]:
            if code in atrs:
                result.error(line, f"Department {code} already has its ATR on line {atrs[code]}.")
                continue
            atrs[code] = line
        people[key] = (line, person)
    if result.errors:
        return result
    try:
        with transaction.atomic():
            _apply_departments(departments, people, result, user=user)
            if dry_run:
                raise Rollback
    except Rollback:
        return result
    result.applied = True
    return result


def _apply_departments(departments, people, result, *, user):
    existing = Department.objects.in_bulk(list(departments), field_name="code")
    new, changed = [], []
    for code, (_, values) in departments.items():
        department = existing.get(code)
        if department is None:
            new.append(Department(**values))
            continue
        if any(getattr(department, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(department, k, v)
            changed.append(department)
    if new:
        bulk_create_with_history(new, Department, batch_size=BATCH, default_user=user)
    if changed:
        bulk_update_with_history(
            changed,
            Department,
            ["name", "kind", "local_government_type"],
            batch_size=BATCH,
            default_user=user,
        )
    result.count("departments created", len(new))
    result.count("departments updated", len(changed))
    ids = dict(Department.objects.filter(code__in=departments).values_list("code", "pk"))

    current = {
        (p.department_id, p.email): p for p in Person.objects.filter(department_id__in=ids.values())
    }
    new, changed = [], []
    file_atr = {}
    for (code, email), (_, values) in people.items():
        department_id = ids[code]
        if values["is_atr"]:
            file_atr[department_id] = email
        person = current.get((department_id, email))
        if person is None:
            new.append(Person(department_id=department_id, source=PersonSource.IMPORT, **values))
            continue
        if any(getattr(person, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(person, k, v)
            changed.append(person)
    # A department has one ATR: naming a new one in the file replaces the old one.
    for (department_id, email), person in current.items():
        if person.is_atr and department_id in file_atr and file_atr[department_id] != email:
            person.is_atr = False
            if person not in changed:
                changed.append(person)
    if new:
        bulk_create_with_history(new, Person, batch_size=BATCH, default_user=user)
    if changed:
        bulk_update_with_history(
            changed,
            Person,
            ["name", "title", "phone", "is_atr"],
            batch_size=BATCH,
            default_user=user,
        )
    result.count("people created", len(new))
    result.count("people updated", len(changed))


# ---------------------------------------------------------------------------
# Inventories
# ---------------------------------------------------------------------------

INVENTORY_LIMITS = {"identifier": 60, "location": 200}


def default_contract():
    """The contract whose services inventories list: the old contract of the latest campaign."""
    from conversion.models import Campaign

    campaign = Campaign.objects.order_by("-opens_at").select_related("old_contract").first()
    return campaign.old_contract if campaign else None


class _InventoryLookups:
    """Departments, contractors and offerings by the names a CSV uses (small tables)."""

    def __init__(self, contract):
        self.departments = dict(Department.objects.values_list("code", "pk"))
        self.contractors = {}
        for pk, name, short in Contractor.objects.values_list("pk", "name", "short_name"):
            self.contractors[name.lower()] = pk
            self.contractors[short.lower()] = pk
        self.offerings = {
            (contractor, code.lower()): pk
            for pk, contractor, code in Offering.objects.filter(contract=contract).values_list(
                "pk", "contractor_id", "code"
            )
        }
        # The offering named by (contractor as written, service code), both lower-cased:
        # one look-up per row on the fast path.
        self.offerings_by_name = {
            (name, code): pk
            for name, contractor in self.contractors.items()
            for (owner, code), pk in self.offerings.items()
            if owner == contractor
        }


def _check_line_row(line, row, lookups, contract, result):
    reasons = [f"{c} is required." for c in INVENTORY_COLUMNS if not row.get(c)]
    if too_long := _too_long(row, INVENTORY_LIMITS):
        reasons.append(too_long)
    department = lookups.departments.get(row.get("department_code"))
    if row.get("department_code") and department is None:
        reasons.append(f"No department with code {row['department_code']}.")
    contractor = lookups.contractors.get(row.get("contractor", "").lower())
    if row.get("contractor") and contractor is None:
        reasons.append(f"No contractor named {row['contractor']}.")
    offering = None
    if contractor and row.get("service_code"):
        offering = lookups.offerings.get((contractor, row["service_code"].lower()))
        if offering is None:
            reasons.append(
                f"{row['contractor']} has no {contract} service with code {row['service_code']}."
            )
    quantity = 1
    if row.get("quantity"):
        try:
            quantity = int(row["quantity"])
        except ValueError:
            quantity = 0
        if not 1 <= quantity <= MAX_LINE_QUANTITY:
            reasons.append(
                f"quantity must be a whole number from 1 to {MAX_LINE_QUANTITY:,}, "
                f"not “{row['quantity']}”."
            )
    if reasons:
        result.error(line, " ".join(reasons))
        return None
    return (department, offering, row["identifier"]), (quantity, row.get("location", ""))


def _checked_lines(reader, header, lookups, contract, result):
    """Batches of good rows, as staged: (line number, department id, offering id,
    identifier, quantity, location, and as written: department code, contractor,
    service code). Bad rows are reported and left out.

    Most rows are good: they take a fast path of a few look-ups; any row it does not
    accept goes through `_check_line_row`, which names every reason."""
    column = {name: i for i, name in enumerate(header)}
    code_at, contractor_at, service_at, identifier_at = (column[c] for c in INVENTORY_COLUMNS)
    quantity_at, location_at = column.get("quantity"), column.get("location")
    width = len(header)
    departments, offerings = lookups.departments, lookups.offerings_by_name
    identifier_limit, location_limit = INVENTORY_LIMITS["identifier"], INVENTORY_LIMITS["location"]
    batch = []
    for values in reader:
        if len(values) == width:
            values = [v.strip() for v in values]
            code, contractor, service = values[code_at], values[contractor_at], values[service_at]
            identifier = values[identifier_at]
            quantity = values[quantity_at] if quantity_at is not None else ""
            location = values[location_at] if location_at is not None else ""
            department = departments.get(code)
            offering = offerings.get((contractor.lower(), service.lower()))
            if not quantity:
                quantity = 1
            elif quantity.isdecimal():
                quantity = int(quantity)
            if (
                department
                and offering
                and identifier
                and len(identifier) <= identifier_limit
                and len(location) <= location_limit
                and isinstance(quantity, int)
                and 1 <= quantity <= MAX_LINE_QUANTITY
            ):
                result.rows += 1
                batch.append(
                    (
                        reader.line_num,
                        department,
                        offering,
                        identifier,
                        quantity,
                        location,
                        code,
                        contractor,
                        service,
                    )
                )
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
                continue
        if not any(v.strip() for v in values):
            continue
        result.rows += 1
        if len(values) != width:
            result.error(reader.line_num, f"Expected {width} values, found {len(values)}.")
            continue
        row = {h: v.strip() for h, v in zip(header, values, strict=True)}
        checked = _check_line_row(reader.line_num, row, lookups, contract, result)
        if checked is not None:
            (department, offering, identifier), (quantity, location) = checked
            batch.append(
                (
                    reader.line_num,
                    department,
                    offering,
                    identifier,
                    quantity,
                    location,
                    row["department_code"],
                    row["contractor"],
                    row["service_code"],
                )
            )
    yield batch


# The good rows of the file, with their line numbers and names as written (for the
# duplicate report), dropped with the transaction.
CREATE_STAGING = """
CREATE TEMPORARY TABLE import_inventory_staging (
    line integer NOT NULL,
    department_id bigint NOT NULL,
    offering_id bigint NOT NULL,
    identifier varchar(60) NOT NULL,
    quantity integer NOT NULL,
    location varchar(200) NOT NULL,
    department_code text NOT NULL,
    contractor text NOT NULL,
    service_code text NOT NULL
)"""
COPY_STAGING = "COPY import_inventory_staging FROM STDIN"
INSERT_STAGING = "INSERT INTO import_inventory_staging VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"

# Every row repeating an earlier row's natural key, with the first row's line.
DUPLICATES = """
SELECT s.line, d.first_line, s.identifier, s.contractor, s.service_code, s.department_code
FROM import_inventory_staging s
JOIN (
    SELECT department_id, offering_id, identifier, min(line) AS first_line
    FROM import_inventory_staging
    GROUP BY department_id, offering_id, identifier
    HAVING count(*) > 1
) d ON d.department_id = s.department_id AND d.offering_id = s.offering_id
    AND d.identifier = s.identifier
WHERE s.line <> d.first_line
ORDER BY s.line"""

# The upsert, by (department, offering, identifier): UPDATE ... FROM and NOT EXISTS
# read the same on PostgreSQL and SQLite (3.33 or later).
UPDATE_CHANGED = """
UPDATE conversion_inventoryline SET quantity = s.quantity, location = s.location
FROM import_inventory_staging s
WHERE conversion_inventoryline.department_id = s.department_id
    AND conversion_inventoryline.offering_id = s.offering_id
    AND conversion_inventoryline.identifier = s.identifier
    AND (conversion_inventoryline.quantity <> s.quantity
        OR conversion_inventoryline.location <> s.location)"""
INSERT_NEW = """
INSERT INTO conversion_inventoryline
    (department_id, offering_id, identifier, quantity, location, created_at)
SELECT s.department_id, s.offering_id, s.identifier, s.quantity, s.location, %s
FROM import_inventory_staging s
WHERE NOT EXISTS (
    SELECT 1 FROM conversion_inventoryline l
    WHERE l.department_id = s.department_id AND l.offering_id = s.offering_id
        AND l.identifier = s.identifier
)
ORDER BY s.department_id, s.offering_id, s.identifier"""


def _stage(cursor, batches, progress, result):
    """Write the batches of good rows to the staging table: COPY on PostgreSQL."""
    cursor.execute("DROP TABLE IF EXISTS import_inventory_staging")
    cursor.execute(CREATE_STAGING)
    if connection.vendor == "postgresql":
        with cursor.connection.cursor() as raw, raw.copy(COPY_STAGING) as copy:
            for batch in batches:
                for row in batch:
                    copy.write_row(row)
                if progress:
                    progress(result.rows)
        # A temporary table is never analysed automatically: without statistics the
        # planner would join a million staged rows as if they were a handful.
        cursor.execute("ANALYZE import_inventory_staging")
        return
    for batch in batches:
        cursor.executemany(INSERT_STAGING, batch)
        if progress:
            progress(result.rows)


def _report_duplicates(cursor, result):
    """Report each row repeating an earlier row's (department, offering, identifier),
    merged in line order with the errors found so far."""
    if len(result.errors) > MAX_ERRORS:
        return  # the file is refused and the report already full
    cursor.execute(DUPLICATES)
    duplicates = [
        [line, f"Duplicate of line {first}: {identifier} of {contractor} {service} in {code}."]
        for line, first, identifier, contractor, service, code in cursor.fetchall()
    ]
    if duplicates:
        errors = sorted(result.errors + duplicates, key=lambda error: error[0])
        result.errors = []
        for line, reason in errors:
            result.error(line, reason)


def _apply_lines(cursor, result):
    """Upsert the staged rows: one statement updates the lines whose quantity or
    location changed, one inserts the new ones (in the unique index's order, which
    keeps the index writes local)."""
    cursor.execute(UPDATE_CHANGED)
    updated = cursor.rowcount
    cursor.execute(INSERT_NEW, [timezone.now()])
    created = cursor.rowcount
    cursor.execute("SELECT count(*) FROM import_inventory_staging")
    unchanged = cursor.fetchone()[0] - created - updated
    result.count("lines created", created)
    result.count("lines updated", updated)
    result.count("lines unchanged", unchanged)


def import_inventory(lines, *, contract=None, dry_run=False, user=None, progress=None):
    """Import inventory lines from CSV text lines (see README).

    `progress(rows)` is called after each batch of `BATCH` rows. Returns an
    ImportResult; nothing is written unless it is ok (and not a dry run)."""
    result = ImportResult()
    contract = contract or default_contract()
    if contract is None:
        result.error(0, "There is no contract to import services of: create a campaign first.")
        return result
    if isinstance(contract, str):
        contract = Contract.objects.get(name=contract)
    reader, header = _reader(
        lines, required=INVENTORY_COLUMNS, optional=INVENTORY_OPTIONAL, result=result
    )
    if reader is None:
        return result
    lookups = _InventoryLookups(contract)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            batches = _checked_lines(reader, header, lookups, contract, result)
            _stage(cursor, batches, progress, result)
            _report_duplicates(cursor, result)
            # The staging table goes with the transaction when it is rolled back.
            if result.errors:
                raise Rollback
            _apply_lines(cursor, result)
            if dry_run:
                raise Rollback
            cursor.execute("DROP TABLE import_inventory_staging")
    except Rollback:
        return result
    result.applied = True
    return result


def text_lines(text):
    """Lines of decoded CSV text, for the importers (csv needs newline-preserving input)."""
    return io.StringIO(text, newline="")
