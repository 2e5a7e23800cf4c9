"""Auto-debit (docs/rules.md §6): for each account due or overdue on the business date with a
repayment card, one payment attempt for the whole amount due, committed before the gateway
is called, then settled with the gateway's answer (``reconciliation.settle_attempts``).

The nightly close runs it a chunk of accounts at a time; one account is a chunk of one. It is
idempotent per (account, business date): a chunk run again finds the day's attempts and only
finishes those a crash left ``submitted`` — asking the gateway first, and charging only under
the same key if the gateway never saw it, so a charge is never taken twice.
"""

from __future__ import annotations

import logging
from datetime import date

from django.db import transaction

from accounts.bulk import insert_rows
from accounts.ledger import lock_credit_accounts
from accounts.models import CreditAccount
from installments.gateway import ChargeResult, GatewayTimeout, get_gateway
from installments.models import AttemptStatus, PaymentAttempt

from .dues import open_items
from .reconciliation import UNRESOLVED, settle_attempts
from .repayments import amount_due

logger = logging.getLogger("tally.repayments")


def auto_debit_accounts(*, account_ids: list[int], business_date: date) -> dict[str, int]:
    """Charge what these accounts owe on ``business_date``: the attempts are committed (one
    transaction), then charged (``charge_many`` when the gateway has it), then settled (one
    transaction). Returns how many attempts ended in each status."""
    fresh, resumed = _attempts_for(account_ids, business_date)
    results = _ask_gateway(fresh, resumed)
    return settle_attempts([*resumed, *fresh], results)


def _attempts_for(account_ids: list[int], business_date: date) -> tuple[list[PaymentAttempt], list[PaymentAttempt]]:
    """The day's new attempts (written and committed here) and the day's attempts a crash left
    ``submitted``. An account is skipped without auto-debit or a card, while an attempt of it
    is unknown, or when its card was hard-declined and not changed since. The credit balance
    has paid the dues before (the close's ``apply_credit_balances`` step). After a write-off,
    what is due is everything still recoverable."""
    with transaction.atomic(durable=True):
        accounts = lock_credit_accounts(account_ids)
        last = {a.account_id: a for a in PaymentAttempt.objects.filter(account_id__any_of=account_ids)
                .order_by("account_id", "-business_date", "-id").distinct("account_id")}
        unresolved = set(PaymentAttempt.objects.filter(account_id__any_of=account_ids, status__in=UNRESOLVED)
                         .values_list("account_id", flat=True))
        resumed: list[PaymentAttempt] = []
        candidates: list[CreditAccount] = []
        for account_id, account in sorted(accounts.items()):
            prior = last.get(account_id)
            if prior is not None and prior.business_date == business_date:
                if prior.status == AttemptStatus.SUBMITTED:
                    resumed.append(prior)
                continue  # attempted today already
            if not _chargeable(account, prior, blocked=account_id in unresolved):
                continue
            candidates.append(account)
        owed = open_items([a.pk for a in candidates], lock=False)
        fresh = []
        for account in candidates:
            amount = amount_due(account, owed[account.pk], business_date)
            if amount > 0:
                fresh.append(_attempt(account, last.get(account.pk), amount, business_date))
        insert_rows(fresh)
    return fresh, resumed


def _chargeable(account: CreditAccount, prior: PaymentAttempt | None, *, blocked: bool) -> bool:
    # A closed account is charged too: closed for cause, collection continues; written off,
    # what is charged is a recovery; closed at the customer's request, nothing is owed.
    if not account.auto_debit or not account.repayment_card_token:
        return False
    if blocked:
        return False  # an unknown attempt is reconciled first, never charged over
    return not (prior is not None and prior.status == AttemptStatus.HARD_DECLINED
                and prior.card_token == account.repayment_card_token)


def _attempt(account: CreditAccount, prior: PaymentAttempt | None, amount, business_date: date) -> PaymentAttempt:
    """A new attempt: the next try of a declined (or not charged) series when one is due
    today, else the first of a new series."""
    in_series = prior is not None and prior.retry_on == business_date and prior.status in (
        AttemptStatus.DECLINED, AttemptStatus.NOT_CHARGED)
    if in_series and prior is not None:
        series_start = prior.series_start
        retry_number = prior.retry_number + 1 if prior.status == AttemptStatus.DECLINED else prior.retry_number
    else:
        series_start, retry_number = business_date, 0
    return PaymentAttempt(account=account, business_date=business_date,
                          idempotency_key=f"debit:{account.pk}:{business_date}", card_token=account.repayment_card_token,
                          amount=amount, series_start=series_start, retry_number=retry_number)


def _ask_gateway(fresh: list[PaymentAttempt], resumed: list[PaymentAttempt]) -> dict[int, ChargeResult | None]:
    """The gateway's answer per attempt id (None: timed out, outcome unknown). A resumed
    attempt is looked up first; only one the gateway never saw is charged (same key)."""
    gateway = get_gateway()
    results: dict[int, ChargeResult | None] = {}
    to_charge = list(fresh)
    for attempt in resumed:
        status = gateway.status(idempotency_key=attempt.idempotency_key)
        if status.found:
            results[attempt.pk] = ChargeResult(status.status, "", status.reference)
        else:
            to_charge.append(attempt)
    if not to_charge:
        return results
    charge_many = getattr(gateway, "charge_many", None)
    if charge_many is not None:
        answers = charge_many([(a.idempotency_key, a.card_token, a.amount) for a in to_charge])
    else:
        answers = {}
        for a in to_charge:
            try:
                answers[a.idempotency_key] = gateway.charge(idempotency_key=a.idempotency_key,
                                                            card_token=a.card_token, amount=a.amount)
            except GatewayTimeout as exc:
                answers[a.idempotency_key] = exc
    for a in to_charge:
        answer = answers[a.idempotency_key]
        if isinstance(answer, GatewayTimeout):
            logger.warning("auto-debit %s: outcome unknown (%s)", a.idempotency_key, answer)
            answer = None
        results[a.pk] = answer
    return results
