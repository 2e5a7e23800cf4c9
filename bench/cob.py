#!/usr/bin/env python
"""Close-of-business throughput benchmark (run by hand; never part of the test suite).

    .venv/bin/python bench/cob.py --accounts 100000 --workers 2          # fan-out, 2 worker processes
    .venv/bin/python bench/cob.py --accounts 10000 --inline --workers 1,2  # inline, then fan-out W=1 and W=2
    .venv/bin/python bench/cob.py --accounts 2000 --profile --no-runs     # cProfile + SQL count of auto-debit
    .venv/bin/python bench/cob.py --accounts 10000 --workers 2 --code /path/to/patched/tree  # compare code

What it does (docs/benchmarks.md has the figures and how to read them):

1. Uses its own database (``--db``, default ``tally_bench``) on the server of ``DATABASE_URL``
   (default ``postgres://postgres@127.0.0.1:5432/...``): creates it if missing (``--reset`` drops
   and recreates it) and runs ``manage.py migrate`` against it. Every child process gets
   ``DATABASE_URL`` pointing at the bench database and a dedicated Redis database
   (``--redis``, default ``redis://127.0.0.1:6379/9``, flushed before each run). It refuses
   the ``tally`` / ``test_tally`` databases and Redis db 0.
2. Before every run: empties the data tables and bulk-loads N accounts with server-side
   ``INSERT … SELECT … generate_series`` (customers, active credit accounts of limit 10,000,
   one 300.00 purchase in 3 installments with installment 1 due on the benchmark business
   date, the purchase's balanced journal entry, balances 300 / 9,700), sets the business
   calendar (row id=1) to the due date, ANALYZEs, and runs ``manage.py audit_ledger``.
3. Times ``manage.py close_business_day`` inline (``--inline``) and/or ``--fan-out`` with W
   Celery prefork worker processes it starts and stops itself; prints per-step seconds and
   counts from ``accounts_cobsteprun``, auto-debit accounts/s, CPU split (Python vs
   PostgreSQL vs other processes: the machine may be shared), ``audit_ledger`` afterwards,
   and a fingerprint (row digests) of what the close wrote, to compare two code versions;
   times ``risk.limits.limits_recalculate`` on a synthetic day where every account qualifies
   for an increase (opened 200 days earlier, 3 installments repaid on time).
4. pgbench baseline on the same server (``tally_pgbench``: ``-i -s 10``, ``-c 4 -j 2 -T 20``).
5. Bounded by ``--timeout`` (whole script); worker processes are stopped on exit and Ctrl-C.

The children run a snapshot of the code (``--code head``: ``git archive HEAD``, default), so
edits made to the working tree during a long run cannot break it; ``--code worktree`` /
``live`` / a path run something else (e.g. a tree with bench/proposals/*.diff applied).
``--pg-options`` passes PGOPTIONS to the children (e.g. ``-c pgtrigger.ignore={}``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from calendar import monthrange
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
CODE = ROOT  # the project tree the children run (--code: a snapshot, so concurrent edits can't break a run)
VENV_PY = ROOT / ".venv" / "bin" / "python"
PY = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
FORBIDDEN_DBS = {"tally", "test_tally", "postgres", "template0", "template1"}
PGBENCH_DB = "tally_pgbench"
JSON_MARK = "BENCH_JSON "

# Bench-only settings for config.settings.production (DEBUG off, as the nightly runs in production).
PRODUCTION_ENV = {
    "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-not-for-production",
    "TALLY_PII_ENCRYPTION_KEY": "mN3-1y6ZzA0Jc1Cq3ZbQ0v8mP8XH2o6wq3dJ9Qj3b2Y=",
    "TALLY_PII_HASH_KEY": "bench-pii-hash-key",
    "TALLY_IDENTITY_PROVIDER": "risk.identity.SandboxIdentityProvider",
    "TALLY_PAYMENT_GATEWAY": "installments.gateway.SandboxGateway",
    "TALLY_NOTIFICATION_CHANNEL": "accounts.channels.LogChannel",
    # the production settings refuse the sandbox adapters (decision 0023) unless told this is a
    # rehearsal: nothing a benchmark runs reaches a customer or a gateway
    "TALLY_ALLOW_SANDBOX_ADAPTERS": "true",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "SECURE_SSL_REDIRECT": "false",
}


# --- process bookkeeping: everything we start is stopped on exit ---------------------------------

_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()


def _register(proc: subprocess.Popen) -> subprocess.Popen:
    with _children_lock:
        _children.add(proc)
    return proc


def _stop(proc: subprocess.Popen, *, grace: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Stop one process we started (its own session/process group) — never anything else."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with _children_lock:
        _children.discard(proc)


def _stop_all(grace: float = 5.0) -> None:
    with _children_lock:
        procs = list(_children)
    for proc in procs:
        _stop(proc, grace=grace)


def _on_term(signum, frame):  # SIGTERM → the same clean-up path as Ctrl-C
    raise KeyboardInterrupt(f"signal {signum}")


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def check(self, what: str) -> None:
        if self.left() <= 0:
            raise TimeoutError(f"--timeout reached before {what}")


class CommandFailed(RuntimeError):
    pass


def run(cmd: list[str], *, env: dict, deadline: Deadline, log: Path | None = None, check: bool = True,
        timeout: float | None = None) -> tuple[int, str, float]:
    """Run a child in its own session, bounded by the deadline; returns (rc, output, seconds)."""
    limit = max(1.0, deadline.left()) if timeout is None else timeout
    started = time.perf_counter()
    out = open(log, "w+") if log else tempfile.TemporaryFile("w+")  # noqa: SIM115
    with out:
        proc = _register(subprocess.Popen(cmd, cwd=CODE, env=env, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        try:
            rc = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            _stop(proc, grace=5)
            raise TimeoutError(f"{' '.join(cmd[:4])}… did not finish within {limit:.0f} s") from None
        except BaseException:  # Ctrl-C / SIGTERM while waiting: the child must not outlive us
            _stop(proc, grace=5)
            raise
        finally:
            with _children_lock:
                _children.discard(proc)
        out.seek(0)
        text = out.read()
    seconds = time.perf_counter() - started
    if check and rc != 0:
        raise CommandFailed(f"{' '.join(cmd)} exited {rc}:\n{text[-4000:]}")
    return rc, text, seconds


# --- configuration ------------------------------------------------------------------------------


def server_url() -> str:
    return os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"


def url_with_db(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, parts.fragment))


def pg_cli_args(url: str) -> list[str]:
    parts = urlsplit(url)
    args = []
    if parts.hostname:
        args += ["-h", unquote(parts.hostname)]
    if parts.port:
        args += ["-p", str(parts.port)]
    if parts.username:
        args += ["-U", unquote(parts.username)]
    return args


def pg_cli_env(url: str) -> dict:
    env = dict(os.environ)
    parts = urlsplit(url)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    return env


def connect(url: str, autocommit: bool = True):
    import psycopg

    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=autocommit)


def child_env(args) -> dict:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": args.bench_url,
        "CELERY_BROKER_URL": args.redis,
        "CELERY_RESULT_BACKEND": args.redis,
        "DJANGO_SETTINGS_MODULE": f"config.settings.{args.settings}",
        "TALLY_COB_STEP_TIMEOUT_SECONDS": str(int(args.timeout)),
        "PYTHONUNBUFFERED": "1",
        "TALLY_BENCH_CODE": str(CODE),
    })
    env.pop("TALLY_COB_CHUNK_QUEUE", None)  # chunks go to the default queue "celery"
    if args.pg_options:
        env["PGOPTIONS"] = args.pg_options  # libpq: server settings for every child connection
    if getattr(args, "pooler", None) is not None:  # --pgbouncer: every child through the pooler
        env["DATABASE_URL"], env["DATABASE_POOLER"] = args.pooler.url, "transaction"
    if args.settings == "production":
        for key, value in PRODUCTION_ENV.items():
            env.setdefault(key, value)
    return env


def start_pgbouncer(args):
    """--pgbouncer: a private transaction-mode PgBouncer (bench/pgbouncer.py) in front of the
    bench database; the children connect through it, the bulk loads and pgbench do not."""
    import pgbouncer

    pool = pgbouncer.start(args.bench_url, pool_size=args.pgbouncer_pool)
    _register(pool.proc)
    print(f"pgbouncer (transaction mode, pool_size {args.pgbouncer_pool}) on 127.0.0.1:{pool.port}: "
          f"children use {pool.url} (web {pool.web_url}) with DATABASE_POOLER=transaction")
    return pool


def pgbouncer_cpu(args) -> float | None:
    import psutil

    pool = getattr(args, "pooler", None)
    with contextlib.suppress(Exception):
        cpu = psutil.Process(pool.proc.pid).cpu_times()
        return cpu.user + cpu.system
    return None


def parse_mix(text: str) -> list[tuple[str, int]]:
    mix = []
    for part in text.split(","):
        token, _, pct = part.strip().partition("=")
        if not token.startswith("tok_") or not pct.isdigit():
            raise SystemExit(f"--mix: expected tok_name=percent[,…], got {part!r}")
        mix.append((token, int(pct)))
    if sum(p for _, p in mix) != 100:
        raise SystemExit("--mix percentages must add up to 100")
    return mix


def add_months(start: date, months: int) -> date:  # the same rule as installments.schedules
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, monthrange(year, month)[1]))


def snapshot_code(spec: str) -> tuple[Path, str, bool]:
    """(tree to run, description, is a temporary copy). ``head``: ``git archive HEAD`` (committed
    code only); ``worktree``: a copy of the working tree; ``live``: this tree in place; a path."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip() or "?"
    if spec == "live":
        return ROOT, f"live working tree {ROOT} (HEAD {head} + uncommitted changes)", False
    if spec not in ("head", "worktree"):
        path = Path(spec).resolve()
        if not (path / "manage.py").exists():
            raise SystemExit(f"--code {spec}: no manage.py there")
        return path, f"tree {path}", False
    dest = Path(tempfile.mkdtemp(prefix="tally-bench-code-"))
    if spec == "head":
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return dest, f"git HEAD {head} (archive in {dest})", True
    tar = subprocess.run(["tar", "-c", "--exclude=./.venv", "--exclude=./.local", "--exclude=./.git",
                          "--exclude=__pycache__", "."], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest, f"working tree copy of HEAD {head} + uncommitted changes (in {dest})", True


# --- database lifecycle ----------------------------------------------------------------------------


def ensure_database(args, deadline: Deadline) -> None:
    with connect(url_with_db(args.server, "postgres")) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.db]).fetchone()
        if exists and args.reset:
            print(f"--reset: dropping database {args.db}")
            conn.execute(f'DROP DATABASE "{args.db}" WITH (FORCE)')
            exists = None
        if not exists:
            print(f"creating database {args.db}")
            conn.execute(f'CREATE DATABASE "{args.db}"')
    _, out, secs = run([PY, "manage.py", "migrate", "--no-input", "-v", "0"], env=child_env(args),
                       deadline=deadline)
    print(f"migrate: done in {secs:.1f} s{(': ' + out.strip()) if out.strip() else ''}")


