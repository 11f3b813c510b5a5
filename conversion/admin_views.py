"""Admin pages that are not a model's list or form: the dashboard, CSV imports,
email previews and the response page's helpers. Each is wrapped by the admin
site (`admin_site.admin_view`), so it needs a signed-in, verified staff member,
and checks its own permission."""

import datetime

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin import site
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from conversion import dashboard as figures
from conversion import exports, imports, review
from conversion.models import (
    Campaign,
    Contractor,
    CsvImport,
    ImportKind,
    Response,
    ResponseStatus,
)
from departments.models import Department, Person

# Admin uploads are previewed and kept in the database: larger files go through
# the import_departments / import_inventory commands.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _campaign(request):
    campaigns = Campaign.objects.all()
    pk = request.GET.get("campaign")
    campaign = campaigns.filter(pk=pk).first() if pk and pk.isdigit() else campaigns.first()
    if campaign is None:
        raise Http404("No campaign yet.")
    return campaign


# ---------------------------------------------------------------------------
# Dashboard
# ---------------------------------------------------------------------------


def dashboard(request):
    if not request.user.has_perm("conversion.view_response"):
        raise PermissionDenied
    campaign = _campaign(request)
    now = timezone.now()
    rate = figures.response_rate(campaign, now=now)
    over_time = figures.response_rate_over_time(campaign, now=now)
    decided = figures.decisions(campaign)
    months = figures.windows(campaign)
    page = Paginator(figures.non_responders(campaign), 50).get_page(request.GET.get("page"))
    page.object_list = figures.with_reminders(campaign, page.object_list)
    statuses = figures.statuses_of(campaign, [d.pk for d in page])
    labels = dict(ResponseStatus.choices)
    for department in page:
        _, status = statuses.get(department.pk, (None, ResponseStatus.NOT_STARTED))
        department.status_label = labels[status]
    legend = [figures.CHOICE_LABELS[c] for c in figures.CHOICE_ORDER]
    checklist_rows = [
        (c, decided.form_20s.get(c, 0), decided.atos.get(c, 0))
        for c in sorted(set(decided.form_20s) | set(decided.atos))
    ]
    context = {
        **site.each_context(request),
        "title": f"Dashboard: {campaign.bulletin_number}",
        "campaign": campaign,
        "campaigns": Campaign.objects.all(),
        "rate": rate,
        "over_time": over_time,
        "decided": decided,
        "legend": legend,
        "months": months,
        "non_responders": page,
        "rate_rows": [
            (day, [(s["points"][i][1], s["points"][i][2]) for s in over_time["series"]])
            for i, day in enumerate(over_time["days"])
        ],
        "checklist_rows": checklist_rows,
        "charts": {
            "rate": figures.line_chart(
                "chart-rate",
                "Share of departments that have submitted, by day, against the due date",
                over_time["days"],
                over_time["series"],
                due=over_time["due"],
            ),
            "incumbents": figures.stacked_bar_chart(
                "chart-incumbents",
                "Inventory lines by incumbent contractor and decision",
                [(name, values) for name, values, _ in decided.incumbent_rows()],
                legend,
            ),
            "flows": figures.bar_chart(
                "chart-flows",
                "Lines migrating from one contractor to another",
                [(f"{a} → {b}", n) for (a, b), n in decided.flow_rows()],
            ),
            "windows": figures.column_chart(
                "chart-windows",
                "Submitted responses preferring each month",
                [(f"{m:%b %Y}", n) for m, n in months],
            ),
            "checklist": figures.bar_chart(
                "chart-checklist",
                "Form 20s and ATOs expected per contractor",
                [(f"{c}: Form 20s", f) for c, f, _ in checklist_rows]
                + [(f"{c}: ATOs", a) for c, _, a in checklist_rows],
            ),
        },
        "exports": exports.EXPORTS,
        "contractors": Contractor.objects.all(),
        "can_export": request.user.has_perm("conversion.export_responses"),
        "can_remind": request.user.has_perm("conversion.send_reminder"),
    }
    return TemplateResponse(request, "admin/conversion/dashboard.html", context)


def dashboard_export(request, export, fmt):
    if not request.user.has_perm("conversion.export_responses"):
        raise PermissionDenied
    if export not in exports.EXPORTS or fmt not in exports.CONTENT_TYPES:
        raise Http404
    campaign = _campaign(request)
    contractor = None
    if request.GET.get("contractor"):
        contractor = get_object_or_404(Contractor, pk=request.GET["contractor"])
    return exports.streaming_response(export, campaign=campaign, contractor=contractor, fmt=fmt)


