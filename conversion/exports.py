"""Exports of one campaign's answers, as CSV or XLSX, streamed in constant memory.

Three exports, each a generator of rows (the header first):

- `department_rows`: one row per department, with its status, contacts,
  preferred window and line counts by decision;
- `line_rows`: one row per inventory line with its effective decision (the
  line's exception, else its group's decision, else the bulletin's default);
- `contractor_rows`: per contractor, the lines it must transition or receive by
  migration, with the department's Coordinator to call.

Lines are read with a server-side cursor (`.iterator()`) in the order of their
unique index (department, offering, identifier), with each line's exception
joined by the database; departments, the catalogue and the campaign's group
decisions are read once into dictionaries. Memory holds those (thousands of
entries), never the inventory.

Rows are written by a small CSV writer and a small XLSX writer (inline strings,
no per-cell objects), both streamed. The lines of one department and CALNET 2
service share the cells before and after their own three, so those are encoded
once per group, not once per line: a 1,000,000-line export is then bound by
reading the lines, not by formatting them.
"""

import re
import tempfile
import zipfile
from collections.abc import Callable
from typing import NamedTuple
from xml.sax.saxutils import escape

from django.db.models import F, FilteredRelation, Q
from django.http import StreamingHttpResponse
from django.utils import timezone

from conversion import rules
from conversion.models import (
    MIGRATIONS,
    Choice,
    Decision,
    InventoryLine,
    Offering,
    ResponseStatus,
)
from departments.models import Department, DepartmentKind

CHUNK = 5_000  # lines per round trip of the server-side cursor
FLUSH_CHARS = 64 * 1024

EXPORTS = {
    "departments": "One row per department",
    "lines": "One row per inventory line with its decision",
    "contractors": "Lines each contractor must transition or receive by migration",
}


def _departments_with_response(campaign, departments):
    """Departments with their response to `campaign` (if any) joined in one query."""
    return departments.annotate(
        r=FilteredRelation("responses", condition=Q(responses__campaign=campaign))
    )


def _date(value):
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _month(value):
    return value.strftime("%Y-%m") if value else ""


def _yes(flag):
    return "yes" if flag else "no"


DEPARTMENT_COLUMNS = [
    "department code",
    "department",
    "kind",
    "status",
    "late",
    "submitted",
    "accepted",
    "manager",
    "manager title",
    "manager email",
    "manager phone",
    "coordinator",
    "coordinator title",
    "coordinator email",
    "coordinator phone",
    "window start",
    "window end",
    "plans to migrate",
    "constraints or blackout periods",
    "comments",
    "transition lines",
    "migration lines",
    "disconnect lines",
    "undecided lines",
    "kind flagged",
]


def department_rows(*, campaign, departments):
    """One row per department of `departments`, answered or not."""
    statuses = dict(ResponseStatus.choices)
    kinds = dict(DepartmentKind.choices)
    person = ["name", "title", "email", "phone"]
    fields = [
        "code",
        "name",
        "kind",
        "r__status",
        "r__is_late",
        "r__submitted_at",
        "r__accepted_at",
        *(f"r__manager__{f}" for f in person),
        *(f"r__coordinator__{f}" for f in person),
        "r__window_start",
        "r__window_end",
        "r__migration_plans",
        "r__blackout_periods",
        "r__comments",
        "r__lines_transition",
        "r__lines_migration",
        "r__lines_disconnect",
        "r__lines_undecided",
        "r__kind_flag_note",
    ]
    yield DEPARTMENT_COLUMNS
    rows = (
        _departments_with_response(campaign, departments)
        .order_by("name", "code")
        .values_list(*fields)
    )
    for row in rows.iterator(chunk_size=CHUNK):
        (code, name, kind, status, late, submitted, accepted, *rest) = row
        contacts, rest = rest[:8], rest[8:]
        start, end, plans, blackout, comments, t, m, d, u, flag = rest
        yield [
            code,
            name,
            kinds.get(kind, kind),
            statuses.get(status or ResponseStatus.NOT_STARTED),
            _yes(late),
            _date(submitted),
            _date(accepted),
            *(value or "" for value in contacts),
            _month(start),
            _month(end),
            plans or "",
            blackout or "",
            comments or "",
            t or 0,
            m or 0,
            d or 0,
            u or 0,
            flag or "",
        ]


class _Catalogue:
    """Every offering, loaded once (a catalogue holds dozens, not thousands), and the
    default choice of each (department kind, offering), worked out once."""

    def __init__(self, on):
        self.on = on
        self.offerings = {
            o.pk: o
            for o in Offering.objects.select_related(
                "contractor", "category", "successor__contractor", "successor__category"
            )
        }
        self._defaults = {}

    def default_choice(self, kind, offering_id):
        key = (kind, offering_id)
        if key not in self._defaults:
            self._defaults[key] = rules.default_choice(kind, self.offerings[offering_id], self.on)
        return self._defaults[key]


