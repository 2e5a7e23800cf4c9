from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    """The storefront's HTTP API: service clients, token auth, ``Idempotency-Key``, the error
    shape, pagination and the OpenAPI schema (docs/api.md)."""

    name = "config.api"
    label = "api"
    verbose_name = _("Storefront API")
