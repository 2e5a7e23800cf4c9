"""What the other apps contribute to the back office pages that ``accounts`` serves: the
blocks of the customer 360° page, the widgets of the dashboard on the admin index, and the
objects that belong to a customer in the audit trail.

Dependencies point to ``accounts`` (STYLE.md): ``risk``, ``installments`` and ``complaints``
register here from their admin modules; ``accounts`` imports none of them.

Every block and widget declares the permission it needs, is shown only to staff holding it,
and must run a fixed number of queries whatever the amount of data (the page tests pin the
count)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.http import HttpRequest

if TYPE_CHECKING:
    from .models import CreditAccount, Customer


@dataclass(frozen=True)
class CustomerSection:
    """A block of the customer 360° page. ``context(request, customer, account, business_date)``
    gives the ``section`` its ``template`` is rendered with (``account`` is None for a customer
    without a credit account). ``order`` places it on the page (lower first)."""

    key: str
    template: str
    context: Callable[[HttpRequest, Customer, CreditAccount | None, date], dict[str, Any]]
    permission: str
    order: int = 100


@dataclass(frozen=True)
class DashboardWidget:
    """A widget of the admin index: ``context(request)`` gives the ``widget`` its ``template``
    is rendered with."""

    key: str
    template: str
    context: Callable[[HttpRequest], dict[str, Any]]
    permission: str
    order: int = 100


# The objects of one customer in the audit trail: for a customer id, a queryset of the
# customer's objects of one type (``accounts.selectors.customer_audit_q`` reads all of them in
# one UNION query, then matches the audit rows by indexed (object_type, object_id) equalities).
AuditScope = Callable[[int], QuerySet]

_customer_sections: dict[str, CustomerSection] = {}
_dashboard_widgets: dict[str, DashboardWidget] = {}
_audit_scopes: dict[str, AuditScope] = {}


def register_customer_section(section: CustomerSection) -> None:
    _customer_sections[section.key] = section


def register_dashboard_widget(widget: DashboardWidget) -> None:
    _dashboard_widgets[widget.key] = widget


def register_audit_scope(object_type: str, scope: AuditScope) -> None:
    _audit_scopes[object_type] = scope


def customer_sections_for(user: Any) -> list[CustomerSection]:
    return [s for s in sorted(_customer_sections.values(), key=lambda s: (s.order, s.key))
            if user.has_perm(s.permission)]


def dashboard_widgets_for(user: Any) -> list[DashboardWidget]:
    return [w for w in sorted(_dashboard_widgets.values(), key=lambda w: (w.order, w.key))
            if user.has_perm(w.permission)]


def audit_scopes() -> dict[str, AuditScope]:
    return dict(_audit_scopes)
