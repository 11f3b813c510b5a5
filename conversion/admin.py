"""STND's admin: responses to review, campaigns to set up, the email log, imports.

Who may do what comes from the two groups of migration 0002: an analyst
reviews, annotates, changes statuses, sends reminders and exports; an
administrator also edits campaigns, the catalogue and departments and imports
CSV files. The admin asks the model permissions, never the group names.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from calnet_survey.admin_history import HistoryAdmin
from calnet_survey.admin_site import install_stnd_admin_site
from conversion import admin_views, exports, review
from conversion.models import (
    Campaign,
    Category,
    Contract,
    Contractor,
    CsvImport,
    Decision,
    InternalNote,
    InventoryLine,
    Offering,
    OutboundEmail,
    Response,
    ResponseStatus,
    Revision,
    SectionProgress,
)
from departments.models import Department

install_stnd_admin_site(admin.site)


def last_reminded():
    """When a response's department was last sent a reminder or overdue notice for
    its campaign, as a subquery: what sorting the list by that column needs."""
    return Subquery(
        OutboundEmail.objects.reminders_sent()
        .filter(campaign=OuterRef("campaign"), department=OuterRef("department"))
        .order_by("-sent_at")
        .values("sent_at")[:1]
    )


# ---------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    list_display = ["name", "starts_on", "ends_on"]


@admin.register(Contractor)
class ContractorAdmin(admin.ModelAdmin):
    list_display = ["name", "short_name"]
    search_fields = ["name", "short_name"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["number", "name", "contract", "awarded_on"]
    list_filter = ["contract"]
    list_editable = ["awarded_on"]
    search_fields = ["number", "name"]


@admin.register(Offering)
class OfferingAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "contractor", "contract", "category", "successor"]
    list_filter = ["contract", "contractor", "category"]
    search_fields = ["name", "code"]
    list_select_related = [
        "contractor",
        "contract",
        "category",
        "successor__contractor",
        "successor__contract",
    ]
    raw_id_fields = ["successor"]


@admin.register(InventoryLine)
class InventoryLineAdmin(admin.ModelAdmin):
    list_display = ["identifier", "department", "offering", "quantity", "location"]
    list_filter = ["offering__contractor", "offering__contract"]
    search_fields = ["identifier", "department__name", "department__code"]
    list_select_related = ["department", "offering__contractor", "offering__contract"]
    raw_id_fields = ["department", "offering", "added_by"]
    show_full_result_count = False


# ---------------------------------------------------------------------------
# Campaigns
# ---------------------------------------------------------------------------


@admin.register(Campaign)
class CampaignAdmin(HistoryAdmin):
    list_display = ["bulletin_number", "name", "opens_at", "due_at", "closes_at", "reminder_days"]
    prepopulated_fields = {"slug": ["bulletin_number"]}
    change_form_template = "admin/conversion/campaign/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "slug", "old_contract", "new_contract"]}),
        (
            "Bulletin",
            {"fields": ["bulletin_number", "bulletin_title", "bulletin_date", "bulletin_text"]},
        ),
        ("Dates", {"fields": ["opens_at", "due_at", "closes_at", "old_contract_ends_on"]}),
        ("Reminders", {"fields": ["reminder_days", "overdue_every_days", "digest_hour"]}),
        ("STND contact", {"fields": ["stnd_phone", "stnd_email"]}),
    ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, unquote(object_id))
        extra_context = extra_context or {}
        if campaign is not None:
            extra_context["categories"] = Category.objects.filter(
                contract=campaign.new_contract
            ).order_by("number")
            extra_context["categories_url"] = (
                reverse("admin:conversion_category_changelist")
                + f"?contract__id__exact={campaign.new_contract_id}"
            )
            extra_context["previews"] = admin_views.email_previews(campaign)
        return super().change_view(request, object_id, form_url, extra_context)


# ---------------------------------------------------------------------------
# Responses: the list
# ---------------------------------------------------------------------------


class ContractorFilter(admin.SimpleListFilter):
    """Responses of departments concerned by a contractor (subclasses say how)."""

    def lookups(self, request, model_admin):
        return list(Contractor.objects.values_list("pk", "name"))


class IncumbentFilter(ContractorFilter):
    title = "incumbent contractor"
    parameter_name = "incumbent"

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(
                Exists(
                    InventoryLine.objects.filter(
                        department=OuterRef("department"), offering__contractor=self.value()
                    )
                )
            )
        return queryset


class TargetFilter(ContractorFilter):
    title = "target contractor"
    parameter_name = "target"

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(
                Exists(
                    Decision.objects.filter(
                        response=OuterRef("pk"), target__contractor=self.value()
                    )
                )
            )
        return queryset


class CategoryFilter(admin.SimpleListFilter):
    """Responses converting into a CALNET 3 category: a held service whose Transition
    lands in it, or a migration that targets it."""

    title = "CALNET 3 category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        contracts = Campaign.objects.values("new_contract")
        return [
            (c.pk, f"{c.number} {c.name}")
            for c in Category.objects.filter(contract__in=contracts).order_by("number")
        ]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(
            Exists(
                InventoryLine.objects.filter(
                    department=OuterRef("department"), offering__successor__category=self.value()
                )
            )
            | Exists(
                Decision.objects.filter(response=OuterRef("pk"), target__category=self.value())
            )
        )


class WindowFilter(admin.SimpleListFilter):
    """Responses whose preferred conversion window includes a month."""

    title = "preferred window"
    parameter_name = "window"

    def _campaign(self, request):
        pk = request.GET.get("campaign__id__exact")
        campaigns = Campaign.objects.all()
        return (campaigns.filter(pk=pk).first() if pk else None) or campaigns.first()

    def lookups(self, request, model_admin):
        campaign = self._campaign(request)
        if campaign is None:
            return []
        return [(f"{m:%Y-%m}", f"{m:%B %Y}") for m in campaign.months()]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            month = timezone.datetime.strptime(self.value(), "%Y-%m").date()
        except ValueError:
            return queryset.none()
        return queryset.filter(window_start__lte=month, window_end__gte=month)


def _selected_campaign(modeladmin, request, queryset):
    """The single campaign of a selection, or None after telling the analyst."""
    campaigns = list(queryset.values_list("campaign", flat=True).distinct()[:2])
    if len(campaigns) != 1:
        modeladmin.message_user(
            request,
            "Select responses of one campaign (filter by campaign) to export them.",
            messages.WARNING,
        )
        return None
    return Campaign.objects.get(pk=campaigns[0])


def _export_action(export, fmt):
    def action(modeladmin, request, queryset):
        campaign = _selected_campaign(modeladmin, request, queryset)
        if campaign is None:
            return None
        departments = Department.objects.filter(pk__in=queryset.values("department"))
        return exports.streaming_response(
            export, campaign=campaign, departments=departments, fmt=fmt
        )

    action.__name__ = f"export_{export}_{fmt}"
    return admin.action(
        description=f"Export: {exports.EXPORTS[export].lower()} ({fmt.upper()})",
        permissions=["export"],
    )(action)


EXPORT_ACTIONS = [_export_action(e, f) for e in exports.EXPORTS for f in ("csv", "xlsx")]


class NoteForm(forms.Form):
    text = forms.CharField(label="Internal note", widget=forms.Textarea(attrs={"rows": 3}))


class ReturnForm(forms.Form):
    note = forms.CharField(
        label="What should the department change?",
        help_text="Emailed to the department's contacts and shown on its survey pages.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class ReopenForm(forms.Form):
    until = forms.DateField(
        label="Reopen until (end of day)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class ResponseChangeList(ChangeList):
    """The responses list, with each shown row's last reminder read in one query."""

    def get_results(self, request):
        super().get_results(request)
        rows = list(self.result_list)
        figures = OutboundEmail.objects.reminder_figures([r.department_id for r in rows])
        for row in rows:
            _, row.last_reminded = figures.get((row.campaign_id, row.department_id), (0, None))


