from django.urls import path

from bench.views import floor
from calnet_survey.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("bench/floor/", floor, name="bench-floor"), *project_urlpatterns]