def _effective_decisions(*, campaign, departments, on):
    """Yield (department, offering, identifier, quantity, location, decision) for every
    line of `departments`, in (department, offering, identifier) order.

    `department` is (pk, code, name, kind), `offering` an Offering and `decision` a
    (choice, target offering or None, source) tuple, where `source` says where the
    choice comes from: "exception", "group", "default", or "" when the line is
    undecided. Lines share these objects (one per department, offering and distinct
    decision), so callers can work out what follows from them once per group."""
    catalogue = _Catalogue(on)
    shared = {}  # a decision -> the one tuple standing for it

    def decision(choice, target_id, source):
        key = (choice, catalogue.offerings.get(target_id), source)
        return shared.setdefault(key, key)

    by_pk = {row[0]: row for row in departments.values_list("pk", "code", "name", "kind")}
    groups = {
        (department_id, offering_id): decision(choice, target_id, "group")
        for department_id, offering_id, choice, target_id in Decision.objects.filter(
            response__campaign=campaign, response__department__in=departments, line=None
        ).values_list("response__department_id", "offering_id", "choice", "target_id")
    }
    # A line's exception (its department's response's decision naming it) is joined to
    # the line by the database: there may be as many exceptions as lines.
    lines = (
        InventoryLine.objects.filter(department__in=departments)
        .annotate(
            response=FilteredRelation(
                "department__responses", condition=Q(department__responses__campaign=campaign)
            ),
            exception=FilteredRelation(
                "decisions", condition=Q(decisions__response=F("response__pk"))
            ),
        )
        .order_by("department_id", "offering_id", "identifier")
        .values_list(
            "department_id",
            "offering_id",
            "identifier",
            "quantity",
            "location",
            "exception__choice",
            "exception__target_id",
        )
    )
    group = (None, None)
    for (
        department_id,
        offering_id,
        identifier,
        quantity,
        location,
        choice,
        target,
    ) in lines.iterator(chunk_size=CHUNK):
        if offering_id != group[1] or department_id != group[0]:
            group = (department_id, offering_id)
            department = by_pk[department_id]
            offering = catalogue.offerings[offering_id]
            group_decision = groups.get(group)
            if group_decision is None:
                default = catalogue.default_choice(department[3], offering_id)
                group_decision = decision(default, None, "default" if default else "")
        yield (
            department,
            offering,
            identifier,
            quantity,
            location,
            group_decision if choice is None else decision(choice, target, "exception"),
        )


LINE_COLUMNS = [
    "department code",
    "department",
    "kind",
    "incumbent contractor",
    "CALNET 2 service code",
    "CALNET 2 service",
    "account or circuit id",
    "quantity",
    "location",
    "decision",
    "decided by",
    "CALNET 3 contractor",
    "CALNET 3 service code",
    "CALNET 3 service",
    "CALNET 3 category",
    "Form 20 needed",
    "ATO needed",
    "disconnect notice needed",
]

SOURCES = {
    "exception": "department (this line)",
    "group": "department",
    "default": "default (automatic transition)",
    "": "",
}


def _new_service(offering, choice, target):
    """The CALNET 3 offering the line converts to, or None (disconnect, undecided)."""
    if choice == Choice.TRANSITION:
        return rules.transition_target(offering)
    if choice in MIGRATIONS:
        return target
    return None


def _line_parts(*, campaign, departments, on=None):
    """The line export as (head, cells, tail) rows, the header first: `cells` are the
    line's own (identifier, quantity, location); `head` (department and CALNET 2
    service) and `tail` (the effective decision) are tuples shared by the lines of a
    group, built once per group and per distinct decision."""
    on = on or timezone.localdate()
    choices = dict(Choice.choices)
    kinds = dict(DepartmentKind.choices)
    tails = {}
    yield (), LINE_COLUMNS, ()
    department = offering = decision = None
    for (
        line_department,
        line_offering,
        identifier,
        quantity,
        location,
        line_decision,
    ) in _effective_decisions(campaign=campaign, departments=departments, on=on):
        if line_department is not department or line_offering is not offering:
            department, offering, decision = line_department, line_offering, None
            _, code, name, kind = department
            head = (
                code,
                name,
                kinds.get(kind, kind),
                offering.contractor.name,
                offering.code,
                offering.name,
            )
        if line_decision is not decision:
            decision = line_decision
            key = (kind, offering.pk, decision)
            if key not in tails:
                choice, target, source = decision
                new = _new_service(offering, choice, target)
                tails[key] = (
                    choices.get(choice, "undecided"),
                    SOURCES[source],
                    new.contractor.name if new else "",
                    new.code if new else "",
                    new.name if new else "",
                    new.category.number if new else "",
                    _yes(choice and rules.needs_form_20(choice)),
                    _yes(choice and rules.needs_ato(kind, choice)),
                    _yes(choice and rules.needs_disconnect_notice(choice)),
                )
            tail = tails[key]
        yield head, (identifier, quantity, location), tail


