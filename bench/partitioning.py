#!/usr/bin/env python
"""Partitioning measured: the ledger at 100,000,000 journal lines, unpartitioned and by month
(run by hand; never part of the test suite).

    .venv/bin/python bench/partitioning.py --lines 2000000            # a small run first
    .venv/bin/python bench/partitioning.py                            # 100,000,000 lines per layout
    .venv/bin/python bench/partitioning.py --layouts monthly --keep   # one layout, database kept

For each layout (``--layouts flat,monthly``) in a database of its own (``<--db>_flat``,
``<--db>_monthly`` on ``DATABASE_URL``'s server; ``tally``, ``test_tally*``, ``postgres`` are
refused), created, migrated with the product's migrations (the real tables, constraints,
indexes and pgtrigger triggers), then:

- ``monthly`` only: ``accounts_journalline`` is rebuilt partitioned by range on
  ``business_date`` and ``installments_installment`` on ``due_date``, one partition per month:
  the same columns, CHECK constraints, indexes, foreign keys out and triggers; the primary key
  becomes ``(id, <key>)`` and every unique constraint gains the key; the foreign keys *into*
  installments (three tables) cannot reference ``id`` alone any more and are dropped — the
  script lists them.
- Both layouts: the installments' foreign keys to plans and purchases are dropped (those tables
  are not loaded).
- **Bulk load**: ``--accounts`` customers and credit accounts, then ``--lines`` journal lines
  (two per entry: a customer book with its account, a company book without), their entries, and
  ``--installments`` installments, server-side ``INSERT … SELECT … generate_series`` in chunks
  of ``--chunk`` lines, one transaction per chunk, business dates spread over ``--months`` months
  in id order (as time passes). The load runs with ``session_replication_role = replica``
  (no trigger, no foreign-key check: what a backfill does; every CHECK constraint and index is
  kept) and is **logged, with synchronous_commit on**: no UNLOGGED table, no
  ``synchronous_commit = off``. Rows/s per chunk are printed; ANALYZE afterwards.
- **Steady state**: ``--steady-clients`` connections run a purchase-like transaction for
  ``--steady-seconds`` with every trigger and foreign key on: lock the account row, insert the
  entry, its two lines, three installments, update the account's balances, commit. Transactions/s,
  lines/s, p50/p99 ms and WAL bytes per transaction.
- **Ledger audit** (last): every check of ``manage.py audit_ledger`` (``LEDGER_CHECKS``: the SQL of
  ``accounts/ledger_checks.py`` and ``installments/ledger_checks.py``) timed one by one in a
  Django process. The synthetic balances are not reconciled, so checks report violations;
  the time is that of the full scans either way. Each check is bounded by ``--audit-timeout``.
- **Statement query**: the lines of one account in one month (``credit_account_id = ? AND
  business_date in [month)``), for ``--statements`` random (account, month) pairs: median and
  p95 ms, and its plan.
- Table and index sizes (partitions summed).

pgbench (``-c 4 -j 2 -T 20``, scale 10) runs as a baseline at the start and again after each
layout's bulk load (the machine may be shared). Each layout's
database is dropped at its end unless ``--keep``. ``--timeout`` bounds the whole script.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

import cob as base  # the shared bench helpers (database lifecycle, processes, pgbench)

CUSTOMERS_SQL = base.LOAD_SQL[0][1]
ACCOUNTS_SQL = """
    INSERT INTO accounts_creditaccount (id, customer_id, status, credit_limit, available_limit, held_amount,
        principal_outstanding, fees_outstanding, penalties_outstanding, credit_balance, days_past_due,
        billing_day, repayment_card_token, auto_debit, paused_by_customer, opened_on, closed_reason,
        policy_version_id, created_at, updated_at, written_off_amount, recovered_amount)
    SELECT i, i, 'active', 1000000.00, 1000000.00, 0, 0, 0, 0, 0, 0,
           (i - 1) %% 28 + 1, 'tok_ok', true, false, %(opened_on)s, '', %(policy)s, now(), now(), 0, 0
    FROM generate_series(1, %(n)s) AS i"""

# An entry e: kind by e % 4 (purchase, repayment, repayment, fee), its account, its business date
# (in id order over the months), an amount; lines 2e-1 (customer book) and 2e (company book).
ENTRIES_SQL = """
    INSERT INTO accounts_journalentry (id, idempotency_key, kind, business_date, credit_account_id,
        description, created_at)
    SELECT e, 'bench:' || e, (ARRAY['purchase', 'repayment', 'repayment', 'fee'])[e %% 4 + 1],
           %(start)s::date + ((e - 1) * %(days)s / %(entries)s)::int, (e * 7919) %% %(accounts)s + 1, '',
           (%(start)s::date + ((e - 1) * %(days)s / %(entries)s)::int) + time '12:00' AT TIME ZONE 'UTC'
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS e"""
LINES_SQL = """
    INSERT INTO accounts_journalline (id, entry_id, book, credit_account_id, amount, installment_id,
        business_date, created_at)
    SELECT 2 * e - 1 + s, e,
           CASE WHEN s = 0 THEN (ARRAY['principal_receivable', 'principal_receivable', 'principal_receivable',
                                       'fee_receivable'])[e %% 4 + 1]
                ELSE (ARRAY['merchant_settlement', 'repayments_clearing', 'repayments_clearing',
                            'fee_income'])[e %% 4 + 1] END,
           CASE WHEN s = 0 THEN (e * 7919) %% %(accounts)s + 1 END,
           ((e * 37) %% 90000 + 1000) / 100.0 * (CASE WHEN (e %% 4 IN (1, 2)) = (s = 0) THEN -1 ELSE 1 END),
           CASE WHEN s = 0 AND e %% 4 < 3 AND %(installments)s > 0 THEN (e * 13) %% GREATEST(%(installments)s, 1) + 1 END,
           %(start)s::date + ((e - 1) * %(days)s / %(entries)s)::int,
           (%(start)s::date + ((e - 1) * %(days)s / %(entries)s)::int) + time '12:00' AT TIME ZONE 'UTC'
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS e CROSS JOIN (VALUES (0), (1)) AS v(s)"""
INSTALLMENTS_SQL = """
    INSERT INTO installments_installment (id, seq, due_date, principal, fee, principal_paid, principal_cancelled,
        fee_paid, fee_waived, fee_posted, state, paid_on, account_id, plan_id, purchase_id)
    SELECT i, (i - 1) %% 3 + 1, %(start)s::date + ((i - 1) * %(days)s / %(n)s)::int + (30 * ((i - 1) %% 3 + 1))::int,
           100.00, 1.00, CASE WHEN i %% 5 < 3 THEN 100.00 ELSE 0 END, 0, CASE WHEN i %% 5 < 3 THEN 1.00 ELSE 0 END, 0,
           i %% 5 < 3, CASE WHEN i %% 5 < 3 THEN 'paid' ELSE 'open' END,
           CASE WHEN i %% 5 < 3 THEN %(start)s::date + ((i - 1) * %(days)s / %(n)s)::int + (30 * ((i - 1) %% 3 + 1))::int END,
           (i * 7919) %% %(accounts)s + 1, (i + 2) / 3, NULL
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i"""

PARTITIONED = {  # table → partition key; one partition per month
    "accounts_journalline": "business_date",
    "installments_installment": "due_date",
}


def months(start: date, count: int) -> list[date]:
    return [base.add_months(start, k) for k in range(count + 1)]


# --- schema ------------------------------------------------------------------------------------------


def drop_loaded_fks(conn) -> list[str]:
    """The installments' FKs to plans and purchases (tables this benchmark does not load)."""
    dropped = []
    for name, definition in conn.execute("""
            SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid = 'installments_installment'::regclass AND contype = 'f'
              AND confrelid IN ('installments_installmentplan'::regclass, 'installments_purchase'::regclass)""").fetchall():
        conn.execute(f'ALTER TABLE installments_installment DROP CONSTRAINT "{name}"')
        dropped.append(f"installments_installment.{name}: {definition}")
    return dropped


