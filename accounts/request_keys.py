"""A request's idempotency key as seen by a booking that keeps it in its own transaction.

The HTTP API (``config.api.idempotency``) keeps an ``Idempotency-Key``'s answer for every
write. A booking takes the key inside its own transaction instead of around it: the purchase
sends the key's claim in its first round trip; the refund and the repayment go through
``book_keyed``. The answer is stored just before the booking commits, so a keyed booking costs
one commit, not three (docs/decisions/0039-purchase-in-one-round-trip.md). This protocol is all
the booking knows of it; the API implements it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from django.db import connection, transaction

from .errors import ApplicationError


class KeyedRequest(Protocol):
    def claim_statements(self) -> list[tuple[str, dict[str, Any]]]:
        """Statements sent ahead of the booking in its first round trip, one row each."""
        ...

    def check_claim(self, rows: list[tuple[Any, ...]]) -> None:
        """Raise to abandon the booking (its transaction rolls back) when the key is held by a
        request still running, or was used before: the exception carries the API's answer."""
        ...

    def refusal_statement(self, refusal: Exception) -> tuple[str, dict[str, Any]] | None:
        """The statement that stores the answer to ``refusal`` (a business error found under
        the key's lock, the booking having written nothing), sent before commit; None when that
        answer is not kept (the request may be tried again)."""
        ...

    def answer_statement(self, booked: Any) -> tuple[str, dict[str, Any]]:
        """The statement that stores this request's answer for ``booked``, sent before commit."""
        ...


T = TypeVar("T")


def book_keyed(request_key: KeyedRequest | None, work: Callable[[], T]) -> T:
    """Run ``work`` (a booking written with the ORM) in one durable transaction that first
    takes the request's key and last stores its answer: one commit for the key and the booking.
    A refusal ``work`` raises (an ``ApplicationError``, its writes undone by a savepoint) is
    stored in the same transaction when the key keeps it, so a retry of the key replays the
    refusal instead of booking later; the refusal is then raised. Without a key, just the
    transaction."""
    if request_key is None:
        with transaction.atomic(durable=True):
            return work()
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        rows = []
        for sql, params in request_key.claim_statements():
            cursor.execute(sql, params)
            rows.append(cursor.fetchone())
        request_key.check_claim(rows)  # raises the key's answer: nothing booked
        try:
            with transaction.atomic():
                result = work()
        except ApplicationError as exc:
            stored = request_key.refusal_statement(exc)
            if stored is None:
                raise
            refusal = exc
            cursor.execute(*stored)
        else:
            cursor.execute(*request_key.answer_statement(result))
    if refusal is not None:
        raise refusal
    return result
