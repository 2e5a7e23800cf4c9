"""Reads of customers and accounts."""

from __future__ import annotations

from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import Cast

from .backoffice import audit_scopes
from .models import AccountStatusChange, AuditEvent, CreditAccount, Customer, LimitChange, Notification


def credit_account_get(account_id: int) -> CreditAccount | None:
    return CreditAccount.objects.select_related("customer").filter(pk=account_id).first()


def audit_trail(*, object_type: str, object_id: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type=object_type, object_id=object_id).select_related("actor")


def customer_audit_objects(customer_id: int) -> dict[str, list[str]]:
    """The ids (as audit ``object_id`` text) of everything of the customer's in the audit
    trail, by object type: the customer, their credit account, and what the other apps
    register (applications, review cases, statements, attempts, complaints, …). One query."""
    scopes = {"accounts.creditaccount": lambda cid: CreditAccount.objects.filter(customer_id=cid), **audit_scopes()}
    parts = [scope(customer_id).order_by().annotate(_type=Value(object_type, output_field=CharField()),
                                                     _id=Cast("pk", CharField())).values_list("_type", "_id")
             for object_type, scope in scopes.items()]
    found: dict[str, list[str]] = {"accounts.customer": [str(customer_id)]}
    for object_type, object_id in parts[0].union(*parts[1:], all=True):
        found.setdefault(object_type, []).append(object_id)
    return found


def customer_audit_q(customer_id: int) -> Q:
    """The audit rows of a customer and of everything that belongs to them, as indexed
    (object_type, object_id) equalities."""
    condition = Q()
    for object_type, object_ids in customer_audit_objects(customer_id).items():
        condition |= Q(object_type=object_type, object_id__in=object_ids)
    return condition


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

