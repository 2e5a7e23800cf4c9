from datetime import date

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InstallmentsConfig(AppConfig):
    name = "installments"
    verbose_name = _("Purchases and installments")

    def repayment_history(self, customer_id: int, *, start: date | None, end: date | None):
        """The customer's record for the scorecard and reopen checks (risk reads it through
        this hook so that risk does not import installments)."""
        from .selectors import repayment_history

        return repayment_history(customer_id, start=start, end=end)