def dashboard_remind(request, department):
    """POST: remind one non-responding department now (its response row is created
    if it has none yet: reminders are about a response)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not request.user.has_perm("conversion.send_reminder"):
        raise PermissionDenied
    campaign = _campaign(request)
    department = get_object_or_404(Department.objects.active(), pk=department)
    response, _ = Response.objects.get_or_create(campaign=campaign, department=department)
    try:
        sent = review.send_reminder(response=response, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        recipients = ", ".join(sorted({e.recipient for e in sent})) or "nobody"
        messages.success(request, f"Reminder to {department.name} sent to {recipients}.")
    url = reverse("admin:conversion_dashboard") + f"?campaign={campaign.pk}"
    if request.POST.get("page"):
        url += f"&page={request.POST['page']}"
    return HttpResponseRedirect(url + "#non-responders")


# ---------------------------------------------------------------------------
# The response page
# ---------------------------------------------------------------------------


def render_response_page(request, model_admin, response, context):
    """The response page again, with a form's errors (after a POST that failed)."""
    opts = model_admin.model._meta
    context = {
        **context,
        "title": f"Response of {response.department.name}",
        "opts": opts,
        "original": response,
        "object_id": response.pk,
        "has_view_permission": True,
        "has_change_permission": False,
        "has_add_permission": False,
        "has_delete_permission": False,
        "change": True,
        "is_popup": False,
        "save_as": False,
        "app_label": opts.app_label,
        "add": False,
        "has_editable_inline_admin_formsets": False,
    }
    return TemplateResponse(request, model_admin.change_form_template, context, status=400)


def _section_forms():
    """The department's own section forms (conversion/forms.py), by section."""
    from conversion import forms as survey_forms
    from conversion.models import Section

    return {
        Section.DEPARTMENT: survey_forms.DepartmentForm,
        Section.CONTACTS: survey_forms.ContactsForm,
        Section.SERVICES: survey_forms.ServicesForm,
        Section.TIMEFRAME: survey_forms.TimeframeForm,
    }


def _section_form_arguments(response, section):
    """What a section's form needs besides the response: the services and timeframe
    forms work on the inventory's groups, the services form on the migration targets."""
    from conversion import forms as survey_forms
    from conversion.models import Section

    if section == Section.SERVICES:
        on = timezone.localdate()
        return {
            "groups": response.service_groups(on),
            "targets": survey_forms.migration_targets(response.campaign, on),
            "on": on,
        }
    if section == Section.TIMEFRAME:
        return {"groups": response.service_groups}  # called only for a suggestion
    return {}


def editable_sections(response):
    """(section, label, url) for the sections an analyst may edit here."""
    from conversion.models import Section

    labels = dict(Section.choices)
    return [
        (
            section,
            labels[section],
            reverse("admin:conversion_response_edit", args=[response.pk, section]),
        )
        for section in _section_forms()
    ]


def edit_urls(model_admin):
    from django.urls import path

    def view(request, object_id, section):
        return edit_section(request, model_admin, object_id, section)

    return [
        path(
            "<path:object_id>/edit/<str:section>/",
            model_admin.admin_site.admin_view(view),
            name="conversion_response_edit",
        )
    ]


def edit_section(request, model_admin, object_id, section):
    """An analyst edits one section of the answers with the department's form and its
    validation; saved only on a valid POST, and recorded in the history."""
    from conversion.models import SectionProgress

    forms_by_section = _section_forms()
    if section not in forms_by_section:
        raise Http404
    response = get_object_or_404(
        Response.objects.select_related("campaign", "department", "manager", "coordinator"),
        pk=object_id,
    )
    if not model_admin.has_change_permission(request, response):
        raise PermissionDenied
    form_class = forms_by_section[section]
    progress = SectionProgress.objects.filter(response=response, section=section).first()
    version = progress.version if progress else 0
    page = reverse("admin:conversion_response_change", args=[response.pk])
    extra = _section_form_arguments(response, section)
    if request.method == "POST":
        form = form_class(request.POST, response=response, user=request.user, **extra)
        loaded = request.POST.get("loaded_version", "")
        if form.is_valid():
            saved = review.edit_section(
                response=response,
                section=section,
                form=form,
                by=request.user,
                loaded_version=int(loaded) if loaded.isdigit() else -1,
            )
            if saved:
                messages.success(request, "Saved; the change is recorded in the history.")
                return HttpResponseRedirect(page)
            messages.error(
                request,
                "The department changed this section while you were editing it: "
                "here it is as it is now. Make your change again.",
            )
            return HttpResponseRedirect(request.path)
    else:
        form = form_class(response=response, user=request.user, **extra)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Edit {section}: {response.department.name}",
        "opts": model_admin.model._meta,
        "original": response,
        "form": form,
        "loaded_version": version,
        "page": page,
    }
    return TemplateResponse(request, "admin/conversion/response/edit_section.html", context)


# ---------------------------------------------------------------------------
# Campaign email previews
# ---------------------------------------------------------------------------

