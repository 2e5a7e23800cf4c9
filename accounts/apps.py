from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Customers and accounts")

    def ready(self) -> None:
        # Imported here: they use the models, which are loaded only now.
        from django.db.models import Field, ForeignObject  # noqa: PLC0415

        from . import customer360, ledger_checks, notifications  # noqa: PLC0415
        from .bulk import AnyOf  # noqa: PLC0415

        Field.register_lookup(AnyOf)  # ``id__any_of=ids``: the close's chunks of ids as one array
        ForeignObject.register_lookup(AnyOf)

        customer360.register()
        ledger_checks.register()
        notifications.NOTIFICATION_TEXTS.register("limit_changed", notifications.limit_changed_text)
