"""The ledger service: the only code that writes journal entries and lines (docs/rules.md §11).

Callers lock the credit account row first (``lock_credit_account``) inside their
transaction; ``post_entry`` then writes a balanced, append-only entry and moves the account
row's balances and ``available_limit`` in the same transaction. The database checks the
balance again at commit (deferred constraint trigger) and refuses UPDATE/DELETE of lines.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .audit_trail import Actor, staff_user
from .bulk import Writes, insert_columns, insert_columns_sql, plain_array, text_array, update_rows
from .errors import NotFound
from .lifecycle.credit_line import balance_move_sql, refresh_available_limit
from .models import CUSTOMER_BOOKS, Book, CreditAccount, JournalEntry, JournalLine
from .money import ZERO, to_money

_BALANCE_FIELDS: dict[str, str] = {  # a book (``Book``) → its balance column
    Book.PRINCIPAL_RECEIVABLE: "principal_outstanding",
    Book.FEE_RECEIVABLE: "fees_outstanding",
    Book.PENALTY_RECEIVABLE: "penalties_outstanding",
}


_BOOKS = frozenset(Book.values)


class UnbalancedEntry(ValueError):
    pass


@dataclass(frozen=True)
class Leg:
    book: str
    amount: Decimal  # > 0 debit, < 0 credit
    installment_id: int | None = None


def lock_credit_account(account_id: int) -> CreditAccount:
    """Lock and return the account row (call inside ``transaction.atomic``)."""
    if not connection.in_atomic_block:
        raise RuntimeError("lock_credit_account must run inside a transaction")
    account = CreditAccount.objects.select_for_update().filter(pk=account_id).first()
    if account is None:
        raise NotFound(_("No such credit account."))
    return account


def lock_credit_accounts(account_ids: list[int], *, missing_ok: bool = False) -> dict[int, CreditAccount]:
    """Lock and return many account rows by id, in id order (the order every batch of the
    nightly close uses: no deadlocks); NotFound if one is missing, unless ``missing_ok``
    (the caller leaves those to its one-by-one path). Inside ``transaction.atomic``."""
    if not connection.in_atomic_block:
        raise RuntimeError("lock_credit_accounts must run inside a transaction")
    accounts = {a.pk: a for a in CreditAccount.objects.select_for_update().filter(pk__any_of=account_ids).order_by("pk")}
    missing = set(account_ids) - set(accounts)
    if missing and not missing_ok:
        raise NotFound(f"No such credit account: {sorted(missing)[:5]}")
    return accounts


def _check_legs(key: str, has_account: bool, legs: list[Leg]) -> None:
    if len(legs) < 2:
        raise UnbalancedEntry("an entry needs at least two legs")
    total = ZERO
    for leg in legs:
        amount = to_money(leg.amount)
        if amount == 0:
            raise UnbalancedEntry("a leg of 0.00 is not posted")
        if leg.book not in _BOOKS:
            raise UnbalancedEntry(f"unknown book {leg.book}")
        if leg.book in CUSTOMER_BOOKS and not has_account:
            raise UnbalancedEntry(f"{leg.book} needs a credit account")
        total += amount
    if total != 0:
        raise UnbalancedEntry(f"entry {key} does not balance: {total}")


def _lines(entry: JournalEntry, account: CreditAccount | None, legs: list[Leg], business_date) -> list[JournalLine]:
    return [JournalLine(entry=entry, book=leg.book, amount=leg.amount, installment_id=leg.installment_id,
                        credit_account=account if leg.book in CUSTOMER_BOOKS else None, business_date=business_date)
            for leg in legs]


def post_entry(*, account: CreditAccount | None, key: str, kind: str, legs: list[Leg], business_date,
               description: str = "", acting_user: Actor = None, new_key: bool = False) -> tuple[JournalEntry, bool]:
    """Post one balanced entry. The same ``key`` twice posts once: returns (entry, created).
    ``new_key``: the key names a row the caller created in this transaction, so it cannot
    have been posted — the lookup is skipped (the unique key still refuses a second one)."""
    if not connection.in_atomic_block:
        raise RuntimeError("post_entry must run inside the caller's transaction")
    existing = None if new_key else JournalEntry.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing, False
    _check_legs(key, account is not None, legs)
    entry = JournalEntry.objects.create(
        idempotency_key=key, kind=kind, business_date=business_date, credit_account=account,
        description=description[:255], actor=staff_user(acting_user))
    JournalLine.objects.bulk_create(_lines(entry, account, legs, business_date))
    if account is not None:
        changed = _move_balances(account, legs)
        if changed:
            account.save(update_fields=[*changed, "updated_at"])
    return entry, True


@dataclass(frozen=True)
class EntrySpec:
    """One entry for ``post_entries``."""

    account: CreditAccount | None
    key: str
    kind: str
    legs: list[Leg]
    business_date: date
    description: str = ""
    acting_user: Actor = None


def post_entries(entries: list[EntrySpec]) -> set[CreditAccount]:
    """Post many balanced entries set-based, with two statements whatever their number — the
    same checks, rows and balance moves as ``post_entry`` for each (a key already posted is
    skipped: ``ON CONFLICT DO NOTHING``). The accounts (locked by the caller) are moved in memory
    only: the caller saves the returned ones, e.g. with ``save_accounts``, in the same
    transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("post_entries must run inside the caller's transaction")
    if not entries:
        return set()
    now = timezone.now()
    written = {key for _pk, key in insert_columns(*_entries_sql(entries, now),
                                                  returning=("id", "idempotency_key"),
                                                  on_conflict="ON CONFLICT (idempotency_key) DO NOTHING")}
    new = [e for e in entries if e.key in written]
    for spec in new:
        _check_legs(spec.key, spec.account is not None, spec.legs)
    if new:  # every entry has legs (``_check_legs``)
        with connection.cursor() as cursor:
            cursor.execute(*_lines_sql(new, now, entries_from=JournalEntry._meta.db_table))
    return _moved(new)


