"""Back office for customers, credit accounts and the audit trail.

Nothing here edits money fields, ledger rows or audit rows: those models are read-only for
everyone. Personal data is shown masked; the full ID number only through
``accounts.services.id_number_reveal`` (permission-checked and logged)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import services
from .errors import ApplicationError
from .models import (
    AccountStatusChange,
    ApiClient,
    AuditEvent,
    BusinessCalendar,
    CreditAccount,
    Customer,
    LimitChange,
    Notification,
    StaffProfile,
)
from .pii import keyed_hash, mask_phone

ID_NUMBER_RE = re.compile(r"^\d{17}[\dXx]$")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written: no add, change or delete, every field read-only."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """History rows of an account, visible to whoever may view the account."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        return self.fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("accounts.view_creditaccount")


# --- customers ---------------------------------------------------------------------------


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    change_form_template = "admin/accounts/customer/change_form.html"
    list_display = ("external_id", "name", "id_number_masked", "phone_masked", "store_status", "created_at")
    list_filter = ("store_status",)
    search_fields = ("external_id",)
    show_full_result_count = False
    fields = ("external_id", "name", "id_number_masked", "phone_masked", "store_status", "store_since",
              "orders_12m", "spend_12m", "return_rate", "language", "created_at", "updated_at")
    readonly_fields = fields

    @admin.display(description=_("phone"))
    def phone_masked(self, customer: Customer) -> str:
        return mask_phone(customer.phone)

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        """An 18-character ID number is looked up by its keyed hash, never in clear text."""
        term = search_term.strip()
        if ID_NUMBER_RE.match(term):
            return queryset.filter(id_number_hash=keyed_hash(term)), False
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/reveal-id-number/",
                 self.admin_site.admin_view(never_cache(require_POST(self.reveal_id_number_view))),
                 name="{}_{}_reveal_id_number".format(*info)),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None):
        extra_context = {**(extra_context or {}),
                         "can_reveal_id_number": request.user.has_perm("accounts.view_full_id_number")}
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def reveal_id_number_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Show the full ID number once, in this response only (it is never put in a message
        cookie or the session). ``id_number_reveal`` checks the permission and logs the view."""
        if not request.user.has_perm("accounts.view_full_id_number"):
            raise PermissionDenied
        customer = self.get_object(request, unquote(object_id))
        if customer is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, customer):
            raise PermissionDenied
        change_url = reverse("admin:accounts_customer_change", args=[customer.pk], current_app=self.admin_site.name)
        try:
            id_number = services.id_number_reveal(customer=customer, acting_user=request.user,
                                                  purpose=request.POST.get("purpose", "").strip())
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Full ID number"),
            "opts": self.opts,
            "customer": customer,
            "id_number": id_number,
            "change_url": change_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/customer/id_number_revealed.html", context)


# --- credit accounts ---------------------------------------------------------------------


class AccountStatusChangeInline(ReadOnlyInline):
    model = AccountStatusChange
    fields = ("created_at", "business_date", "from_status", "to_status", "reason_code", "note", "actor")
    verbose_name = _("status change")
    verbose_name_plural = _("status changes")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("actor")


class LimitChangeInline(ReadOnlyInline):
    model = LimitChange
    fields = ("created_at", "business_date", "old_limit", "new_limit", "reason_code", "note", "policy_version",
              "actor")
    verbose_name = _("limit change")
    verbose_name_plural = _("limit changes")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("actor", "policy_version")


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "customer_external_id", "status", "credit_limit", "available_limit",
                    "principal_outstanding", "days_past_due", "opened_on")
    list_filter = ("status",)
    list_select_related = ("customer",)
    search_fields = ("customer__external_id",)
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("customer", "status", "policy_version", "opened_on", "reopened_on", "closed_on",
                           "closed_reason", "written_off_on", "paused_by_customer")}),
        (_("Limit and balances"), {"fields": ("credit_limit", "available_limit", "held_amount",
                                              "principal_outstanding", "fees_outstanding",
                                              "penalties_outstanding", "credit_balance", "days_past_due",
                                              "bucket", "last_limit_increase_on")}),
        (_("Repayment"), {"fields": ("billing_day", "repayment_card_token", "auto_debit")}),
    )
    readonly_fields = ("customer", "status", "policy_version", "opened_on", "reopened_on", "closed_on",
                       "closed_reason", "written_off_on", "paused_by_customer", "credit_limit", "available_limit",
                       "held_amount", "principal_outstanding", "fees_outstanding", "penalties_outstanding",
                       "credit_balance", "days_past_due", "bucket", "last_limit_increase_on", "billing_day",
                       "repayment_card_token", "auto_debit")
    inlines = (AccountStatusChangeInline, LimitChangeInline)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("customer", "policy_version")

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_external_id(self, account: CreditAccount) -> str:
        return account.customer.external_id

    @admin.display(description=_("delinquency bucket"))
    def bucket(self, account: CreditAccount) -> str:
        return account.bucket


# --- audit trail, outbox, service clients, calendar ------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "object_type", "object_id", "actor_label", "reason")
    search_fields = ("action", "object_type", "object_id", "actor_label")
    show_full_result_count = False
    fields = ("created_at", "actor", "actor_label", "action", "object_type", "object_id", "before", "after",
              "reason")
    readonly_fields = fields


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "customer_external_id", "customer_phone", "status", "channel",
                    "sent_at")
    list_filter = ("status", "kind")
    list_select_related = ("customer",)
    search_fields = ("customer__external_id", "event_key")
    show_full_result_count = False
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


@admin.register(ApiClient)
class ApiClientAdmin(ReadOnlyAdmin):
    """Service clients; tokens are created and rotated by ``manage.py create_api_client``."""

    list_display = ("name", "is_active", "created_at", "rotated_at")
    fields = ("name", "is_active", "created_at", "rotated_at")
    readonly_fields = fields


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ReadOnlyAdmin):
    list_display = ("current_date", "updated_at")
    fields = ("current_date", "updated_at")
    readonly_fields = fields


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    """Each staff member chooses the language of their own back office; a superuser may
    change anyone's."""

    list_display = ("user", "language")
    actions = None

    def _own(self, request: HttpRequest, obj: StaffProfile | None) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return user.is_superuser or obj is None or obj.user_id == user.pk

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request).select_related("user")
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: StaffProfile | None = None) -> bool:
        return self._own(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: StaffProfile | None = None) -> bool:
        return self._own(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return True
        # the language middleware has already loaded (and cached) the user's profile, or its absence
        return (request.user.is_active and request.user.is_staff
                and getattr(request.user, "staff_profile", None) is None)

    def has_delete_permission(self, request: HttpRequest, obj: StaffProfile | None = None) -> bool:
        return request.user.is_superuser

    def get_fields(self, request: HttpRequest, obj: StaffProfile | None = None):
        if request.user.is_superuser:
            return ("user", "language")
        return ("language",) if obj is None else ("user", "language")

    def get_readonly_fields(self, request: HttpRequest, obj: StaffProfile | None = None):
        if request.user.is_superuser:
            return ()
        return () if obj is None else ("user",)

    def save_model(self, request: HttpRequest, obj: StaffProfile, form, change: bool) -> None:
        if not request.user.is_superuser:
            obj.user = request.user
        super().save_model(request, obj, form, change)
