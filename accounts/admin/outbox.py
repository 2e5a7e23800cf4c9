"""The notification outbox's list, with **Send again** for failed notifications (audited)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.errors import ApplicationError
from accounts.models import Notification
from accounts.outbox import notifications_resend
from accounts.pii import mask_phone

from .base import IndexedSearchMixin, IndexedValuesFieldListFilter, ReadOnlyAdmin


@admin.register(Notification)
class NotificationAdmin(IndexedSearchMixin, ReadOnlyAdmin):
    list_display = ("created_at", "kind", "customer_external_id", "customer_phone", "status", "attempts", "channel",
                    "sent_at")
    list_filter = ("status", ("kind", IndexedValuesFieldListFilter))
    list_select_related = ("customer",)
    search_fields = ("customer__external_id", "event_key")
    search_help_text = _("Store customer id or event key")
    show_full_result_count = False
    ordering = ("-id",)  # newest first through the primary key (created_at has no index)
    fields = ("customer_external_id", "customer_phone", "account", "kind", "event_key", "status", "attempts",
              "next_attempt_at", "channel", "params", "rendered", "error", "created_at", "sent_at")
    readonly_fields = fields
    actions = ["send_again"]

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.resend_notification")

    @admin.action(description=_("Send the selected failed notifications again"), permissions=["resend"])
    def send_again(self, request: HttpRequest, queryset) -> None:
        try:
            ids = notifications_resend(notification_ids=list(queryset.values_list("pk", flat=True)),
                                       acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return
        messages.success(request, gettext("%(count)s notification(s) will be sent again.") % {"count": len(ids)})

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("customer", "account__customer")

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_external_id(self, notification: Notification) -> str:
        return notification.customer.external_id

    @admin.display(description=_("phone"))
    def customer_phone(self, notification: Notification) -> str:
        return mask_phone(notification.customer.phone)