def partition_table(conn, table: str, key: str, first: date, count: int) -> dict:
    """Rebuild ``table`` (empty) as RANGE (key) partitioned by month, keeping its shape."""
    old = f"{table}_flat"
    conn.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    constraints = conn.execute("""
        SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') ORDER BY contype, conname""", [old]).fetchall()
    indexes = conn.execute("""
        SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s
          AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)""",
                           [old, old]).fetchall()
    triggers = conn.execute("""SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
                               WHERE tgrelid = %s::regclass AND NOT tgisinternal""", [old]).fetchall()
    inbound = conn.execute("""SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                              WHERE confrelid = %s::regclass AND contype = 'f'""", [old]).fetchall()
    seq = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", [old]).fetchone()[0]
    conn.execute(f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
                 f"PARTITION BY RANGE ({key})")
    for referencing, name, _ in inbound:
        conn.execute(f'ALTER TABLE {referencing} DROP CONSTRAINT "{name}"')
    conn.execute(f'DROP TABLE "{old}" CASCADE')
    conn.execute(f'CREATE SEQUENCE "{table}_id_seq" OWNED BY "{table}".id')
    conn.execute(f"""ALTER TABLE "{table}" ALTER COLUMN id SET DEFAULT nextval('"{table}_id_seq"')""")
    bounds = months(first, count)
    for lo, hi in itertools.pairwise(bounds):
        conn.execute(f"""CREATE TABLE "{table}_{lo:%Y%m}" PARTITION OF "{table}" """
                     f"""FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')""")
    changed = []
    for name, kind, definition in constraints:
        if kind in ("p", "u"):
            columns = definition[definition.index("(") + 1:definition.rindex(")")]
            new = f"{'PRIMARY KEY' if kind == 'p' else 'UNIQUE'} ({columns}, {key})"
            changed.append(f"{table}.{name}: {definition} → {new}")
            conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {new}')
        else:
            conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for _name, definition in indexes:
        conn.execute(definition.replace(f"ON public.{old} ", f"ON public.{table} "))
    for _name, definition in triggers:
        conn.execute(definition.replace(f"ON public.{old} ", f"ON public.{table} "))
    print(f"  {table}: partitioned by RANGE ({key}), {len(bounds) - 1} monthly partitions "
          f"{bounds[0]:%Y-%m} … {bounds[-2]:%Y-%m}; {len(indexes)} indexes, {len(triggers)} triggers kept"
          + (f"; sequence was {seq}" if seq else ""))
    return {"table": table, "key": key, "partitions": len(bounds) - 1, "keys_changed": changed,
            "inbound_fks_dropped": [f"{r}.{n}: {d}" for r, n, d in inbound]}