@admin.register(Response)
class ResponseAdmin(HistoryAdmin):
    list_display = [
        "department_link",
        "kind",
        "status",
        "is_late",
        "lines_transition",
        "lines_migration",
        "lines_disconnect",
        "manager",
        "coordinator",
        "submitted_at",
        "last_reminded_at",
    ]
    list_display_links = None
    list_filter = [
        "campaign",
        "status",
        "department__kind",
        "is_late",
        IncumbentFilter,
        TargetFilter,
        CategoryFilter,
        WindowFilter,
    ]
    search_fields = [
        "department__name",
        "department__code",
        "=department__people__email",
        "=manager__email",
        "=coordinator__email",
    ]
    search_help_text = "Department name or code, or a person's full email address."
    # Only the department is joined: it orders the list. The people and the last
    # reminder are read for the 50 rows shown (see get_queryset and ResponseChangeList);
    # joining them for all 5,000 rows before sorting took most of the list's query time.
    list_select_related = ["department"]
    list_per_page = 50  # Django renders each cell of the changelist in Python: 50 rows halve it
    show_full_result_count = False
    actions = ["accept_selected", "send_reminders", *EXPORT_ACTIONS]
    change_form_template = "admin/conversion/response/change_form.html"

    def changelist_view(self, request, extra_context=None):
        # Analysts review here; Django's "Select response to change" says nothing useful.
        return super().changelist_view(
            request, {"title": "Responses", "subtitle": None, **(extra_context or {})}
        )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("campaign", "manager", "coordinator")

    def get_changelist(self, request, **kwargs):
        return ResponseChangeList

    # -- columns -----------------------------------------------------------------

    @admin.display(description="department", ordering="department__name")
    def department_link(self, obj):
        url = reverse("admin:conversion_response_change", args=[obj.pk])
        return format_html(
            '<a href="{}">{}</a> ({})', url, obj.department.name, obj.department.code
        )

    @admin.display(description="kind", ordering="department__kind")
    def kind(self, obj):
        return obj.department.get_kind_display()

    # Sorting by this column computes it for every row; showing it, for the page only.
    @admin.display(description="last reminded", ordering=last_reminded())
    def last_reminded_at(self, obj):
        return obj.last_reminded

    def action_checkbox(self, obj):
        # Django's markup, without rendering a widget template for each row: that
        # was a fifth of the list's time.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" '
            'aria-label="Select this object for an action - {}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            str(obj),
        )

    # -- permissions ---------------------------------------------------------------

    def has_add_permission(self, request):
        return False  # responses are created by invitations and the survey

    def has_delete_permission(self, request, obj=None):
        return False  # history must stay

    def has_review_permission(self, request):
        return request.user.has_perm("conversion.review_response")

    def has_remind_permission(self, request):
        return request.user.has_perm("conversion.send_reminder")

    def has_export_permission(self, request):
        return request.user.has_perm("conversion.export_responses")

    # -- list actions --------------------------------------------------------------

    @admin.action(description="Accept selected submitted responses", permissions=["review"])
    def accept_selected(self, request, queryset):
        accepted, refused = 0, []
        for response in queryset.select_related("department"):
            try:
                review.accept(response=response, by=request.user)
                accepted += 1
            except ValidationError:
                refused.append(response.department.name)
        if accepted:
            self.message_user(request, f"Accepted {accepted} response(s).", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                f"Not accepted (not submitted): {', '.join(refused[:10])}"
                + (f" and {len(refused) - 10} more" if len(refused) > 10 else ""),
                messages.WARNING,
            )

    @admin.action(description="Send a reminder now", permissions=["remind"])
    def send_reminders(self, request, queryset):
        sent, skipped = 0, 0
        for response in queryset.select_related("department", "campaign", "manager", "coordinator"):
            try:
                sent += len(review.send_reminder(response=response, by=request.user))
            except ValidationError:
                skipped += 1
        self.message_user(
            request,
            f"Reminder emails queued: {sent}."
            + (f" {skipped} response(s) already submitted were skipped." if skipped else ""),
            messages.SUCCESS if sent else messages.WARNING,
        )

    # -- the response page -----------------------------------------------------------

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(view)

        return [
            path("dashboard/", wrap(admin_views.dashboard), name="conversion_dashboard"),
            path(
                "dashboard/export/<str:export>.<str:fmt>",
                wrap(admin_views.dashboard_export),
                name="conversion_dashboard_export",
            ),
            path(
                "dashboard/remind/<int:department>/",
                wrap(admin_views.dashboard_remind),
                name="conversion_dashboard_remind",
            ),
            path(
                "<path:object_id>/act/<str:action>/", wrap(self.act), name="conversion_response_act"
            ),
            *admin_views.edit_urls(self),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The answers are read-only here; every change goes through a named action.
        if request.method == "POST":
            return HttpResponseNotAllowed(["GET"])
        response = self.get_object(request, unquote(object_id))
        if response is None:
            return super().change_view(request, object_id, form_url, extra_context)
        extra_context = {**(extra_context or {}), **self.page_context(request, response)}
        return super().change_view(request, object_id, form_url, extra_context)

    def page_context(self, request, response, **forms_):
        groups = response.service_groups()
        now = timezone.now()
        campaign = response.campaign
        checklist = response.checklist(groups=groups).as_dict()
        return {
            "response": response,
            "groups": groups,
            "contacts": [
                ("Customer Conversion Manager", response.manager),
                ("Customer Conversion Coordinator", response.coordinator),
            ],
            "checklist_items": [
                (what, item["contractor"], item["service"], item["lines"])
                for what, key in (
                    ("Form 20", "form_20s"),
                    ("ATO", "atos"),
                    ("Disconnect notice", "disconnect_notices"),
                )
                for item in checklist[key]
            ],
            "revisions": response.revisions.select_related("submitted_by")[:20],
            "notes": response.notes.select_related("author"),
            "emails": OutboundEmail.objects.filter(
                campaign=campaign, department=response.department
            )[:20],
            "people": response.department.people.all(),
            "can_review": self.has_review_permission(request),
            "can_remind": self.has_remind_permission(request),
            "can_note": request.user.has_perm("conversion.add_internalnote"),
            "can_edit": admin_views.editable_sections(response)
            if self.has_change_permission(request, response)
            else [],
            "can_accept": response.status == ResponseStatus.SUBMITTED,
            "can_return": response.status in review.REVIEWABLE,
            "can_reopen": campaign.is_closed(now) and response.status != ResponseStatus.ACCEPTED,
            "needs_reminder": response.status
            in (
                ResponseStatus.NOT_STARTED,
                ResponseStatus.IN_PROGRESS,
                ResponseStatus.AWAITING_MANAGER,
                ResponseStatus.RETURNED,
            ),
            "note_form": forms_.get("note_form") or NoteForm(),
            "return_form": forms_.get("return_form") or ReturnForm(),
            "reopen_form": forms_.get("reopen_form") or ReopenForm(),
            "is_reopened": response.reopened_until and response.reopened_until > now,
        }

    def act(self, request, object_id, action):
        """POST only: one status action, note or reminder on one response."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        response = get_object_or_404(
            Response.objects.select_related("campaign", "department"), pk=object_id
        )
        if not self.has_view_permission(request, response):
            raise PermissionDenied
        page = reverse("admin:conversion_response_change", args=[response.pk])
        permission = {
            "accept": self.has_review_permission,
            "return": self.has_review_permission,
            "reopen": self.has_review_permission,
            "remind": self.has_remind_permission,
            "note": lambda r: r.user.has_perm("conversion.add_internalnote"),
        }.get(action)
        if permission is None:
            raise PermissionDenied
        if not permission(request):
            raise PermissionDenied
        try:
            message = self._act(request, response, action)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        except _InvalidForm as invalid:
            self.message_user(request, "Please correct the error below.", messages.ERROR)
            context = {
                **self.admin_site.each_context(request),
                **self.page_context(request, response, **invalid.forms),
            }
            return admin_views.render_response_page(request, self, response, context)
        else:
            self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(page)

    def _act(self, request, response, action):
        if action == "accept":
            review.accept(response=response, by=request.user)
            return "Accepted."
        if action == "return":
            form = ReturnForm(request.POST)
            if not form.is_valid():
                raise _InvalidForm(return_form=form)
            _, sent = review.return_for_changes(
                response=response, by=request.user, note=form.cleaned_data["note"]
            )
            return f"Returned for changes; the note was emailed to {_recipients(sent)}."
        if action == "reopen":
            form = ReopenForm(request.POST)
            if not form.is_valid():
                raise _InvalidForm(reopen_form=form)
            until = form.cleaned_data["until"]
            review.reopen(response=response, by=request.user, until=until)
            return f"Reopened until the end of {until:%B %-d, %Y}."
        if action == "remind":
            sent = review.send_reminder(response=response, by=request.user)
            return f"Reminder sent to {_recipients(sent)}."
        form = NoteForm(request.POST)
        if not form.is_valid():
            raise _InvalidForm(note_form=form)
        review.add_note(response=response, by=request.user, text=form.cleaned_data["text"])
        return "Note added."


class _InvalidForm(Exception):
    def __init__(self, **forms_):
        self.forms = forms_


def _recipients(emails):
    addresses = sorted({e.recipient for e in emails})
    return ", ".join(addresses) if addresses else "nobody (no contact has an email)"


# ---------------------------------------------------------------------------
# The rest of a response, and the email log
# ---------------------------------------------------------------------------


@admin.register(Decision)
class DecisionAdmin(HistoryAdmin):
    list_display = ["response", "offering", "line", "choice", "target"]
    list_filter = ["choice"]
    list_select_related = ["response__department", "response__campaign", "offering__contractor"]
    raw_id_fields = ["response", "offering", "line", "target"]
    show_full_result_count = False


@admin.register(SectionProgress)
class SectionProgressAdmin(admin.ModelAdmin):
    list_display = ["response", "section", "version", "is_complete", "saved_at"]
    list_select_related = ["response__department", "response__campaign"]


@admin.register(Revision)
class RevisionAdmin(admin.ModelAdmin):
    list_display = ["response", "number", "submitted_at", "submitted_by", "is_late"]
    list_select_related = ["response__department", "response__campaign", "submitted_by"]
    readonly_fields = ["response", "number", "submitted_at", "submitted_by", "is_late", "answers"]

    def has_add_permission(self, request):
        return False


@admin.register(InternalNote)
class InternalNoteAdmin(admin.ModelAdmin):
    list_display = ["response", "author", "created_at"]
    list_select_related = ["response__department", "response__campaign", "author"]
    raw_id_fields = ["response"]
    readonly_fields = ["author"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = [
        "recipient",
        "kind",
        "campaign",
        "department",
        "status",
        "attempts",
        "short_error",
        "sent_at",
    ]
    list_filter = ["kind", "status", "campaign"]
    search_fields = ["=recipient", "subject", "department__name", "department__code"]
    list_select_related = ["campaign", "department"]
    show_full_result_count = False
    date_hierarchy = "created_at"
    actions = ["retry_selected"]
    readonly_fields = [
        "key",
        "kind",
        "campaign",
        "department",
        "recipient",
        "cc",
        "subject",
        "body_text",
        "body_html",
        "message_id",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "claimed_until",
        "created_at",
        "sent_at",
    ]

    @admin.display(description="last error")
    def short_error(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry failed messages", permissions=["change"])
    def retry_selected(self, request, queryset):
        from conversion import emails

        count = emails.retry(queryset)
        self.message_user(
            request,
            f"{count} failed message(s) queued again; send_reminders delivers them.",
            messages.SUCCESS if count else messages.WARNING,
        )


@admin.register(CsvImport)
class CsvImportAdmin(admin.ModelAdmin):
    """Upload a CSV file, see what it would do, confirm: see conversion/imports.py."""

    list_display = [
        "filename",
        "kind",
        "row_count",
        "error_count",
        "uploaded_by",
        "uploaded_at",
        "applied_at",
    ]
    list_filter = ["kind"]
    list_select_related = ["uploaded_by"]
    readonly_fields = ["summary"]

    @admin.display(description="errors")
    def error_count(self, obj):
        return len(obj.errors)

    def has_module_permission(self, request):
        return request.user.has_perm("departments.import_data")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("departments.import_data")

    def has_add_permission(self, request):
        return request.user.has_perm("departments.import_data")

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("departments.import_data")

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("departments.import_data")

    def add_view(self, request, form_url="", extra_context=None):
        return admin_views.import_upload(request, self)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return admin_views.import_preview(request, self, unquote(object_id))
