"""Reads of customers and accounts."""

from __future__ import annotations

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast

from .models import AccountStatusChange, AuditEvent, CobRun, CreditAccount, Customer, LimitChange, Notification


def credit_account_get(account_id: int) -> CreditAccount | None:
    return CreditAccount.objects.select_related("customer").filter(pk=account_id).first()


def audit_trail(*, object_type: str, object_id: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type=object_type, object_id=object_id).select_related("actor")


def ids_as_text(queryset: QuerySet) -> QuerySet:
    """``queryset``'s primary keys as text, for ``AuditEvent.object_id__in`` (a subquery)."""
    return queryset.order_by().annotate(_id_text=Cast("pk", CharField())).values("_id_text")


def customer_audit_q(customer_id: int) -> Q:
    """The audit rows of a customer and of everything that belongs to them: their credit
    account here, and what the other apps register (applications, complaints, …)."""
    from .backoffice import customer_audit_scope

    return customer_audit_scope(customer_id) | Q(
        object_type="accounts.creditaccount",
        object_id__in=ids_as_text(CreditAccount.objects.filter(customer_id=customer_id)))


def customer_audit_trail(customer_id: int) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(customer_audit_q(customer_id)).select_related("actor").order_by(
        "-created_at", "-id")


def customer_get(customer_id: int) -> Customer | None:
    return Customer.objects.select_related("credit_account", "credit_account__policy_version").filter(
        pk=customer_id).first()


def customer_by_external_id(external_id: str) -> Customer | None:
    return Customer.objects.filter(external_id=external_id).only("pk").first()


def status_changes_of(account_id: int) -> QuerySet[AccountStatusChange]:
    return AccountStatusChange.objects.filter(account_id=account_id).select_related("actor").order_by(
        "-created_at", "-id")


def limit_changes_of(account_id: int) -> QuerySet[LimitChange]:
    return LimitChange.objects.filter(account_id=account_id).select_related("actor", "policy_version").order_by(
        "-created_at", "-id")


def notifications_of(customer_id: int) -> QuerySet[Notification]:
    return Notification.objects.filter(customer_id=customer_id).order_by("-created_at", "-id")


def last_cob_run() -> CobRun | None:
    """The latest close-of-business run with its failure count (``failure_count``)."""
    from django.db.models import Sum
    from django.db.models.functions import Coalesce

    return (CobRun.objects.annotate(failure_count=Coalesce(Sum("steps__failures"), 0))
            .order_by("-business_date").first())