# --- phases ------------------------------------------------------------------------------------------


def bulk_load(args, url: str) -> dict:
    entries = args.lines // 2
    days = (args.end - args.start).days
    chunk_entries = max(1, args.chunk // 2)
    params = {"start": args.start, "days": days, "entries": entries, "accounts": args.accounts,
              "installments": args.installments}
    out: dict = {"chunks": []}
    with base.connect(url) as conn:
        policy = conn.execute("SELECT id FROM risk_scoringpolicy WHERE status = 'active'").fetchone()[0]
        t = time.perf_counter()
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(CUSTOMERS_SQL, {"n": args.accounts})
            conn.execute(ACCOUNTS_SQL, {"n": args.accounts, "policy": policy, "opened_on": args.start})
        out["accounts_seconds"] = time.perf_counter() - t
        print(f"  {args.accounts:,} customers and accounts in {out['accounts_seconds']:.1f} s")
        t0 = time.perf_counter()
        done = 0
        for lo in range(1, entries + 1, chunk_entries):
            hi = min(entries, lo + chunk_entries - 1)
            t = time.perf_counter()
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")
                conn.execute(ENTRIES_SQL, {**params, "lo": lo, "hi": hi})
                conn.execute(LINES_SQL, {**params, "lo": lo, "hi": hi})
            seconds = time.perf_counter() - t
            done = hi
            rows = 3 * (hi - lo + 1)
            out["chunks"].append({"entries_to": hi, "seconds": seconds, "rows_per_s": rows / seconds})
            elapsed = time.perf_counter() - t0
            print(f"  lines {2 * hi:>13,} / {2 * entries:,}: chunk {rows / seconds:>9,.0f} rows/s "
                  f"(lines + entries), overall {3 * done / elapsed:,.0f} rows/s, {elapsed:,.0f} s", flush=True)
            args.deadline.check("the rest of the bulk load")
        out["ledger_seconds"] = time.perf_counter() - t0
        out["lines"], out["entries"] = 2 * done, done
        out["ledger_rows_per_s"] = 3 * done / out["ledger_seconds"]
        t0 = time.perf_counter()
        n = args.installments
        for lo in range(1, n + 1, args.chunk):
            hi = min(n, lo + args.chunk - 1)
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")
                conn.execute(INSTALLMENTS_SQL, {"start": args.start, "days": days, "n": n, "accounts": args.accounts,
                                                "lo": lo, "hi": hi})
            args.deadline.check("the rest of the installments")
        out["installments_seconds"] = time.perf_counter() - t0
        out["installments_rows_per_s"] = n / out["installments_seconds"] if n else None
        if n:
            print(f"  {n:,} installments in {out['installments_seconds']:.0f} s = "
                  f"{out['installments_rows_per_s']:,.0f} rows/s")
        for table in ("accounts_journalentry", "accounts_journalline", "installments_installment",
                      "accounts_customer", "accounts_creditaccount"):
            seq = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table]).fetchone()[0] \
                or f"{table}_id_seq"
            conn.execute(f"SELECT setval(%s, (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)", [seq])
        t = time.perf_counter()
        conn.execute("ANALYZE")
        out["analyze_seconds"] = time.perf_counter() - t
    print(f"  ledger: {out['lines']:,} lines + {out['entries']:,} entries in {out['ledger_seconds']:,.0f} s = "
          f"{out['ledger_rows_per_s']:,.0f} rows/s ({out['lines'] / out['ledger_seconds']:,.0f} lines/s); "
          f"ANALYZE {out['analyze_seconds']:.0f} s")
    return out


