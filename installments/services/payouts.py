"""Credit-balance payouts (docs/rules.md §6): a credit balance goes back to the customer's
repayment card on request and when the account closes.

The discipline is the auto-debit's: the payout row is written — and the money moved from the
credit balance to ``payouts_pending`` — and committed before the gateway is called, under an
idempotency key the gateway sees; the answer settles it (succeeded: paid out; failed: back to
the credit balance). No answer, or an answer that is neither, is ``unknown`` and is asked
again (``payouts_reconcile``, every 15 minutes and at the close), never paid blind. A row left
``submitted`` by a crash is asked about too, and sent under its key only if the gateway never
saw it. The credit balance is spent under the account's row lock, so a payout and the close's
use of the same balance never both spend it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor, audit_record
from accounts.business_day import business_date_get
from accounts.errors import BusinessRuleRefused
from accounts.ledger import Leg, lock_credit_account, lock_credit_accounts, post_entry
from accounts.models import Book, CreditAccount
from accounts.money import to_money
from accounts.outbox import notification_enqueue
from installments.gateway import CLEAR_PAYOUT_ANSWERS, ChargeResult, GatewayTimeout, get_gateway
from installments.models import CreditBalancePayout, PayoutStatus

from .repayments import book_repayments, credit_balance_payments

logger = logging.getLogger("tally.payouts")

IN_FLIGHT = (PayoutStatus.SUBMITTED, PayoutStatus.UNKNOWN)
# A payout still ``submitted`` this long after it was written lost its sender (a crash between
# the commit and the call): the reconciliation asks the gateway about it.
SUBMITTED_STALE_AFTER = timedelta(minutes=5)


def payout_request(*, account_id: int, amount: Decimal | None = None, acting_user: Actor = None) -> CreditBalancePayout:
    """The customer asks for their credit balance (``amount``, or all of it when None): what is
    due today is paid from it first; the rest can be paid out to the repayment card. Refused
    with 422 ``nothing_to_pay_out``, ``amount_exceeds_credit_balance``, ``invalid_amount`` or
    ``no_repayment_card``. Returns the payout as the gateway left it."""
    if amount is not None:
        amount = to_money(amount)
        if amount <= 0:
            raise BusinessRuleRefused(_("The amount must be positive."), code="invalid_amount")
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id)
        today = business_date_get()
        book_repayments(credit_balance_payments([account], today=today), today=today)
        available = account.credit_balance
        if available <= 0:
            raise BusinessRuleRefused(_("There is no credit balance to pay out."), code="nothing_to_pay_out",
                                      details={"credit_balance": f"{available:.2f}"})
        if amount is not None and amount > available:
            raise BusinessRuleRefused(_("The amount is more than the credit balance."),
                                      code="amount_exceeds_credit_balance", details={"credit_balance": f"{available:.2f}"})
        if not account.repayment_card_token:
            raise BusinessRuleRefused(_("The account has no repayment card to pay out to."), code="no_repayment_card")
        payout = reserve_payout(account, amount=amount if amount is not None else available, reason="request",
                                acting_user=acting_user)
    payouts_send([payout.pk])
    payout.refresh_from_db()
    return payout


def reserve_payout(account: CreditAccount, *, amount: Decimal, reason: str, acting_user: Actor = None) -> CreditBalancePayout:
    """Inside the caller's transaction, on the locked account: write the payout and move its
    amount from the credit balance to ``payouts_pending``. The caller sends it after commit."""
    payout = CreditBalancePayout.objects.create(account=account, amount=amount, business_date=business_date_get(),
                                                idempotency_key=f"payout:{account.pk}:{uuid.uuid4().hex}",
                                                card_token=account.repayment_card_token, reason=reason)
    post_entry(account=account, key=f"payout:{payout.pk}", new_key=True, kind="payout_reserved",
               business_date=payout.business_date, acting_user=acting_user,
               description=f"credit balance paid out ({reason})",
               legs=[Leg(Book.CUSTOMER_CREDIT, amount), Leg(Book.PAYOUTS_PENDING, -amount)])
    audit_record(acting_user=acting_user, action="payout.requested", obj=payout,
                 after={"amount": f"{amount:.2f}", "reason": reason, "account_id": account.pk})
    return payout


def payout_at_closure(account: CreditAccount, *, acting_user: Actor = None) -> CreditBalancePayout | None:
    """Inside the caller's transaction, as an account closes: its whole credit balance is paid
    out to the repayment card (sent after commit). None when there is no balance or no card —
    the balance then stays the customer's, paid out on request once a card is on file."""
    if account.credit_balance <= 0 or not account.repayment_card_token:
        return None
    payout = reserve_payout(account, amount=account.credit_balance, reason="closure", acting_user=acting_user)
    transaction.on_commit(lambda: _send_after_commit(payout.pk))
    return payout


