"""Request logging and cache headers, for every app server alike."""

import logging
import time

from django.conf import settings
from django.utils.cache import add_never_cache_headers

from calnet_survey import health

logger = logging.getLogger("calnet_survey.requests")


class RequestLogMiddleware:
    """One log line per request: method, path, status and duration.

    The path is logged without its query string, which may carry a sign-in token,
    and nothing says who asked: an operator needs the shape of the traffic, not
    the people. Outermost in MIDDLEWARE so it also times redirects, /healthz and
    static files. Unhandled errors are logged separately, with their traceback, by
    Django's `django.request` logger.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        # Load balancers poll /healthz every few seconds: a passing probe is noise.
        quiet = request.path == health.PATH and response.status_code == 200
        logger.log(
            logging.DEBUG if quiet else logging.INFO,
            "%s %s %s %sms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={
                "method": request.method,
                "path": request.path,
                "status_code": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        return response


class NoStoreMiddleware:
    """`Cache-Control: no-store` on the pages Django renders.

    Survey pages show a department's answers; others hold a CSRF token or a
    sign-in form. None of them may stay in a shared proxy or in the browser's
    history of a shared government laptop. A signed-in user's responses are
    no-store whatever the view said; an anonymous page keeps caching headers its
    view chose on purpose. Static files never reach this (whitenoise answers them
    higher up), so they keep their year-long cache headers.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if not response.has_header("Cache-Control") or (user and user.is_authenticated):
            add_never_cache_headers(response)
        return response


class SessionRefreshMiddleware:
    """Keep a signed-in session alive while it is used, writing it at most every few minutes.

    Sessions end after SESSION_COOKIE_AGE of inactivity. Django's
    SESSION_SAVE_EVERY_REQUEST would get that by writing the session row (an UPDATE
    and a committed transaction) on every page view; instead the session records
    when it was last extended and is saved again only once that is older than
    SESSION_REFRESH_SECONDS. Inactivity is then measured to within that interval.
    """

    KEY = "_refreshed_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is None or user is None or not user.is_authenticated:
            return response
        now = int(time.time())
        if now - session.get(self.KEY, 0) >= settings.SESSION_REFRESH_SECONDS:
            # Setting the key marks the session modified: SessionMiddleware (outside this
            # one) saves it with a new expiry and sends the cookie again.
            session[self.KEY] = now
        return response
