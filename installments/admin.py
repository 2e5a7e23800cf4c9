"""Back office for purchases, plans, statements, refunds, repayments, restoration holds,
payment attempts and penalties (DOMAIN.md §5–7), the collections queue, and this app's
blocks on the credit account page.

Money records are read-only for everyone, superusers included. The one write is the
"Release now" action on restoration holds, a thin call of
``installments.repayments.holds_release``. Whoever may view credit accounts may view their
money records (the account page shows them)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Case, Count, DecimalField, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import DELINQUENCY_BUCKETS, MONEY, CreditAccount, delinquency_bucket_q
from accounts.money import ZERO
from accounts.services import business_date_get

from . import repayments
from .models import (
    Installment,
    InstallmentPlan,
    InstallmentState,
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

ROWS_SHOWN = 50  # per block on the account page; each block links to the full list
PLANS_SHOWN = 100
COLLECTIONS_PER_PAGE = 50
BUCKETS = [name for name in DELINQUENCY_BUCKETS if name != "current"]  # the collections queue's


def _account_link(account_id: int | None) -> str:
    """``#id`` linking to the credit account page (no query)."""
    if account_id is None:
        return "-"
    return format_html('<a href="{}">#{}</a>', reverse("admin:accounts_creditaccount_change", args=[account_id]),
                       account_id)


def _may_view(request: HttpRequest, model_name: str) -> bool:
    user = request.user
    return user.has_perm(f"installments.view_{model_name}") or user.has_perm("accounts.view_creditaccount")


def _in_groups(request: HttpRequest, groups: tuple[str, ...]) -> bool:
    """Group membership, asked once per request."""
    cache: dict = request.__dict__.setdefault("_installments_admin_groups", {})
    if groups not in cache:
        cache[groups] = request.user.groups.filter(name__in=groups).exists()
    return cache[groups]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written: no add, change or delete, every field read-only."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MoneyRecordAdmin(ReadOnlyAdmin):
    """A read-only list of one kind of money record. Search: the entry of ``search_fields``
    equal to ``account_id_lookup`` finds, for a term of digits, the records of the credit
    account with that id (an indexed equality); the other entries match as text."""

    account_id_lookup = "account_id"
    show_full_result_count = False
    list_per_page = 50

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view(request, self.opts.model_name)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        return self.fields or ()

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q()
        for field in self.get_search_fields(request):
            if field != self.account_id_lookup:
                condition |= Q(**{f"{field}__icontains": term})
            elif term.isdigit() and len(term) <= 18:
                condition |= Q(**{field: int(term)})
        return (queryset.filter(condition) if condition else queryset.none()), False

    @admin.display(description=_("credit account"), ordering="account_id")
    def account_link(self, obj: Any) -> str:
        return _account_link(obj.account_id)


class ReadOnlyInline(admin.TabularInline):
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
        return _may_view(request, self.opts.model_name)


# --- purchases, refunds, statements ---------------------------------------------------------------


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
        return _account_link(refund.purchase.account_id)

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


class RepaymentAllocationInline(ReadOnlyInline):
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
            amount = repayments.holds_release(account_id=hold.account_id, until=timezone.now(),
                                              acting_user=request.user, hold_id=hold.pk)
            if amount:
                released.append(gettext("%(amount)s on account #%(account)s")
                                % {"amount": amount, "account": hold.account_id})
        if released:
            messages.success(request, gettext("Released %(list)s.") % {"list": "; ".join(released)})
        else:
            messages.warning(request, gettext("Nothing released: the selected holds were already released."))


@admin.register(RestorationAlert)
class RestorationAlertAdmin(MoneyRecordAdmin):
    list_display = ("id", "created_at", "account_link", "repayment_reference", "detail", "resolved")
    list_filter = ("resolved",)
    list_select_related = ("repayment",)
    search_fields = ("account_id", "repayment__reference", "detail")
    search_help_text = _("Credit account id, repayment reference or text of the alert")
    ordering = ("-id",)
    fields = ("account_link", "repayment_reference", "detail", "resolved", "created_at")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("repayment")

    @admin.display(description=_("repayment"))
    def repayment_reference(self, alert: RestorationAlert) -> str:
        return alert.repayment.reference if alert.repayment else "-"


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


# --- the credit account page: this app's blocks ----------------------------------------------------


def _changelist_for_account(model_name: str, account_id: int, lookup: str = "account__id__exact") -> str:
    return "{}?{}".format(reverse(f"admin:installments_{model_name}_changelist"), urlencode({lookup: account_id}))


def _latest(queryset: QuerySet, limit: int = ROWS_SHOWN) -> tuple[list, bool]:
    rows = list(queryset[:limit + 1])
    return rows[:limit], len(rows) > limit


