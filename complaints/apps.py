from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplaintsConfig(AppConfig):
    name = "complaints"
    verbose_name = _("Complaints and closures")

    def ready(self) -> None:
        # Imported here: they use the models, which are loaded only now.
        from . import backoffice, notifications  # noqa: PLC0415

        backoffice.register()
        notifications.register()
