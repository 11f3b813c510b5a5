"""The visitor's address, for rate limits and lockouts, behind the TLS proxy or not."""

import ipaddress

from django.conf import settings


def client_address(request):
    """The visitor's address. Behind the TLS proxy (BEHIND_PROXY=1) every request comes
    from the proxy, which appends the address it saw to X-Forwarded-For: that last entry
    is the visitor's (earlier ones are whatever the client sent). Used by the sign-in
    rate limit and, through AXES_CLIENT_IP_CALLABLE, by STND's lockout, so that one
    visitor's failures never lock out everyone behind the proxy."""
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rpartition(",")[2].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR") or None