def _send_after_commit(payout_id: int) -> None:
    """Send a payout whose reservation just committed. Whatever goes wrong here, the closure
    stands: the row stays ``submitted`` and the reconciliation sends it."""
    try:
        payouts_send([payout_id])
    except Exception:
        logger.exception("payout %s: not sent now; the reconciliation will send it", payout_id)


def payouts_send(payout_ids: list[int]) -> dict[str, int]:
    """Send submitted payouts to the gateway (each under its own key) and settle them."""
    payouts = list(CreditBalancePayout.objects.filter(pk__in=payout_ids, status=PayoutStatus.SUBMITTED).order_by("pk"))
    gateway = get_gateway()
    answers: dict[int, ChargeResult | None] = {}
    for payout in payouts:
        try:
            answers[payout.pk] = gateway.payout(idempotency_key=payout.idempotency_key, card_token=payout.card_token,
                                                amount=payout.amount)
        except GatewayTimeout as exc:
            logger.warning("payout %s: outcome unknown (%s)", payout.idempotency_key, exc)
            answers[payout.pk] = None
    return settle_payouts(answers)


def settle_payouts(answers: dict[int, ChargeResult | None], *, reconciling: bool = False) -> dict[str, int]:
    """Settle payouts with the gateway's answers (None: no answer) in one transaction; one
    settled meanwhile is left alone. Returns how many ended in each status."""
    if not answers:
        return {}
    outcomes: dict[str, int] = {}
    with transaction.atomic(durable=True):
        account_ids = sorted(set(CreditBalancePayout.objects.filter(pk__in=list(answers))
                                 .values_list("account_id", flat=True)))
        accounts = lock_credit_accounts(account_ids)
        for payout in CreditBalancePayout.objects.select_for_update().filter(pk__in=list(answers)).order_by("pk"):
            if payout.status not in IN_FLIGHT:
                continue
            before, answer = payout.status, answers[payout.pk]
            status = answer.status if answer is not None and answer.status in CLEAR_PAYOUT_ANSWERS else None
            _settle(payout, accounts[payout.account_id], status=status, answer=answer)
            outcomes[payout.status] = outcomes.get(payout.status, 0) + 1
            if reconciling and payout.status != before:
                audit_record(acting_user=None, action="payout.reconciled", obj=payout, before={"status": before},
                             after={"status": payout.status}, reason="outcome asked from the gateway")
    return outcomes


