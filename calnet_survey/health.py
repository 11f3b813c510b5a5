"""/healthz for load balancers and the container's HEALTHCHECK.

It is answered by a middleware near the top of the stack, before whitenoise,
sessions, authentication and host validation: a probe gets no cookie, causes no
database write (even if it sends a session cookie), and works whatever Host
header the load balancer sends, which is usually its own idea of the address.
SecurityMiddleware still adds its headers; SECURE_REDIRECT_EXEMPT keeps it on
plain HTTP so a probe inside the private network needs no TLS.
"""

from django.db import DatabaseError, connection
from django.http import HttpResponse, HttpResponseNotAllowed
from django.utils.cache import add_never_cache_headers

PATH = "/healthz"


def database_answers():
    """True when the database runs a query now (a pooled connection is checked first)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != PATH:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        if database_answers():
            response = HttpResponse("ok\n", content_type="text/plain; charset=utf-8")
        else:
            response = HttpResponse(
                "database unavailable\n", content_type="text/plain; charset=utf-8", status=503
            )
        add_never_cache_headers(response)
        return response