def steady_state(args, url: str) -> dict:
    """Purchase-like transactions, every trigger and foreign key on, synchronous_commit on."""
    import psycopg

    day = args.end - timedelta(days=1)
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(args.steady_clients)]
    errors: list[str] = []

    def client(k: int) -> None:
        rng = random.Random(k)
        with psycopg.connect(url.replace("postgres://", "postgresql://", 1), options="-c pgtrigger.ignore={}") as conn:
            n = 0
            while not stop.is_set():
                account = rng.randint(1, args.accounts)
                n += 1
                t = time.perf_counter()
                try:
                    with conn.transaction():
                        conn.execute("SELECT id FROM accounts_creditaccount WHERE id = %s FOR UPDATE", [account])
                        entry = conn.execute("""
                            INSERT INTO accounts_journalentry (idempotency_key, kind, business_date, credit_account_id,
                                description, created_at)
                            VALUES (%s, 'purchase', %s, %s, '', now()) RETURNING id""",
                                             [f"steady:{k}:{n}:{time.time_ns()}", day, account]).fetchone()[0]
                        ids = [row[0] for row in conn.execute("""
                            INSERT INTO installments_installment (seq, due_date, principal, fee, principal_paid,
                                principal_cancelled, fee_paid, fee_waived, fee_posted, state, account_id, plan_id)
                            SELECT s, %s::date + 30 * s, 33.33, 0, 0, 0, 0, 0, false, 'open', %s, %s
                            FROM generate_series(1, 3) AS s RETURNING id""",
                                                              [day, account, 10**12 + k * 10**9 + n]).fetchall()]
                        conn.execute("""
                            INSERT INTO accounts_journalline (entry_id, book, credit_account_id, amount, installment_id,
                                business_date, created_at)
                            VALUES (%s, 'principal_receivable', %s, 99.99, %s, %s, now()),
                                   (%s, 'merchant_settlement', NULL, -99.99, NULL, %s, now())""",
                                     [entry, account, ids[0], day, entry, day])
                        conn.execute("""
                            UPDATE accounts_creditaccount SET principal_outstanding = principal_outstanding + 99.99,
                                available_limit = available_limit - 99.99, updated_at = now() WHERE id = %s""",
                                     [account])
                except Exception as exc:
                    errors.append(str(exc).splitlines()[0])
                    if len(errors) > 20:
                        stop.set()
                    continue
                latencies[k].append(time.perf_counter() - t)

    with base.connect(url) as conn:
        wal0 = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.steady_clients)]
        for th in threads:
            th.start()
        time.sleep(args.steady_seconds)
        stop.set()
        for th in threads:
            th.join(timeout=30)
        wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [wal0]).fetchone()[0]
    lat = sorted(x for per in latencies for x in per)
    n = len(lat)
    out = {"transactions": n, "seconds": args.steady_seconds, "tps": n / args.steady_seconds,
           "lines_per_s": 2 * n / args.steady_seconds,
           "p50_ms": 1000 * lat[n // 2] if n else None, "p99_ms": 1000 * lat[min(n - 1, int(n * 0.99))] if n else None,
           "wal_bytes_per_txn": float(wal) / n if n else None, "errors": errors[:5]}
    print(f"  steady state ({args.steady_clients} clients, {args.steady_seconds:.0f} s): {out['tps']:,.0f} purchase-like "
          f"transactions/s ({out['lines_per_s']:,.0f} lines/s), p50 {out['p50_ms'] or 0:.1f} ms, "
          f"p99 {out['p99_ms'] or 0:.1f} ms, {out['wal_bytes_per_txn'] or 0:,.0f} WAL bytes per transaction"
          + (f"; ERRORS: {errors[:3]}" if errors else ""))
    return out


AUDIT_CHILD = """
import json, os, time
from django.db import connection, utils
from accounts.ledger_checks import LEDGER_CHECKS
with connection.cursor() as cursor:
    cursor.execute("SET statement_timeout = %s", [int(os.environ["BENCH_AUDIT_TIMEOUT_MS"])])
out = []
for name, check in LEDGER_CHECKS.items():
    t = time.perf_counter()
    try:
        found = len(check())
    except utils.OperationalError:  # statement_timeout: reported as cut short
        found = None
    out.append([name, time.perf_counter() - t, found])
print("BENCH_JSON " + json.dumps(out))
"""


def audit_queries(args, url: str) -> dict:
    env = base.child_env(args)
    env["DATABASE_URL"] = url
    env["BENCH_AUDIT_TIMEOUT_MS"] = str(int(args.audit_timeout * 1000))
    _, out, _seconds = base.run([base.PY, "manage.py", "shell", "-c", AUDIT_CHILD], env=env, deadline=args.deadline)
    checks = json.loads(next(line for line in out.splitlines() if line.startswith(base.JSON_MARK))[len(base.JSON_MARK):])
    total = sum(c[1] for c in checks)
    print(f"  audit_ledger's {len(checks)} checks: {total:,.1f} s in all; "
          + ", ".join(f"{name} {s:,.1f} s" + (" (cut at --audit-timeout)" if found is None else "")
                      for name, s, found in sorted(checks, key=lambda c: -c[1])[:5]))
    return {"checks": checks, "total_seconds": total}


STATEMENT_SQL = """
    SELECT id, entry_id, book, amount, installment_id, business_date FROM accounts_journalline
    WHERE credit_account_id = %s AND business_date >= %s AND business_date < %s ORDER BY business_date, id"""


def statement_queries(args, url: str) -> dict:
    rng = random.Random(7)
    bounds = months(args.start, args.months)
    times, rows = [], 0
    with base.connect(url) as conn:
        conn.execute("SET pgtrigger.ignore = '{}'")
        for _ in range(args.statements):
            account, k = rng.randint(1, args.accounts), rng.randrange(args.months)
            t = time.perf_counter()
            rows += len(conn.execute(STATEMENT_SQL, [account, bounds[k], bounds[k + 1]]).fetchall())
            times.append(1000 * (time.perf_counter() - t))
        plan = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + STATEMENT_SQL,
                                           [1, bounds[0], bounds[1]]).fetchall()]
    times.sort()
    out = {"queries": len(times), "median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))],
           "rows_per_query": rows / len(times), "plan": plan}
    print(f"  statement query (one account, one month; {len(times)} random pairs, {out['rows_per_query']:.1f} lines "
          f"each): median {out['median_ms']:.2f} ms, p95 {out['p95_ms']:.2f} ms")
    return out


