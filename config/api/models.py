"""The HTTP API's service clients and the answers kept for ``Idempotency-Key`` (docs/api.md).

The tables keep the names they were created with (``accounts_apiclient``,
``accounts_idempotencyrecord``): the models moved here from ``accounts`` without a table
change (docs/decisions/0021-layers-and-lifecycle.md)."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils.translation import gettext_lazy as _

# What a client may do (docs/api.md, "Scopes"): each write endpoint needs its scope, every
# read needs ``read``.
SCOPES: tuple[str, ...] = ("applications", "purchases", "refunds", "repayments", "closures", "complaints", "read")
READ_SCOPE = "read"


def all_scopes() -> list[str]:
    return list(SCOPES)


class ApiClient(models.Model):
    """A service client of the HTTP API (the storefront). Only a hash of its token is kept."""

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    token_hash = models.CharField(max_length=64, unique=True, verbose_name=_("token hash"))
    token_prefix = models.CharField(max_length=8, verbose_name=_("token prefix"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    rotated_at = models.DateTimeField(auto_now=True, verbose_name=_("rotated at"))
    scopes = models.JSONField(default=all_scopes, verbose_name=_("scopes"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last used at"))
    rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("requests per minute"),
        help_text=_("Empty: the deployment's default (API_DEFAULT_RATE_PER_MINUTE)."))

    class Meta:
        db_table = "accounts_apiclient"
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")

    def __str__(self) -> str:
        return self.name

    # DRF treats request.user as the principal.
    is_authenticated = True
    is_anonymous = False

    @property
    def audit_label(self) -> str:
        """How the audit trail names this client as the actor of a storefront write."""
        return f"api:{self.name}"

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])

    def usable_at(self, now: datetime) -> bool:
        """Active, not revoked and not expired at ``now``."""
        return (self.is_active and self.revoked_at is None
                and (self.expires_at is None or self.expires_at > now))


class IdempotencyRecord(models.Model):
    # no index of its own: the unique (client, key) leads with it
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+", verbose_name=_("client"),
                               db_index=False)
    key = models.CharField(max_length=255, verbose_name=_("key"))
    method = models.CharField(max_length=8, verbose_name=_("method"))
    path = models.CharField(max_length=255, verbose_name=_("path"))
    request_hash = models.CharField(max_length=64, verbose_name=_("request hash"))
    completed = models.BooleanField(default=False, verbose_name=_("completed"))
    response_status = models.PositiveSmallIntegerField(null=True, verbose_name=_("response status"))
    response_body = models.JSONField(null=True, verbose_name=_("response body"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))
    locked_until = models.DateTimeField(verbose_name=_("locked until"))

    class Meta:
        db_table = "accounts_idempotencyrecord"
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_per_client")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key}"
