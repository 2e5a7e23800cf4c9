from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InstallmentsConfig(AppConfig):
    name = "installments"
    verbose_name = _("Purchases and installments")

    def ready(self) -> None:
        # Imported here: they use the models, which are loaded only now.
        from risk.selectors import REPAYMENT_HISTORY  # noqa: PLC0415

        from . import backoffice, ledger_checks, notifications, selectors  # noqa: PLC0415

        backoffice.register()
        ledger_checks.register()
        notifications.register()
        REPAYMENT_HISTORY.register("installments", selectors.repayment_history)
