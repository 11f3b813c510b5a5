"""The project package as an app, so that its start-up hooks run in every process."""

from django.apps import AppConfig


class CalnetSurveyConfig(AppConfig):
    name = "calnet_survey"
    verbose_name = "CALNET Conversion Survey"

    def ready(self):
        from calnet_survey import command_log, mail  # noqa: F401 (mail registers a check)

        command_log.install()