def _settle(payout: CreditBalancePayout, account: CreditAccount, *, status: str | None,
            answer: ChargeResult | None) -> None:
    if answer is not None:
        payout.gateway_reference = answer.reference or payout.gateway_reference
    if status == "succeeded":
        payout.status = PayoutStatus.SUCCEEDED
        post_entry(account=account, key=f"payout:{payout.pk}:paid", kind="payout_paid",
                   business_date=business_date_get(), description="credit balance paid out to the card",
                   legs=[Leg(Book.PAYOUTS_PENDING, payout.amount), Leg(Book.REPAYMENTS_CLEARING, -payout.amount)])
        _notify(payout, account, "payout_sent")
    elif status == "failed":
        payout.status = PayoutStatus.FAILED
        payout.decline_code = (answer.decline_code if answer is not None else "") or "payout_failed"
        _return_to_credit(payout, account)
        _notify(payout, account, "payout_failed")
    else:
        payout.status = PayoutStatus.UNKNOWN
    payout.save(update_fields=["status", "decline_code", "gateway_reference", "updated_at"])


def _return_to_credit(payout: CreditBalancePayout, account: CreditAccount) -> None:
    post_entry(account=account, key=f"payout:{payout.pk}:returned", kind="payout_returned",
               business_date=business_date_get(), description="payout not made: back to the credit balance",
               legs=[Leg(Book.PAYOUTS_PENDING, payout.amount), Leg(Book.CUSTOMER_CREDIT, -payout.amount)])


def _notify(payout: CreditBalancePayout, account: CreditAccount, kind: str) -> None:
    notification_enqueue(customer=account.customer, account=account, kind=kind, event_key=f"{kind}:{payout.pk}",
                         params={"amount": f"{payout.amount:.2f}", "credit_balance": f"{account.credit_balance:.2f}"})


def payouts_to_reconcile() -> list[int]:
    """Payouts whose outcome is unknown, and those left submitted longer than a send takes."""
    stale = timezone.now() - SUBMITTED_STALE_AFTER
    return list(CreditBalancePayout.objects.filter(status=PayoutStatus.UNKNOWN).values_list("id", flat=True)
                .union(CreditBalancePayout.objects.filter(status=PayoutStatus.SUBMITTED, created_at__lt=stale)
                       .values_list("id", flat=True)).order_by("id"))


def payouts_reconcile(payout_ids: list[int]) -> dict[str, int]:
    """Ask the gateway about these payouts and settle them. One the gateway never saw: if it
    was never sent (still ``submitted``), it is sent now under its key; if it was sent and
    lost (``unknown``), it was not paid — the money goes back to the credit balance."""
    payouts = list(CreditBalancePayout.objects.filter(pk__in=payout_ids, status__in=IN_FLIGHT).order_by("pk"))
    gateway = get_gateway()
    answers: dict[int, ChargeResult | None] = {}
    unsent, lost = [], []
    for payout in payouts:
        found = gateway.payout_status(idempotency_key=payout.idempotency_key)
        if found.found:
            answers[payout.pk] = ChargeResult(found.status, "", found.reference)
        elif payout.status == PayoutStatus.SUBMITTED:
            unsent.append(payout.pk)
        else:
            lost.append(payout.pk)
    outcomes = settle_payouts(answers, reconciling=True)
    for status, count in payouts_send(unsent).items():
        outcomes[status] = outcomes.get(status, 0) + count
    if lost:
        outcomes[PayoutStatus.NOT_PAID] = _not_paid(lost)
    return outcomes


def _not_paid(payout_ids: list[int]) -> int:
    marked = 0
    with transaction.atomic(durable=True):
        account_ids = sorted(set(CreditBalancePayout.objects.filter(pk__in=payout_ids)
                                 .values_list("account_id", flat=True)))
        accounts = lock_credit_accounts(account_ids)
        for payout in CreditBalancePayout.objects.select_for_update().filter(pk__in=payout_ids).order_by("pk"):
            if payout.status != PayoutStatus.UNKNOWN:
                continue
            payout.status = PayoutStatus.NOT_PAID
            payout.save(update_fields=["status", "updated_at"])
            _return_to_credit(payout, accounts[payout.account_id])
            audit_record(acting_user=None, action="payout.reconciled", obj=payout, before={"status": "unknown"},
                         after={"status": payout.status}, reason="the gateway never saw it")
            marked += 1
    return marked