PREVIEWS = [
    ("invitation", "Invitation", {}),
    ("reminder", "Reminder (not started)", {"state": ResponseStatus.NOT_STARTED}),
    ("reminder", "Reminder (in progress)", {"state": ResponseStatus.IN_PROGRESS}),
    ("reminder", "Reminder (awaiting Manager)", {"state": ResponseStatus.AWAITING_MANAGER}),
    ("reminder", "Reminder (returned for changes)", {"state": ResponseStatus.RETURNED}),
    ("overdue", "Overdue notice", {"state": ResponseStatus.IN_PROGRESS}),
    ("returned", "Returned for changes", {}),
]


def email_previews(campaign):
    """Each campaign email rendered for an example department, as the recipient would
    read it (text part); [(title, subject, text, error)]."""
    from conversion import emails

    department = Department(name="Department of Example Affairs", code="EXAMPLE", kind="state")
    person = Person(department=department, name="Ada Example", email="ada@example.gov")
    response = Response(
        campaign=campaign,
        department=department,
        returned_note="(STND's note to the department appears here.)",
        returned_at=timezone.now(),
    )
    previews = []
    for name, title, extra in PREVIEWS:
        context = emails._context(
            campaign=campaign,
            department=department,
            person=person,
            role="atr",
            hours=settings.INVITATION_LINK_HOURS,
            sign_in_url=f"{settings.SITE_URL}/sign-in/…",
            response=response,
            days_left=campaign.days_left(campaign.due_at - datetime.timedelta(days=3)),
            days_late=2,
            **extra,
        )
        try:
            subject, text, _ = emails._render(name, context)
        except Exception as error:  # a template not written yet must not break the page
            previews.append((title, "", "", f"Not available: {error}"))
        else:
            previews.append((title, subject, text, ""))
    return previews


# ---------------------------------------------------------------------------
# CSV imports: upload, preview, confirm
# ---------------------------------------------------------------------------


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label="What the file holds", choices=ImportKind.choices)
    file = forms.FileField(label="CSV file (UTF-8)")

    def clean_file(self):
        file = self.cleaned_data["file"]
        if file.size > MAX_UPLOAD_BYTES:
            raise ValidationError(
                "This file is too large to preview here: use the import_departments or "
                "import_inventory command.",
                code="too_large",
            )
        data = file.read()
        self.cleaned_data["text"] = imports.decode(data)
        return file


def _run(csv_import, *, dry_run, user):
    """Inventories list services of the latest campaign's old contract (the command
    takes --contract for others)."""
    lines = imports.text_lines(csv_import.content)
    if csv_import.kind == ImportKind.DEPARTMENTS:
        return imports.import_departments(lines, dry_run=dry_run, user=user)
    return imports.import_inventory(lines, dry_run=dry_run, user=user)


def import_upload(request, model_admin):
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        csv_import = CsvImport(
            kind=form.cleaned_data["kind"],
            # Browsers may send any characters in a name; keep the printable ones.
            filename="".join(c for c in upload.name if c.isprintable())[:200] or "upload.csv",
            content=form.cleaned_data["text"],
            uploaded_by=request.user,
        )
        result = _run(csv_import, dry_run=True, user=request.user)
        csv_import.row_count = result.rows
        csv_import.errors = result.errors
        csv_import.summary = result.summary[:300]
        csv_import.save()
        return HttpResponseRedirect(
            reverse("admin:conversion_csvimport_change", args=[csv_import.pk])
        )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Import a CSV file",
        "opts": model_admin.model._meta,
        "form": form,
        "samples": [("departments.csv", "Departments and people"), ("inventory.csv", "Inventory")],
    }
    return TemplateResponse(request, "admin/conversion/csvimport/upload.html", context)


def import_preview(request, model_admin, object_id):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    csv_import = get_object_or_404(CsvImport, pk=object_id)
    if request.method == "POST":
        if csv_import.applied_at:
            messages.warning(request, "This file was already imported.")
        elif csv_import.errors:
            messages.error(request, "Fix the errors and upload the file again.")
        else:
            result = _run(csv_import, dry_run=False, user=request.user)
            if result.ok:
                CsvImport.objects.filter(pk=csv_import.pk).update(
                    applied_at=timezone.now(), summary=result.summary[:300]
                )
                messages.success(request, f"Imported {csv_import.filename}: {result.summary}")
            else:
                # The data changed since the preview (for example a department removed).
                CsvImport.objects.filter(pk=csv_import.pk).update(errors=result.errors)
                messages.error(request, result.summary)
        return HttpResponseRedirect(
            reverse("admin:conversion_csvimport_change", args=[csv_import.pk])
        )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Import {csv_import.filename}",
        "opts": model_admin.model._meta,
        "csv_import": csv_import,
        "errors": csv_import.errors[:500],
        "more_errors": max(0, len(csv_import.errors) - 500),
    }
    return TemplateResponse(request, "admin/conversion/csvimport/preview.html", context)
