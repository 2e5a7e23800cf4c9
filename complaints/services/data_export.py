"""The customer's data export for a ``data_privacy`` complaint (docs/decisions/0012-...).

``customer_data_export`` gathers everything Tally holds on the complaint's customer — the
profile, applications and decisions, the credit account with its status and limit history,
purchases, plans, installments, statements, refunds, penalties, repayments and their
allocation, restoration holds, payment attempts, complaints and the messages exchanged,
closure requests and notifications — as one JSON-ready dict. Personal data is masked as the
back office shows it (ID number first 3 + last 4, phone, card token); keys and hashes are
never exported. Only the agent handling that complaint (or a supervisor) may export, and the
export is written to the audit trail in the same transaction."""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts import clock
from accounts.audit_trail import Actor
from accounts.errors import BusinessRuleRefused, PermissionRefused
from accounts.models import AccountStatusChange, CreditAccount, LimitChange, Notification
from accounts.pii import mask_phone
from complaints.models import Category, ClosureRequest, Complaint, ComplaintMessage, MessageKind, Waiver
from installments.models import (
    Installment,
    InstallmentPlan,
    PaymentAttempt,
    Penalty,
    Purchase,
    Refund,
    Repayment,
    RepaymentAllocation,
    RestorationHold,
    Statement,
)
from installments.services.repayment_cards import mask_card_token
from risk.models import Application

from .complaints import REASSIGN_COMPLAINT, audit_complaint, locked_complaint, require_handler

EXPORT_FORMAT = "tally.customer-data-export/1"
# Never exported: ciphertext, lookup hashes, internal search columns.
NEVER = {"id_number_encrypted", "id_number_hash"}


def _rows(queryset, *, mask: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every column of every row (``values()``), minus NEVER, with the masked columns
    replaced, in primary-key order."""
    out = []
    for row in queryset.order_by("pk").values():
        for key in NEVER & row.keys():
            del row[key]
        for key, masker in (mask or {}).items():
            if key in row:
                row[key] = masker(row[key] or "")
        out.append(row)
    return out


def _collect(complaint: Complaint) -> dict[str, Any]:
    customer = complaint.customer
    profile = _rows(type(customer).objects.filter(pk=customer.pk), mask={"phone": mask_phone})[0]
    profile["id_number"] = profile.pop("id_number_masked")
    account = CreditAccount.objects.filter(customer=customer).first()
    data: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": clock.now(),
        "complaint": complaint.pk,
        "customer": profile,
        "applications": _rows(Application.objects.filter(customer=customer),
                              mask={"phone": mask_phone, "repayment_card_token": mask_card_token}),
        "credit_account": None,
        "complaints": _rows(Complaint.objects.filter(customer=customer)),
        # internal notes are staff working papers, not the customer's data; replies and the
        # customer's own messages are
        "complaint_messages": _rows(ComplaintMessage.objects.filter(complaint__customer=customer)
                                    .exclude(kind=MessageKind.NOTE)),
        "waivers": _rows(Waiver.objects.filter(complaint__customer=customer)),
        "notifications": _rows(Notification.objects.filter(customer=customer)),
    }
    if account is not None:
        data["credit_account"] = _rows(CreditAccount.objects.filter(pk=account.pk),
                                       mask={"repayment_card_token": mask_card_token})[0]
        by_account = {
            "status_changes": AccountStatusChange,
            "limit_changes": LimitChange,
            "purchases": Purchase,
            "installment_plans": InstallmentPlan,
            "installments": Installment,
            "statements": Statement,
            "penalties": Penalty,
            "repayments": Repayment,
            "restoration_holds": RestorationHold,
            "payment_attempts": PaymentAttempt,
            "closure_requests": ClosureRequest,
        }
        for key, model in by_account.items():
            data[key] = _rows(model._default_manager.filter(account=account))
        data["refunds"] = _rows(Refund.objects.filter(purchase__account=account))
        data["repayment_allocations"] = _rows(RepaymentAllocation.objects.filter(repayment__account=account))
    return data


def customer_data_export(*, complaint_id: int, acting_user: Actor) -> dict[str, Any]:
    """The export for a ``data_privacy`` complaint, for the agent handling it (or a
    supervisor). Refused for any other category; a refusal writes nothing."""
    with transaction.atomic(durable=True):
        complaint = locked_complaint(complaint_id)
        acting_user = require_handler(complaint, acting_user)
        if complaint.assigned_to_id != acting_user.pk and not acting_user.has_perm(REASSIGN_COMPLAINT):
            raise PermissionRefused(_("Take the complaint before exporting the customer's data."))
        if complaint.category != Category.DATA_PRIVACY:
            raise BusinessRuleRefused(_("A data export is made only for a personal-data complaint."),
                                      code="not_a_data_privacy_complaint")
        data = _collect(complaint)
        counts = {key: len(value) for key, value in data.items() if isinstance(value, list)}
        audit_complaint(complaint, action="data_exported", acting_user=acting_user, after={"sections": counts},
               reason_text="customer data export (data_privacy)")
    return data


def export_json(data: dict[str, Any]) -> str:
    return DjangoJSONEncoder(ensure_ascii=False, indent=2, sort_keys=True).encode(data)