def sizes(url: str) -> dict:
    with base.connect(url) as conn:
        tables = {}
        for table in ("accounts_journalline", "accounts_journalentry", "installments_installment"):
            # pg_partition_tree() of a plain table is empty: then the relation's own size
            heap = conn.execute("""SELECT COALESCE((SELECT SUM(pg_relation_size(relid)) FROM pg_partition_tree(%s::regclass)),
                                                   pg_relation_size(%s::regclass))""", [table, table]).fetchone()[0]
            idx = conn.execute("""
                SELECT c.relname, COALESCE((SELECT SUM(pg_relation_size(relid)) FROM pg_partition_tree(i.indexrelid)),
                                           pg_relation_size(i.indexrelid))
                FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid = %s::regclass ORDER BY 2 DESC""", [table]).fetchall()
            tables[table] = {"heap_bytes": int(heap), "indexes": {n: int(b) for n, b in idx},
                             "index_bytes": int(sum(b for _, b in idx))}
            print(f"  {table}: heap {heap / 2**30:,.2f} GiB, indexes {sum(b for _, b in idx) / 2**30:,.2f} GiB ("
                  + ", ".join(f"{n} {b / 2**20:,.0f} MiB" for n, b in idx) + ")")
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    print(f"  database: {database / 2**30:,.2f} GiB")
    return {"tables": tables, "database_bytes": int(database)}


