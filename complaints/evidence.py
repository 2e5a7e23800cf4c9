"""The evidence panel of a complaint (docs/rules.md §10): what the agent needs to answer the
customer from one page, chosen by the complaint's category. Reads only.

- ``limit_not_restored``: repayments with the limit each restored, or the hold and its
  release time (and whether it was released);
- ``activation_failed``: every application with its reason codes, score breakdown and the
  policy version that decided it;
- ``auto_debit_failed``: payment attempts with the gateway's outcome;
- disputes (billing, fee, unauthorized transaction): the ledger entries with their lines.

Every panel also shows the account summary and the fees and penalties that can be waived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _

from accounts.models import CreditAccount, JournalEntry, JournalLine
from installments.models import (
    Installment,
    InstallmentState,
    PaymentAttempt,
    Penalty,
    Repayment,
    RestorationHold,
)
from risk.decision_display import breakdown_rows, reason_rows
from risk.models import Application

from .models import DISPUTE_CATEGORIES, Category, ClosureRequest, Complaint

LIMIT = 100  # rows per section

@dataclass(frozen=True)
class RepaymentRow:
    repayment: Repayment
    hold: RestorationHold | None

    @property
    def restored_or_held(self) -> str:
        if self.hold is None:
            return "restored"
        return "released" if self.hold.released_at else "held"


@dataclass(frozen=True)
class ApplicationRow:
    application: Application
    reasons: list[dict[str, str]]
    breakdown: list[dict[str, Any]]
    policy_version: int


@dataclass(frozen=True)
class WaivableItem:
    kind: str  # fee | penalty
    item_id: int
    label: str
    owed: Decimal


@dataclass
class EvidencePanel:
    category: str
    account: CreditAccount | None
    sections: list[str] = field(default_factory=list)
    repayments: list[RepaymentRow] = field(default_factory=list)
    open_holds: list[RestorationHold] = field(default_factory=list)
    applications: list[ApplicationRow] = field(default_factory=list)
    attempts: list[PaymentAttempt] = field(default_factory=list)
    ledger_entries: list[JournalEntry] = field(default_factory=list)
    closure_requests: list[ClosureRequest] = field(default_factory=list)
    waivable: list[WaivableItem] = field(default_factory=list)


def repayments_evidence(account_id: int) -> list[RepaymentRow]:
    rows = (Repayment.objects.filter(account_id=account_id).select_related("hold", "hold__released_by")
            .order_by("-created_at", "-id")[:LIMIT])
    return [RepaymentRow(repayment=r, hold=getattr(r, "hold", None)) for r in rows]


def open_holds(account_id: int) -> list[RestorationHold]:
    return list(RestorationHold.objects.filter(account_id=account_id, released_at__isnull=True)
                .select_related("repayment").order_by("release_at", "id"))


def applications_evidence(customer_id: int) -> list[ApplicationRow]:
    applications = (Application.objects.filter(customer_id=customer_id).select_related("policy")
                    .order_by("-created_at", "-id")[:LIMIT])
    return [ApplicationRow(application=a, reasons=reason_rows(a.reasons or []),
                           breakdown=breakdown_rows(a.score_breakdown or {}), policy_version=a.policy.version)
            for a in applications]


def attempts_evidence(account_id: int) -> list[PaymentAttempt]:
    return list(PaymentAttempt.objects.filter(account_id=account_id).order_by("-business_date", "-id")[:LIMIT])


def ledger_evidence(account_id: int) -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(credit_account_id=account_id)
                .prefetch_related(Prefetch("lines", queryset=JournalLine.objects.order_by("id")))
                .order_by("-id")[:LIMIT])


def waivable_items(account_id: int) -> list[WaivableItem]:
    """Posted fees still owed and penalties still owed (what a waiver can take off)."""
    items: list[WaivableItem] = []
    for inst in (Installment.objects.filter(account_id=account_id, fee_posted=True, state=InstallmentState.OPEN)
                 .order_by("due_date", "id")):
        owed = inst.fee - inst.fee_paid - inst.fee_waived
        if owed > 0:
            items.append(WaivableItem("fee", inst.pk, _("fee of installment #%(seq)s due %(date)s") % {"seq": inst.seq, "date": inst.due_date}, owed))
    for penalty in Penalty.objects.filter(account_id=account_id).order_by("business_date", "id"):
        if penalty.unpaid > 0:
            items.append(WaivableItem("penalty", penalty.pk, _("penalty of %(date)s") % {"date": penalty.business_date}, penalty.unpaid))
    return items


def sections_for(category: str) -> list[str]:
    if category == Category.LIMIT_NOT_RESTORED:
        return ["repayments"]
    if category == Category.ACTIVATION_FAILED:
        return ["applications"]
    if category == Category.AUTO_DEBIT_FAILED:
        return ["payment_attempts"]
    if category in DISPUTE_CATEGORIES:
        return ["ledger"]
    if category == Category.CLOSURE:
        return ["closure_requests"]
    return []


def evidence_for(complaint: Complaint) -> EvidencePanel:
    """The panel of one complaint."""
    account = complaint.account
    panel = EvidencePanel(category=complaint.category, account=account, sections=sections_for(complaint.category))
    if "applications" in panel.sections:
        panel.applications = applications_evidence(complaint.customer_id)
    if account is None:
        return panel
    if "repayments" in panel.sections:
        panel.repayments = repayments_evidence(account.pk)
    if "payment_attempts" in panel.sections:
        panel.attempts = attempts_evidence(account.pk)
    if "ledger" in panel.sections:
        panel.ledger_entries = ledger_evidence(account.pk)
    if "closure_requests" in panel.sections:
        panel.closure_requests = list(ClosureRequest.objects.filter(account=account).order_by("-id")[:LIMIT])
    panel.open_holds = open_holds(account.pk)
    panel.waivable = waivable_items(account.pk)
    return panel
