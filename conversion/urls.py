"""The department survey's pages, under the campaign and the department's code."""

from django.urls import path

from conversion import views

app_name = "survey"

urlpatterns = [
    path("survey/<slug:campaign>/<str:code>/", views.overview, name="overview"),
    path(
        "survey/<slug:campaign>/<str:code>/department/",
        views.department_section,
        name="department",
    ),
    path("survey/<slug:campaign>/<str:code>/contacts/", views.contacts_section, name="contacts"),
    path("survey/<slug:campaign>/<str:code>/services/", views.services_section, name="services"),
    path("survey/<slug:campaign>/<str:code>/services/add/", views.add_line, name="add_line"),
    path(
        "survey/<slug:campaign>/<str:code>/services/<int:offering_id>/lines/",
        views.service_lines,
        name="service_lines",
    ),
    path("survey/<slug:campaign>/<str:code>/timeframe/", views.timeframe_section, name="timeframe"),
    path("survey/<slug:campaign>/<str:code>/review/", views.review, name="review"),
    path("survey/<slug:campaign>/<str:code>/submitted/", views.submitted, name="submitted"),
    path("survey/<slug:campaign>/<str:code>/summary/", views.summary, name="summary"),
]
