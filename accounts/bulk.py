"""Set-based writes for the nightly close's batches."""

from __future__ import annotations

from django.db import connection


def update_rows(objs, fields: list[str]) -> int:
    """Write ``fields`` of many model instances with one ``UPDATE … FROM unnest(arrays)``.

    Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` per row and field: its
    Python cost and the server's grow with rows² (a chunk of 500 took ~0.3 s per statement)."""
    objs = list(objs)
    if not objs:
        return 0
    meta = type(objs[0])._meta
    qn = connection.ops.quote_name
    columns = [meta.pk] + [meta.get_field(name) for name in fields]
    values = [[column.get_db_prep_save(getattr(obj, column.attname), connection) for obj in objs]
              for column in columns]
    arrays = ", ".join(f"%s::{column.db_type(connection)}[]" for column in columns)
    names = ", ".join(qn(column.column) for column in columns)
    sets = ", ".join(f"{qn(column.column)} = v.{qn(column.column)}" for column in columns[1:])
    table, pk = qn(meta.db_table), qn(meta.pk.column)
    sql = (f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v({names}) "  # noqa: S608 - names from the model
           f"WHERE {table}.{pk} = v.{pk}")
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.rowcount
