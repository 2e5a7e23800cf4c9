"""A request's idempotency key as seen by a booking that keeps it in its own transaction.

The HTTP API (``config.api.idempotency``) keeps an ``Idempotency-Key``'s answer for every
write. A booking takes the key inside its own transaction instead of around it: the purchase
sends the key's claim with its booking statement; the refund and the repayment go through
``book_keyed``. The answer is stored just before the booking commits, so a keyed booking costs
one commit, not three (docs/decisions/0039-purchase-in-one-round-trip.md). This protocol is all
the booking knows of it; the API implements it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, Protocol, TypeVar

from django.db import connection, transaction

from . import round_trips
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
    """Run ``work`` (a booking) in one durable transaction that first takes the request's key
    and last stores its answer: one commit for the key and the booking, and three round trips
    of its own beside ``work``'s (BEGIN; the key's claim with ``work``'s savepoint; the
    savepoint's release, the answer and COMMIT). A refusal ``work`` raises (an
    ``ApplicationError``, its writes undone by the savepoint) is stored in the same transaction
    when the key keeps it, so a retry of the key replays the refusal instead of booking later;
    the refusal is then raised. Without a key, just the transaction."""
    if request_key is None:
        with transaction.atomic(durable=True):
            return work()
    refusal: ApplicationError | None = None
    claimed = False
    with transaction.atomic(durable=True), connection.cursor() as cursor, ExitStack() as pipeline:
        claims = request_key.claim_statements()
        cursors = [connection.cursor() for _claim in claims]
        pipeline.enter_context(round_trips.pipelined())
        for claim_cursor, (sql, params) in zip(cursors, claims, strict=True):
            claim_cursor.execute(sql, params)
        try:
            with transaction.atomic():  # its SAVEPOINT goes with the claim
                pipeline.close()  # synced: one round trip; work() runs outside pipeline mode
                rows = [claim_cursor.fetchone() for claim_cursor in cursors]
                for claim_cursor in cursors:
                    claim_cursor.close()
                # raises the key's answer when it has one (a replay, a 409): nothing booked
                request_key.check_claim(rows)
                claimed = True
                result = work()
                answer = request_key.answer_statement(result)
                pipeline.enter_context(round_trips.pipelined())  # RELEASE goes with the answer
        except ApplicationError as exc:
            stored = request_key.refusal_statement(exc) if claimed else None
            if stored is None:
                raise
            refusal = exc
            cursor.execute(*stored)
        else:
            cursor.execute(*answer)
            round_trips.queue_commit(cursor)
    if refusal is not None:
        raise refusal
    return result