def post_new_entries(writes: Writes, entries: list[EntrySpec]) -> set[CreditAccount]:
    """``post_entries`` as two CTEs of the caller's one statement (``accounts.bulk.Writes``),
    for entries whose keys name rows the caller creates in this transaction, so none can have
    been posted (a second one makes the statement fail on the unique key: nothing written).
    Checks the legs first; moves the accounts' balances in memory — the caller saves them in
    the same statement."""
    if not connection.in_atomic_block:
        raise RuntimeError("post_new_entries must run inside the caller's transaction")
    if not entries:
        return set()
    for spec in entries:
        _check_legs(spec.key, spec.account is not None, spec.legs)
    now = timezone.now()
    sql, params = insert_columns_sql(*_entries_sql(entries, now), returning=("id", "idempotency_key"))
    written = writes.add(sql, params)
    writes.add(*_lines_sql(entries, now, entries_from=written))
    return _moved(entries)


def _entries_sql(entries: list[EntrySpec], now: datetime) -> tuple[type[JournalEntry], dict[str, list]]:
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys):
        raise ValueError("post_entries: an entry key twice in one call")
    return JournalEntry, {
        "idempotency_key": keys, "kind": [e.kind for e in entries],
        "business_date": [e.business_date for e in entries],
        "credit_account": [e.account.pk if e.account is not None else None for e in entries],
        "description": [e.description[:255] for e in entries],
        "actor": [getattr(staff_user(e.acting_user), "pk", None) for e in entries],
        "created_at": [now] * len(entries),
    }


def _lines_sql(entries: list[EntrySpec], now: datetime, *, entries_from: str) -> tuple[str, list]:
    """The lines of ``entries``, each finding its entry by key in ``entries_from`` (the table,
    or the CTE that inserted them), in the entries' order (ids as ``post_entry`` gives them)."""
    lines = [(spec, leg) for spec in entries for leg in spec.legs]
    return (
        f"INSERT INTO {JournalLine._meta.db_table} (entry_id, book, credit_account_id, amount, installment_id, "  # noqa: S608
        f"business_date, created_at) SELECT e.id, v.book, v.credit_account_id, v.amount, v.installment_id, "
        f"v.business_date, %s FROM unnest(%s::text[], %s::varchar(24)[], %s::bigint[], %s::numeric(14, 2)[], "
        f"%s::bigint[], %s::date[]) WITH ORDINALITY AS v(key, book, credit_account_id, amount, installment_id, "
        f"business_date, n) JOIN {entries_from} AS e ON e.idempotency_key = v.key ORDER BY v.n",
        [now, text_array([spec.key for spec, _leg in lines]), text_array([leg.book for _spec, leg in lines]),
         plain_array([spec.account.pk if spec.account is not None and leg.book in CUSTOMER_BOOKS else None
                      for spec, leg in lines]),
         plain_array([to_money(leg.amount) for _spec, leg in lines]),
         plain_array([leg.installment_id for _spec, leg in lines]),
         plain_array([spec.business_date for spec, _leg in lines])])


def _moved(entries: list[EntrySpec]) -> set[CreditAccount]:
    moved: set[CreditAccount] = set()
    for spec in entries:
        if spec.account is not None and _move_balances(spec.account, spec.legs):
            moved.add(spec.account)
    return moved


