"""Load realistic demo data: a campaign open today, ~230 departments, CALNET 2 and 3.

Idempotent: running it again updates the campaign's dates and creates nothing
twice. `--real-dates` uses the bulletin's 2013 dates; `--scale large` builds
5,000 departments and 1,000,000 inventory lines (one department holds 20,000)
for benchmarks.
"""

import datetime
import random
import sys
import time
from collections import Counter

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from conversion import demo_answers, demo_data
from conversion.models import (
    Campaign,
    Category,
    Contract,
    Contractor,
    InventoryLine,
    Offering,
    Response,
    ResponseStatus,
)
from departments.models import Department, DepartmentKind, Person

SEED = 20131220
LARGE_DEPARTMENTS = 5_000
LARGE_LINES = 1_000_000
LARGEST_DEPARTMENT_LINES = 20_000
SMALL_DEPARTMENT_LINES = 10
BATCH = 5_000

# The bulletin's dates and the intervals between them.
BULLETIN_DATE = datetime.date(2013, 12, 20)
FIRST_AWARD = datetime.date(2013, 11, 15)  # 35 days before the bulletin
DUE = datetime.date(2013, 12, 27)  # 7 days after the bulletin
OLD_CONTRACT_ENDS = datetime.date(2014, 1, 29)  # 33 days after the due date
HARD_CLOSE_AFTER_DUE = datetime.timedelta(days=14)

DEMO_ADMIN = ("stnd", "calnet-demo")
DEMO_ANALYST = ("analyst", "calnet-demo")


