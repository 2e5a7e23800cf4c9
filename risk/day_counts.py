"""Applications per business day, kept as they are written (docs/decisions/0040).

The charts page counts applications of a range of days by status, first reason and whether
the identity provider failed for them, each in its status now. Counting the applications
themselves reads every application of the range; at a year of a large store that is millions
of rows. Instead the trigger ``application_day_deltas`` (risk/models.py) appends, for every
application inserted, deleted or changed in what is counted, -1 for its old key and +1 for its
new one to ``ApplicationDayDelta`` — an insert, so no writer waits for another. ``fold``
moves those deltas into ``ApplicationDayCount`` (one row per key) every few minutes; a read
adds the folded counts and the deltas not folded yet, so it is exact at any moment and reads
a few rows per day."""

from __future__ import annotations

from datetime import date

from django.db import connection, transaction

from .models import Application, ApplicationDayCount, ApplicationDayDelta, ApplicationStatus

# The advisory lock that makes folds take turns (two folds would upsert the same keys).
FOLD_LOCK = 7412
Key = tuple[date, str, str, bool]


def application_day_counts(start: date, end: date) -> list[tuple[date, str, str, bool, int]]:
    """(business date, status, reason code or '', provider failed, applications) for every key
    with applications in [start, end]. One query: the folded counts and the deltas not folded
    yet, both read by business date."""
    counts, deltas = ApplicationDayCount._meta.db_table, ApplicationDayDelta._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT business_date, status, reason_code, provider_failed, SUM(applications) FROM ("  # noqa: S608
            f"  SELECT business_date, status, reason_code, provider_failed, applications FROM {counts}"
            f"   WHERE business_date BETWEEN %(start)s AND %(end)s"
            f"  UNION ALL"
            f"  SELECT business_date, status, reason_code, provider_failed, applications FROM {deltas}"
            f"   WHERE business_date BETWEEN %(start)s AND %(end)s"
            f") AS keyed GROUP BY 1, 2, 3, 4 HAVING SUM(applications) <> 0",
            {"start": start, "end": end})
        return [(day, status, reason, failed, int(n)) for day, status, reason, failed, n in cursor.fetchall()]


def fold() -> int:
    """Move the deltas appended so far into the counts (one transaction; folds take turns).
    Returns how many deltas were folded."""
    counts, deltas = ApplicationDayCount._meta.db_table, ApplicationDayDelta._meta.db_table
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FOLD_LOCK])
        cursor.execute(
            f"WITH moved AS (DELETE FROM {deltas} RETURNING business_date, status, reason_code, "  # noqa: S608
            f"  provider_failed, applications),"
            f" folded AS (INSERT INTO {counts} AS c (business_date, status, reason_code, provider_failed, applications)"
            f"  SELECT business_date, status, reason_code, provider_failed, SUM(applications) FROM moved"
            f"  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
            f"  ON CONFLICT (business_date, status, reason_code, provider_failed)"
            f"  DO UPDATE SET applications = c.applications + EXCLUDED.applications RETURNING 1)"
            f" SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM folded)")
        moved, _keys = cursor.fetchone()
    return int(moved)


def recount() -> int:
    """Count every application again from scratch (after a restore, or a load that ran with
    triggers off): the counts and the deltas are replaced by the applications as they are now.
    Writers of applications wait for it (the table is locked in SHARE mode until it commits).
    Returns how many keys it wrote."""
    counts, deltas = ApplicationDayCount._meta.db_table, ApplicationDayDelta._meta.db_table
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FOLD_LOCK])
        cursor.execute(f"LOCK TABLE {Application._meta.db_table} IN SHARE MODE")
        cursor.execute(f"DELETE FROM {deltas}")  # noqa: S608
        cursor.execute(f"DELETE FROM {counts}")  # noqa: S608
        cursor.execute(
            f"INSERT INTO {counts} (business_date, status, reason_code, provider_failed, applications)"  # noqa: S608
            f" SELECT business_date, status,"
            f"  CASE WHEN status <> %(approved)s THEN COALESCE(first_reason_code, '') ELSE '' END,"
            f"  status = %(pending_retry)s OR identity_attempts >= 2, count(*)"
            f" FROM {Application._meta.db_table} GROUP BY 1, 2, 3, 4",
            {"approved": ApplicationStatus.APPROVED, "pending_retry": ApplicationStatus.PENDING_RETRY})
        return cursor.rowcount
