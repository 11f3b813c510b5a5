"""The department survey's pages: overview, the four sections, review and submit.

Every page is reached through `department_page`, which finds the campaign and one of
the signed-in person's own departments (anything else is a 404), and the response
they answer. Each page runs a fixed number of queries whatever the inventory size.
"""

import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from conversion import rules, workflow
from conversion.forms import (
    AddLineForm,
    ContactsForm,
    DepartmentForm,
    LineDecisionsForm,
    ServicesForm,
    SubmitForm,
    TimeframeForm,
    VersionForm,
    migration_targets,
)
from conversion.models import (
    Campaign,
    Choice,
    Decision,
    EmailKind,
    InventoryLine,
    Offering,
    OutboundEmail,
    Response,
    ResponseStatus,
    Section,
)
from departments.models import Department

LINES_PER_PAGE = 50

# The order of the sections, their pages and titles.
SECTION_PAGES = {
    Section.DEPARTMENT: "survey:department",
    Section.CONTACTS: "survey:contacts",
    Section.SERVICES: "survey:services",
    Section.TIMEFRAME: "survey:timeframe",
}


def department_page(view):
    """Find the campaign, one of the user's own departments and its response.

    STND staff use the admin and are not members of any department; a department
    the user does not belong to, or a campaign not yet open, answers 404."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, campaign, code, **kwargs):
        if request.user.is_staff:
            raise Http404("STND staff use the admin.")
        response = _find_response(request.user, campaign, code)
        return view(request, response, **kwargs)

    return wrapper


_RESPONSE_RELATED = (
    "manager",
    "coordinator",
    "campaign__old_contract",
    "campaign__new_contract",
    "department",
)


def _find_response(user, slug, code):
    """The response of an open campaign and one of the user's departments, or 404.

    Every page asks this, so the usual case (the response exists) is one query; the
    campaign and department are looked up separately only for a department's first
    visit, which creates the response."""
    now = timezone.now()
    mine = Department.objects.for_user(user)
    try:
        return Response.objects.select_related(*_RESPONSE_RELATED).get(
            campaign__slug=slug,
            campaign__opens_at__lte=now,
            department__code=code,
            department__in=mine,
        )
    except Response.DoesNotExist:
        pass
    campaign = get_object_or_404(Campaign, slug=slug, opens_at__lte=now)
    department = get_object_or_404(mine, code=code)
    try:
        response, _ = Response.objects.select_related(*_RESPONSE_RELATED).get_or_create(
            campaign=campaign, department=department
        )
    except IntegrityError:  # created meanwhile by a colleague's first visit
        response = Response.objects.get(campaign=campaign, department=department)
    response.campaign, response.department = campaign, department
    return response


def _url(name, response, **kwargs):
    return reverse(
        name,
        kwargs={"campaign": response.campaign.slug, "code": response.department.code, **kwargs},
    )


def _page(request, template, response, **context):
    now = timezone.now()
    context.update(
        response=response,
        campaign=response.campaign,
        department=response.department,
        closed_reason=workflow.editing_closed_reason(response, now=now),
        section_links=[
            (section, section.label, _url(name, response))
            for section, name in SECTION_PAGES.items()
        ],
    )
    return render(request, template, context, status=context.pop("status", 200))


def _next_section_url(response, section):
    sections = list(SECTION_PAGES)
    index = sections.index(section)
    if index + 1 < len(sections):
        return _url(SECTION_PAGES[sections[index + 1]], response)
    return _url("survey:review", response)


# --- Overview -------------------------------------------------------------------------------------


@department_page
def overview(request, response):
    progress = workflow.progress_by_section(response)
    sections = [
        {
            "section": section,
            "url": _url(name, response),
            "state": workflow.section_state(progress[section]),
            "state_label": workflow.SECTION_STATE_LABELS[workflow.section_state(progress[section])],
            "progress": progress[section],
        }
        for section, name in SECTION_PAGES.items()
    ]
    # A revision is written at each submission, which also sets submitted_at.
    revision = None
    if response.submitted_at:
        revision = response.revisions.select_related("submitted_by").order_by("-number").first()
    return _page(
        request,
        "conversion/overview.html",
        response,
        sections=sections,
        revision=revision,
        days_left=response.campaign.days_left(),
    )


# --- Sections ------------------------------------------------------------------------------------


def _section(
    request, response, *, section, form, template, answers, written, shown=None, **context
):
    """GET shows the form; POST saves it whole through `workflow.save_section`.

    The form carries a signed "loaded" value: the section's version and answers as
    shown. A save based on an older version is refused (409) with what changed;
    the person's typed values stay in the form, and saving again keeps theirs."""
    progress = workflow.progress_by_section(response)[section]
    conflict = None
    status = 200
    if request.method != "POST":
        # `shown`: the answers as this page shows them, when the view has them already.
        loaded = workflow.loaded_token(progress=progress, answers=shown or answers())
    else:
        # The version and answers this person loaded come back with the form.
        loaded = request.POST.get("loaded", "")
        version, before = workflow.read_loaded_token(loaded)
        reason = workflow.editing_closed_reason(response)
        if reason:
            messages.error(request, reason)
            return redirect(_url("survey:overview", response))
        if form.is_valid():
            try:
                workflow.save_section(
                    response=response,
                    section=section,
                    user=request.user,
                    loaded_version=version,
                    loaded_answers=before,
                    write=form.save,
                    answers=answers,
                )
            except workflow.Conflict as exc:
                conflict = exc
                status = 409
                loaded = workflow.loaded_token(progress=exc.progress, answers=answers())
            except workflow.NotAllowed as exc:  # closed meanwhile (accepted, say)
                messages.error(request, str(exc))
                return redirect(_url("survey:overview", response))
            else:
                messages.success(request, f"{written} saved.")
                if request.POST.get("then") == "stay":
                    return redirect(request.get_full_path())
                return redirect(_next_section_url(response, section))
        else:
            status = 200
    return _page(
        request,
        template,
        response,
        section=section,
        form=form,
        loaded=loaded,
        conflict=conflict,
        progress=progress,
        status=status,
        **context,
    )