def run_layout(args, layout: str) -> dict:
    db = f"{args.db}_{layout}"
    url = base.url_with_db(args.server, db)
    print(f"\n=== {layout}: database {db} ===", flush=True)
    with base.connect(base.url_with_db(args.server, "postgres")) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')
    result: dict = {"layout": layout, "database": db}
    try:
        env = base.child_env(args)
        env["DATABASE_URL"] = url
        _, _, secs = base.run([base.PY, "manage.py", "migrate", "--noinput"], env=env, deadline=args.deadline)
        print(f"  migrated in {secs:.0f} s")
        with base.connect(url) as conn:
            result["fks_dropped_not_loaded"] = drop_loaded_fks(conn)
            if layout == "monthly":
                result["partitioned"] = [
                    partition_table(conn, "accounts_journalline", "business_date", args.start, args.months + 1),
                    partition_table(conn, "installments_installment", "due_date", args.start, args.months + 5)]
        result["bulk"] = bulk_load(args, url)
        if not args.no_pgbench:  # the machine may be shared: a baseline next to each layout's timings
            result["pgbench"] = base.pgbench(args, args.deadline)
        result["sizes"] = sizes(url)
        result["statements"] = statement_queries(args, url)
        result["steady"] = steady_state(args, url)
        result["audit"] = audit_queries(args, url)
    finally:
        if not args.keep:
            with base.connect(base.url_with_db(args.server, "postgres")) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            print(f"  dropped database {db}")
    return result


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=100_000_000, help="journal lines per layout (default 100,000,000)")
    p.add_argument("--accounts", type=int, default=None, help="credit accounts (default lines / 100)")
    p.add_argument("--installments", type=int, default=None, help="installments (default lines / 10)")
    p.add_argument("--months", type=int, default=24, help="months of business dates (default 24)")
    p.add_argument("--end", default="2026-12-01", help="the first day after the loaded business dates")
    p.add_argument("--chunk", type=int, default=2_000_000, help="lines per bulk-load transaction")
    p.add_argument("--layouts", default="flat,monthly", help="flat, monthly or both (default)")
    p.add_argument("--steady-seconds", type=float, default=20.0)
    p.add_argument("--steady-clients", type=int, default=4)
    p.add_argument("--statements", type=int, default=200, help="statement queries timed (default 200)")
    p.add_argument("--audit-timeout", type=float, default=300.0,
                   help="statement_timeout of each audit_ledger check, seconds (default 300): a check cut "
                        "there is reported as such")
    p.add_argument("--db", default="tally_bench_part", help="database name prefix (_flat, _monthly appended)")
    p.add_argument("--keep", action="store_true", help="keep each layout's database")
    p.add_argument("--code", default="head", help="as bench/cob.py: head, worktree, live or a path")
    p.add_argument("--timeout", type=float, default=4 * 3600, help="bound on the whole script, seconds")
    p.add_argument("--no-pgbench", action="store_true")
    p.add_argument("--json", help="write every figure to this file")
    args = p.parse_args(argv)
    args.accounts = args.accounts or max(1000, args.lines // 100)
    args.installments = args.lines // 10 if args.installments is None else args.installments
    args.end = date.fromisoformat(args.end)
    args.start = base.add_months(args.end, -args.months)
    # what base.child_env and base.pgbench read
    args.redis, args.settings, args.pg_options = "redis://127.0.0.1:6379/9", "production", ""
    args.server = base.server_url()
    args.bench_url = base.url_with_db(args.server, f"{args.db}_flat")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    for name in layouts:
        if name not in ("flat", "monthly"):
            raise SystemExit(f"--layouts: unknown layout {name}")
        if f"{args.db}_{name}" in base.FORBIDDEN_DBS:
            raise SystemExit(f"--db {args.db}: refusing to use that database")
    if args.db == "tally" or args.db.startswith("test_tally") or args.db in base.FORBIDDEN_DBS:
        raise SystemExit(f"--db {args.db}: refusing to use that database")
    base.CODE, code_text, code_is_copy = base.snapshot_code(args.code)
    base.signal.signal(base.signal.SIGTERM, base._on_term)
    args.deadline = base.Deadline(args.timeout)
    args.timeout = int(args.timeout)
    started = time.perf_counter()
    results: dict = {"args": {k: str(v) for k, v in vars(args).items() if k != "deadline"}, "code": code_text,
                     "layouts": []}
    print(f"tally partitioning benchmark: {args.lines:,} journal lines, {args.accounts:,} accounts, "
          f"{args.installments:,} installments, business dates {args.start} … {args.end - timedelta(days=1)}; "
          f"code: {code_text}")
    print("bulk load: logged tables, synchronous_commit on; session_replication_role = replica (no triggers / FK "
          "checks) for the load only; the steady state runs with every trigger and FK")
    try:
        if not args.no_pgbench:
            results["pgbench"] = base.pgbench(args, args.deadline)
        for layout in layouts:
            results["layouts"].append(run_layout(args, layout))
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the processes this script started")
        return 130
    except (TimeoutError, base.CommandFailed) as exc:
        print(f"\nstopped: {exc}")
        results["error"] = str(exc)
    finally:
        base._stop_all()
        if code_is_copy:
            base.shutil.rmtree(base.CODE, ignore_errors=True)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print_summary(results, time.perf_counter() - started)
    return 1 if results.get("error") else 0


def print_summary(results: dict, elapsed: float) -> None:
    print(f"\n=== summary ({elapsed:,.0f} s) ===")
    pg = results.get("pgbench")
    if pg:
        print(f"pgbench baseline: {pg['tps']:,.0f} tps (-c 4 -j 2 -T 20, scale 10)")
    for r in results["layouts"]:
        if "steady" not in r:
            continue
        b, s, st, a = r["bulk"], r["steady"], r["statements"], r["audit"]
        pg = r.get("pgbench") or pg
        line = r["sizes"]["tables"]["accounts_journalline"]
        print(f"{r['layout']:<8} bulk {b['ledger_rows_per_s']:>9,.0f} rows/s ({b['lines'] / b['ledger_seconds']:,.0f} "
              f"lines/s) | steady {s['tps']:,.0f} tx/s p99 {s['p99_ms'] or 0:.0f} ms | statement median "
              f"{st['median_ms']:.2f} ms p95 {st['p95_ms']:.2f} | audit {a['total_seconds']:,.0f} s | lines heap "
              f"{line['heap_bytes'] / 2**30:.1f} GiB + indexes {line['index_bytes'] / 2**30:.1f} GiB"
              + (f" | pgbench {pg['tps']:,.0f} tps, steady {s['tps'] / pg['tps']:.2f} × pgbench" if pg else ""))
    if results.get("error"):
        print(f"ERROR: {results['error']}")


if __name__ == "__main__":
    sys.exit(main())
