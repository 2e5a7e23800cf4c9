from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CloseOfBusinessConfig(AppConfig):
    """The nightly close of business: its pipeline of steps, the runner, its Celery tasks and
    its run records (docs/rules.md §2)."""

    name = "config.cob"
    label = "cob"
    verbose_name = _("Close of business")

    def ready(self) -> None:
        # Imported here: they use the models, which are loaded only now. ``tasks`` registers the
        # chunk task, which the runner sends by name (the tasks module imports the runner).
        from . import backoffice, tasks  # noqa: F401, PLC0415

        backoffice.register()