@department_page
@require_http_methods(["GET", "POST"])
def department_section(request, response):
    form = DepartmentForm(
        request.POST if request.method == "POST" else None, response=response, user=request.user
    )
    return _section(
        request,
        response,
        section=Section.DEPARTMENT,
        form=form,
        template="conversion/section_department.html",
        answers=lambda: workflow.section_answers(response, Section.DEPARTMENT),
        written="Your department's details are",
    )


@department_page
@require_http_methods(["GET", "POST"])
def contacts_section(request, response):
    form = ContactsForm(
        request.POST if request.method == "POST" else None, response=response, user=request.user
    )
    return _section(
        request,
        response,
        section=Section.CONTACTS,
        form=form,
        template="conversion/section_contacts.html",
        answers=lambda: workflow.section_answers(response, Section.CONTACTS),
        written="Your conversion contacts are",
    )


@department_page
@require_http_methods(["GET", "POST"])
def services_section(request, response):
    on = timezone.localdate()
    groups = response.service_groups(on)
    targets = migration_targets(response.campaign, on)
    form = ServicesForm(
        request.POST if request.method == "POST" else None,
        response=response,
        groups=groups,
        targets=targets,
        on=on,
        user=request.user,
    )
    checklist = response.checklist(groups)
    return _section(
        request,
        response,
        section=Section.SERVICES,
        form=form,
        template="conversion/section_services.html",
        answers=lambda: workflow.section_answers(response, Section.SERVICES),
        shown=workflow.section_answers(response, Section.SERVICES, groups=groups),
        written="Your services are",
        groups=groups,
        checklist=checklist,
        total_lines=sum(g.lines for g in groups),
    )


