"""Reads of customers and accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import AuditEvent, CreditAccount


def credit_account_get(account_id: int) -> CreditAccount | None:
    return CreditAccount.objects.select_related("customer").filter(pk=account_id).first()


def audit_trail(*, object_type: str, object_id: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type=object_type, object_id=object_id).select_related("actor")
