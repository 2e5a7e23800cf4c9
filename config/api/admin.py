"""The storefront's service clients: shown read-only (tokens are created and rotated by
``manage.py create_api_client``), with a **Revoke** action for whoever may change clients
(audited, like ``manage.py revoke_api_client``)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin.base import ReadOnlyAdmin
from accounts.errors import ApplicationError

from .clients import api_client_revoke
from .models import ApiClient


@admin.register(ApiClient)
class ApiClientAdmin(ReadOnlyAdmin):
    """Service clients; tokens are created and rotated by ``manage.py create_api_client``."""

    list_display = ("name", "is_active", "scopes_list", "created_at", "rotated_at", "last_used_at", "expires_at",
                    "revoked_at")
    list_filter = ("is_active",)
    fields = ("name", "is_active", "scopes_list", "rate_per_minute", "created_at", "rotated_at", "last_used_at",
              "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description=_("scopes"))
    def scopes_list(self, client: ApiClient) -> str:
        return ", ".join(client.scopes or [])

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return user.is_active and user.is_staff and user.has_perm("api.change_apiclient")

    @admin.action(description=_("Revoke the selected clients' tokens"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        revoked = []
        for client in queryset.order_by("pk"):
            try:
                api_client_revoke(name=client.name, acting_user=request.user, reason="admin action")
            except ApplicationError as exc:
                messages.error(request, exc.message)
                continue
            revoked.append(client.name)
        if revoked:
            messages.success(request, gettext("Revoked: %(names)s. Their tokens now get 401.")
                             % {"names": ", ".join(revoked)})
