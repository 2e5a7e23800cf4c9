"""What the apps contribute to the back office pages that ``accounts`` serves: the widgets of
the dashboard on the admin index, the blocks and pages of the credit account page, the blocks
of the customer 360° page, and the objects that belong to a customer in the audit trail.

Imports point down (docs/architecture.md): ``risk``, ``installments``, ``complaints`` and the
close register here from their ``AppConfig.ready()``; ``accounts`` imports none of them.

Every block and widget declares the permission it needs, is shown only to staff holding it,
and runs a fixed number of queries whatever the amount of data (the page tests pin the
count)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from .registry import Registry

if TYPE_CHECKING:
    from .models import CreditAccount, Customer


@dataclass(frozen=True)
class DashboardWidget:
    """A widget of the admin index: ``context(request)`` gives the ``widget`` its ``template``
    is rendered with."""

    key: str
    template: str
    context: Callable[[HttpRequest], dict[str, Any]]
    permission: str
    order: int = 100


@dataclass(frozen=True)
class CustomerSection:
    """A block of the customer 360° page. ``context(request, customer, account, business_date)``
    gives the ``section`` its ``template`` is rendered with (``account`` is None for a customer
    without a credit account). ``order`` places it on the page (lower first)."""

    key: str
    template: str
    context: Callable[[HttpRequest, Customer, CreditAccount | None, date], dict[str, Any] | None]
    permission: str
    order: int = 100


@dataclass(frozen=True)
class AccountBlock:
    """A block of the credit account page: ``template`` is rendered with ``section`` =
    ``context(request, account, business_date)``. Its queries must not grow with the
    account's rows (prefetch), so the page's query count stays pinned."""

    key: str
    template: str
    context: Callable[[HttpRequest, CreditAccount, date], dict[str, Any]]
    order: int = 100


@dataclass(frozen=True)
class AccountPage:
    """A page served under the credit accounts' admin URL, to staff who may view credit
    accounts: ``view(model_admin, request, *args)``. With a ``title`` it is linked from the
    account list."""

    route: str
    name: str
    view: Callable[..., HttpResponse]
    title: Any = ""


# The objects of one customer in the audit trail, by object type: for a customer id, a
# queryset of the customer's objects of that type (``accounts.selectors.customer_audit_q``
# reads all of them in one UNION query, then matches the audit rows by indexed
# (object_type, object_id) equalities).
AuditScope = Callable[[int], QuerySet[Any]]

DASHBOARD_WIDGETS: Registry[DashboardWidget] = Registry("dashboard widget")
CUSTOMER_SECTIONS: Registry[CustomerSection] = Registry("customer 360° section")
ACCOUNT_BLOCKS: Registry[AccountBlock] = Registry("credit account page block")
ACCOUNT_PAGES: Registry[AccountPage] = Registry("credit account page")
AUDIT_SCOPES: Registry[AuditScope] = Registry("audit scope")


def register_dashboard_widget(widget: DashboardWidget) -> None:
    DASHBOARD_WIDGETS.register(widget.key, widget)


def register_customer_section(section: CustomerSection) -> None:
    CUSTOMER_SECTIONS.register(section.key, section)


def register_account_block(block: AccountBlock) -> None:
    ACCOUNT_BLOCKS.register(block.key, block)


def register_account_page(page: AccountPage) -> None:
    ACCOUNT_PAGES.register(page.name, page)


def register_audit_scope(object_type: str, scope: AuditScope) -> None:
    AUDIT_SCOPES.register(object_type, scope)


def customer_sections_for(user: Any) -> list[CustomerSection]:
    return [s for s in sorted(CUSTOMER_SECTIONS, key=lambda s: (s.order, s.key)) if user.has_perm(s.permission)]


def dashboard_widgets_for(user: Any) -> list[DashboardWidget]:
    return [w for w in sorted(DASHBOARD_WIDGETS, key=lambda w: (w.order, w.key)) if user.has_perm(w.permission)]


def account_blocks() -> list[AccountBlock]:
    return sorted(ACCOUNT_BLOCKS, key=lambda b: (b.order, b.key))


def audit_scopes() -> dict[str, AuditScope]:
    return dict(AUDIT_SCOPES.items())

