"""The project's URLs: the department survey at the root, STND's admin under /admin/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("departments.urls")),
    path("", include("conversion.urls")),
]