@department_page
@require_http_methods(["GET", "POST"])
def service_lines(request, response, offering_id):
    """One group's lines, a page at a time, each with its own decision (an exception)."""
    on = timezone.localdate()
    lines = InventoryLine.objects.filter(department=response.department, offering_id=offering_id)
    offering = get_object_or_404(
        Offering.objects.select_related(
            "contractor", "category", "successor__category", "successor__contractor"
        ),
        pk=offering_id,
    )
    query = request.GET.get("q", "").strip()[:60]
    shown_lines = lines.filter(identifier__icontains=query) if query else lines
    paginator = Paginator(shown_lines.order_by("identifier", "pk"), LINES_PER_PAGE)
    # The paginator counts the lines anyway; a search that finds none is not a 404.
    if paginator.count == 0 and (not query or not lines.exists()):
        raise Http404("The department holds no such service.")
    page = paginator.get_page(request.GET.get("page"))
    page_lines = list(page.object_list)
    exceptions = {
        d.line_id: d
        for d in Decision.objects.filter(response=response, line__in=page_lines).select_related(
            "target__contractor"
        )
    }
    group_decision = (
        Decision.objects.filter(response=response, offering=offering, line__isnull=True)
        .select_related("target__contractor")
        .first()
    )
    default = rules.default_choice(response.department.kind, offering, on)
    group_choice = group_decision.choice if group_decision else default
    targets = migration_targets(response.campaign, on)
    form = LineDecisionsForm(
        request.POST if request.method == "POST" else None,
        response=response,
        offering=offering,
        lines=page_lines,
        exceptions=exceptions,
        targets=targets,
        on=on,
    )

    def answers():
        """The saved decisions as the page shows them, read again (at a save)."""
        current = {
            d.line_id: d
            for d in Decision.objects.filter(response=response, line__in=page_lines)
            .select_related("target__contractor")
            .order_by()
        }
        group = (
            Decision.objects.filter(response=response, offering=offering, line__isnull=True)
            .select_related("target__contractor")
            .first()
        )
        return as_shown(current, group)

    def as_shown(current, group):
        shown = {
            "Decision for the whole group": workflow._decision_text(
                group.choice if group else default,
                group.target if group else None,
                explicit=group is not None,
            )
        }
        for line in page_lines:
            exception = current.get(line.pk)
            shown[line.identifier] = (
                workflow._decision_text(exception.choice, exception.target)
                if exception
                else "Same as the group"
            )
        return shown

    return _section(
        request,
        response,
        section=Section.SERVICES,
        form=form,
        template="conversion/service_lines.html",
        answers=answers,
        shown=as_shown(exceptions, group_decision),
        written="The decisions for these lines are",
        offering=offering,
        page=page,
        query=query,
        group_decision=group_decision,
        group_choice_label=Choice(group_choice).label if group_choice else "No decision yet",
    )


@department_page
@require_http_methods(["GET", "POST"])
def add_line(request, response):
    form = AddLineForm(
        request.POST if request.method == "POST" else None, response=response, user=request.user
    )
    if request.method == "POST" and form.is_valid():
        reason = workflow.editing_closed_reason(response)
        if reason:
            messages.error(request, reason)
            return redirect(_url("survey:overview", response))
        try:
            line = workflow.add_line(response=response, user=request.user, **form.cleaned_data)
        except IntegrityError:
            form.add_error("identifier", "Your inventory already holds this service.")
        except workflow.NotAllowed as exc:  # closed meanwhile (accepted, say)
            messages.error(request, str(exc))
            return redirect(_url("survey:overview", response))
        else:
            messages.success(
                request,
                f"Added {line.identifier} ({line.offering.name}). Choose what happens to it below.",
            )
            return redirect(_url("survey:services", response) + f"#group-{line.offering_id}")
    return _page(request, "conversion/add_line.html", response, form=form)


@department_page
@require_http_methods(["GET", "POST"])
def timeframe_section(request, response):
    form = TimeframeForm(
        request.POST if request.method == "POST" else None,
        response=response,
        groups=response.service_groups,
        user=request.user,
    )
    return _section(
        request,
        response,
        section=Section.TIMEFRAME,
        form=form,
        template="conversion/section_timeframe.html",
        answers=lambda: workflow.section_answers(response, Section.TIMEFRAME),
        written="Your timeframe is",
    )