def data_tables(conn) -> list[str]:
    """Every table of the project's apps except reference data (policy, calendar)."""
    rows = conn.execute("""
        SELECT tablename FROM pg_tables WHERE schemaname = 'public'
          AND (tablename LIKE 'accounts\\_%%' OR tablename LIKE 'installments\\_%%'
               OR tablename LIKE 'risk\\_%%' OR tablename LIKE 'complaints\\_%%')
          AND tablename NOT IN ('accounts_businesscalendar', 'risk_scoringpolicy')
        ORDER BY tablename""").fetchall()
    return [r[0] for r in rows]


def sequences_sync(conn, tables: list[str]) -> None:
    for table in tables:
        conn.execute(f"""SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                                       COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)""")


LOAD_SQL = [
    ("customers", """
        INSERT INTO accounts_customer (id, external_id, name, id_number_encrypted, id_number_hash,
            id_number_masked, phone, store_status, store_since, orders_12m, spend_12m, return_rate, language,
            created_at, updated_at)
        SELECT i, 'bench-' || i, 'Bench Customer ' || i, 'bench-not-encrypted', md5('b' || i) || md5('h' || i),
               '110105**********2X', '139' || lpad(i::text, 8, '0'), 'normal', DATE '2020-01-01', 12, 8000.00,
               0.0300, 'en', now(), now()
        FROM generate_series(1, %(n)s) AS i"""),
    ("credit accounts", """
        INSERT INTO accounts_creditaccount (id, customer_id, status, credit_limit, available_limit, held_amount,
            principal_outstanding, fees_outstanding, penalties_outstanding, credit_balance, days_past_due,
            billing_day, repayment_card_token, auto_debit, paused_by_customer, opened_on, closed_reason,
            policy_version_id, created_at, updated_at, written_off_amount, recovered_amount)
        SELECT i, i, 'active', 10000.00, 9700.00, 0, 300.00, 0, 0, 0, 0,
               {billing_day}, {token}, true, false, %(opened_on)s, '', %(policy)s, now(), now(), 0, 0
        FROM generate_series(1, %(n)s) AS i"""),
    ("purchases", """
        INSERT INTO installments_purchase (id, account_id, merchant_order_id, amount, periods, refunded_amount,
            business_date, created_at)
        SELECT i, i, 'bench-order-' || i, 300.00, 3, 0, %(purchase_date)s, now()
        FROM generate_series(1, %(n)s) AS i"""),
    ("installment plans", """
        INSERT INTO installments_installmentplan (id, account_id, kind, purchase_id, statement_id, principal,
            periods, fee_rate, fee_per_period, start_date, policy_version_id, created_at,
            grace_days, penalty_daily_rate, debit_retry_offsets_days, debit_recovery_interval_days, write_off_days)
        SELECT i, i, 'purchase', i, NULL, 300.00, 3, 0.00600, 1.80, %(purchase_date)s, %(policy)s, now(),
               3, 0.0005, '[1, 3, 7]'::jsonb, 7, 180
        FROM generate_series(1, %(n)s) AS i"""),
    ("installments", """
        INSERT INTO installments_installment (id, plan_id, account_id, purchase_id, seq, due_date, principal, fee,
            principal_paid, principal_cancelled, fee_paid, fee_waived, fee_posted, state, paid_on)
        SELECT (i - 1) * 3 + s.seq, i, i, i, s.seq, s.due, 100.00, 1.80, 0, 0, 0, 0, false, 'open', NULL
        FROM generate_series(1, %(n)s) AS i
        CROSS JOIN (VALUES (1, %(due1)s::date), (2, %(due2)s::date), (3, %(due3)s::date)) AS s(seq, due)"""),
    ("journal entries", """
        INSERT INTO accounts_journalentry (id, idempotency_key, kind, business_date, credit_account_id,
            description, reverses_id, actor_id, created_at)
        SELECT i, 'purchase:' || i, 'purchase', %(purchase_date)s, i, 'purchase bench-order-' || i, NULL, NULL,
               now()
        FROM generate_series(1, %(n)s) AS i"""),
    ("journal lines", """
        INSERT INTO accounts_journalline (entry_id, book, credit_account_id, amount, installment_id,
            business_date, created_at)
        SELECT i, l.book, CASE WHEN l.book = 'principal_receivable' THEN i END, l.amount, NULL,
               %(purchase_date)s, now()
        FROM generate_series(1, %(n)s) AS i
        CROSS JOIN (VALUES ('principal_receivable', 300.00), ('merchant_settlement', -300.00)) AS l(book, amount)
        ORDER BY i, l.amount DESC"""),
]

