"""Sign-in links without passwords (django-sesame underneath).

A link carries a signed token naming the user, its scope and its creation time;
its 16-byte signature (SESAME_SIGNATURE_SIZE) gives 128 bits an attacker would
have to guess. Tokens are single-use: they are bound to the user's last_login,
which signing in updates, so a used link (and any older one) stops working.

Two scopes, two lifetimes:
- "sign-in": a link the person asked for on the landing page, 15 minutes;
- "invitation": a link in an invitation, reminder or authorization request, 72 hours.

Opening a link (GET) only shows a confirmation page; the token is consumed by
the POST from that page (`consume`), so mail scanners that follow links do not
burn it.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from sesame.backends import ModelBackend as SesameBackend
from sesame.utils import get_token

from departments.models import normalize_email

_SESAME = SesameBackend()

SIGN_IN = "sign-in"
INVITATION = "invitation"


def lifetime_seconds(scope):
    if scope == SIGN_IN:
        return settings.SIGN_IN_LINK_MINUTES * 60
    if scope == INVITATION:
        return settings.INVITATION_LINK_HOURS * 3600
    raise ValueError(f"Unknown sign-in scope {scope!r}")


def user_for_email(email):
    """The login account for a department person's email (usernames are emails)."""
    email = normalize_email(email)
    user, _ = get_user_model().objects.get_or_create(username=email, defaults={"email": email})
    return user


def sign_in_url(user, *, scope, next_path=""):
    """An absolute sign-in link for `user`, to put in an email."""
    query = {"token": get_token(user, scope=scope)}
    if next_path:
        query["next"] = next_path
    return f"{settings.SITE_URL}{reverse('departments:sign_in_link')}?{urlencode(query)}"


def check(request, token):
    """The user a token signs in, without using it up; None when it is expired,
    used, forged or for a staff account (STND staff use the admin)."""
    if not token or len(token) > 200:
        return None
    for scope in (SIGN_IN, INVITATION):
        # sesame's backend itself, not authenticate(): that would report every miss (an
        # invitation tried as a sign-in link first, an expired link) to django-axes as
        # a failed login, and a few from one office (or from everyone behind the proxy)
        # would lock that address out of every sign-in. 128-bit signatures need no lockout.
        user = _SESAME.authenticate(
            request, sesame=token, scope=scope, max_age=lifetime_seconds(scope)
        )
        if user is not None:
            return None if user.is_staff else user
    return None


def consume(request, token):
    """Check the token and mark it used, atomically; returns the user or None.

    The user row is locked so that two simultaneous POSTs of one link cannot both
    succeed: the second finds last_login changed, which is what invalidates it."""
    with transaction.atomic():
        user = check(request, token)
        if user is None:
            return None
        current = get_user_model().objects.select_for_update().only("last_login").get(pk=user.pk)
        if current.last_login != user.last_login:
            return None
        user.last_login = timezone.now()
        user.save(update_fields=["last_login"])
        return user