class Command(BaseCommand):
    help = "Load demo data: a campaign open today, departments, contractors and inventories."

    def add_arguments(self, parser):
        parser.add_argument(
            "--real-dates", action="store_true", help="Use the bulletin's 2013 dates."
        )
        parser.add_argument("--scale", choices=["demo", "large"], default="demo")
        parser.add_argument(
            "--no-accounts", action="store_true", help="Do not create the STND demo accounts."
        )
        parser.add_argument(
            "--no-answers", action="store_true", help="Leave every department's survey empty."
        )

    def handle(
        self, *args, real_dates=False, scale="demo", no_accounts=False, no_answers=False, **options
    ):
        started = time.monotonic()
        self.rng = random.Random(SEED)
        today = timezone.localdate()
        shift = datetime.timedelta(0) if real_dates else today - BULLETIN_DATE

        with transaction.atomic():
            calnet2, calnet3, offerings2 = self.load_catalogue(FIRST_AWARD + shift)
            campaign = self.load_campaign(calnet2, calnet3, shift)
            departments = self.load_departments()
        if scale == "large":
            departments = self.load_generated_departments(departments)
        self.load_inventories(departments, offerings2, scale)
        stnd_user = None if no_accounts else self.load_accounts()
        # The named departments answer (not the generated ones of the large scale), except
        # the two the sign-in help names: a newcomer finds their surveys not started.
        named = [d for d in departments if not d.code.startswith("G")]
        named = [d for d in named if d not in self.example_departments(departments)]
        if not no_answers:
            self.load_responses(campaign, named, stnd_user)
        if scale == "large":
            self.open_every_response(campaign)

        counts = {
            "departments": Department.objects.count(),
            "people": Person.objects.count(),
            "inventory lines": InventoryLine.objects.count(),
            "offerings": Offering.objects.count(),
        }
        summary = ", ".join(f"{n:,} {what}" for what, n in counts.items())
        self.stdout.write(f"Demo data ready in {time.monotonic() - started:.1f}s: {summary}.")
        opens, due, closes = (
            timezone.localtime(campaign.opens_at),
            timezone.localtime(campaign.due_at),
            timezone.localtime(campaign.closes_at),
        )
        self.stdout.write(
            f"Campaign {campaign.bulletin_number} opens {opens:%Y-%m-%d}, "
            f"due {due:%Y-%m-%d %H:%M}, hard close {closes:%Y-%m-%d}."
        )
        if not no_accounts:
            self.print_sign_in_help(departments)

    def open_every_response(self, campaign):
        """Large scale: every department has opened its survey (a response, not started),
        so the admin list holds 5,000 responses as it would a few days into a campaign.
        Then refresh the planner's statistics, which a bulk load leaves behind."""
        have = set(Response.objects.filter(campaign=campaign).values_list("department", flat=True))
        missing = [
            Response(campaign=campaign, department_id=pk)
            for pk in Department.objects.exclude(pk__in=have).values_list("pk", flat=True)
        ]
        Response.objects.bulk_create(missing, batch_size=BATCH, ignore_conflicts=True)
        if missing:
            self.stdout.write(f"Opened {len(missing):,} more responses (not started).")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

    # -- the catalogue -----------------------------------------------------------------

    def load_catalogue(self, first_award):
        calnet2, _ = Contract.objects.update_or_create(
            name="CALNET 2", defaults={"ends_on": OLD_CONTRACT_ENDS}
        )
        calnet3, _ = Contract.objects.get_or_create(name="CALNET 3")
        contractors = {
            short: Contractor.objects.update_or_create(short_name=short, defaults={"name": name})[0]
            for name, short in demo_data.CONTRACTORS
        }
        categories = {}
        for number, name, days_after in demo_data.CALNET3_CATEGORIES:
            awarded = None if days_after is None else first_award + datetime.timedelta(days_after)
            categories[number] = Category.objects.update_or_create(
                contract=calnet3, number=number, defaults={"name": name, "awarded_on": awarded}
            )[0]
        offerings3 = {}
        for number, shorts, code, name in demo_data.CALNET3_OFFERINGS:
            for short in shorts:
                offerings3[short, code] = Offering.objects.update_or_create(
                    contract=calnet3,
                    contractor=contractors[short],
                    code=code,
                    defaults={"category": categories[number], "name": name},
                )[0]
        old_number, old_name = demo_data.CALNET2_CATEGORY
        old_category = Category.objects.update_or_create(
            contract=calnet2,
            number=old_number,
            defaults={"name": old_name, "awarded_on": datetime.date(2006, 12, 1)},
        )[0]
        offerings2 = []
        for short, code, name, successor_code, weight in demo_data.CALNET2_OFFERINGS:
            offering = Offering.objects.update_or_create(
                contract=calnet2,
                contractor=contractors[short],
                code=code,
                defaults={
                    "category": old_category,
                    "name": name,
                    "successor": offerings3.get((short, successor_code)),
                },
            )[0]
            offerings2.append((offering, weight))
        return calnet2, calnet3, offerings2

    def load_campaign(self, calnet2, calnet3, shift):
        tz = timezone.get_current_timezone()

        def at(day, hour, minute=0):
            return datetime.datetime.combine(day + shift, datetime.time(hour, minute), tzinfo=tz)

        due = at(DUE, 23, 59)
        text = demo_data.BULLETIN_TEXT.format(
            old_contract_ends=f"{OLD_CONTRACT_ENDS + shift:%B %-d, %Y}",
            first_award=f"{FIRST_AWARD + shift:%B %-d, %Y}",
            due=f"{DUE + shift:%B %-d, %Y}",
        )
        campaign, _ = Campaign.objects.update_or_create(
            slug="atr-13-06",
            defaults={
                "name": "CALNET 2 to CALNET 3 Conversion Survey",
                "bulletin_number": "ATR 13-06",
                "bulletin_title": "CALNET 2 to CALNET 3 Conversion Survey",
                "bulletin_date": BULLETIN_DATE + shift,
                "bulletin_text": text,
                "old_contract": calnet2,
                "new_contract": calnet3,
                "opens_at": at(BULLETIN_DATE, 0),
                "due_at": due,
                "closes_at": due + HARD_CLOSE_AFTER_DUE,
                "old_contract_ends_on": OLD_CONTRACT_ENDS + shift,
                "stnd_phone": "(916) 657-9150",
                "stnd_email": "calnet-conversion@stnd.example.gov",
            },
        )
        return campaign

    # -- departments and people ------------------------------------------------------------

    def load_departments(self):
        specs = [(name, DepartmentKind.STATE, "") for name in demo_data.STATE_DEPARTMENTS]
        specs += [(name, DepartmentKind.EXEMPT, "") for name in demo_data.EXEMPT_AGENCIES]
        specs += [
            (name, DepartmentKind.NON_STATE, lgt) for name, lgt in demo_data.LOCAL_GOVERNMENTS
        ]
        prefix = {
            DepartmentKind.STATE: "S",
            DepartmentKind.EXEMPT: "E",
            DepartmentKind.NON_STATE: "L",
        }
        departments = []
        for index, (name, kind, lgt) in enumerate(specs, start=1):
            code = f"{prefix[kind]}{index:04d}"
            department, created = Department.objects.get_or_create(
                code=code, defaults={"name": name, "kind": kind, "local_government_type": lgt}
            )
            if created:
                self.create_atr(department)
            departments.append(department)
        return departments

    def create_atr(self, department):
        first = self.rng.choice(demo_data.FIRST_NAMES)
        last = self.rng.choice(demo_data.LAST_NAMES)
        domain = f"{department.code.lower()}.example.gov"
        Person.objects.create(
            department=department,
            name=f"{first} {last}",
            title="Agency Telecommunications Representative",
            email=f"atr@{domain}",
            phone=f"(916) 555-{self.rng.randint(1000, 9999)}",
            is_atr=True,
        )

    def load_generated_departments(self, departments):
        """Fill up to 5,000 departments with generated names (large scale only)."""
        existing = Department.objects.count()
        missing = LARGE_DEPARTMENTS - existing
        if missing > 0:
            self.stdout.write(f"Creating {missing:,} generated departments…")
            kinds = (
                [DepartmentKind.STATE] * 3
                + [DepartmentKind.EXEMPT]
                + [DepartmentKind.NON_STATE] * 6
            )
            new = []
            for n in range(existing + 1, LARGE_DEPARTMENTS + 1):
                kind = kinds[n % len(kinds)]
                new.append(
                    Department(
                        name=f"Demo {kind.label.split(' (')[0]} {n:05d}",
                        code=f"G{n:05d}",
                        kind=kind,
                        local_government_type="special_district" if kind == "non_state" else "",
                    )
                )
            Department.objects.bulk_create(new, batch_size=BATCH)
            Person.objects.bulk_create(
                (
                    Person(
                        department=d,
                        name=f"ATR {d.code}",
                        title="ATR",
                        email=f"atr@{d.code.lower()}.example.gov",
                        phone="(916) 555-0100",
                        is_atr=True,
                    )
                    for d in Department.objects.filter(code__startswith="G").exclude(
                        people__is_atr=True
                    )
                ),
                batch_size=BATCH,
            )
        return list(Department.objects.order_by("pk"))

    # -- inventories --------------------------------------------------------------------

    def load_inventories(self, departments, offerings2, scale):
        if scale == "large" and InventoryLine.objects.count() != LARGE_LINES:
            # The large data set must hold exactly 1,000,000 lines: replace the demo's.
            self.stdout.write("Replacing the demo inventories with the large data set…")
            InventoryLine.objects.all().delete()
        have_lines = set(InventoryLine.objects.values_list("department_id", flat=True).distinct())
        todo = [d for d in departments if d.pk not in have_lines]
        if not todo:
            return
        sizes = self.inventory_sizes(departments, scale)
        total = sum(sizes[d.pk] for d in todo)
        self.stdout.write(f"Creating {total:,} inventory lines for {len(todo):,} departments…")
        offerings, weights = zip(*offerings2, strict=True)
        written = 0
        batch = []
        next_report = 100_000
        for department in todo:
            rng = random.Random(f"{SEED}-{department.code}")
            city = rng.choice(demo_data.CITIES)
            # A department holds a handful of the services, not all of them.
            held = rng.sample(range(len(offerings)), k=min(len(offerings), rng.randint(3, 9)))
            held_weights = [weights[i] for i in held]
            for i in range(sizes[department.pk]):
                offering = offerings[rng.choices(held, held_weights)[0]]
                batch.append(
                    InventoryLine(
                        department=department,
                        offering=offering,
                        quantity=1 if rng.random() < 0.85 else rng.randint(2, 24),
                        identifier=f"{offering.contractor.short_name}-{offering.code}-"
                        f"{department.code}-{i + 1:06d}",
                        location=f"{rng.randint(100, 3999)} {rng.choice(demo_data.STREETS)}, "
                        f"{city}",
                    )
                )
                if len(batch) >= BATCH:
                    InventoryLine.objects.bulk_create(batch)
                    written += len(batch)
                    batch = []
                    if written >= next_report:
                        self.stdout.write(f"  {written:,} / {total:,} lines")
                        sys.stdout.flush()
                        next_report += 100_000
        InventoryLine.objects.bulk_create(batch)

    def inventory_sizes(self, departments, scale):
        """Lines per department: realistic small inventories for the demo; for the large
        scale exactly 1,000,000 lines with the first state department holding 20,000."""
        rng = random.Random(SEED)
        if scale == "demo":
            sizes = {}
            for d in departments:
                sizes[d.pk] = rng.choice([4, 8, 12, 25, 40, 60, 120, 250])
            # One department large enough to show paging and grouping.
            sizes[departments[0].pk] = 2_000
            return sizes
        largest = departments[0]
        others = [d for d in departments if d.pk != largest.pk]
        remaining = LARGE_LINES - LARGEST_DEPARTMENT_LINES
        raw = [rng.paretovariate(1.5) for _ in others]
        scale_by = remaining / sum(raw)
        sizes = {d.pk: max(1, int(r * scale_by)) for d, r in zip(others, raw, strict=True)}
        # Cap outliers below the largest department, then hand the rounding remainder out.
        for pk in sizes:
            sizes[pk] = min(sizes[pk], LARGEST_DEPARTMENT_LINES // 2)
        # The benchmark compares the largest department with a 10-line one: the second.
        sizes[others[0].pk] = SMALL_DEPARTMENT_LINES
        shortfall = remaining - sum(sizes.values())
        pks = [pk for pk in sizes if pk != others[0].pk]
        i = 0
        while shortfall > 0:
            sizes[pks[i % len(pks)]] += 1
            shortfall -= 1
            i += 1
        sizes[largest.pk] = LARGEST_DEPARTMENT_LINES
        return sizes

    # -- responses and accounts ---------------------------------------------------------

    def load_responses(self, campaign, departments, stnd_user):
        """Departments at every stage of the survey, through the survey's own forms and
        workflow (conversion/demo_answers.py). Departments already answered are kept."""
        answered = set(
            Response.objects.filter(campaign=campaign)
            .exclude(status=ResponseStatus.NOT_STARTED)
            .values_list("department_id", flat=True)
        )
        # Answers are given as of a moment the survey accepts them (with --real-dates the
        # campaign closed in 2014): now, or the eve of the due date if that is earlier.
        now = min(timezone.now(), campaign.due_at - datetime.timedelta(days=1))
        stages = Counter()
        for department in departments:
            if department.pk in answered:
                continue
            stages[
                demo_answers.answer(
                    campaign=campaign,
                    department=department,
                    seed=SEED,
                    stnd_user=stnd_user,
                    now=now,
                )
            ] += 1
        if stages:
            self.stdout.write(
                "Demo answers: " + ", ".join(f"{n} {stage}" for stage, n in stages.items()) + "."
            )

    def load_accounts(self):
        User = get_user_model()
        for (username, password), group in (
            (DEMO_ADMIN, "STND administrator"),
            (DEMO_ANALYST, "STND analyst"),
        ):
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"email": f"{username}@stnd.example.gov", "is_staff": True},
            )
            if created:
                user.set_password(password)
                user.save()
            user.groups.add(Group.objects.get(name=group))
        return User.objects.get(username=DEMO_ANALYST[0])

    def example_departments(self, departments):
        """The first state department and the first local government."""
        state = next(d for d in departments if d.kind == DepartmentKind.STATE)
        local = next(d for d in departments if d.kind == DepartmentKind.NON_STATE)
        return state, local

    def print_sign_in_help(self, departments):
        state, local = self.example_departments(departments)
        lines = [
            "",
            f"Sign in as STND: {settings.SITE_URL}/admin/  user 'stnd' (administrator) or",
            "  'analyst' (analyst), password 'calnet-demo'.",
            f"Sign in as a department: {settings.SITE_URL}/  enter an ATR's email, e.g.",
            f"  {state.atr.email}  ({state.name}: a non-exempt state customer, 2,000 lines)",
            f"  {local.atr.email}  ({local.name}: a Non-State Entity)",
            "  The sign-in link is printed in this terminal (demo email goes to the console).",
            "",
        ]
        self.stdout.write("\n".join(lines))
