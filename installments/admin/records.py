"""The money records' lists and pages: purchases, refunds, statements, repayments with their
allocation, restoration holds (with "Release now"), restoration alerts, payment attempts and
penalties (docs/rules.md §5–7)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin.base import account_link
from accounts.errors import ApplicationError
from installments.alerts import restoration_alerts_resolve
from installments.models import (
    PaymentAttempt,
    Penalty,
    Purchase,
    Refund,
    Repayment,
    RepaymentAllocation,
    RestorationAlert,
    RestorationHold,
    Statement,
)
from installments.services.holds import hold_release_early

from .base import MoneyRecordAdmin, MoneyRecordInline


@admin.register(Purchase)
class PurchaseAdmin(MoneyRecordAdmin):
    list_display = ("id", "business_date", "account_link", "merchant_order_id", "amount", "periods",
                    "refunded_amount", "created_at")
    list_filter = ("periods", ("business_date", admin.DateFieldListFilter))
    search_fields = ("account_id", "merchant_order_id")
    search_help_text = _("Credit account id or merchant order id")
    ordering = ("-id",)
    fields = ("account_link", "merchant_order_id", "amount", "periods", "refunded_amount", "business_date",
              "created_at")


@admin.register(Refund)
class RefundAdmin(MoneyRecordAdmin):
    account_id_lookup = "purchase__account_id"
    list_display = ("id", "business_date", "account_link", "merchant_order", "merchant_refund_id", "amount",
                    "principal_reduced", "credit_balance_added", "fees_waived")
    list_filter = ("business_date",)
    list_select_related = ("purchase",)
    search_fields = ("purchase__account_id", "merchant_refund_id", "purchase__merchant_order_id")
    search_help_text = _("Credit account id, merchant refund id or merchant order id")
    ordering = ("-id",)
    fields = ("account_link", "merchant_order", "merchant_refund_id", "amount", "principal_reduced",
              "credit_balance_added", "fees_waived", "business_date", "created_at")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("purchase")

    @admin.display(description=_("credit account"), ordering="purchase__account_id")
    def account_link(self, refund: Refund) -> str:
        return account_link(refund.purchase.account_id)

    @admin.display(description=_("merchant order id"), ordering="purchase__merchant_order_id")
    def merchant_order(self, refund: Refund) -> str:
        return refund.purchase.merchant_order_id


@admin.register(Statement)
class StatementAdmin(MoneyRecordAdmin):
    list_display = ("id", "statement_date", "account_link", "earliest_due_date", "principal_due", "fees_due",
                    "overdue_amount", "penalties", "total_due")
    list_filter = ("statement_date",)
    search_fields = ("account_id",)
    search_help_text = _("Credit account id")
    ordering = ("-statement_date", "-id")
    fields = ("account_link", "statement_date", "earliest_due_date", "principal_due", "fees_due", "overdue_amount",
              "penalties", "total_due", "created_at")


# --- repayments, holds, alerts -----------------------------------------------------------------


class RepaymentAllocationInline(MoneyRecordInline):
    model = RepaymentAllocation
    fields = ("installment", "penalty", "penalty_amount", "fee_amount", "principal_amount")
    verbose_name = _("allocation")
    verbose_name_plural = _("allocation")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("installment", "penalty")


@admin.register(Repayment)
class RepaymentAdmin(MoneyRecordAdmin):
    list_display = ("id", "business_date", "account_link", "reference", "source", "amount", "penalty_paid",
                    "fee_paid", "principal_paid", "limit_restored", "held_amount", "hold_release_at",
                    "available_limit_after")
    list_filter = ("source", "business_date")
    search_fields = ("account_id", "reference")
    search_help_text = _("Credit account id or repayment reference")
    ordering = ("-id",)
    fields = ("account_link", "reference", "source", "amount", "penalty_paid", "fee_paid", "principal_paid",
              "limit_restored", "held_amount", "hold_release_at", "available_limit_after", "payment_attempt",
              "business_date", "created_at")
    inlines = (RepaymentAllocationInline,)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("payment_attempt")


class HoldStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("held", _("Held")), ("released", _("Released")))

    def queryset(self, request, queryset):
        if self.value() == "held":
            return queryset.filter(released_at__isnull=True)
        if self.value() == "released":
            return queryset.filter(released_at__isnull=False)
        return queryset


@admin.register(RestorationHold)
class RestorationHoldAdmin(MoneyRecordAdmin):
    """Principal repaid but not yet given back as available limit. A CS supervisor or risk
    manager may release a hold before its time ("Release now")."""

    actions = ["release_now"]
    list_display = ("id", "account_link", "repayment_reference", "amount", "reason_code", "release_at",
                    "released_at", "released_by")
    list_filter = (HoldStateFilter, "reason_code")
    list_select_related = ("repayment", "released_by")
    search_fields = ("account_id", "repayment__reference")
    search_help_text = _("Credit account id or repayment reference")
    ordering = ("release_at", "id")
    fields = ("account_link", "repayment_reference", "amount", "reason_code", "release_at", "released_at",
              "released_by")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("repayment", "released_by")

    @admin.display(description=_("repayment"), ordering="repayment__reference")
    def repayment_reference(self, hold: RestorationHold) -> str:
        return hold.repayment.reference

    def has_release_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return user.is_active and user.is_staff and user.has_perm("installments.release_restorationhold")

    @admin.action(description=_("Release now"), permissions=["release"])
    def release_now(self, request: HttpRequest, queryset: QuerySet[RestorationHold]) -> None:
        released: list[str] = []
        for hold in queryset.filter(released_at__isnull=True).order_by("account_id", "pk"):
            try:
                amount = hold_release_early(account_id=hold.account_id, hold_id=hold.pk, acting_user=request.user)
            except ApplicationError as exc:
                messages.error(request, exc.message)
                continue
            if amount:
                released.append(gettext("%(amount)s on account #%(account)s")
                                % {"amount": amount, "account": hold.account_id})
        if released:
            messages.success(request, gettext("Released %(list)s.") % {"list": "; ".join(released)})
        else:
            messages.warning(request, gettext("Nothing released: the selected holds were already released."))


@admin.register(RestorationAlert)
class RestorationAlertAdmin(MoneyRecordAdmin):
    list_display = ("id", "created_at", "account_link", "repayment_reference", "detail", "resolved", "resolved_by",
                    "resolved_at")
    list_filter = ("resolved",)
    list_select_related = ("repayment", "resolved_by")
    search_fields = ("account_id", "repayment__reference")
    search_help_text = _("Credit account id or repayment reference")
    ordering = ("-id",)
    fields = ("account_link", "repayment_reference", "detail", "resolved", "created_at", "resolved_by", "resolved_at",
              "resolution_note")
    actions = ["resolve"]

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return user.is_active and user.is_staff and user.has_perm("installments.resolve_restorationalert")

    @admin.action(description=_("Resolve the selected alerts (with a note)"), permissions=["resolve"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[RestorationAlert]):
        """Asks for the note first (an intermediate page), then resolves the open alerts."""
        form = ResolveAlertsForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                resolved = restoration_alerts_resolve(alert_ids=list(queryset.values_list("pk", flat=True)),
                                                      note=form.cleaned_data["note"], acting_user=request.user)
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return None
            messages.success(request, gettext("%(count)s alert(s) resolved.") % {"count": len(resolved)})
            return None
        return TemplateResponse(request, "admin/installments/restorationalert/resolve.html", {
            **self.admin_site.each_context(request), "title": gettext("Resolve restoration alerts"), "form": form,
            "alerts": queryset.filter(resolved=False).order_by("pk"), "opts": self.opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        })

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("repayment")

    @admin.display(description=_("repayment"))
    def repayment_reference(self, alert: RestorationAlert) -> str:
        return alert.repayment.reference if alert.repayment else "-"


class ResolveAlertsForm(forms.Form):
    note = forms.CharField(label=_("What you found and did"), widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
                           max_length=2000)


# --- auto-debit attempts, penalties ----------------------------------------------------------------


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(MoneyRecordAdmin):
    list_display = ("id", "business_date", "account_link", "amount", "status", "decline_code", "retry_number",
                    "retry_on", "series_start", "gateway_reference")
    list_filter = ("status", "business_date", "decline_code")
    search_fields = ("account_id", "idempotency_key", "gateway_reference")
    search_help_text = _("Credit account id, idempotency key or gateway reference")
    ordering = ("-business_date", "-id")
    fields = ("account_link", "business_date", "idempotency_key", "card_token", "amount", "status",
              "decline_code", "gateway_reference", "series_start", "retry_number", "retry_on", "created_at",
              "updated_at")


@admin.register(Penalty)
class PenaltyAdmin(MoneyRecordAdmin):
    list_display = ("id", "business_date", "account_link", "overdue_principal", "rate", "amount", "amount_paid",
                    "amount_waived", "unpaid")
    list_filter = ("business_date",)
    search_fields = ("account_id",)
    search_help_text = _("Credit account id")
    ordering = ("-business_date", "-id")
    fields = ("account_link", "business_date", "overdue_principal", "rate", "amount", "amount_paid",
              "amount_waived", "unpaid", "created_at")

    @admin.display(description=_("unpaid"))
    def unpaid(self, penalty: Penalty):
        return penalty.unpaid
