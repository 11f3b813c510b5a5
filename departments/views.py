"""The public landing page, sign-in without passwords, sign out, and the chooser.

Sign-in follows the bulletin's link: a person enters their work email and, only if
it belongs to a department, gets a link (the page says the same either way). The
link's GET stores the token in the session and redirects to a confirmation page
whose address carries no token; only that page's POST uses the token up, so mail
scanners that follow links cannot burn it.
"""

import datetime
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from calnet_survey.proxy import client_address
from conversion.models import Campaign, Response
from departments import tokens
from departments.forms import SignInForm
from departments.models import Department, Person, SignInRequest, normalize_email

logger = logging.getLogger(__name__)

TOKEN_KEY = "sign_in_token"  # noqa: S105 (a session key name, not a secret)
NEXT_KEY = "sign_in_next"
EMAIL_KEY = "sign_in_email"


def current_campaign(now=None):
    """The campaign the landing page speaks of: the latest one that has opened."""
    return (
        Campaign.objects.filter(opens_at__lte=now or timezone.now()).order_by("-opens_at").first()
    )


def _rate_limited(email, address, now):
    """Whether this email, or this address, asked for too many links in the last hour.

    Counted in the database so the limit holds across every app server."""
    since = now - datetime.timedelta(hours=1)
    recent = SignInRequest.objects.filter(requested_at__gte=since)
    if recent.filter(email=email).count() >= settings.SIGN_IN_RATE_PER_EMAIL:
        return True
    return bool(
        address and recent.filter(ip_address=address).count() >= settings.SIGN_IN_RATE_PER_ADDRESS
    )


def _send_link_if_known(email, campaign):
    """Email a 15-minute link, only when the email belongs to an active department."""
    from conversion import emails

    if not Person.objects.filter(email=email, department__is_active=True).exists():
        return
    user = tokens.user_for_email(email)
    if user.is_staff or not user.is_active:
        return  # STND staff sign in to the admin with a password and a second factor
    emails.send_sign_in_link(user=user, campaign=campaign)


def _after_response(response, work, *args):
    """Run `work(*args)` once `response` has been sent.

    Whether an email belongs to a department must not show, not even in how long
    the answer takes: looking the person up and sending the link happen after the
    visitor has the (identical) answer. Django calls a response's closers when the
    WSGI server has finished sending it; it has no public name for that hook."""

    def run():
        try:
            work(*args)
        except Exception:  # the visitor has their page; the log keeps the failure
            logger.exception("Sending a sign-in link failed")

    response._resource_closers.append(run)


# HEAD too: uptime monitors probe the public page with it.
@require_http_methods(["GET", "HEAD", "POST"])
def landing(request):
    campaign = current_campaign()
    form = SignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        email = normalize_email(form.cleaned_data["email"])
        address = client_address(request)
        now = timezone.now()
        if _rate_limited(email, address, now):
            form.add_error(
                None,
                "Too many sign-in links were asked for this email or from your network in "
                "the last hour. Wait an hour and try again"
                + (f", or call STND at {campaign.stnd_phone}." if campaign else "."),
            )
            status = 429
        else:
            SignInRequest.objects.create(email=email, ip_address=address)
            request.session[EMAIL_KEY] = email
            response = redirect("departments:sign_in_sent")
            _after_response(response, _send_link_if_known, email, campaign)
            return response
    signed_in = request.user.is_authenticated and not request.user.is_staff
    return render(
        request,
        "departments/landing.html",
        {"form": form, "campaign": campaign, "signed_in": signed_in},
        status=status,
    )


@require_GET
def sign_in_sent(request):
    """The same page whether or not the email belongs to a department."""
    return render(
        request,
        "departments/sign_in_sent.html",
        {
            "campaign": current_campaign(),
            "email": request.session.get(EMAIL_KEY, ""),
            "minutes": settings.SIGN_IN_LINK_MINUTES,
        },
    )


@require_GET
def sign_in_link(request):
    """The link from the email: keep the token in the session, drop it from the URL."""
    token = request.GET.get("token", "")
    if not token:
        return redirect("departments:landing")
    request.session[TOKEN_KEY] = token[:300]
    next_path = request.GET.get("next", "")
    if next_path and url_has_allowed_host_and_scheme(
        next_path, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        request.session[NEXT_KEY] = next_path
    else:
        request.session.pop(NEXT_KEY, None)
    return redirect("departments:sign_in_confirm")


def _link_invalid(request):
    request.session.pop(TOKEN_KEY, None)
    return render(
        request,
        "departments/link_invalid.html",
        {"campaign": current_campaign(), "form": SignInForm()},
        status=400,
    )


@require_http_methods(["GET", "POST"])
def sign_in_confirm(request):
    """GET asks to confirm; POST uses the link up and starts a new session."""
    token = request.session.get(TOKEN_KEY)
    if not token:
        return _link_invalid(request)
    if request.method == "GET":
        user = tokens.check(request, token)
        if user is None:
            return _link_invalid(request)
        return render(
            request,
            "departments/sign_in_confirm.html",
            {"campaign": current_campaign(), "email": user.email},
        )
    user = tokens.consume(request, token)
    if user is None:
        return _link_invalid(request)
    next_path = request.session.pop(NEXT_KEY, "")
    request.session.pop(TOKEN_KEY, None)
    # login() gives the person a new session key, so a key seen before sign-in is useless.
    login(request, user, backend="sesame.backends.ModelBackend")
    return redirect(next_path or reverse("departments:choose"))


@require_POST
def sign_out(request):
    logout(request)
    messages.success(request, "You are signed out.")
    return redirect("departments:landing")


@login_required
@require_GET
def choose_department(request):
    """The departments and campaigns this person may answer for; straight to the
    survey when there is only one."""
    now = timezone.now()
    campaigns = list(Campaign.objects.filter(opens_at__lte=now).order_by("-opens_at")[:5])
    if request.user.is_staff:
        departments = []
    else:
        departments = list(Department.objects.for_user(request.user).order_by("name"))
    if len(departments) == 1 and len(campaigns) == 1:
        return redirect("survey:overview", campaign=campaigns[0].slug, code=departments[0].code)
    statuses = {
        (r.campaign_id, r.department_id): r
        for r in Response.objects.filter(campaign__in=campaigns, department__in=departments)
    }
    rows = [
        {
            "department": department,
            "campaigns": [
                (campaign, statuses.get((campaign.pk, department.pk))) for campaign in campaigns
            ],
        }
        for department in departments
    ]
    return render(
        request,
        "departments/choose.html",
        {
            "campaign": campaigns[0] if campaigns else None,
            "rows": rows,
            "is_staff": request.user.is_staff,
        },
    )