def entry_ctes(*, name: str, source: str, key_sql: str, kind: str, legs: list[Leg], business_date: date,
               now: object, description: str = "", acting_user: Actor = None,
               params: dict[str, object]) -> list[str]:
    """``post_entry`` as data-modifying CTEs of the caller's one statement (the purchase path:
    a booking in one round trip). ``source`` is a CTE with one row per entry to post and an
    ``id`` column, the credit account (locked by the same statement); ``key_sql`` an SQL
    expression of the entry's unique key over the CTEs before it. The same checks, rows and
    balance moves as ``post_entry``; the key is new (a second one is refused by its unique
    index). Adds its parameters to ``params`` (prefixed with ``name``) and returns the CTEs
    ``{name}_entry``, ``{name}_lines`` and ``{name}_moved`` (the accounts' id and new
    available limit)."""
    _check_legs(key_sql, True, legs)
    p = f"{name}_"
    params.update({
        f"{p}kind": kind, f"{p}date": business_date, f"{p}now": now, f"{p}description": description[:255],
        f"{p}actor": getattr(staff_user(acting_user), "pk", None),
        f"{p}books": [leg.book for leg in legs], f"{p}amounts": [to_money(leg.amount) for leg in legs],
        f"{p}customer": [leg.book in CUSTOMER_BOOKS for leg in legs],
        f"{p}installments": [leg.installment_id for leg in legs]})
    deltas: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for leg in legs:
        if leg.book in _BALANCE_FIELDS:
            deltas[_BALANCE_FIELDS[leg.book]] += leg.amount
        elif leg.book == Book.CUSTOMER_CREDIT:
            deltas["credit_balance"] -= leg.amount
    for column, delta in deltas.items():
        params[f"{p}d_{column}"] = delta
    entry, line = JournalEntry._meta.db_table, JournalLine._meta.db_table
    # table names from the models, every value a parameter
    ctes = [
        f"{p}entry AS (INSERT INTO {entry} (idempotency_key, kind, business_date, description, created_at, actor_id, "  # noqa: S608
        f"credit_account_id) SELECT {key_sql}, %({p}kind)s, %({p}date)s, %({p}description)s, %({p}now)s, "
        f"%({p}actor)s, {source}.id FROM {source} RETURNING id, credit_account_id)",
        f"{p}lines AS (INSERT INTO {line} (entry_id, book, credit_account_id, amount, installment_id, business_date, "  # noqa: S608
        f"created_at) SELECT e.id, l.book, CASE WHEN l.customer THEN e.credit_account_id END, l.amount, "
        f"l.installment_id, %({p}date)s, %({p}now)s FROM {p}entry AS e, unnest(%({p}books)s::varchar[], "
        f"%({p}amounts)s::numeric[], %({p}customer)s::boolean[], %({p}installments)s::bigint[]) "
        f"WITH ORDINALITY AS l(book, amount, customer, installment_id, n) ORDER BY l.n RETURNING id)",
    ]
    if deltas:
        moves = {column: f"%({p}d_{column})s::numeric" for column in deltas}
        ctes.append(f"{p}moved AS ({balance_move_sql(source=source, deltas=moves, now=f'%({p}now)s')})")
    else:  # no balance of the account moves
        ctes.append(f"{p}moved AS (SELECT a.id, a.available_limit FROM {CreditAccount._meta.db_table} AS a "  # noqa: S608
                    f"JOIN {source} ON a.id = {source}.id)")
    return ctes


BALANCE_COLUMNS = ["principal_outstanding", "fees_outstanding", "penalties_outstanding", "credit_balance",
                   "held_amount", "available_limit", "updated_at"]


def save_accounts(accounts, fields: list[str] | None = None, *, writes: Writes | None = None) -> None:
    """One UPDATE for many locked accounts whose balances moved in memory (``writes``: as a CTE
    of the caller's one statement)."""
    accounts = list(accounts)
    if not accounts:
        return
    now = timezone.now()
    for account in accounts:
        account.updated_at = now
    if writes is not None:
        writes.update(accounts, fields or BALANCE_COLUMNS)
    else:
        update_rows(accounts, fields or BALANCE_COLUMNS)


def _move_balances(account: CreditAccount, legs: list[Leg]) -> list[str]:
    deltas: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for leg in legs:
        if leg.book in _BALANCE_FIELDS:
            deltas[_BALANCE_FIELDS[leg.book]] += leg.amount
        elif leg.book == Book.CUSTOMER_CREDIT:
            deltas["credit_balance"] -= leg.amount  # a liability: credits raise it
    if not deltas:
        return []
    for field, delta in deltas.items():
        setattr(account, field, getattr(account, field) + delta)
    refresh_available_limit(account)
    return [*deltas, "available_limit"]

