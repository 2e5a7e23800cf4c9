from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TallyConfig(AppConfig):
    """The composition root as an app: the commands that span every app (``seed_demo``,
    ``simulate``, ``install_schedules``) and the beat schedules' admin."""

    name = "config"
    label = "tally"
    verbose_name = _("Tally")

    def ready(self) -> None:
        # Imported here: the widget's module uses the models, loaded only now.
        from config.analytics import backoffice  # noqa: PLC0415

        backoffice.register()