def account_page_context(request: HttpRequest, account: CreditAccount, business_date: date, *,
                         rows: int = ROWS_SHOWN, plans_shown: int = PLANS_SHOWN) -> dict[str, Any]:
    """Plans with their schedules, statements, repayments, holds, payment attempts and
    penalties of one account: one query per block, whatever the number of rows (the latest
    ``rows`` of each block, the latest ``plans_shown`` plans)."""
    plans, plans_more = _latest(
        InstallmentPlan.objects.filter(account=account).select_related("purchase", "statement")
        .prefetch_related(Prefetch("installments", queryset=Installment.objects.order_by("seq", "id")))
        .order_by("-id"), plans_shown)
    repayment_rows, repayments_more = _latest(
        Repayment.objects.filter(account=account).select_related("hold").order_by("-id"), rows)
    holds, holds_more = _latest(
        RestorationHold.objects.filter(account=account).select_related("repayment", "released_by")
        .order_by("-release_at", "-id"), rows)
    statements, statements_more = _latest(Statement.objects.filter(account=account)
                                          .order_by("-statement_date", "-id"), rows)
    attempts, attempts_more = _latest(PaymentAttempt.objects.filter(account=account)
                                      .order_by("-business_date", "-id"), rows)
    penalties, penalties_more = _latest(Penalty.objects.filter(account=account).order_by("-business_date", "-id"),
                                        rows)
    return {
        "business_date": business_date,
        "plans": [{
            "plan": plan,
            "installments": [{"installment": i, "status": i.status_on(business_date),
                              "paid": i.principal_paid + i.fee_paid} for i in plan.installments.all()],
        } for plan in plans],
        "plans_more": plans_more,
        "purchases_url": _changelist_for_account("purchase", account.pk),
        "statements": statements,
        "statements_more": statements_more,
        "statements_url": _changelist_for_account("statement", account.pk),
        "repayments": [{"repayment": r, "hold": getattr(r, "hold", None)} for r in repayment_rows],
        "repayments_more": repayments_more,
        "repayments_url": _changelist_for_account("repayment", account.pk),
        "holds": holds,
        "holds_more": holds_more,
        "holds_url": _changelist_for_account("restorationhold", account.pk),
        "attempts": attempts,
        "attempts_more": attempts_more,
        "attempts_url": _changelist_for_account("paymentattempt", account.pk),
        "penalties": penalties,
        "penalties_more": penalties_more,
        "penalties_url": _changelist_for_account("penalty", account.pk),
    }


# --- the collections queue (DOMAIN.md §7) ---------------------------------------------------------


def collections_queue(*, business_date: date, bucket: str | None = None) -> QuerySet[CreditAccount]:
    """Accounts with days past due, most overdue first. ``overdue_amount`` is the unpaid
    principal and posted unpaid fees of installments due before ``business_date`` plus the
    unpaid penalties (all overdue by nature; the account's column moves with the ledger);
    ``last_attempt_*`` describe the latest auto-debit attempt. One query, whatever the rows."""
    money = DecimalField(**MONEY)
    overdue_installments = (
        Installment.objects.filter(account=OuterRef("pk"), state=InstallmentState.OPEN, due_date__lt=business_date)
        .order_by().values("account")
        .annotate(total=Sum(F("principal") - F("principal_paid") - F("principal_cancelled")
                            + Case(When(fee_posted=True, then=F("fee") - F("fee_paid") - F("fee_waived")),
                                   default=Value(ZERO), output_field=money), output_field=money))
        .values("total"))
    last_attempt = PaymentAttempt.objects.filter(account=OuterRef("pk")).order_by("-business_date", "-id")
    queryset = (
        CreditAccount.objects.filter(days_past_due__gt=0).select_related("customer")
        .annotate(
            overdue_amount=Coalesce(Subquery(overdue_installments, output_field=money), Value(ZERO),
                                    output_field=money) + F("penalties_outstanding"),
            last_attempt_on=Subquery(last_attempt.values("business_date")[:1]),
            last_attempt_status=Subquery(last_attempt.values("status")[:1]),
            last_attempt_decline_code=Subquery(last_attempt.values("decline_code")[:1]),
        )
        .order_by("-days_past_due", "id"))
    if bucket in BUCKETS:
        queryset = queryset.filter(delinquency_bucket_q(bucket))
    return queryset


def _bucket_counts() -> dict[str, int]:
    counts = CreditAccount.objects.filter(days_past_due__gt=0).aggregate(
        total=Count("id"),
        **{f"b{n}": Count("id", filter=delinquency_bucket_q(name)) for n, name in enumerate(BUCKETS)})
    return {"": counts["total"], **{name: counts[f"b{n}"] for n, name in enumerate(BUCKETS)}}


def collections_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The collections queue, served under the credit accounts' admin URL to staff who may
    view credit accounts (the accounts admin checks that before calling this)."""
    bucket = request.GET.get("bucket") or ""
    if bucket not in BUCKETS:
        bucket = ""
    today = business_date_get()
    page = Paginator(collections_queue(business_date=today, bucket=bucket or None),
                     COLLECTIONS_PER_PAGE).get_page(request.GET.get("p"))
    counts = _bucket_counts()
    base = reverse("admin:accounts_creditaccount_collections", current_app=model_admin.admin_site.name)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Collections queue"),
        "opts": model_admin.opts,
        "business_date": today,
        "page": page,
        "bucket": bucket,
        "buckets": [{"name": name or gettext("All"), "selected": name == bucket, "count": counts[name],
                     "url": f"{base}?{urlencode({'bucket': name})}" if name else base}
                    for name in ["", *BUCKETS]],
        "page_url_prefix": f"{base}?{urlencode({'bucket': bucket})}&p=" if bucket else f"{base}?p=",
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/installments/collections.html", context)


# --- contributing to the credit account admin (accounts imports nothing of this app) ----------------

_account_admin = admin.site.get_model_admin(CreditAccount)
_account_admin.add_page_section(template="admin/installments/creditaccount/_money_sections.html",
                                context=account_page_context)
_account_admin.add_page(route="collections/", name="collections", view=collections_view,
                        title=_("Collections queue"))

from . import (  # noqa: E402
    account_actions_admin,  # noqa: F401 - freeze, unfreeze and write-off on the account page
    backoffice,  # noqa: F401 - the customer 360° blocks and dashboard widget of this app
)
