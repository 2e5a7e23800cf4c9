from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InstallmentsConfig(AppConfig):
    name = "installments"
    verbose_name = _("Purchases and installments")