def line_rows(*, campaign, departments, on=None):
    """One row per inventory line of `departments`, with its effective decision."""
    for head, cells, tail in _line_parts(campaign=campaign, departments=departments, on=on):
        yield [*head, *cells, *tail]


CONTRACTOR_COLUMNS = [
    "contractor",
    "conversion",
    "department code",
    "department",
    "kind",
    "coordinator",
    "coordinator email",
    "coordinator phone",
    "manager",
    "manager email",
    "manager phone",
    "from contractor",
    "CALNET 2 service",
    "account or circuit id",
    "quantity",
    "location",
    "CALNET 3 service code",
    "CALNET 3 service",
    "Form 20 needed",
    "ATO needed",
]


def contractor_rows(*, campaign, departments, contractor=None, on=None):
    """The lines each CALNET 3 contractor must transition (its own CALNET 2 lines) or
    receive by migration, with the department's contacts; only `contractor`'s when
    given."""
    on = on or timezone.localdate()
    kinds = dict(DepartmentKind.choices)
    contacts = {
        row[0]: row[1:]
        for row in _departments_with_response(campaign, departments).values_list(
            "pk",
            "r__coordinator__name",
            "r__coordinator__email",
            "r__coordinator__phone",
            "r__manager__name",
            "r__manager__email",
            "r__manager__phone",
        )
    }
    yield CONTRACTOR_COLUMNS
    for department, offering, identifier, quantity, location, decision in _effective_decisions(
        campaign=campaign, departments=departments, on=on
    ):
        choice, target, _ = decision
        if choice not in (Choice.TRANSITION, *MIGRATIONS):
            continue
        new = _new_service(offering, choice, target)
        if new is None or (contractor is not None and new.contractor_id != contractor.pk):
            continue
        department_id, code, name, kind = department
        yield [
            new.contractor.name,
            "Transition" if choice == Choice.TRANSITION else Choice(choice).label,
            code,
            name,
            kinds.get(kind, kind),
            *(value or "" for value in contacts.get(department_id, ("",) * 6)),
            offering.contractor.name,
            offering.name,
            identifier,
            quantity,
            location,
            new.code,
            new.name,
            _yes(rules.needs_form_20(choice)),
            _yes(rules.needs_ato(kind, choice)),
        ]


# ---------------------------------------------------------------------------
# Writing rows as CSV or XLSX, streamed
# ---------------------------------------------------------------------------

# Cells that a spreadsheet would run as a formula (CSV injection) get a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value):
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


_CSV_QUOTED = re.compile('[",\r\n]')


def _csv_cell(value):
    """One cell as the csv module writes it (QUOTE_MINIMAL), made safe."""
    if isinstance(value, str):
        if value.startswith(FORMULA_START):
            value = "'" + value
        if _CSV_QUOTED.search(value):
            return '"' + value.replace('"', '""') + '"'
        return value
    return "" if value is None else str(value)


# Characters XML 1.0 cannot hold (as openpyxl drops them), and those it must escape.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_XML_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_cell(value):
    """One cell of a worksheet's XML: numbers as numbers, text as an inline string."""
    if value is None or value == "":
        return "<c/>"
    if isinstance(value, bool):
        return f'<c t="b"><v>{value:d}</v></c>'
    if isinstance(value, int | float):
        return f"<c><v>{value}</v></c>"
    value = _safe(str(value))
    if _XML_SPECIAL.search(value):
        value = escape(_XML_ILLEGAL.sub("", value))
    if value != value.strip():
        return f'<c t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>'
    return f'<c t="inlineStr"><is><t>{value}</t></is></c>'


class _Format(NamedTuple):
    """How a row is written: each cell by `cell`, between `row_start` and `row_end`."""

    cell: Callable
    separator: str
    row_start: str
    row_end: str


CSV = _Format(_csv_cell, ",", "", "\r\n")
XLSX = _Format(_xlsx_cell, "", "<row>", "</row>")