# --- Review, authorization and submission --------------------------------------------------------


@department_page
@require_http_methods(["GET", "POST"])
def review(request, response):
    """All the answers on one page, what is missing, and the Manager's authorization
    (or, for anyone else, a request to the Manager)."""
    now = timezone.now()
    groups = response.service_groups(timezone.localdate(now))
    progress = workflow.progress_by_section(response)
    checklist = response.checklist(groups)
    missing = [
        (section, message, _url(SECTION_PAGES[section], response))
        for section, message in workflow.missing(response, progress=progress, checklist=checklist)
    ]
    is_manager = workflow.is_manager(response, request.user)
    submit_form = SubmitForm(initial={"version": response.version})
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "submit":
            submit_form = SubmitForm(request.POST)
            if missing:
                submit_form.add_error(None, "Complete the survey before submitting it.")
            if submit_form.is_valid():
                try:
                    workflow.submit(
                        response=response,
                        user=request.user,
                        version=submit_form.cleaned_data["version"],
                        now=now,
                    )
                except workflow.NotAllowed as exc:
                    submit_form.add_error(None, str(exc))
                else:
                    return redirect(_url("survey:submitted", response))
            status = 200
        elif action in ("request", "withdraw"):
            form = VersionForm(request.POST)
            if not form.is_valid() or form.cleaned_data["version"] != response.version:
                messages.error(request, "The answers changed meanwhile: review them again.")
                return redirect(_url("survey:review", response))
            try:
                if action == "request":
                    if missing:
                        raise workflow.NotAllowed("Complete the survey before sending it.")
                    if is_manager:
                        raise workflow.NotAllowed("You are the Manager: authorize it yourself.")
                    email = workflow.request_authorization(
                        response=response, user=request.user, now=now
                    )
                    messages.success(
                        request,
                        f"Sent to {response.manager.name} ({response.manager.email}) for "
                        "authorization."
                        + ("" if email.status == "sent" else " The email will follow shortly."),
                    )
                else:
                    workflow.withdraw_authorization_request(response=response, now=now)
                    messages.success(request, "Request withdrawn: the answers can change again.")
            except workflow.NotAllowed as exc:
                messages.error(request, str(exc))
            return redirect(_url("survey:review", response))
        else:
            return redirect(_url("survey:review", response))
    return _page(
        request,
        "conversion/review.html",
        response,
        answers=workflow.snapshot(response, groups=groups),
        checklist=checklist,
        missing=missing,
        is_manager=is_manager,
        can_submit=workflow.can_submit(response, now=now),
        submit_form=submit_form,
        status=status,
        editable=workflow.can_edit(response, now=now),
    )


@department_page
def submitted(request, response):
    """The confirmation page after a submission."""
    revision = response.revisions.select_related("submitted_by").order_by("-number").first()
    if revision is None:
        return redirect(_url("survey:review", response))
    receipts = list(
        OutboundEmail.objects.filter(
            kind=EmailKind.RECEIPT,
            campaign=response.campaign,
            department=response.department,
            created_at__gte=revision.submitted_at,
        ).order_by("recipient")
    )
    return _page(
        request,
        "conversion/submitted.html",
        response,
        revision=revision,
        receipts=receipts,
        receipts_pending=any(r.status != "sent" for r in receipts),
    )


@department_page
def summary(request, response):
    """A printable summary: a submitted revision, or the current draft."""
    revisions = list(response.revisions.select_related("submitted_by").order_by("-number"))
    revision = None
    if revisions:
        wanted = request.GET.get("revision")
        revision = next((r for r in revisions if str(r.number) == wanted), revisions[0])
    if revision is None or request.GET.get("draft"):
        revision = None
        answers = workflow.snapshot(response)
    else:
        answers = revision.answers
    return _page(
        request,
        "conversion/summary.html",
        response,
        answers=answers,
        revision=revision,
        revisions=revisions,
        status_submitted=response.status == ResponseStatus.SUBMITTED,
    )
