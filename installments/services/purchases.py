"""Purchases on a credit line (docs/rules.md §5), booked in one statement.

A purchase writes its purchase row, plan, installments, journal entry and lines and moves
the account's balances with one SQL statement whose data-modifying CTEs lock the account row
and check, in the database, that it is active, that the amount fits its available limit, that
the merchant order is new, and that the business date and active policy version are the ones
the rows were built for (this process's last seen ones: when either moved, the statement
writes nothing, answers what it found, and the booking is built again). With an
``Idempotency-Key`` its claim goes in the same round trip and its answer is stored before the
one commit (docs/decisions/0039-purchase-in-one-round-trip.md). The schedule is the pure
function ``installments.schedules.build_schedule``; the answer is built from the rows written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]  # psycopg 3 only
from django.db.backends.utils import CursorWrapper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor
from accounts.business_day import business_date_last_seen, business_date_seen
from accounts.errors import ApplicationError, BusinessRuleRefused, Conflict, NotFound
from accounts.ledger import Leg, entry_ctes
from accounts.lifecycle.states import AccountStatus
from accounts.models import Book, CreditAccount
from accounts.money import ZERO, to_money
from accounts.request_keys import KeyedRequest
from accounts.round_trips import pipelined, queue_commit
from installments.models import Installment, InstallmentPlan, InstallmentState, PlanKind, Purchase
from installments.schedules import ScheduledInstallment, build_schedule
from risk.models import PolicyStatus, ScoringPolicy
from risk.policy import PolicyParams
from risk.selectors import active_policy_last_seen

from .plans import fee_rate
from .terms import Terms

# A booking built for a business date or policy version that moved meanwhile is built again;
# a third miss in a row means they move faster than a purchase can be booked: refused, retryable.
ATTEMPTS = 3


@dataclass(frozen=True)
class PurchaseBooked:
    """A purchase booked (``created``) or found again (the same merchant order and details)."""

    purchase: Purchase
    created: bool
    schedule: list[ScheduledInstallment]
    available_limit: Decimal


class _Moved(Exception):
    """The business date or the active policy moved since this process last saw them."""


def purchase_create(*, account_id: int, merchant_order_id: str, amount: Decimal, periods: int,
                    acting_user: Actor = None) -> tuple[Purchase, bool]:
    """Book a purchase on an active account within its available limit (``purchase_book``)."""
    booked = purchase_book(account_id=account_id, merchant_order_id=merchant_order_id, amount=amount,
                           periods=periods, acting_user=acting_user)
    return booked.purchase, booked.created


def purchase_book(*, account_id: int, merchant_order_id: str, amount: Decimal, periods: int,
                  acting_user: Actor = None, request_key: KeyedRequest | None = None) -> PurchaseBooked:
    """Book a purchase on an active account within its available limit.

    The same ``merchant_order_id`` with the same amount and term returns the first purchase
    (created=False); with anything else it is a 409 ``duplicate_order``.
    """
    amount = to_money(amount)
    if amount <= 0:
        raise BusinessRuleRefused(_("The amount must be positive."), code="invalid_amount")
    for _attempt in range(ATTEMPTS):
        try:
            return _book(account_id=account_id, merchant_order_id=merchant_order_id, amount=amount,
                         periods=periods, acting_user=acting_user, request_key=request_key)
        except _Moved:
            continue
        except IntegrityError as exc:
            # a concurrent request booked the same merchant order first: the next attempt finds it
            if "merchant_order_unique_per_account" not in str(exc):
                raise
    raise Conflict(_("The business date or the policy changed while the purchase was booked; try again."),
                   code="request_in_progress")


def _book(*, account_id: int, merchant_order_id: str, amount: Decimal, periods: int, acting_user: Actor,
          request_key: KeyedRequest | None) -> PurchaseBooked:
    today = business_date_last_seen()
    policy, params = active_policy_last_seen()
    rate = params.term_fee_rates.get(str(periods))
    schedule = [] if rate is None else build_schedule(principal=amount, periods=periods, start=today, fee_rate=rate,
                                                      pay_later_days=params.pay_later_days)
    now = timezone.now()
    sql, sql_params = _statement(account_id=account_id, merchant_order_id=merchant_order_id, amount=amount,
                                 periods=periods, today=today, now=now, policy=policy, params=params,
                                 schedule=schedule, acting_user=acting_user)
    claims = request_key.claim_statements() if request_key is not None else []
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        cursors = [connection.cursor() for _claim in claims]
        booking = _server_binding_cursor()
        with pipelined():
            for cursor, (claim_sql, claim_params) in zip(cursors, claims, strict=True):
                cursor.execute(claim_sql, claim_params)
            booking.execute(sql, sql_params)
        # synced as pipeline mode ended: the key's claim and the booking in one round trip (after
        # BEGIN's, which psycopg waits for)
        claim_rows = [cursor.fetchone() for cursor in cursors]
        row = booking.fetchone()
        if request_key is not None:
            request_key.check_claim(claim_rows)
        (status, available, found_date, found_policy, prior_id, prior_amount, prior_periods,
         purchase_id, available_after) = row
        tail: list[tuple[str, Any]] = []
        if purchase_id is not None:
            purchase = Purchase(pk=purchase_id, account_id=account_id, merchant_order_id=merchant_order_id,
                                amount=amount, periods=periods, refunded_amount=ZERO, business_date=today,
                                created_at=now)
            booked = PurchaseBooked(purchase, True, schedule, available_after)
        else:
            try:
                booked = _not_booked(account_id=account_id, status=status, available=available, found_date=found_date,
                                     found_policy=found_policy, prior=(prior_id, prior_amount, prior_periods),
                                     amount=amount, periods=periods, today=today, policy=policy, params=params)
            except ApplicationError as exc:
                # A refusal under the key's lock: its answer is kept in this transaction (which
                # wrote nothing else), so a retry of the key replays it and never books later.
                stored = request_key.refusal_statement(exc) if request_key is not None else None
                if stored is None:
                    raise
                refusal = exc
                tail.append(stored)
        if request_key is not None and refusal is None:
            tail.append(request_key.answer_statement(booked))
        if tail or len(connection.atomic_blocks) == 1:
            # the last round trip: the answer and COMMIT together
            with pipelined():
                for statement in tail:
                    booking.execute(*statement)
                queue_commit(booking)
    if refusal is not None:
        raise refusal
    return booked


def _server_binding_cursor() -> CursorWrapper:
    """A cursor binding parameters on the server, so the booking statement — the same text
    every time — is prepared on its connection (``prepare_threshold`` in the database
    settings; none behind a transaction-mode pooler) and not planned on every purchase."""
    raw = ServerBindingCursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


def _not_booked(*, account_id: int, status: str | None, available: Decimal | None, found_date: date | None,
                found_policy: int | None, prior: tuple[Any, Any, Any], amount: Decimal, periods: int, today: date,
                policy: ScoringPolicy, params: PolicyParams) -> PurchaseBooked:
    """Why the statement wrote nothing — in the order of the rules: the account, the merchant
    order already booked (found again or refused), a date or policy moved, the account's status,
    the term, the limit. Raises, or answers the purchase found again."""
    if status is None:
        raise NotFound(_("No such credit account."))
    prior_id, prior_amount, prior_periods = prior
    if prior_id is not None:
        if prior_amount == amount and prior_periods == periods:
            return _found_again(prior_id, account_id)
        raise Conflict(_("This merchant order was already booked with different details."), code="duplicate_order",
                       details={"purchase_id": str(prior_id)})
    if found_date != today or found_policy != policy.pk:
        if found_date is not None:
            business_date_seen(found_date)
        active_policy_last_seen(policy_id=found_policy)  # NoActivePolicy when none is active
        raise _Moved
    if status != AccountStatus.ACTIVE:
        raise BusinessRuleRefused(_("The credit account is %(status)s; only active accounts can buy.") % {
                                      "status": AccountStatus(status).label},
                                  code="account_not_active", details={"status": status})
    fee_rate(params, periods)  # refuses a term the policy does not offer
    assert available is not None and amount > available
    raise BusinessRuleRefused(_("The amount is more than the available limit."), code="insufficient_limit",
                              details={"available_limit": f"{available:.2f}"})


def _found_again(purchase_id: int, account_id: int) -> PurchaseBooked:
    purchase = Purchase.objects.get(pk=purchase_id)
    schedule = [ScheduledInstallment(i.seq, i.due_date, i.principal, i.fee)
                for i in Installment.objects.filter(purchase_id=purchase_id).order_by("seq")]
    available = CreditAccount.objects.values_list("available_limit", flat=True).get(pk=account_id)
    return PurchaseBooked(purchase, False, schedule, available)


def _statement(*, account_id: int, merchant_order_id: str, amount: Decimal, periods: int, today: date,
               now: datetime, policy: ScoringPolicy, params: PolicyParams, schedule: list[ScheduledInstallment],
               acting_user: Actor) -> tuple[str, dict[str, Any]]:
    """The booking statement and its parameters (``_book`` reads its one row)."""
    p: dict[str, Any] = {
        "account": account_id, "order": merchant_order_id, "amount": amount, "periods": periods, "today": today,
        "now": now, "policy": policy.pk, "active": AccountStatus.ACTIVE, "policy_active": PolicyStatus.ACTIVE,
        "bookable": bool(schedule), "kind": PlanKind.PURCHASE, "fee_rate": params.term_fee_rates.get(str(periods)),
        "fee_per_period": schedule[0].fee if schedule else ZERO, "open": InstallmentState.OPEN,
        "seqs": [item.seq for item in schedule], "dues": [item.due_date for item in schedule],
        "principals": [item.principal for item in schedule], "fees": [item.fee for item in schedule],
    }
    terms = Terms.of_policy(params).plan_fields()
    p.update({f"t_{name}": json.dumps(value) if name == "debit_retry_offsets_days" else value
              for name, value in terms.items()})
    ledger = entry_ctes(name="posting", source="go", key_sql="'purchase:' || (SELECT id FROM purchase)",
                        kind="purchase", business_date=today, now=now, description=f"purchase {merchant_order_id}",
                        acting_user=acting_user, params=p,
                        legs=[Leg(Book.PRINCIPAL_RECEIVABLE, amount), Leg(Book.MERCHANT_SETTLEMENT, -amount)])
    tables = {"account": CreditAccount._meta.db_table, "purchase": Purchase._meta.db_table,
              "plan": InstallmentPlan._meta.db_table, "installment": Installment._meta.db_table,
              "policy": ScoringPolicy._meta.db_table}
    # table names from the models, every value a parameter
    sql = f"""
