"""This app's part of the back office pages served by ``accounts``: the money blocks of the
customer 360° page (plans and schedules, statements, repayments with restoration, holds,
payment attempts, penalties — the credit account page's blocks, fewer rows each), the
accounts-per-delinquency-bucket widget of the dashboard, and the statements in a customer's
audit trail."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.backoffice import (
    AccountBlock,
    AccountPage,
    CustomerSection,
    DashboardWidget,
    register_account_block,
    register_account_page,
    register_audit_scope,
    register_customer_section,
    register_dashboard_widget,
)
from accounts.models import DELINQUENCY_BUCKETS, AccountStatus, CreditAccount, Customer, delinquency_bucket_q

from .admin.account_page import account_page_context
from .admin.collection import (
    collection_context,
    collections_account_view,
    collections_assign_view,
    collections_export_view,
    collections_view,
    contact_log_view,
    promise_view,
    repayment_card_view,
)
from .admin.risk_actions import freeze_view, section_context, unfreeze_view, write_off_view
from .models import PaymentAttempt, Statement

CUSTOMER_ROWS_SHOWN = 10
CUSTOMER_PLANS_SHOWN = 10
CHART_WIDTH = 360
BAR_HEIGHT = 18
BAR_GAP = 6
LABEL_WIDTH = 64


def customer_money_section(request: HttpRequest, customer: Customer, account: CreditAccount | None,
                           business_date: date) -> dict[str, Any] | None:
    if account is None:
        return None
    return account_page_context(request, account, business_date, rows=CUSTOMER_ROWS_SHOWN,
                                plans_shown=CUSTOMER_PLANS_SHOWN)


def delinquency_buckets() -> list[tuple[str, int]]:
    """Accounts per delinquency bucket, one query: ``current`` counts the open (not closed)
    accounts with nothing overdue; the others every account with that many days past due."""
    counts = CreditAccount.objects.aggregate(**{
        f"b{n}": Count("id", filter=delinquency_bucket_q(name) & ~Q(status=AccountStatus.CLOSED)
                       if name == "current" else delinquency_bucket_q(name))
        for n, name in enumerate(DELINQUENCY_BUCKETS)})
    return [(name, counts[f"b{n}"]) for n, name in enumerate(DELINQUENCY_BUCKETS)]


def bar_chart(rows: list[tuple[str, int, str]]) -> dict[str, Any]:
    """A horizontal bar chart as SVG coordinates: ``rows`` are (label, value, url)."""
    top = max((value for _, value, _ in rows), default=0) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 48
    bars = [{"label": label, "value": value, "url": url, "y": i * (BAR_HEIGHT + BAR_GAP),
             "text_y": i * (BAR_HEIGHT + BAR_GAP) + BAR_HEIGHT - 5,
             "width": max(1, round(span * value / top)) if value else 0,
             "value_x": LABEL_WIDTH + (max(1, round(span * value / top)) if value else 0) + 4}
            for i, (label, value, url) in enumerate(rows)]
    return {"bars": bars, "width": CHART_WIDTH, "height": len(rows) * (BAR_HEIGHT + BAR_GAP),
            "label_width": LABEL_WIDTH, "bar_height": BAR_HEIGHT}


def delinquency_widget(request: HttpRequest) -> dict[str, Any]:
    collections = reverse("admin:accounts_creditaccount_collections")
    accounts = reverse("admin:accounts_creditaccount_changelist")
    rows = []
    for name, count in delinquency_buckets():
        url = (f"{accounts}?{urlencode({'days_past_due': 0})}" if name == "current"
               else f"{collections}?{urlencode({'bucket': name})}")
        rows.append((gettext("current") if name == "current" else name, count, url))
    return {"buckets": rows, "chart": bar_chart(rows), "overdue": sum(c for name, c, _ in rows[1:]),
            "collections_url": collections}


def _statements_scope(customer_id: int):
    return Statement.objects.filter(account__customer_id=customer_id)


def _attempts_scope(customer_id: int):
    return PaymentAttempt.objects.filter(account__customer_id=customer_id)



def register() -> None:
    """This app's blocks, pages, widgets and audit scopes (called from ``AppConfig.ready()``)."""
    register_account_block(AccountBlock(key="money", template="admin/installments/creditaccount/_money_sections.html",
                                        context=account_page_context, order=10))
    register_account_block(AccountBlock(key="risk_actions",
                                        template="admin/installments/creditaccount/_risk_actions.html",
                                        context=section_context, order=20))
    register_account_block(AccountBlock(key="collection",
                                        template="admin/installments/creditaccount/_collection.html",
                                        context=collection_context, order=15))
    register_account_page(AccountPage(route="<int:account_id>/repayment-card/", name="repayment_card",
                                      view=repayment_card_view))
    register_account_page(AccountPage(route="collections/", name="collections", view=collections_view,
                                      title=_("Collections queue")))
    register_account_page(AccountPage(route="collections/export.csv", name="collections_export",
                                      view=collections_export_view))
    register_account_page(AccountPage(route="collections/assign/", name="collections_assign",
                                      view=collections_assign_view))
    register_account_page(AccountPage(route="<int:account_id>/collections/", name="collections_account",
                                      view=collections_account_view))
    register_account_page(AccountPage(route="<int:account_id>/collections/contact/", name="collections_contact",
                                      view=contact_log_view))
    register_account_page(AccountPage(route="<int:account_id>/collections/promise/", name="collections_promise",
                                      view=promise_view))
    register_account_page(AccountPage(route="<int:account_id>/freeze/", name="freeze", view=freeze_view))
    register_account_page(AccountPage(route="<int:account_id>/unfreeze/", name="unfreeze", view=unfreeze_view))
    register_account_page(AccountPage(route="<int:account_id>/write-off/", name="write_off", view=write_off_view))
    register_customer_section(CustomerSection(
        key="money", template="admin/installments/creditaccount/_money_sections.html", context=customer_money_section,
        permission="accounts.view_creditaccount", order=20))
    register_dashboard_widget(DashboardWidget(
        key="delinquency", template="admin/installments/dashboard_delinquency.html", context=delinquency_widget,
        permission="accounts.view_creditaccount", order=30))
    register_audit_scope("installments.statement", _statements_scope)
    register_audit_scope("installments.paymentattempt", _attempts_scope)
