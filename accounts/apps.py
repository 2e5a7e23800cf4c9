from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Customers and accounts")

    def ready(self) -> None:
        # Imported here: they use the models, which are loaded only now.
        from . import customer360, ledger_checks, notifications  # noqa: PLC0415

        customer360.register()
        ledger_checks.register()
        notifications.NOTIFICATION_TEXTS.register("limit_changed", notifications.limit_changed_text)
