"""Set-based writes: one statement per table and chunk for the nightly close's batches, or all
of a booking's rows in one statement (``Writes``), the values of each column sent as one array
(``unnest``).

The arrays are written as PostgreSQL array literals here, from the column's type, rather than
through Django's per-value preparation and psycopg's per-element list adaptation: those two
were most of the close's Python time (docs/benchmarks.md §1). Only the model types the close
writes have a literal; any other column goes through Django's preparation as before."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar, cast

from django.db import connection, models
from django.utils import timezone

M = TypeVar("M", bound=models.Model)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _text(value: Any) -> str:
    return "NULL" if value is None else _quoted(str(value))


def _boolean(value: Any) -> str:
    return "NULL" if value is None else ("t" if value else "f")


def _iso(value: date | datetime | None) -> str:
    return "NULL" if value is None else value.isoformat()


_LITERALS: dict[str, Callable[[Any], str]] = {
    "AutoField": _plain, "BigAutoField": _plain, "SmallAutoField": _plain, "IntegerField": _plain,
    "BigIntegerField": _plain, "SmallIntegerField": _plain, "PositiveIntegerField": _plain,
    "PositiveSmallIntegerField": _plain, "PositiveBigIntegerField": _plain, "DecimalField": _plain,
    "CharField": _text, "TextField": _text, "BooleanField": _boolean, "DateField": _iso,
}


def plain_array(values: Iterable[Any]) -> str:
    """Numbers and dates as one array parameter (``%s::numeric[]``, ``::date[]``, …)."""
    return "{" + ",".join(map(_plain, values)) + "}"


def text_array(values: Iterable[Any]) -> str:
    """Strings as one array parameter (``%s::text[]``)."""
    return "{" + ",".join(map(_text, values)) + "}"


class AnyOf(models.Lookup):
    """``field__any_of=ids``: ``field = ANY(%s::type[])`` with the ids as one array parameter.
    Same rows as ``__in``; a chunk of 500 ids costs one parameter instead of 500 placeholders
    to compile, quote and parse (a few milliseconds per query of the close)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        return list(self.rhs)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        kind = field.target_field if isinstance(field, models.ForeignKey) else field
        return f"{lhs} = ANY(%s::{kind.db_type(connection)}[])", [*lhs_params, _array(kind, self.rhs)]


def _array(field: models.Field, values: list[Any]) -> Any:
    """``values`` of ``field`` as one query parameter for ``%s::<type>[]``."""
    kind = field.get_internal_type()
    if isinstance(field, models.ForeignKey):
        kind = field.target_field.get_internal_type()
    literal = _LITERALS.get(kind)
    if kind == "DateTimeField":
        literal = _iso
        if any(v is not None and timezone.is_naive(v) for v in values):
            literal = None  # Django's preparation makes it aware (and warns), as before
    elif kind == "JSONField" and getattr(field, "encoder", None) is None:
        return "{" + ",".join("NULL" if v is None else _quoted(json.dumps(v)) for v in values) + "}"
    if literal is None:
        return [field.get_db_prep_save(v, connection) for v in values]
    return "{" + ",".join(map(literal, values)) + "}"


