"""Reads of one booking sent together: the rows a booking locks and reads before it decides,
in one round trip to the database instead of one per query (psycopg's pipeline mode; the
writes that follow go as one statement, ``accounts.bulk.Writes``;
docs/decisions/0041-bookings-in-few-round-trips.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable


def read_together(*queries: QuerySet[Any] | tuple[str, list[Any]]) -> list[list[Any]]:
    """Evaluate ``queries`` in one round trip, in the order given (the rows they lock are
    locked in that order, as when read one after another): a queryset gives the model
    instances ``list(queryset)`` would — plain model querysets only, no ``values()``,
    ``select_related``, ``prefetch_related`` or annotations; an ``(sql, params)`` pair gives its
    rows. Inside a transaction when one locks."""
    compiled: list[tuple[QuerySet[Any] | None, Any, str, Any]] = []
    for query in queries:
        if isinstance(query, tuple):
            compiled.append((None, None, *query))
            continue
        prefetches = query._prefetch_related_lookups  # type: ignore[attr-defined]
        if query._iterable_class is not ModelIterable or query.query.select_related or prefetches \
                or query.query.annotation_select:
            raise ValueError("read_together takes plain model querysets")
        compiler = query.query.get_compiler(using=query.db)
        compiled.append((query, compiler, *compiler.as_sql()))
    cursors = [connection.cursor() for _query in compiled]
    try:
        with pipelined():
            for cursor, (_queryset, _compiler, sql, params) in zip(cursors, compiled, strict=True):
                cursor.execute(sql, params)
        # leaving pipeline mode synced: one round trip (after BEGIN's, when this opens the
        # transaction: psycopg waits for it), every result in its cursor
        fetched = [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()
    return [rows if queryset is None else _instances(queryset, compiler, rows)
            for (queryset, compiler, _sql, _params), rows in zip(compiled, fetched, strict=True)]


def _instances(queryset: QuerySet[Any], compiler: Any, rows: list[tuple[Any, ...]]) -> list[Model]:
    """Model instances from a compiled queryset's rows, as Django's ``ModelIterable`` builds them."""
    select, klass_info = compiler.select, compiler.klass_info
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    names = [column[0].target.attname for column in select[start:end]]
    model = klass_info["model"]
    return [model.from_db(queryset.db, names, row[start:end]) for row in compiler.results_iter(results=[rows])]


def queue_commit(cursor: Any) -> None:
    """In pipeline mode, queue COMMIT behind the statements already queued, so it travels in
    their round trip (synced as pipeline mode ends); Django's own commit at the end of the
    ``atomic`` block then finds the transaction committed (psycopg sends nothing) and runs the
    on-commit hooks. Only in the outermost block: inside an outer transaction (tests) the outer
    one commits."""
    if len(connection.atomic_blocks) == 1:
        cursor.execute("COMMIT")


@contextmanager
def pipelined() -> Iterator[None]:
    """psycopg's pipeline mode on Django's connection: the statements executed in the block are
    sent together and synced as it ends (one round trip); read their results after it. A
    database error found then comes out as Django's (``IntegrityError``, …), as from a cursor."""
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield
