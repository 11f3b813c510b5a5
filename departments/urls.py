"""Landing page, passwordless sign-in, sign out and the department chooser."""

from django.urls import path

from departments import views

app_name = "departments"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("sign-in/sent/", views.sign_in_sent, name="sign_in_sent"),
    path("sign-in/link/", views.sign_in_link, name="sign_in_link"),
    path("sign-in/confirm/", views.sign_in_confirm, name="sign_in_confirm"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("departments/", views.choose_department, name="choose"),
]
