from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CloseOfBusinessConfig(AppConfig):
    """The nightly close of business: its pipeline of steps, the runner, its Celery tasks and
    its run records (docs/rules.md §2)."""

    name = "config.cob"
    label = "cob"
    verbose_name = _("Close of business")

    def ready(self) -> None:
        from . import backoffice  # noqa: PLC0415 - registers the dashboard widget once the models are loaded

        backoffice.register()