def _column(objs: list[M], field: models.Field) -> list[Any]:
    values = [getattr(obj, field.attname) for obj in objs]
    if isinstance(field, models.ForeignKey) and None in values:  # a related object given unsaved, saved since
        for i, obj in enumerate(objs):
            if values[i] is None and field.is_cached(obj):
                related = field.get_cached_value(obj)
                values[i] = getattr(related, field.target_field.attname, None) if related is not None else None
    return values


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` new primary keys of ``model`` from its sequence, in order (for rows whose key
    others need before they are written; ``insert_rows(with_pk=True)`` writes them)."""
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(*reserve_ids_sql(model, count))
        return [row[0] for row in cursor.fetchall()]


def reserve_ids_sql(model: type[models.Model], count: int) -> tuple[str, list[Any]]:
    """``reserve_ids``' statement, for a booking that sends it with its reads
    (``accounts.round_trips.read_together``): one row per key."""
    meta = model._meta
    return ("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s) ORDER BY 1",
            [meta.db_table, meta.pk.column, count])


def _insert_sql(objs: list[M], with_pk: bool) -> tuple[str, list[Any]]:
    """``insert_rows``' statement: every concrete field (the primary key only ``with_pk``) of
    the instances as one array per column, RETURNING the keys unless they are the instances'."""
    meta = type(objs[0])._meta
    qn = connection.ops.quote_name
    now = timezone.now()
    fields = [f for f in meta.concrete_fields if with_pk or not f.primary_key]
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objs:
                setattr(obj, field.attname, now)
    names = ", ".join(qn(f.column) for f in fields)
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    values = [_array(f, _column(objs, f)) for f in fields]
    sql = (f"INSERT INTO {qn(meta.db_table)} ({names}) SELECT {names} FROM unnest({arrays}) "  # noqa: S608 - model names
           f"WITH ORDINALITY AS v({names}, _n) ORDER BY _n")
    return (sql if with_pk else f"{sql} RETURNING {qn(meta.pk.column)}"), values


def _saved(objs: Sequence[M], ids: Iterable[Any]) -> None:
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


def insert_rows(objs: Sequence[M], *, with_pk: bool = False) -> list[M]:
    """``bulk_create`` of new model instances (every concrete field but the primary key, which
    comes back from the database — or the instances' own, ``with_pk``), with one ``INSERT …
    SELECT … FROM unnest(arrays)``; the keys are set on the instances in order.
    ``auto_now``/``auto_now_add`` fields get one instant for the chunk. No signal is sent and
    no default is computed beyond the instances' own (as bulk_create)."""
    objs = list(objs)
    if not objs:
        return objs
    sql, values = _insert_sql(objs, with_pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        ids = [obj.pk for obj in objs] if with_pk else [row[0] for row in cursor.fetchall()]
    _saved(objs, ids)
    return objs


def insert_columns_sql(model: type[models.Model], columns: dict[str, list[Any]], *, returning: Iterable[str] = (),
                       on_conflict: str = "") -> tuple[str, list[Any]]:
    """``insert_columns``' statement and parameters (e.g. for ``Writes.add``)."""
    meta = model._meta
    qn = connection.ops.quote_name
    fields = [cast(models.Field, meta.get_field(name)) for name in columns]
    names = ", ".join(qn(f.column) for f in fields)
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    values = [_array(f, list(column)) for f, column in zip(fields, columns.values(), strict=True)]
    back = ", ".join(qn(cast(models.Field, meta.get_field(name)).column) for name in returning)
    sql = (f"INSERT INTO {qn(meta.db_table)} ({names}) SELECT {names} FROM unnest({arrays}) "  # noqa: S608 - model names
           f"WITH ORDINALITY AS v({names}, _n) ORDER BY _n {on_conflict}" + (f" RETURNING {back}" if back else ""))
    return sql, values


def insert_columns(model: type[models.Model], columns: dict[str, list[Any]], *, returning: Iterable[str] = (),
                   on_conflict: str = "") -> list[tuple[Any, ...]]:
    """Insert rows given column by column (model field names, the same length each), with one
    statement; ``on_conflict`` is appended as is (e.g. ``ON CONFLICT (idempotency_key) DO
    NOTHING``); returns the ``returning`` columns of the rows written, in order."""
    returning = list(returning)
    sql, values = insert_columns_sql(model, columns, returning=returning, on_conflict=on_conflict)
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchall() if returning else []


def _update_sql(objs: list[Any], fields: list[str]) -> tuple[str, list[Any]]:
    meta = type(objs[0])._meta
    qn = connection.ops.quote_name
    columns = [meta.pk] + [meta.get_field(name) for name in fields]
    values = [_array(column, [getattr(obj, column.attname) for obj in objs]) for column in columns]
    arrays = ", ".join(f"%s::{column.db_type(connection)}[]" for column in columns)
    names = ", ".join(qn(column.column) for column in columns)
    sets = ", ".join(f"{qn(column.column)} = v.{qn(column.column)}" for column in columns[1:])
    table, pk = qn(meta.db_table), qn(meta.pk.column)
    sql = (f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v({names}) "  # noqa: S608 - names from the model
           f"WHERE {table}.{pk} = v.{pk}")
    return sql, values


def update_rows(objs, fields: list[str]) -> int:
    """Write ``fields`` of many model instances with one ``UPDATE … FROM unnest(arrays)``.

    Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` per row and field: its
    Python cost and the server's grow with rows² (a chunk of 500 took ~0.3 s per statement)."""
    objs = list(objs)
    if not objs:
        return 0
    sql, values = _update_sql(objs, fields)
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.rowcount


class Writes:
    """Inserts and updates of one booking sent as one statement, each a data-modifying CTE:
    one round trip and one parse where one statement per table took one each (the repayment,
    the refund; docs/decisions/0041-bookings-in-few-round-trips.md).

    Every CTE of a statement sees the database as it was before the statement: a row is
    written once (never inserted by one CTE and updated by another), and a CTE that needs the
    rows of another reads that CTE, by the name ``add`` returned, not its table. The instances
    given to ``insert`` get their keys when ``execute`` returns."""

    def __init__(self) -> None:
        self._ctes: list[str] = []
        self._params: list[Any] = []
        self._keyed: list[tuple[str, list[Any]]] = []  # (cte, instances whose keys it returns)

    def add(self, sql: str, params: Sequence[Any]) -> str:
        """A data-modifying statement (``%s`` parameters; it may name earlier CTEs); returns
        its CTE's name."""
        name = f"w{len(self._ctes)}"
        self._ctes.append(f"{name} AS ({sql})")
        self._params.extend(params)
        return name

    def insert(self, objs: Sequence[M], *, with_pk: bool = False) -> None:
        """``insert_rows`` as a CTE of the statement."""
        objs = list(objs)
        if objs:
            name = self.add(*_insert_sql(objs, with_pk))
            if with_pk:
                _saved(objs, [obj.pk for obj in objs])
            else:
                self._keyed.append((name, objs))

    def update(self, objs: Iterable[Any], fields: list[str]) -> None:
        """``update_rows`` as a CTE of the statement."""
        objs = list(objs)
        if objs:
            self.add(*_update_sql(objs, fields))

    def execute(self) -> None:
        """Send the statement (nothing when nothing was added) and set the inserted keys."""
        if not self._ctes:
            return
        qn = connection.ops.quote_name
        # a statement's keys come from the sequence in the order its rows are inserted
        keys = ", ".join(f"(SELECT array_agg({pk} ORDER BY {pk}) FROM {name})"  # noqa: S608 - names from the model
                         for name, objs in self._keyed for pk in [qn(objs[0]._meta.pk.column)]) or "NULL"
        with connection.cursor() as cursor:
            cursor.execute(f"WITH {', '.join(self._ctes)} SELECT {keys}", self._params)
            row = cursor.fetchone()
        for position, (_name, objs) in enumerate(self._keyed):
            _saved(objs, row[position])
        self._ctes, self._params, self._keyed = [], [], []
