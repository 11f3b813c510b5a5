"""The figures of STND's dashboard, and their charts as server-rendered SVG.

Every figure is aggregated in the database: responses and revisions by day,
inventory lines counted per (department, CALNET 2 offering) group, decisions
per group and exceptions counted per group and choice. Python then walks the
groups (tens of thousands on the largest data set), never the lines (a million),
and feeds them to the bulletin's own `rules.Checklist`, so the dashboard's
Form 20 and ATO totals are exactly the sums of the departments' checklists.

Answers (decisions, windows, checklists) count once a department has
submitted (`Response.submitted_at` set): drafts are not yet authorized by the
Manager.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from conversion import rules
from conversion.models import (
    MIGRATIONS,
    Choice,
    Decision,
    InventoryLine,
    Offering,
    OutboundEmail,
    Response,
    ResponseStatus,
    Revision,
)
from departments.models import Department, DepartmentKind

UNDECIDED = "undecided"
CHOICE_ORDER = [Choice.TRANSITION, Choice.MIGRATE_CONTRACTOR, Choice.MIGRATE_SERVICE]
CHOICE_ORDER += [Choice.DISCONNECT, UNDECIDED]
CHOICE_LABELS = {**dict(Choice.choices), UNDECIDED: "Undecided"}


# ---------------------------------------------------------------------------
# Response rate
# ---------------------------------------------------------------------------


@dataclass
class KindRate:
    kind: str
    label: str
    departments: int
    responded: int

    @property
    def percent(self):
        return round(100 * self.responded / self.departments, 1) if self.departments else 0.0


def response_rate(campaign, *, now=None):
    """Per kind and overall: active departments, those that have submitted, the rate;
    plus the status counts (departments without a response row are 'not started')."""
    departments = dict(
        Department.objects.active().values("kind").annotate(n=Count("pk")).values_list("kind", "n")
    )
    responses = Response.objects.filter(campaign=campaign, department__is_active=True)
    responded = dict(
        responses.filter(submitted_at__isnull=False)
        .values("department__kind")
        .annotate(n=Count("pk"))
        .values_list("department__kind", "n")
    )
    rates = [
        KindRate(kind, label, departments.get(kind, 0), responded.get(kind, 0))
        for kind, label in DepartmentKind.choices
    ]
    total = KindRate("all", "All departments", sum(departments.values()), sum(responded.values()))
    statuses = dict(responses.values("status").annotate(n=Count("pk")).values_list("status", "n"))
    statuses[ResponseStatus.NOT_STARTED] = statuses.get(ResponseStatus.NOT_STARTED, 0) + (
        total.departments - sum(statuses.values())
    )
    return {
        "by_kind": rates,
        "total": total,
        "statuses": [(label, statuses.get(value, 0)) for value, label in ResponseStatus.choices],
        "late": responses.filter(is_late=True).count(),
    }


def response_rate_over_time(campaign, *, now=None):
    """Days from the opening to today (or the hard close), with the share of departments
    of each kind that had submitted by the end of each day (first submissions)."""
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    first = timezone.localdate(campaign.opens_at)
    last = min(timezone.localdate(now), timezone.localdate(campaign.closes_at))
    last = max(last, first)
    totals = dict(
        Department.objects.active().values("kind").annotate(n=Count("pk")).values_list("kind", "n")
    )
    per_day = defaultdict(lambda: defaultdict(int))
    for day, kind, n in (
        Revision.objects.filter(
            response__campaign=campaign, number=1, response__department__is_active=True
        )
        .annotate(day=TruncDate("submitted_at", tzinfo=tz))
        .values("day", "response__department__kind")
        .annotate(n=Count("pk"))
        .values_list("day", "response__department__kind", "n")
    ):
        per_day[max(day, first)][kind] += n
    days = []
    running = defaultdict(int)
    day = first
    while day <= last:
        for kind, n in per_day.get(day, {}).items():
            running[kind] += n
        days.append((day, dict(running)))
        day += datetime.timedelta(days=1)
    series = []
    for kind, label in [("all", "All departments"), *DepartmentKind.choices]:
        total = sum(totals.values()) if kind == "all" else totals.get(kind, 0)
        points = []
        for day, counts in days:
            done = sum(counts.values()) if kind == "all" else counts.get(kind, 0)
            points.append((day, done, round(100 * done / total, 1) if total else 0.0))
        series.append({"kind": kind, "label": label, "total": total, "points": points})
    return {
        "days": [d for d, _ in days],
        "series": series,
        "due": timezone.localdate(campaign.due_at),
    }


# ---------------------------------------------------------------------------
# Decisions, flows and checklists, from the groups of submitted responses
# ---------------------------------------------------------------------------


@dataclass
class Decisions:
    # incumbent contractor name -> choice -> lines
    by_incumbent: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    # (incumbent name, target contractor name) -> lines migrating
    flows: dict = field(default_factory=lambda: defaultdict(int))
    # contractor name -> Form 20s (one per department and CALNET 3 service)
    form_20s: dict = field(default_factory=lambda: defaultdict(int))
    # contractor name -> ATOs (one per Non-State Entity and CALNET 3 service)
    atos: dict = field(default_factory=lambda: defaultdict(int))
    disconnect_notices: int = 0
    departments: int = 0

    @property
    def form_20_total(self):
        return sum(self.form_20s.values())

    @property
    def ato_total(self):
        return sum(self.atos.values())

    def incumbent_rows(self):
        return [
            (name, [counts.get(c, 0) for c in CHOICE_ORDER], sum(counts.values()))
            for name, counts in sorted(self.by_incumbent.items())
        ]

    def flow_rows(self):
        return sorted(self.flows.items(), key=lambda item: (-item[1], item[0]))


def decisions(campaign, *, on=None):
    """Effective decisions of submitted responses: by incumbent, migration flows, and
    the totals of the departments' checklists."""
    on = on or timezone.localdate()
    submitted = Response.objects.filter(
        campaign=campaign, submitted_at__isnull=False, department__is_active=True
    )
    kinds = dict(submitted.values_list("department_id", "department__kind"))
    offerings = {
        o.pk: o
        for o in Offering.objects.select_related(
            "contractor", "category", "successor__contractor", "successor__category"
        )
    }
    group_lines = (
        InventoryLine.objects.filter(department_id__in=submitted.values("department_id"))
        .values("department_id", "offering_id")
        .annotate(n=Count("pk"))
        .values_list("department_id", "offering_id", "n")
    )
    decided = {
        (d, o): (choice, target)
        for d, o, choice, target in Decision.objects.filter(
            response__in=submitted, line__isnull=True
        ).values_list("response__department_id", "offering_id", "choice", "target_id")
    }
    exceptions = defaultdict(list)
    for d, o, choice, target, n in (
        Decision.objects.filter(response__in=submitted, line__isnull=False)
        .values("response__department_id", "offering_id", "choice", "target_id")
        .annotate(n=Count("pk"))
        .values_list("response__department_id", "offering_id", "choice", "target_id", "n")
    ):
        exceptions[d, o].append((choice, target, n))

    result = Decisions(departments=len(kinds))
    checklists = defaultdict(rules.Checklist)

    def add(department, offering, choice, target, lines):
        if lines <= 0:
            return
        kind = kinds[department]
        checklists[department].add(kind, offering, choice, target, lines)
        result.by_incumbent[offering.contractor.name][choice or UNDECIDED] += lines
        if choice in MIGRATIONS:
            result.flows[offering.contractor.name, target.contractor.name] += lines

    for department, offering_id, lines in group_lines:
        offering = offerings[offering_id]
        choice, target_id = decided.get(
            (department, offering_id),
            (rules.default_choice(kinds[department], offering, on), None),
        )
        excepted = 0
        for e_choice, e_target, n in exceptions.get((department, offering_id), []):
            add(department, offering, e_choice, offerings.get(e_target), n)
            excepted += n
        add(department, offering, choice, offerings.get(target_id), lines - excepted)

    for checklist in checklists.values():
        for contractor, _service in checklist.form_20s:
            result.form_20s[contractor] += 1
        for contractor, services in checklist.atos.items():
            result.atos[contractor] += len(services)
        result.disconnect_notices += checklist.disconnect_notice_count
    return result


def windows(campaign):
    """Submitted responses whose preferred window includes each month."""
    months = campaign.months()
    counts = Response.objects.filter(
        campaign=campaign, submitted_at__isnull=False, window_start__isnull=False
    ).aggregate(
        **{
            f"m{i}": Count("pk", filter=Q(window_start__lte=month, window_end__gte=month))
            for i, month in enumerate(months)
        }
    )
    return [(month, counts[f"m{i}"]) for i, month in enumerate(months)]


def non_responders(campaign):
    """Active departments that have not submitted, by name: a queryset, to paginate.
    `with_reminders` then adds the reminder figures to the page shown."""
    submitted = Response.objects.filter(campaign=campaign, submitted_at__isnull=False)
    return (
        Department.objects.active()
        .exclude(pk__in=submitted.values("department_id"))
        .order_by("name", "code")
    )


def with_reminders(campaign, departments):
    """Set `reminders` (how many reminders and overdue notices were sent) and
    `last_reminded` on each department given, in one query; returns them.

    Only for the page shown: counting the emails of all 5,000 departments before
    paginating was a fifth of the dashboard's time."""
    departments = list(departments)
    figures = OutboundEmail.objects.filter(campaign=campaign).reminder_figures(departments)
    for department in departments:
        department.reminders, department.last_reminded = figures.get(
            (campaign.pk, department.pk), (0, None)
        )
    return departments


