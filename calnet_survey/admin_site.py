"""STND's sign-in to the admin: password, then a TOTP second factor (django-otp).

When `settings.STND_REQUIRE_OTP` is on (always, unless DEBUG), a staff member
who gave the right password is not yet let in: the admin sends them to
"second-factor/", which either asks for the 6-digit code of their authenticator
app or, the first time, enrols one by showing a QR code (drawn as inline SVG by
`qrcode`, no third-party request). Failed passwords lock out the account and
the address (django-axes, AXES_* settings); failed codes are throttled by
django-otp (each failure doubles the wait). Sessions expire after inactivity
(SESSION_COOKIE_AGE with SESSION_SAVE_EVERY_REQUEST).

`install_stnd_admin_site(admin.site)` turns Django's default site into this
site, so `calnet_survey/urls.py` keeps `admin.site.urls`; conversion/admin.py
calls it when the admin is discovered, before any request.
"""

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

DEVICE_NAME = "STND authenticator app"


def is_verified(request):
    """Whether this session passed the second factor (django-otp's middleware flag)."""
    check = getattr(request.user, "is_verified", None)
    return bool(check and check())


def qr_svg(text):
    """An inline SVG QR code of `text`."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg = image.to_string(encoding="unicode")
    return mark_safe(svg.replace("<svg ", '<svg role="img" aria-label="QR code" ', 1))  # noqa: S308


class TokenForm(forms.Form):
    token = forms.CharField(
        label="6-digit code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def __init__(self, *args, device, **kwargs):
        super().__init__(*args, **kwargs)
        self.device = device

    def clean_token(self):
        token = self.cleaned_data["token"].replace(" ", "")
        allowed, _ = self.device.verify_is_allowed()
        if not allowed:
            raise forms.ValidationError(
                "Too many wrong codes: wait a minute and try again.", code="throttled"
            )
        if not self.device.verify_token(token):
            raise forms.ValidationError(
                "That code is not right, or has expired: enter the current one.",
                code="invalid",
            )
        return token


class StndAdminSite(AdminSite):
    site_header = "CALNET Conversion Survey – STND"
    site_title = "CALNET Conversion – STND"
    index_title = "STND administration"
    index_template = "admin/stnd_index.html"

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        return not settings.STND_REQUIRE_OTP or is_verified(request)

    def get_urls(self):
        return [
            path("second-factor/", self.second_factor, name="second_factor"),
            *super().get_urls(),
        ]

    def _needs_second_factor(self, request):
        user = request.user
        return (
            settings.STND_REQUIRE_OTP
            and user.is_authenticated
            and user.is_active
            and user.is_staff
            and not is_verified(request)
        )

    def _second_factor_url(self, request):
        url = reverse("admin:second_factor", current_app=self.name)
        next_url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
        return f"{url}?{REDIRECT_FIELD_NAME}={next_url}" if next_url else url

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        if request.method == "GET" and self._needs_second_factor(request):
            return HttpResponseRedirect(self._second_factor_url(request))
        response = super().login(request, extra_context)
        if request.method == "POST" and self._needs_second_factor(request):
            return HttpResponseRedirect(self._second_factor_url(request))
        return response

    @method_decorator(never_cache)
    def second_factor(self, request):
        """Ask for the TOTP code; on first sign-in, enrol an authenticator app."""
        if not self._needs_second_factor(request):
            if request.user.is_authenticated and self.has_permission(request):
                return HttpResponseRedirect(self._next(request))
            return HttpResponseRedirect(reverse("admin:login", current_app=self.name))
        user = request.user
        device = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
        enrolling = device is None
        if enrolling:
            # Keep one pending device across reloads, so the QR code stays the same.
            device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
            if device is None:
                device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
        form = TokenForm(request.POST or None, device=device)
        if request.method == "POST" and form.is_valid():
            if enrolling:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            otp_login(request, device)
            return HttpResponseRedirect(self._next(request))
        context = {
            **self.each_context(request),
            "title": "Set up your second factor" if enrolling else "Enter your code",
            "form": form,
            "enrolling": enrolling,
            "qr_code": qr_svg(device.config_url) if enrolling else "",
            "secret": _base32(device) if enrolling else "",
            "next": request.POST.get(REDIRECT_FIELD_NAME)
            or request.GET.get(REDIRECT_FIELD_NAME, ""),
        }
        return render(request, "admin/second_factor.html", context)

    def _next(self, request):
        next_url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
        if next_url and url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return next_url
        return reverse("admin:index", current_app=self.name)


def _base32(device):
    """The key as authenticator apps take it when typed by hand, in groups of four."""
    from base64 import b32encode

    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def install_stnd_admin_site(site):
    """Make Django's default admin site (`admin.site`) an StndAdminSite."""
    site.__class__ = StndAdminSite
