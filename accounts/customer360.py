"""The customer 360° page of the back office: one page per customer with the account's status
and limit and their history, what the other apps register (plans and schedules, statements,
repayments with restoration, payment attempts, delinquency, applications and decisions,
complaints, closure requests), the notifications sent and the audit trail.

Each block shows the latest rows and links to the full list filtered on this customer or
account, so the page runs the same number of queries for a customer of one week and one of
five years. Reachable by whoever may view credit accounts (docs/permissions.md); each block
also needs its own view permission (complaints for CS staff, the audit trail for
supervisors and managers)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.admin import ModelAdmin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext

from . import selectors
from .backoffice import CustomerSection, customer_sections_for, register_customer_section
from .business_day import business_date_get
from .ids import parse_id
from .models import CreditAccount, Customer

VIEW_PERMISSION = "accounts.view_creditaccount"
ROWS_SHOWN = 10  # per block; every block links to its full list


def latest(queryset, limit: int = ROWS_SHOWN) -> tuple[list, bool]:
    """The first ``limit`` rows and whether there are more (one query)."""
    rows = list(queryset[:limit + 1])
    return rows[:limit], len(rows) > limit


def changelist_url(name: str, **params: Any) -> str:
    return "{}?{}".format(reverse(f"admin:{name}_changelist"), urlencode(params))


def customer_360_url(customer_id: int | str) -> str:
    return reverse("admin:accounts_customer_360", args=[customer_id])


def audit_url_for_object(object_type: str, object_id: Any) -> str:
    return changelist_url("accounts_auditevent", object_type=object_type, object_id=str(object_id))


def audit_url_for_customer(customer_id: int | str) -> str:
    return changelist_url("accounts_auditevent", customer=str(customer_id))


def customer_360_view(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    user = request.user
    if not user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    customer_id = parse_id(unquote(object_id))
    customer = selectors.customer_get(customer_id) if customer_id is not None else None
    if customer is None:
        # ModelAdmin._get_obj_does_not_exist_redirect is Django's; django-stubs lacks it.
        return model_admin._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]
            request, model_admin.opts, object_id)
    account: CreditAccount | None = getattr(customer, "credit_account", None)
    today = business_date_get()
    sections = [{"key": s.key, "template": s.template, "section": s.context(request, customer, account, today)}
                for s in customer_sections_for(user)]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Customer %(external_id)s — 360° view") % {"external_id": customer.external_id},
        "opts": model_admin.opts,
        "customer": customer,
        "account": account,
        "business_date": today,
        "sections": [s for s in sections if s["section"] is not None],
        "customer_url": reverse("admin:accounts_customer_change", args=[customer.pk]),
        "account_url": reverse("admin:accounts_creditaccount_change", args=[account.pk]) if account else "",
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/accounts/customer/customer_360.html", context)


# --- this app's blocks ---------------------------------------------------------------------------


def account_section(request: HttpRequest, customer: Customer, account: CreditAccount | None,
                    business_date: date) -> dict[str, Any] | None:
    """Status and limit now, with their history (two queries)."""
    if account is None:
        return {"account": None}
    status_changes, status_more = latest(selectors.status_changes_of(account.pk))
    limit_changes, limit_more = latest(selectors.limit_changes_of(account.pk))
    return {
        "account": account,
        "status_changes": status_changes,
        "status_more": status_more,
        "limit_changes": limit_changes,
        "limit_more": limit_more,
        "account_url": reverse("admin:accounts_creditaccount_change", args=[account.pk]),
    }


def notifications_section(request: HttpRequest, customer: Customer, account: CreditAccount | None,
                          business_date: date) -> dict[str, Any]:
    rows, more = latest(selectors.notifications_of(customer.pk))
    return {"notifications": rows, "more": more,
            "url": changelist_url("accounts_notification", customer__id__exact=customer.pk)}


def audit_section(request: HttpRequest, customer: Customer, account: CreditAccount | None,
                  business_date: date) -> dict[str, Any]:
    rows, more = latest(selectors.customer_audit_trail(customer.pk), 20)
    return {"events": rows, "more": more, "url": audit_url_for_customer(customer.pk)}



def register() -> None:
    """This app's blocks, widgets and audit scopes (called from ``AppConfig.ready()``)."""
    register_customer_section(CustomerSection(
        key="account", template="admin/accounts/customer/_360_account.html", context=account_section,
        permission=VIEW_PERMISSION, order=10))
    register_customer_section(CustomerSection(
        key="notifications", template="admin/accounts/customer/_360_notifications.html",
        context=notifications_section, permission="accounts.view_notification", order=80))
    register_customer_section(CustomerSection(
        key="audit", template="admin/accounts/customer/_360_audit.html", context=audit_section,
        permission="accounts.view_auditevent", order=90))