def statuses_of(campaign, departments):
    """{department id: (response id, status)} for a page of departments."""
    return {
        d: (pk, status)
        for d, pk, status in Response.objects.filter(
            campaign=campaign, department__in=departments
        ).values_list("department_id", "pk", "status")
    }


# ---------------------------------------------------------------------------
# SVG charts: no JavaScript, no third party; each has a data table beside it
# ---------------------------------------------------------------------------

# Colours with at least 3:1 contrast against white (WCAG 1.4.11), told apart by
# position and by the table too, never by colour alone.
PALETTE = ["#0b5394", "#b45f06", "#38761d", "#990000", "#674ea7", "#5b5b5b"]
WIDTH = 640


def _tag(template, *args):
    """format_html with numbers written to one decimal place (SVG coordinates)."""
    return format_html(template, *(f"{a:.1f}" if isinstance(a, float) else a for a in args))


FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _svg(height, title_id, title, body):
    return mark_safe(  # noqa: S308 - every text below is escaped
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-labelledby="{title_id}" xmlns="http://www.w3.org/2000/svg" {FONT}>'
        f'<title id="{title_id}">{escape(title)}</title>{body}</svg>'
    )


def _nice_max(value):
    """A round axis maximum at or above `value`."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude) if step * magnitude >= 1 else 1
    return value


def bar_chart(title_id, title, rows, *, unit=""):
    """Horizontal bars: rows of (label, value)."""
    left, right, bar, gap = 200, 60, 18, 8
    height = max(1, len(rows)) * (bar + gap) + 20
    top = _nice_max(max([v for _, v in rows], default=0))
    span = WIDTH - left - right
    parts = []
    for i, (label, value) in enumerate(rows):
        y = 10 + i * (bar + gap)
        w = span * value / top if top else 0
        parts.append(
            _tag(
                '<text x="{}" y="{}" text-anchor="end" fill="#222">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
                '<text x="{}" y="{}" fill="#222">{}{}</text>',
                left - 6,
                y + bar - 5,
                label,
                left,
                y,
                w,
                bar,
                PALETTE[0],
                left + w + 4,
                y + bar - 5,
                f"{value:,}",
                unit,
            )
        )
    return _svg(height, title_id, title, "".join(parts))


def stacked_bar_chart(title_id, title, rows, legend):
    """Horizontal stacked bars: rows of (label, [values per legend entry])."""
    left, right, bar, gap = 140, 20, 20, 10
    # The legend wraps onto as many rows as it needs (about 7 pixels a character).
    placed, x, row = [], left, 0
    for i, name in enumerate(legend):
        width = 16 + 7 * len(str(name)) + 14
        if x + width > WIDTH and x > left:
            x, row = left, row + 1
        placed.append((x, row, i, name))
        x += width
    legend_height = 22 * (row + 1) + 4
    height = legend_height + max(1, len(rows)) * (bar + gap) + 10
    top = max([sum(values) for _, values in rows], default=0) or 1
    span = WIDTH - left - right
    parts = []
    for x, row, i, name in placed:
        parts.append(
            _tag(
                '<rect x="{}" y="{}" width="12" height="12" fill="{}"/>'
                '<text x="{}" y="{}" fill="#222">{}</text>',
                x,
                4 + 22 * row,
                PALETTE[i % len(PALETTE)],
                x + 16,
                15 + 22 * row,
                name,
            )
        )
    for r, (label, values) in enumerate(rows):
        y = legend_height + r * (bar + gap)
        parts.append(
            _tag(
                '<text x="{}" y="{}" text-anchor="end" fill="#222">{}</text>',
                left - 6,
                y + bar - 6,
                label,
            )
        )
        x = left
        for i, value in enumerate(values):
            w = span * value / top
            if w > 0:
                parts.append(
                    _tag(
                        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>',
                        x,
                        y,
                        w,
                        bar,
                        PALETTE[i % len(PALETTE)],
                    )
                )
            x += w
    return _svg(height, title_id, title, "".join(parts))


def column_chart(title_id, title, columns):
    """Vertical columns: (label, value), for months."""
    left, bottom, top_margin = 40, 40, 16
    height = 220
    plot = height - bottom - top_margin
    top = _nice_max(max([v for _, v in columns], default=0))
    step = (WIDTH - left - 10) / max(1, len(columns))
    parts = [
        _tag(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#767676"/>'
            '<text x="{}" y="{}" text-anchor="end" fill="#222">{}</text>'
            '<text x="{}" y="{}" text-anchor="end" fill="#222">0</text>',
            left,
            height - bottom,
            WIDTH - 10,
            height - bottom,
            left - 4,
            top_margin + 4,
            top,
            left - 4,
            height - bottom,
        )
    ]
    for i, (label, value) in enumerate(columns):
        h = plot * value / top
        x = left + i * step + step * 0.15
        parts.append(
            _tag(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
                '<text x="{}" y="{}" text-anchor="middle" fill="#222">{}</text>'
                '<text x="{}" y="{}" text-anchor="middle" fill="#222">{}</text>',
                x,
                height - bottom - h,
                step * 0.7,
                h,
                PALETTE[0],
                x + step * 0.35,
                height - bottom + 16,
                label,
                x + step * 0.35,
                height - bottom - h - 4,
                value,
            )
        )
    return _svg(height, title_id, title, "".join(parts))


SHORT_LABELS = {
    "all": "All",
    DepartmentKind.STATE: "State",
    DepartmentKind.EXEMPT: "Exempt",
    DepartmentKind.NON_STATE: "Non-State",
}


def line_chart(title_id, title, days, series, *, due):
    """Lines of percentages (0-100) over days, with the due date marked."""
    left, right, bottom, top_margin = 44, 130, 36, 12
    height = 260
    plot_w, plot_h = WIDTH - left - right, height - bottom - top_margin
    # The axis runs to the due date even before it, so the deadline is always in view.
    axis_end = max(days[-1], due) if days else due
    n = max(1, (axis_end - days[0]).days) if days else 1

    def x(i):
        return left + plot_w * i / n

    def y(percent):
        return top_margin + plot_h * (1 - percent / 100)

    parts = []
    for pct in (0, 25, 50, 75, 100):
        parts.append(
            _tag(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#d0d0d0"/>'
                '<text x="{}" y="{}" text-anchor="end" fill="#222">{}%</text>',
                left,
                y(pct),
                left + plot_w,
                y(pct),
                left - 4,
                y(pct) + 4,
                pct,
            )
        )
    if days and 0 <= (due - days[0]).days <= n:
        i = (due - days[0]).days
        parts.append(
            _tag(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#990000" '
                'stroke-dasharray="4 3"/><text x="{}" y="{}" text-anchor="middle" '
                'fill="#990000">due {}</text>',
                x(i),
                top_margin,
                x(i),
                top_margin + plot_h,
                x(i),
                height - 4,
                f"{due:%b %-d}",
            )
        )
    for label_i, day in ((0, days[0] if days else due), (n, axis_end)):
        parts.append(
            _tag(
                '<text x="{}" y="{}" text-anchor="middle" fill="#222">{}</text>',
                x(label_i),
                height - bottom + 14,
                f"{day:%b %-d}",
            )
        )
    for s, line in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(p[2]):.1f}" for i, p in enumerate(line["points"]))
        last = line["points"][-1][2] if line["points"] else 0
        parts.append(
            _tag(
                '<polyline points="{}" fill="none" stroke="{}" stroke-width="{}"/>'
                '<text x="{}" y="{}" fill="{}">{} {}%</text>',
                points,
                colour,
                3 if s == 0 else 2,
                left + plot_w + 6,
                top_margin + 14 + 16 * s,
                colour,
                SHORT_LABELS.get(line["kind"], line["label"]),
                last,
            )
        )
    return _svg(height, title_id, title, "".join(parts))
