"""The notification outbox's list."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import Notification
from accounts.pii import mask_phone

from .base import ReadOnlyAdmin


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "customer_external_id", "customer_phone", "status", "channel",
                    "sent_at")
    list_filter = ("status", "kind")
    list_select_related = ("customer",)
    search_fields = ("customer__external_id", "event_key")
    show_full_result_count = False
    ordering = ("-id",)  # newest first through the primary key (created_at has no index)
    fields = ("customer_external_id", "customer_phone", "account", "kind", "event_key", "status", "channel",
              "params", "rendered", "error", "created_at", "sent_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("customer", "account__customer")

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_external_id(self, notification: Notification) -> str:
        return notification.customer.external_id

    @admin.display(description=_("phone"))
    def customer_phone(self, notification: Notification) -> str:
        return mask_phone(notification.customer.phone)