# The synthetic limit-increase day: every account opened 200 days earlier with an older, fully
# repaid 300.00 purchase in 3 installments paid on their due dates (3 on-time installments in
# the look-back window). Its ledger is complete and nets to zero per account, so balances and
# audit_ledger are untouched: purchase (+300 / −300), fees posted (+5.40 / −5.40), repayment
# (+305.40 clearing / −300 principal and −5.40 fees by installment).
HISTORY_SQL = [
    ("accounts opened 200 days earlier", """
        UPDATE accounts_creditaccount SET opened_on = %(old_opened_on)s WHERE id <= %(n)s"""),
    ("history purchases", """
        INSERT INTO installments_purchase (id, account_id, merchant_order_id, amount, periods, refunded_amount,
            business_date, created_at)
        SELECT %(n)s + i, i, 'bench-history-' || i, 300.00, 3, 0, %(hist_date)s, now()
        FROM generate_series(1, %(n)s) AS i"""),
    ("history plans", """
        INSERT INTO installments_installmentplan (id, account_id, kind, purchase_id, statement_id, principal,
            periods, fee_rate, fee_per_period, start_date, policy_version_id, created_at,
            grace_days, penalty_daily_rate, debit_retry_offsets_days, debit_recovery_interval_days, write_off_days)
        SELECT %(n)s + i, i, 'purchase', %(n)s + i, NULL, 300.00, 3, 0.00600, 1.80, %(hist_date)s, %(policy)s, now(),
               3, 0.0005, '[1, 3, 7]'::jsonb, 7, 180
        FROM generate_series(1, %(n)s) AS i"""),
    ("history installments (paid on time)", """
        INSERT INTO installments_installment (id, plan_id, account_id, purchase_id, seq, due_date, principal, fee,
            principal_paid, principal_cancelled, fee_paid, fee_waived, fee_posted, state, paid_on)
        SELECT 3 * %(n)s + (i - 1) * 3 + s.seq, %(n)s + i, i, %(n)s + i, s.seq, %(hist_date)s + 30 * s.seq,
               100.00, 1.80, 100.00, 0, 1.80, 0, true, 'paid', %(hist_date)s + 30 * s.seq
        FROM generate_series(1, %(n)s) AS i CROSS JOIN (VALUES (1), (2), (3)) AS s(seq)"""),
    ("history journal entries", """
        INSERT INTO accounts_journalentry (id, idempotency_key, kind, business_date, credit_account_id,
            description, reverses_id, actor_id, created_at)
        SELECT %(n)s + (i - 1) * 3 + e.k, e.prefix || CASE e.k WHEN 1 THEN %(n)s + i ELSE i END, e.kind,
               %(hist_date)s + e.days, i, e.kind || ' (history)', NULL, NULL, now()
        FROM generate_series(1, %(n)s) AS i
        CROSS JOIN (VALUES (1, 'purchase:', 'purchase', 0), (2, 'bench-history-fees:', 'fee', 90),
                           (3, 'bench-history-repayment:', 'repayment', 90)) AS e(k, prefix, kind, days)"""),
    ("history journal lines", """
        INSERT INTO accounts_journalline (entry_id, book, credit_account_id, amount, installment_id,
            business_date, created_at)
        SELECT %(n)s + (i - 1) * 3 + l.k, l.book,
               CASE WHEN l.book IN ('principal_receivable', 'fee_receivable') THEN i END, l.amount,
               CASE WHEN l.seq IS NOT NULL THEN 3 * %(n)s + (i - 1) * 3 + l.seq END, %(hist_date)s + 90, now()
        FROM generate_series(1, %(n)s) AS i
        CROSS JOIN (VALUES (1, 'principal_receivable', 300.00, NULL::int), (1, 'merchant_settlement', -300.00, NULL),
                           (2, 'fee_receivable', 5.40, NULL), (2, 'fee_income', -5.40, NULL),
                           (3, 'repayments_clearing', 305.40, NULL),
                           (3, 'principal_receivable', -100.00, 1), (3, 'principal_receivable', -100.00, 2),
                           (3, 'principal_receivable', -100.00, 3), (3, 'fee_receivable', -1.80, 1),
                           (3, 'fee_receivable', -1.80, 2), (3, 'fee_receivable', -1.80, 3))
             AS l(k, book, amount, seq)"""),
]


def load_triggers(args) -> bool:
    """Whether the bulk load fires the triggers: --load-triggers on/off; auto = on below 500,000
    accounts (at 1,000,000 the deferred balance check alone takes minutes at commit)."""
    mode = getattr(args, "load_triggers", "auto")
    return mode == "on" or (mode == "auto" and args.accounts < 500_000)


def load_accounts(args, *, history: bool = False) -> dict:
    """Empty the data tables and bulk-load N accounts (and, for the limits day, their history)."""
    n, day = args.accounts, args.business_date
    purchase_date = add_months(day, -1)
    if add_months(purchase_date, 1) != day:
        raise SystemExit("--date: choose a day of month <= 28")
    token_cases = []
    cumulative = 0
    for token, pct in args.mix:
        cumulative += pct
        token_cases.append(f"WHEN (i * 37) %% 100 < {cumulative} THEN '{token}'")
    token_sql = f"(CASE {' '.join(token_cases)} END)"
    billing_sql = "((i - 1) %% 28 + 1)" if args.billing_day == "spread" else str(int(args.billing_day))
    params = {"n": n, "purchase_date": purchase_date, "opened_on": purchase_date - timedelta(days=30),
              "due1": add_months(purchase_date, 1), "due2": add_months(purchase_date, 2),
              "due3": add_months(purchase_date, 3), "old_opened_on": day - timedelta(days=200),
              "hist_date": day - timedelta(days=175)}
    timings = {}
    started = time.perf_counter()
    with connect(args.bench_url) as conn:
        params["policy"] = conn.execute("SELECT id FROM risk_scoringpolicy WHERE status = 'active'").fetchone()[0]
        tables = data_tables(conn)
        t = time.perf_counter()
        conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")
        timings["truncate"] = time.perf_counter() - t
        with conn.transaction():
            # Every trigger stays on (the deferred balance check runs for every line at commit).
            # pgtrigger's _pgtrigger_should_ignore() raises and catches an error per row when this
            # setting is absent; an empty list ignores nothing and makes the check ~5x cheaper.
            conn.execute("""SET LOCAL "pgtrigger.ignore" = '{}'""")
            if not load_triggers(args):
                # --load-triggers off: no trigger (balance check, append-only guards, foreign keys)
                # fires during this load; audit_ledger right after the load checks what they would.
                conn.execute("SET LOCAL session_replication_role = replica")
            for label, statement in LOAD_SQL + (HISTORY_SQL if history else []):
                t = time.perf_counter()
                conn.execute(statement.format(billing_day=billing_sql, token=token_sql), params)
                timings[label] = time.perf_counter() - t
            conn.execute("""
                INSERT INTO accounts_businesscalendar (id, "current_date", updated_at) VALUES (1, %s, now())
                ON CONFLICT (id) DO UPDATE SET "current_date" = EXCLUDED."current_date", updated_at = now()""", [day])
            sequences_sync(conn, tables)
            t = time.perf_counter()
        timings["commit (deferred balance trigger)"] = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("ANALYZE")
        timings["analyze"] = time.perf_counter() - t
        counts = dict(conn.execute("""
            SELECT 'accounts', COUNT(*) FROM accounts_creditaccount UNION ALL
            SELECT 'installments', COUNT(*) FROM installments_installment UNION ALL
            SELECT 'journal entries', COUNT(*) FROM accounts_journalentry UNION ALL
            SELECT 'journal lines', COUNT(*) FROM accounts_journalline""").fetchall())
        tokens = conn.execute("""SELECT repayment_card_token, COUNT(*) FROM accounts_creditaccount
                                 GROUP BY 1 ORDER BY 2 DESC""").fetchall()
    total = time.perf_counter() - started
    print(f"load: {n:,} accounts{' + repaid history' if history else ''} in {total:.1f} s, triggers "
          f"{'on' if load_triggers(args) else 'off (session_replication_role = replica)'} "
          f"({', '.join(f'{k} {v:.1f}s' for k, v in timings.items())})")
    print(f"      rows: {', '.join(f'{k} {v:,}' for k, v in counts.items())}; cards: "
          f"{', '.join(f'{t} {c:,}' for t, c in tokens)}; business date {day}")
    return {"seconds": total, "timings": timings, "counts": counts}


