from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    """The storefront's HTTP API: service clients, token auth and scopes, the rate limit,
    ``Idempotency-Key``, the error shape, pagination and the OpenAPI schema (docs/api.md)."""

    name = "config.api"
    label = "api"
    verbose_name = _("Storefront API")

    def ready(self) -> None:
        from .scopes import declare_v1_scopes  # noqa: PLC0415 - the apps' API views import models: after setup

        declare_v1_scopes()