def _text_chunks(parts, fmt):
    """Text of (head, cells, tail) rows in `fmt`, in chunks of about FLUSH_CHARS.

    A row's head and tail are usually the very objects of the row before (see
    `_line_parts`): they are encoded again only when they change."""
    cell, separator, row_start, row_end = fmt
    head = tail = None
    buffer, size = [], 0
    for row_head, cells, row_tail in parts:
        if row_head is not head:
            head = row_head
            head_text = row_start + "".join(cell(v) + separator for v in head)
        if row_tail is not tail:
            tail = row_tail
            tail_text = "".join(separator + cell(v) for v in tail) + row_end
        text = head_text + separator.join(map(cell, cells)) + tail_text
        buffer.append(text)
        size += len(text)
        if size >= FLUSH_CHARS:
            yield "".join(buffer)
            buffer, size = [], 0
    yield "".join(buffer)


def _whole_rows(rows):
    """Plain rows as (head, cells, tail) rows with nothing shared."""
    for row in rows:
        yield (), row, ()


def csv_chunks(parts):
    """CSV bytes with a BOM so Excel reads UTF-8."""
    yield "\ufeff".encode()
    for text in _text_chunks(parts, CSV):
        yield text.encode()


XLSX_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
XLSX_RELATIONSHIP = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
XLSX_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _xlsx_package(title):
    """The parts of a one-sheet workbook other than the sheet itself."""
    return {
        "[Content_Types].xml": (
            f'<Types xmlns="{XLSX_PACKAGE}/content-types">'
            '<Default Extension="rels" '
            f'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{XLSX_TYPE}.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{XLSX_TYPE}.worksheet+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{XLSX_TYPE}.styles+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{XLSX_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{XLSX_RELATIONSHIP}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{XLSX_NS}" xmlns:r="{XLSX_RELATIONSHIP}"><sheets>'
            f'<sheet name="{escape(title[:31], {chr(34): "&quot;"})}" sheetId="1" r:id="rId1"/>'
            "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{XLSX_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{XLSX_RELATIONSHIP}/worksheet" '
            'Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{XLSX_RELATIONSHIP}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": (
            f'<styleSheet xmlns="{XLSX_NS}">'
            '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            "</cellStyleXfs>"
            '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            "</cellXfs>"
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            "</cellStyles></styleSheet>"
        ),
    }


def xlsx_chunks(parts, *, title):
    """An XLSX workbook of one sheet, its XML written row by row into a zipped
    temporary file (memory holds one chunk of rows), then streamed from it.

    Cells are inline strings and plain numbers: no shared-string table, which would
    grow with the rows, and no per-cell objects (openpyxl's write-only mode spends
    most of an export making and serialising them)."""
    with tempfile.TemporaryFile() as file:
        # Level 1: a sheet's XML is very repetitive; higher levels cost time for little.
        with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
            for name, xml in _xlsx_package(title).items():
                book.writestr(name, XML_DECLARATION + xml)
            with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
                sheet.write(f'{XML_DECLARATION}<worksheet xmlns="{XLSX_NS}"><sheetData>'.encode())
                for text in _text_chunks(parts, XLSX):
                    sheet.write(text.encode())
                sheet.write(b"</sheetData></worksheet>")
        file.seek(0)
        while chunk := file.read(FLUSH_CHARS):
            yield chunk


CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def rows_for(export, *, campaign, departments, contractor=None):
    """The rows of one export, the header first, as lists of cells."""
    if export == "departments":
        return department_rows(campaign=campaign, departments=departments)
    if export == "lines":
        return line_rows(campaign=campaign, departments=departments)
    if export == "contractors":
        return contractor_rows(campaign=campaign, departments=departments, contractor=contractor)
    raise ValueError(f"Unknown export {export!r}")


def filename_for(export, *, campaign, contractor=None, fmt):
    parts = [campaign.slug, export]
    if contractor is not None:
        parts.append(contractor.short_name.lower())
    parts.append(timezone.localdate().isoformat())
    return "-".join(parts) + f".{fmt}"


def streaming_response(export, *, campaign, departments=None, contractor=None, fmt="csv"):
    """A StreamingHttpResponse of one export of `campaign` (all active departments by
    default) in `fmt` ("csv" or "xlsx")."""
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"Unknown format {fmt!r}")
    if departments is None:
        departments = Department.objects.active()
    if export == "lines":
        parts = _line_parts(campaign=campaign, departments=departments)
    else:
        parts = _whole_rows(
            rows_for(export, campaign=campaign, departments=departments, contractor=contractor)
        )
    chunks = csv_chunks(parts) if fmt == "csv" else xlsx_chunks(parts, title=export)
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[fmt])
    name = filename_for(export, campaign=campaign, contractor=contractor, fmt=fmt)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