WITH acct AS (
    SELECT id, status, available_limit FROM {tables["account"]} WHERE id = %(account)s FOR UPDATE
), prior AS (
    SELECT id, amount, periods FROM {tables["purchase"]} WHERE account_id = %(account)s AND merchant_order_id = %(order)s
), ctx AS (
    SELECT (SELECT c."current_date" FROM accounts_businesscalendar AS c WHERE c.id = 1) AS today,
           (SELECT id FROM {tables["policy"]} WHERE status = %(policy_active)s ORDER BY version DESC LIMIT 1)
               AS policy_id
), go AS (
    SELECT acct.id FROM acct, ctx
    WHERE %(bookable)s AND acct.status = %(active)s AND acct.available_limit >= %(amount)s
      AND NOT EXISTS (SELECT 1 FROM prior) AND ctx.today = %(today)s AND ctx.policy_id = %(policy)s
), purchase AS (
    INSERT INTO {tables["purchase"]} (account_id, merchant_order_id, amount, periods, refunded_amount, business_date,
        created_at)
    SELECT go.id, %(order)s, %(amount)s, %(periods)s, 0, %(today)s, %(now)s FROM go RETURNING id
), plan AS (
    INSERT INTO {tables["plan"]} (kind, principal, periods, fee_rate, fee_per_period, start_date, created_at, account_id,
        policy_version_id, purchase_id, debit_recovery_interval_days, debit_retry_offsets_days, grace_days,
        penalty_daily_rate, write_off_days)
    SELECT %(kind)s, %(amount)s, %(periods)s, %(fee_rate)s, %(fee_per_period)s, %(today)s, %(now)s, %(account)s,
        %(policy)s, purchase.id, %(t_debit_recovery_interval_days)s, %(t_debit_retry_offsets_days)s::jsonb,
        %(t_grace_days)s, %(t_penalty_daily_rate)s, %(t_write_off_days)s
    FROM purchase RETURNING id, purchase_id
), inst AS (
    INSERT INTO {tables["installment"]} (plan_id, account_id, purchase_id, seq, due_date, principal, fee, principal_paid,
        principal_cancelled, fee_paid, fee_waived, fee_posted, state)
    SELECT plan.id, %(account)s, plan.purchase_id, s.seq, s.due_date, s.principal, s.fee, 0, 0, 0, 0, false, %(open)s
    FROM plan, unnest(%(seqs)s::smallint[], %(dues)s::date[], %(principals)s::numeric[], %(fees)s::numeric[])
        AS s(seq, due_date, principal, fee)
    ORDER BY s.seq RETURNING id
), {", ".join(ledger)}
SELECT acct.status, acct.available_limit, ctx.today, ctx.policy_id, prior.id, prior.amount, prior.periods,
       (SELECT id FROM purchase), (SELECT available_limit FROM posting_moved)
FROM ctx LEFT JOIN acct ON true LEFT JOIN prior ON true"""  # noqa: S608
    return sql, p