def audit(args, deadline: Deadline, when: str) -> tuple[bool, str, float]:
    # a little grace past the deadline so a timed-out run still reports on its ledger
    rc, out, secs = run([PY, "manage.py", "audit_ledger"], env=child_env(args), deadline=deadline, check=False,
                        timeout=max(deadline.left(), 300))
    text = out.strip()
    lines = text.splitlines()
    shown = "\n      ".join(lines[:20] + ([f"… {len(lines) - 20} more lines"] if len(lines) > 20 else []))
    print(f"audit_ledger {when} ({secs:.1f} s, exit {rc}): {shown}")
    return rc == 0, text, secs


# --- Redis and Celery workers ------------------------------------------------------------------


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url)


def redis_flush(args) -> None:
    db = int((urlsplit(args.redis).path or "/0").strip("/") or 0)
    if db == 0:
        raise SystemExit("--redis: use a dedicated Redis database number (not 0), e.g. redis://127.0.0.1:6379/9")
    redis_client(args.redis).flushdb()


def start_workers(args, workers: int, deadline: Deadline, logdir: Path) -> subprocess.Popen:
    log = open(logdir / f"worker-{workers}.log", "w")  # noqa: SIM115 - closed with the process
    cmd = [PY, "-m", "celery", "-A", "config", "worker", "-Q", "celery", "--concurrency", str(workers),
           "--pool", "prefork", "-l", "warning", "-n", f"bench{workers}-{os.getpid()}@%h",
           "--without-gossip", "--without-mingle", "--without-heartbeat"]
    proc = _register(subprocess.Popen(cmd, cwd=CODE, env=child_env(args), stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    proc._bench_log = log  # type: ignore[attr-defined]
    from celery import Celery

    probe = Celery(broker=args.redis)
    started = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise CommandFailed(f"celery worker exited {proc.returncode}; see {logdir / f'worker-{workers}.log'}")
        deadline.check("the Celery workers were ready")
        if time.perf_counter() - started > 120:
            raise TimeoutError("celery worker not ready after 120 s")
        replies = probe.control.ping(timeout=1.0)
        if replies:
            break
    # Wait until every prefork child is up (each has imported Django).
    import psutil

    while len(psutil.Process(proc.pid).children(recursive=True)) < workers and time.perf_counter() - started < 60:
        time.sleep(0.2)
    print(f"workers: celery prefork --concurrency {workers} ready in {time.perf_counter() - started:.1f} s "
          f"(pid {proc.pid})")
    return proc


class PoolWatchdog:
    """The machine is shared: if a worker pool process disappears during the close (killed from
    outside; Celery does not always replace it), the run would wait for its chunks until the
    step timeout. Stop the driver instead and say so."""

    def __init__(self, worker: subprocess.Popen, expected: int):
        self.worker, self.expected, self.lost = worker, expected, ""
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import psutil

        misses = 0
        while not self._done.wait(5.0):
            try:
                alive = len(psutil.Process(self.worker.pid).children(recursive=True))
            except psutil.NoSuchProcess:
                alive = 0
            misses = misses + 1 if alive < self.expected else 0
            if misses >= 3:  # 15 s without the full pool (a replaced child comes back within seconds)
                self.lost = f"{self.expected - alive} of {self.expected} worker pool process(es) gone for 15 s"
                print(f"  watchdog: {self.lost}; stopping the driver")
                with _children_lock:
                    drivers = [p for p in _children if p is not self.worker]
                for proc in drivers:
                    _stop(proc, grace=5)
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def stop_workers(proc: subprocess.Popen) -> None:
    _stop(proc, grace=15)
    log = getattr(proc, "_bench_log", None)
    if log:
        log.close()


# --- CPU accounting (what bounds the throughput) ----------------------------------------------------


class CpuMeter:
    """CPU seconds used during a run by PostgreSQL (postmaster tree, incl. exited backends),
    the Celery worker tree, the driver (a waited-for child) and the whole machine; a sampler
    thread also records every other process that used CPU meanwhile (the machine may be shared)."""

    def __init__(self, backend_pid: int, worker: subprocess.Popen | None):
        import psutil

        self.psutil = psutil
        backend = psutil.Process(backend_pid)
        self.postmaster = backend.parent()
        # "postgres: 15/main: <user> <database> <client> <state>": the bench database's backends
        # are told apart from the other databases' (the server is shared with other work).
        title = " ".join(backend.cmdline()).split()
        self.dbname = title[3] if len(title) > 3 else None
        self.bench_pg0: dict[int, float] = {}
        self.bench_pg: dict[int, float] = {}
        self.worker = worker
        self.pg0 = self._pg()
        self.wk0 = self._worker()
        self.sys0 = psutil.cpu_times()
        self.child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.t0 = time.perf_counter()
        self.others0: dict[int, float] = {}
        self.others: dict[int, tuple[str, float]] = {}
        self._sample(first=True)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _ours(self) -> set[int]:
        pids = {os.getpid(), self.postmaster.pid}
        for root in (self.postmaster, self.psutil.Process(os.getpid())):
            with contextlib.suppress(self.psutil.NoSuchProcess):
                pids.update(p.pid for p in root.children(recursive=True))
        return pids

    def _sample(self, first: bool = False) -> None:
        if self.dbname:
            for child in self.postmaster.children():
                with contextlib.suppress(self.psutil.Error):
                    title = " ".join(child.cmdline()).split()
                    if len(title) > 3 and title[3] == self.dbname:
                        c = child.cpu_times()
                        (self.bench_pg0 if first else self.bench_pg)[child.pid] = c.user + c.system
        ours = self._ours()
        for proc in self.psutil.process_iter(["name", "username", "cpu_times"]):
            if proc.pid in ours or proc.info["cpu_times"] is None:
                continue
            cpu = proc.info["cpu_times"].user + proc.info["cpu_times"].system
            if first:
                self.others0[proc.pid] = cpu
            else:
                self.others[proc.pid] = (f"{proc.info['name']}({proc.info['username']})",
                                         cpu - self.others0.get(proc.pid, 0.0))

    def _loop(self) -> None:
        while not self._done.wait(1.0):
            with contextlib.suppress(Exception):  # best effort
                self._sample()

    def _pg(self) -> float:
        t = self.postmaster.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in self.postmaster.children():
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except self.psutil.NoSuchProcess:
                pass
        return total

    def _worker(self) -> float:
        if self.worker is None or self.worker.poll() is not None:
            return 0.0
        root = self.psutil.Process(self.worker.pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            try:
                c = p.cpu_times()
                total += c.user + c.system
            except self.psutil.NoSuchProcess:
                pass
        return total

    def stop(self) -> dict:
        wall = time.perf_counter() - self.t0
        self._done.set()
        self._thread.join()
        self._sample()
        sys1 = self.psutil.cpu_times()
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy = lambda t: t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0)  # noqa: E731
        by_name: dict[str, float] = {}
        for name, cpu in self.others.values():
            by_name[name] = by_name.get(name, 0.0) + cpu
        top = sorted(((n, c) for n, c in by_name.items() if c >= 0.5), key=lambda x: -x[1])[:4]
        return {
            "wall": wall,
            "postgres": self._pg() - self.pg0,
            "postgres_bench_db": (sum(cpu - self.bench_pg0.get(pid, 0.0) for pid, cpu in self.bench_pg.items())
                                  if self.dbname else None),
            "workers": self._worker() - self.wk0,
            "driver": (child1.ru_utime + child1.ru_stime) - (self.child0.ru_utime + self.child0.ru_stime),
            "machine_busy": busy(sys1) - busy(self.sys0),
            "iowait": sys1.iowait - self.sys0.iowait,
            "steal": getattr(sys1, "steal", 0) - getattr(self.sys0, "steal", 0),
            "cores": self.psutil.cpu_count(),
            "other_processes": top,
        }


def wait_idle(args, deadline: Deadline) -> None:
    """The machine may be shared: wait (bounded) for a quiet moment before a timed run."""
    if args.wait_idle <= 0:
        return
    import psutil

    started = time.perf_counter()
    while time.perf_counter() - started < args.wait_idle and deadline.left() > 60:
        busy = psutil.cpu_percent(interval=3.0)
        if busy < 25:
            print(f"machine quiet ({busy:.0f}% busy) after {time.perf_counter() - started:.0f} s")
            return
    print(f"machine still busy after {time.perf_counter() - started:.0f} s of waiting (--wait-idle); running anyway")


def cpu_line(cpu: dict) -> str:
    python = cpu["workers"] + cpu["driver"]
    other = cpu["machine_busy"] - python - cpu["postgres"]
    capacity = cpu["wall"] * cpu["cores"]
    return (f"CPU over {cpu['wall']:.1f} s × {cpu['cores']} cores: machine busy {cpu['machine_busy']:.1f} s "
            f"({100 * cpu['machine_busy'] / capacity:.0f}%), Python {python:.1f} s (driver {cpu['driver']:.1f}, "
            f"workers {cpu['workers']:.1f}), PostgreSQL {cpu['postgres']:.1f} s"
            + (f" (of which seen in this benchmark's database's backends, sampled each second: "
               f"{cpu['postgres_bench_db']:.1f} s — a backend that ends between two samples is counted only "
               f"in the total)"
               if cpu.get("postgres_bench_db") is not None else "")
            + f", other {other:.1f} s, "
            f"iowait {cpu['iowait']:.1f} s, steal {cpu.get('steal', 0):.1f} s"
            + (f"; other processes seen: {', '.join(f'{n} {c:.1f} s' for n, c in cpu['other_processes'])}"
               if cpu.get("other_processes") else ""))


# --- one close of business ---------------------------------------------------------------------------


def step_rows(args) -> list[dict]:
    with connect(args.bench_url) as conn:
        rows = conn.execute("""
            SELECT s.position, s.step, s.accounts, s.processed, s.failures,
                   EXTRACT(EPOCH FROM s.finished_at - s.started_at)::float8, s.detail
            FROM accounts_cobsteprun s JOIN accounts_cobrun r ON r.id = s.run_id
            WHERE r.business_date = %s ORDER BY s.position, s.id""", [args.business_date]).fetchall()
        steps = [{"position": r[0], "step": r[1], "accounts": r[2], "processed": r[3], "failures": r[4],
                  "seconds": r[5], "detail": r[6]} for r in rows]
        # A step cut short (--timeout) records nothing of its own: count what it wrote so far.
        for step in steps:
            if step["seconds"] is None and step["step"] in PROGRESS_SQL:
                done, elapsed = conn.execute(
                    PROGRESS_SQL[step["step"]] + """, (SELECT EXTRACT(EPOCH FROM clock_timestamp() - s.started_at)::float8
                        FROM accounts_cobsteprun s JOIN accounts_cobrun r ON r.id = s.run_id
                        WHERE r.business_date = %(day)s AND s.step = %(step)s ORDER BY s.id DESC LIMIT 1)""",
                    {"day": args.business_date, "step": step["step"]}).fetchone()
                step["unfinished"] = {"done_so_far": done, "elapsed": elapsed}
    return steps


# What an unfinished step has done so far (the first column of a SELECT; a second is appended).
PROGRESS_SQL = {
    "issue_statements": "SELECT (SELECT COUNT(*) FROM installments_statement WHERE statement_date = %(day)s)",
    "post_fees": "SELECT (SELECT COUNT(*) FROM installments_installment WHERE due_date = %(day)s AND fee_posted)",
    # settled attempts (phase 1 of a chunk commits its attempts as 'submitted' before charging)
    "auto_debit": "SELECT (SELECT COUNT(*) FROM installments_paymentattempt WHERE business_date = %(day)s "
                  "AND status <> 'submitted')",
}


def outcome_counts(args) -> dict:
    with connect(args.bench_url) as conn:
        attempts = dict(conn.execute("SELECT status, COUNT(*) FROM installments_paymentattempt GROUP BY 1")
                        .fetchall())
        other = dict(conn.execute("""
            SELECT 'repayments', COUNT(*) FROM installments_repayment UNION ALL
            SELECT 'gateway charges', COUNT(*) FROM installments_sandboxgatewaycharge UNION ALL
            SELECT 'notifications', COUNT(*) FROM accounts_notification UNION ALL
            SELECT 'notifications sent', COUNT(*) FROM accounts_notification WHERE status = 'sent' UNION ALL
            SELECT 'journal entries', COUNT(*) FROM accounts_journalentry UNION ALL
            SELECT 'cob failures', COUNT(*) FROM accounts_cobfailure""").fetchall())
        business_date = conn.execute('SELECT "current_date" FROM accounts_businesscalendar WHERE id = 1').fetchone()[0]
        # A fingerprint of the money state, to compare two code versions on the same data.
        books = {b: str(v) for b, v in conn.execute("""SELECT book, SUM(amount) FROM accounts_journalline
                                                        GROUP BY 1 ORDER BY 1""").fetchall()}
        states = dict(conn.execute("SELECT state, COUNT(*) FROM installments_installment GROUP BY 1").fetchall())
        kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM accounts_notification GROUP BY 1").fetchall())
        balances = [str(v) for v in conn.execute("""
            SELECT SUM(principal_outstanding), SUM(fees_outstanding), SUM(credit_balance), SUM(available_limit),
                   SUM(days_past_due) FROM accounts_creditaccount""").fetchone()]
        digests = {name: conn.execute(f"SELECT md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), ''))"
                                      f" FROM ({query}) t").fetchone()[0][:12] for name, query in DIGESTS.items()}
    return {"attempts": attempts, **other, "business_date_after": str(business_date),
            "fingerprint": {"books": books, "installments": states, "notification kinds": kinds,
                            "principal/fees/credit/available/dpd": balances, "row digests": digests}}


# Row digests over natural keys (no ids of the rows themselves, no timestamps): two code versions
# that write the same rows on the same data have the same digests.
DIGESTS = {
    "accounts": """SELECT id, status, credit_limit, available_limit, held_amount, principal_outstanding,
                          fees_outstanding, penalties_outstanding, credit_balance, days_past_due, last_overdue_on,
                          last_limit_increase_on FROM accounts_creditaccount""",
    "installments": """SELECT id, principal_paid, principal_cancelled, fee_paid, fee_waived, fee_posted, state, paid_on
                       FROM installments_installment""",
    "attempts": """SELECT account_id, business_date, idempotency_key, card_token, amount, status, decline_code,
                          gateway_reference, series_start, retry_number, retry_on FROM installments_paymentattempt""",
    "repayments": """SELECT r.account_id, r.reference, r.source, r.amount, r.penalty_paid, r.fee_paid, r.principal_paid,
                            r.limit_restored, r.held_amount, r.available_limit_after, r.business_date,
                            p.idempotency_key AS attempt
                     FROM installments_repayment r LEFT JOIN installments_paymentattempt p ON p.id = r.payment_attempt_id""",
    "allocations": """SELECT r.reference, a.installment_id, a.penalty_id, a.penalty_amount, a.fee_amount, a.principal_amount
                      FROM installments_repaymentallocation a JOIN installments_repayment r ON r.id = a.repayment_id""",
    "ledger": """SELECT e.idempotency_key, e.kind, e.business_date, e.credit_account_id, e.description, l.book,
                        l.credit_account_id AS line_account, l.amount, l.installment_id, l.business_date AS line_date
                 FROM accounts_journalline l JOIN accounts_journalentry e ON e.id = l.entry_id""",
    "notifications": """SELECT customer_id, account_id, kind, event_key, params FROM accounts_notification""",
    "charges": """SELECT idempotency_key, card_token, amount, outcome FROM installments_sandboxgatewaycharge""",
    "limit changes": """SELECT account_id, old_limit, new_limit, reason_code, business_date FROM accounts_limitchange""",
    "audit": """SELECT action, object_type, object_id, before, after, reason FROM accounts_auditevent""",
}


def close_day(args, mode: str, workers: int, deadline: Deadline, logdir: Path) -> dict:
    label = "inline" if mode == "inline" else f"fan-out W={workers}"
    print(f"\n=== {label}: {args.accounts:,} accounts ===")
    load = load_accounts(args)
    ok_before, _, _ = audit(args, deadline, "after load")
    if not ok_before:
        raise CommandFailed("audit_ledger fails right after the load: the bench data is wrong")
    redis_flush(args)
    wait_idle(args, deadline)
    worker = start_workers(args, workers, deadline, logdir) if mode == "fanout" else None
    result: dict = {"mode": mode, "workers": workers, "accounts": args.accounts, "load": load}
    try:
        with connect(args.bench_url) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            meter = CpuMeter(backend, worker)
        # --force: the benchmark's business date is its own, not yet over on the calendar
        cmd = [PY, "manage.py", "close_business_day", "--force"] + (["--fan-out"] if mode == "fanout" else [])
        t0 = time.perf_counter()
        watchdog = PoolWatchdog(worker, workers) if worker is not None else None
        try:
            _, out, seconds = run(cmd, env=child_env(args), deadline=deadline,
                                  log=logdir / f"driver-{mode}-{workers}.log",
                                  timeout=min(args.run_timeout, max(1.0, deadline.left())) if args.run_timeout else None)
            result["status"] = "completed"
        except TimeoutError as exc:
            seconds, out = time.perf_counter() - t0, ""
            result["status"] = f"TIMEOUT ({exc})"
        except CommandFailed as exc:
            seconds, out = time.perf_counter() - t0, ""
            result["status"] = "FAILED: " + " | ".join(str(exc).strip().splitlines()[-2:])
        cpu = meter.stop()
        if watchdog is not None:
            watchdog.stop()
            if watchdog.lost:
                result["status"] = f"ABORTED: {watchdog.lost}"
        result.update(total_seconds=seconds, cpu=cpu, summary=out.strip().splitlines()[-1:] if out else [])
        backlog = redis_client(args.redis).llen("celery")
        result["queue_backlog_at_end"] = backlog
        if worker is not None and args.drain and backlog and result["status"] == "completed":
            t = time.perf_counter()
            while redis_client(args.redis).llen("celery") and deadline.left() > 5:
                time.sleep(0.5)
            time.sleep(1.0)
            result["drain_seconds"] = time.perf_counter() - t
    finally:
        if worker is not None:
            stop_workers(worker)
    result["steps"] = step_rows(args)
    result["outcomes"] = outcome_counts(args)
    ok, _, _ = audit(args, deadline, "after the close")
    result["audit_ok"] = ok
    print_run(result)
    return result


def step_rate(step: dict | None) -> float | None:
    return step["processed"] / step["seconds"] if step and step["seconds"] and step["processed"] else None


def print_run(r: dict) -> None:
    label = "inline" if r["mode"] == "inline" else f"fan-out, {r['workers']} worker process(es)"
    print(f"\n  {r['accounts']:,} accounts, {label}: {r['status']}, close_business_day took "
          f"{r['total_seconds']:.1f} s")
    if r.get("summary"):
        print(f"  {r['summary'][0]}")
    print(f"  {'step':<28}{'accounts':>9}{'processed':>10}{'failures':>9}{'seconds':>9}{'per s':>9}")
    for s in r["steps"]:
        rate = step_rate(s)
        detail = f"  {json.dumps(s['detail'])}" if s["detail"] else ""
        secs = f"{s['seconds']:.2f}" if s["seconds"] is not None else "unfinished"
        print(f"  {s['position']:>2}. {s['step']:<24}{s['accounts']:>9,}{s['processed']:>10,}{s['failures']:>9,}"
              f"{secs:>9}{(f'{rate:,.0f}' if rate else '-'):>9}{detail}")
        part = s.get("unfinished")
        if part and part["elapsed"]:
            print(f"      cut short: {part['done_so_far']:,} of {s['accounts'] or r['accounts']:,} done in "
                  f"{part['elapsed']:.1f} s = "
                  f"{part['done_so_far'] / part['elapsed']:,.0f}/s so far")
    auto = next((s for s in r["steps"] if s["step"] == "auto_debit"), None)
    limits = next((s for s in r["steps"] if s["step"] == "recalculate_limits"), None)
    if auto and auto["seconds"] is not None:
        print(f"  auto-debit: {auto['processed']:,} accounts in {auto['seconds']:.1f} s = "
              f"{(step_rate(auto) or 0):,.0f} accounts/s")
    if limits and limits["seconds"]:
        scanned = r["accounts"] / limits["seconds"] if limits["seconds"] else 0
        print(f"  limit recalculation (in the close): {json.dumps(limits['detail'])} changed in "
              f"{limits['seconds']:.2f} s; {r['accounts']:,} accounts scanned = {scanned:,.0f} accounts/s")
    print(f"  outcomes: {json.dumps(r['outcomes'])}")
    print(f"  Celery queue backlog when the driver finished: {r['queue_backlog_at_end']:,} task(s)"
          + (f"; drained in {r['drain_seconds']:.1f} s" if "drain_seconds" in r else ""))
    cpu = r["cpu"]
    print(f"  {cpu_line(cpu)}")
    py_ms = 1000 * (cpu["workers"] + cpu["driver"]) / r["accounts"]
    # the whole server (its exited backends included): the per-database sample misses every backend
    # that lives less than a second, so it is only a lower bound (see cpu_line)
    pg_ms = 1000 * cpu["postgres"] / r["accounts"]
    cut = "" if r["status"] == "completed" else " (the run was cut short: not every step was done)"
    print(f"  CPU per account over the whole close{cut}: Python {py_ms:.1f} ms + PostgreSQL {pg_ms:.1f} ms = "
          f"{py_ms + pg_ms:.1f} ms → at most ~{cpu['cores'] * 1000 / (py_ms + pg_ms):,.0f} accounts/s through "
          f"every step on {cpu['cores']} cores, if nothing else ran")
    print(f"  audit_ledger after the close: {'PASS' if r['audit_ok'] else 'FAIL'}")


# --- limits, profile, pgbench ----------------------------------------------------------------------


def limits_day(args, deadline: Deadline) -> dict:
    print(f"\n=== limit recalculation, every one of {args.accounts:,} accounts qualifying for an increase ===")
    load = load_accounts(args, history=True)
    ok_before, _, _ = audit(args, deadline, "after the load")
    _, out, _ = run([PY, str(Path(__file__).resolve()), "--child", "limits", "--date", args.date],
                    env=child_env(args), deadline=deadline)
    print("\n".join(line for line in out.splitlines() if not line.startswith(JSON_MARK)))
    data = json.loads(next(line for line in out.splitlines() if line.startswith(JSON_MARK))[len(JSON_MARK):])
    ok_after, _, _ = audit(args, deadline, "after limits_recalculate")
    data["outcomes"] = outcome_counts(args)
    print(f"  row digests: {json.dumps(data['outcomes']['fingerprint']['row digests'])}")
    rate = data["increased"] / data["seconds"] if data["seconds"] else 0
    print(f"  limits_recalculate: {data['increased']:,} increased, {data['decreased']:,} decreased in "
          f"{data['seconds']:.2f} s = {rate:,.0f} accounts/s (the WITH … statements {data['sql_seconds']:.2f} s, the rest incl. commit"
          f" {data['seconds'] - data['sql_seconds']:.2f} s)")
    return {**data, "rate": rate, "load": load, "audit_ok_before": ok_before, "audit_ok": ok_after}


def profile(args, deadline: Deadline, logdir: Path) -> dict:
    print(f"\n=== profile of the auto-debit path ({args.accounts:,} accounts, inline, cProfile) ===")
    load_accounts(args)
    redis_flush(args)
    _, out, _ = run([PY, str(Path(__file__).resolve()), "--child", "profile", "--date", args.date,
                     "--profile-out", str(logdir / "auto_debit.pstats")], env=child_env(args), deadline=deadline,
                    log=logdir / "profile.log")
    print("\n".join(line for line in out.splitlines() if not line.startswith(JSON_MARK)))
    return json.loads(next(line for line in out.splitlines() if line.startswith(JSON_MARK))[len(JSON_MARK):])


def pgbench(args, deadline: Deadline) -> dict | None:
    if not shutil.which("pgbench"):
        print("pgbench: not installed, baseline skipped")
        return None
    print("\n=== pgbench baseline ===")
    with connect(url_with_db(args.server, "postgres")) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PGBENCH_DB]).fetchone():
            conn.execute(f'CREATE DATABASE "{PGBENCH_DB}"')
    cli, env = pg_cli_args(args.server), pg_cli_env(args.server)
    _, _, init_secs = run(["pgbench", *cli, "-i", "-s", "10", "-q", PGBENCH_DB], env=env, deadline=deadline)
    _, out, _ = run(["pgbench", *cli, "-c", "4", "-j", "2", "-T", "20", PGBENCH_DB], env=env, deadline=deadline)
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    print(f"pgbench -i -s 10 ({init_secs:.1f} s); pgbench -c 4 -j 2 -T 20: {tps:,.0f} tps"
          + (f", latency {latency.group(1)} ms" if latency else "")
          + " (TPC-B-like: 5 statements per transaction)")
    return {"tps": tps, "latency_ms": float(latency.group(1)) if latency else None}


