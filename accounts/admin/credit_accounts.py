"""The credit account page and list. Read-only for everyone: the balances, the blocks the
other apps register (``accounts.backoffice.ACCOUNT_BLOCKS``: plans and schedules, statements,
repayments, holds, payment attempts, penalties, risk actions), the status and limit history,
the latest ledger lines and audit events; the pages they register
(``accounts.backoffice.ACCOUNT_PAGES``) are served under its URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from accounts import selectors
from accounts.backoffice import ACCOUNT_PAGES, AccountPage, account_blocks
from accounts.business_day import business_date_get
from accounts.customer360 import audit_url_for_object, customer_360_url
from accounts.models import AccountStatusChange, CreditAccount, JournalLine, LimitChange
from accounts.search import PersonalDataSearchMixin

from .base import AccountIdSearchMixin, ReadOnlyAdmin, ReadOnlyInline


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


LEDGER_LINES_SHOWN = 200  # the account page shows the latest lines; the ledger list has them all
AUDIT_EVENTS_SHOWN = 20


@admin.register(CreditAccount)
class CreditAccountAdmin(PersonalDataSearchMixin, AccountIdSearchMixin, ReadOnlyAdmin):
    """The credit account page: balances; the blocks the owning apps add (plans and their
    schedules, statements, repayments, holds, payment attempts, penalties); the status and
    limit history; the latest ledger lines. Read-only for everyone: no field is a form field."""

    change_form_template = "admin/accounts/creditaccount/change_form.html"
    change_list_template = "admin/accounts/creditaccount/change_list.html"
    account_id_lookup = "pk"
    list_display = ("id", "customer_external_id", "status", "credit_limit", "available_limit",
                    "principal_outstanding", "days_past_due", "opened_on")
    list_filter = ("status",)
    list_select_related = ("customer",)
    search_fields = ("pk", "customer__external_id")
    search_help_text = _("Credit account id, store customer id, phone number or full ID number")
    id_number_hash_fields = ("customer__id_number_hash",)
    phone_fields = ("customer__phone",)
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("customer", "status", "policy_version", "opened_on", "reopened_on", "closed_on",
                           "closed_reason", "written_off_on", "paused_by_customer")}),
        (_("Limit and balances"), {"fields": ("credit_limit", "available_limit", "held_amount",
                                              "principal_outstanding", "fees_outstanding",
                                              "penalties_outstanding", "outstanding_total", "credit_balance",
                                              "days_past_due", "bucket", "last_limit_increase_on")}),
        (_("Repayment"), {"fields": ("billing_day", "repayment_card_token", "auto_debit")}),
    )
    readonly_fields = ("customer", "status", "policy_version", "opened_on", "reopened_on", "closed_on",
                       "closed_reason", "written_off_on", "paused_by_customer", "credit_limit", "available_limit",
                       "held_amount", "principal_outstanding", "fees_outstanding", "penalties_outstanding",
                       "outstanding_total", "credit_balance", "days_past_due", "bucket", "last_limit_increase_on",
                       "billing_day", "repayment_card_token", "auto_debit")
    inlines = (AccountStatusChangeInline, LimitChangeInline)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            *(path(page.route, self.admin_site.admin_view(self._page_view(page)),
                   name="{}_{}_{}".format(*info, page.name)) for page in ACCOUNT_PAGES),
            *super().get_urls(),
        ]

    def _page_view(self, page: AccountPage) -> Callable[..., HttpResponse]:
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not self.has_view_permission(request):
                raise PermissionDenied
            return page.view(self, request, *args, **kwargs)

        return view

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        info = self.opts.app_label, self.opts.model_name
        extra_context = {**(extra_context or {}), "account_pages": [
            {"title": page.title, "url": reverse("admin:{}_{}_{}".format(*info, page.name),
                                                 current_app=self.admin_site.name)}
            for page in ACCOUNT_PAGES if page.title]}
        return super().changelist_view(request, extra_context=extra_context)

    # --- the account page ---

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("customer", "policy_version")

    def render_change_form(self, request: HttpRequest, context: dict, add: bool = False, change: bool = False,
                           form_url: str = "", obj: CreditAccount | None = None):
        if obj is not None:
            today = business_date_get()
            lines = list(JournalLine.objects.filter(credit_account=obj).select_related("entry")
                         .order_by("-id")[:LEDGER_LINES_SHOWN + 1])
            context = {
                **context,
                "business_date": today,
                "account_sections": [{"template": block.template, "section": block.context(request, obj, today)}
                                     for block in account_blocks()],
                "ledger_lines": lines[:LEDGER_LINES_SHOWN],
                "ledger_more": len(lines) > LEDGER_LINES_SHOWN,
                "ledger_lines_shown": LEDGER_LINES_SHOWN,
                "ledger_url": "{}?{}".format(
                    reverse("admin:accounts_journalline_changelist", current_app=self.admin_site.name),
                    urlencode({"credit_account__id__exact": obj.pk})),
                "customer_360_url": customer_360_url(obj.customer_id),
                **self._audit_context(request, obj),
            }
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _audit_context(self, request: HttpRequest, account: CreditAccount) -> dict[str, Any]:
        """The account's latest audit events, for those who may view the audit trail (one query)."""
        if not request.user.has_perm("accounts.view_auditevent"):
            return {}
        events = list(selectors.audit_trail(object_type="accounts.creditaccount", object_id=str(account.pk))
                      .order_by("-created_at", "-id")[:AUDIT_EVENTS_SHOWN + 1])
        return {"audit_events": events[:AUDIT_EVENTS_SHOWN], "audit_more": len(events) > AUDIT_EVENTS_SHOWN,
                "audit_url": audit_url_for_object("accounts.creditaccount", account.pk)}

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_external_id(self, account: CreditAccount) -> str:
        return account.customer.external_id

    @admin.display(description=_("delinquency bucket"))
    def bucket(self, account: CreditAccount) -> str:
        return account.bucket

    @admin.display(description=_("outstanding total"))
    def outstanding_total(self, account: CreditAccount):
        return account.outstanding_total