def machine(args) -> dict:
    import psutil

    with connect(args.bench_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(conn.execute("""SELECT name, current_setting(name) FROM pg_settings WHERE name IN
            ('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'work_mem',
             'wal_level', 'max_wal_size')""").fetchall())
    import django

    info = {"nproc": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "postgresql": version, "pg_settings": settings, "python": sys.version.split()[0],
            "django": django.get_version(), "settings": f"config.settings.{args.settings}"}
    print(f"machine: {info['nproc']} cores, {info['memory_gib']} GiB, PostgreSQL {version} "
          f"({', '.join(f'{k}={v}' for k, v in settings.items())}), Python {info['python']}, "
          f"Django {info['django']}, {info['settings']}")
    return info


# --- children (run inside Django, against the bench database) ---------------------------------------


def _django():
    sys.path.insert(0, os.environ.get("TALLY_BENCH_CODE", str(ROOT)))
    import django

    django.setup()


def child_limits(day: date) -> None:
    _django()
    from django.db import connection

    from risk.limits import limits_recalculate

    timings: list[tuple[str, float]] = []

    def timer(execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((" ".join(sql.split())[:60], time.perf_counter() - t))

    started = time.perf_counter()
    with connection.execute_wrapper(timer):
        result = limits_recalculate(business_date=day)
    seconds = time.perf_counter() - started
    sql_seconds = sum(t for s, t in timings if s.startswith("WITH "))
    for statement, t in timings:
        print(f"  {t:8.3f} s  {statement}")
    print(JSON_MARK + json.dumps({**result, "seconds": seconds, "sql_seconds": sql_seconds,
                                  "queries": len(timings)}))


def _shorten(sql: str | None) -> str:
    if sql is None:  # a statement bound on the server (psycopg's ServerBindingCursor) logs no text
        return "(statement bound on the server: its text is not logged)"
    sql = re.sub(r"\s+", " ", sql)
    sql = re.sub(r"'[^']*'", "'…'", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "N", sql)
    sql = re.sub(r"SELECT .*? FROM", "SELECT … FROM", sql, count=1)
    sql = re.sub(r"INSERT INTO (\S+) \(.*?\) VALUES .*? RETURNING", r"INSERT INTO \1 (…) VALUES (…) RETURNING", sql)
    sql = re.sub(r"UPDATE (\S+) SET .*? WHERE", r"UPDATE \1 SET … WHERE", sql)
    return sql[:150]


def child_profile(day: date, out_path: str, sample: int) -> None:
    import cProfile
    import io
    import pstats

    _django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from config.cob import pipeline, runner
    from installments.services.auto_debit import auto_debit_accounts

    # The steps before auto-debit (post_fees posts every installment-1 fee), as the close would.
    for step in pipeline.STEPS:
        if step.name == "auto_debit":
            break
        if step.run_all is not None:
            step.run_all(day)
        else:
            runner.run_chunk(step.name, day, step.select(day), None)
    ids = pipeline.step_by_name("auto_debit").select(day)

    with CaptureQueriesContext(connection) as ctx:
        outcome = auto_debit_accounts(account_ids=[ids[0]], business_date=day)
    queries = [q["sql"] for q in ctx.captured_queries]
    print(f"SQL statements for one auto-debited account ({outcome}): {len(queries)}")
    for i, q in enumerate(queries, 1):
        print(f"  {i:>2}. {_shorten(q)}")

    # One chunk as the close runs it.
    # (counted by an execute wrapper: CaptureQueriesContext keeps only the last 9,000 queries)
    batch = ids[1:1 + sample]
    executed: list[float] = []

    def count(execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            executed.append(time.perf_counter() - t)

    started = time.perf_counter()
    with connection.execute_wrapper(count):
        runner.run_chunk("auto_debit", day, batch, None)
    wall = time.perf_counter() - started
    db_time = sum(executed)
    per_account_queries = len(executed) / max(1, len(batch))
    print(f"\nrun_chunk('auto_debit') of {len(batch)} accounts: {wall:.2f} s = {len(batch) / wall:,.0f} accounts/s, "
          f"{len(executed)} statements through cursor.execute (BEGIN/COMMIT not counted) = {per_account_queries:.2f} "
          f"per account; time inside cursor.execute {db_time:.2f} s ({100 * db_time / wall:.0f}% of wall, the rest is "
          f"Python: Django ORM, models, Celery publish)")

    rest = ids[1 + sample:]
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    runner.run_chunk("auto_debit", day, rest, None)
    profiler.disable()
    profiled_wall = time.perf_counter() - started
    profiler.dump_stats(out_path)
    print(f"\ncProfile over run_chunk('auto_debit') of {len(rest):,} accounts: {profiled_wall:.1f} s "
          f"({len(rest) / profiled_wall:,.0f} accounts/s under the profiler); stats in {out_path}")
    for key, count in (("tottime", 30), ("cumulative", 45)):
        buf = io.StringIO()
        stats = pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(key)
        stats.print_stats(count)
        text = buf.getvalue()
        print(f"\n--- top {count} by {key} ---")
        print(text[text.find("   ncalls"):].rstrip())
    print(JSON_MARK + json.dumps({"queries_one_account": len(queries), "outcome": outcome,
                                  "queries_per_account": per_account_queries, "sample_rate": len(batch) / wall,
                                  "db_share": db_time / wall, "profiled_rate": len(rest) / profiled_wall}))


# --- main ---------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=10_000, help="N accounts with dues on the day (default 10000)")
    p.add_argument("--workers", default=None,
                   help="fan-out run(s) with W Celery prefork processes; a list runs each, e.g. 1,2 (default 2 "
                        "unless --inline is given alone)")
    p.add_argument("--inline", action="store_true", help="also (or only) time the close in one process")
    p.add_argument("--load-triggers", choices=["auto", "on", "off"], default="auto",
                   help="fire the triggers during the bulk load (auto: on below 500,000 accounts; off sets "
                        "session_replication_role = replica for the load transaction, audit_ledger checks after)")
    p.add_argument("--mix", default="tok_ok=100",
                   help="card tokens by percent, e.g. tok_ok=90,tok_insufficient_funds=5,tok_timeout_charged=5")
    p.add_argument("--billing-day", default="spread",
                   help="billing day of the accounts: 'spread' (1..28 round robin, ~1/28 get a statement on the "
                        "day) or a day number")
    p.add_argument("--date", default="2026-12-20", help="the benchmark business date (installment 1 due)")
    p.add_argument("--db", default="tally_bench", help="bench database on DATABASE_URL's server")
    p.add_argument("--reset", action="store_true", help="drop and recreate the bench database first")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/9", help="dedicated Redis db (flushed per run)")
    p.add_argument("--settings", choices=["production", "local"], default="production",
                   help="config.settings.<name> for the children (production: DEBUG off, bench-only keys)")
    p.add_argument("--run-timeout", type=float, default=None,
                   help="bound on each close run, seconds: a run cut short reports how far each step got and the "
                        "next worker count runs (default: only --timeout bounds the runs)")
    p.add_argument("--timeout", type=float, default=1800, help="bound on the whole script, seconds")
    p.add_argument("--no-pgbench", action="store_true")
    p.add_argument("--no-limits", action="store_true", help="skip the synthetic limit-increase day")
    p.add_argument("--no-runs", action="store_true", help="skip the close-of-business runs")
    p.add_argument("--profile", action="store_true", help="cProfile + SQL count of the auto-debit path")
    p.add_argument("--profile-sample", type=int, default=500, help="accounts in the query-counted chunk")
    p.add_argument("--drain", action="store_true",
                   help="fan-out: after the close, time the workers draining queued notification deliveries")
    p.add_argument("--wait-idle", type=float, default=120,
                   help="before each timed run wait up to this many seconds for the machine to be <25%% busy "
                        "(it may be shared); 0 = don't wait")
    p.add_argument("--code", default="head",
                   help="the code to run: head (git archive HEAD, default: concurrent edits can't break a run), "
                        "worktree (a copy of the working tree), live (in place) or a path to another tree")
    p.add_argument("--pg-options", default="",
                   help="PGOPTIONS for the children, e.g. '-c pgtrigger.ignore={}' or '-c synchronous_commit=off'")
    p.add_argument("--pgbouncer", action="store_true",
                   help="run the children through a private transaction-mode PgBouncer (bench/pgbouncer.py)")
    p.add_argument("--pgbouncer-pool", type=int, default=10, help="PgBouncer's server connections (default 10)")
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.business_date = date.fromisoformat(args.date)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child == "limits":
        child_limits(args.business_date)
        return 0
    if args.child == "profile":
        child_profile(args.business_date, args.profile_out, args.profile_sample)
        return 0

    if args.db in FORBIDDEN_DBS or args.db.startswith("test_tally"):
        raise SystemExit(f"--db {args.db}: refusing to use that database")
    args.mix = parse_mix(args.mix)
    args.server = server_url()
    args.bench_url = url_with_db(args.server, args.db)
    if args.workers is None:
        workers = [] if args.inline else [2]
    else:
        workers = [int(w) for w in str(args.workers).split(",") if w.strip()]
    modes = ([("inline", 0)] if args.inline else []) + [("fanout", w) for w in workers]
    if args.no_runs:
        modes = []

    global CODE
    CODE, code_text, code_is_copy = snapshot_code(args.code)
    signal.signal(signal.SIGTERM, _on_term)
    deadline = Deadline(args.timeout)
    logdir = Path(tempfile.mkdtemp(prefix="tally-bench-"))
    results: dict = {"args": {k: (str(v) if isinstance(v, date) else v) for k, v in vars(args).items()},
                     "runs": []}
    started = time.perf_counter()
    print(f"tally close-of-business benchmark: bench database {args.db} on {urlsplit(args.server).netloc}, "
          f"Redis {args.redis}, logs in {logdir}")
    print(f"code: {code_text}" + (f"; PGOPTIONS={args.pg_options!r}" if args.pg_options else ""))
    results["code"] = code_text
    try:
        ensure_database(args, deadline)
        if args.pgbouncer:
            args.pooler = start_pgbouncer(args)
        results["machine"] = machine(args)
        if not args.no_pgbench:
            results["pgbench"] = pgbench(args, deadline)
        for mode, w in modes:
            deadline.check(f"the {mode} run")
            results["runs"].append(close_day(args, mode, w, deadline, logdir))
        if not args.no_limits:
            deadline.check("the limits day")
            results["limits"] = limits_day(args, deadline)
        if args.profile:
            deadline.check("the profile")
            results["profile"] = profile(args, deadline, logdir)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the processes this script started")
        return 130
    except (TimeoutError, CommandFailed) as exc:
        print(f"\nstopped: {exc}")
        results["error"] = str(exc)
    finally:
        if args.pgbouncer:
            results["pgbouncer_cpu_seconds"] = pgbouncer_cpu(args)
        _stop_all()
        if code_is_copy:
            shutil.rmtree(CODE, ignore_errors=True)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print_summary(results, time.perf_counter() - started)
    return 1 if results.get("error") else 0


def print_summary(results: dict, elapsed: float) -> None:
    print(f"\n=== summary ({elapsed:.0f} s) ===")
    pg = results.get("pgbench")
    if pg:
        print(f"pgbench baseline: {pg['tps']:,.0f} tps (-c 4 -j 2 -T 20, scale 10)")
    if results["runs"]:
        print(f"{'mode':<14}{'accounts':>9}{'total s':>9}{'fees/s':>8}{'debit s':>9}{'debit/s':>9}"
              f"{'limits s':>9}{'py CPU s':>9}{'pg CPU s':>9}{'busy %':>7}  audit")
    for r in results["runs"]:
        steps = {s["step"]: s for s in r["steps"]}
        auto, fees, lim = steps.get("auto_debit"), steps.get("post_fees"), steps.get("recalculate_limits")
        cpu = r["cpu"]
        label = "inline" if r["mode"] == "inline" else f"fan-out W={r['workers']}"
        print(f"{label:<14}{r['accounts']:>9,}{r['total_seconds']:>9.1f}"
              f"{step_rate(fees) or 0:>8,.0f}{(auto or {}).get('seconds') or 0:>9.1f}"
              f"{step_rate(auto) or 0:>9,.0f}{(lim or {}).get('seconds') or 0:>9.2f}"
              f"{cpu['workers'] + cpu['driver']:>9.1f}{cpu['postgres']:>9.1f}"
              f"{100 * cpu['machine_busy'] / (cpu['wall'] * cpu['cores']):>7.0f}  "
              f"{'PASS' if r['audit_ok'] else 'FAIL'}{'' if r['status'] == 'completed' else ' ' + r['status']}")
    lim = results.get("limits")
    if lim:
        print(f"limits_recalculate, all {lim['increased']:,} accounts qualifying: {lim['seconds']:.2f} s = "
              f"{lim['rate']:,.0f} accounts/s; audit_ledger {'PASS' if lim['audit_ok'] else 'FAIL'}")
    if results.get("pgbouncer_cpu_seconds") is not None:
        print(f"pgbouncer: {results['pgbouncer_cpu_seconds']:.1f} s of CPU over the whole script")
    prof = results.get("profile")
    if prof:
        print(f"auto-debit: {prof['queries_one_account']} SQL statements per account; "
              f"{prof['db_share'] * 100:.0f}% of wall time inside cursor.execute")
    if results.get("error"):
        print(f"ERROR: {results['error']}")


if __name__ == "__main__":
    sys.exit(main())
