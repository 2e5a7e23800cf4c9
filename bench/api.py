#!/usr/bin/env python
"""Purchase API benchmark (run by hand; never part of the test suite).

    .venv/bin/python bench/api.py                                  # 16 and 64 clients, 20 s each
    .venv/bin/python bench/api.py --clients 16 --duration 30 --gunicorn-workers 4 --threads 4
    .venv/bin/python bench/api.py --profile --no-load-test --no-pgbench   # SQL per request + cProfile

What it does (docs/benchmarks.md has the figures):

1. Its own database (``--db``, default ``tally_bench_api``) on ``DATABASE_URL``'s server, created
   and migrated if missing (the helpers of ``bench/cob.py``; it refuses ``tally`` / ``test_tally*``).
2. Empties the data tables and loads N active accounts server-side (``--accounts``, default
   20,000; limit 1,000,000.00 each, so no purchase is refused), creates an API client with
   ``manage.py create_api_client`` and uses its token.
3. Starts gunicorn (``config.wsgi``, production settings with bench-only keys, DEBUG off) on
   127.0.0.1 only, and waits until it answers.
4. For each level of ``--clients`` (default 16,64): that many client threads, each with its own
   keep-alive ``http.client`` connection to 127.0.0.1, POST
   ``/api/v1/accounts/{random id}/purchases`` (100.00 in 3 installments, a fresh
   ``Idempotency-Key``) back to back for ``--duration`` seconds after a ``--warmup`` (both
   bounded, and ``--max-requests`` per level). Prints purchases/s, p50/p90/p99/max latency of
   the 201 answers, every non-201 status, and the CPU split: gunicorn, PostgreSQL, this load
   generator, other processes (the machine is shared).
5. Checks that the database holds exactly one purchase per 201 answer, then ``audit_ledger``.
6. pgbench baseline on the same server, in the same run (``-c 4 -j 2 -T 20``, scale 10).
7. ``--profile``: in one Django process (the test Client, no HTTP), the SQL statements of one
   purchase request, and cProfile over ``--profile-requests`` purchases.

Bounded by ``--timeout`` (whole script); the server is stopped on exit and on Ctrl-C. Only
127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import resource
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cob as base  # the shared bench helpers (database lifecycle, processes, CPU meter, pgbench)

HOST = "127.0.0.1"  # the only host this benchmark ever talks to
JSON_MARK = base.JSON_MARK

LOAD_SQL = [
    base.LOAD_SQL[0],  # customers: the same rows as bench/cob.py loads
    ("credit accounts", """
        INSERT INTO accounts_creditaccount (id, customer_id, status, credit_limit, available_limit, held_amount,
            principal_outstanding, fees_outstanding, penalties_outstanding, credit_balance, days_past_due,
            billing_day, repayment_card_token, auto_debit, paused_by_customer, opened_on, closed_reason,
            policy_version_id, created_at, updated_at, written_off_amount, recovered_amount)
        SELECT i, i, 'active', 1000000.00, 1000000.00, 0, 0, 0, 0, 0, 0,
               (i - 1) %% 28 + 1, 'tok_ok', true, false, %(opened_on)s, '', %(policy)s, now(), now(), 0, 0
        FROM generate_series(1, %(n)s) AS i"""),
]


def load(args) -> dict:
    started = time.perf_counter()
    with base.connect(args.bench_url) as conn:
        policy = conn.execute("SELECT id FROM risk_scoringpolicy WHERE status = 'active'").fetchone()[0]
        tables = base.data_tables(conn)
        conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")
        with conn.transaction():
            conn.execute("""SET LOCAL "pgtrigger.ignore" = '{}'""")
            for _label, statement in LOAD_SQL:
                conn.execute(statement, {"n": args.accounts, "policy": policy, "opened_on": args.business_date})
            conn.execute("""
                INSERT INTO accounts_businesscalendar (id, "current_date", updated_at) VALUES (1, %s, now())
                ON CONFLICT (id) DO UPDATE SET "current_date" = EXCLUDED."current_date", updated_at = now()""",
                         [args.business_date])
            base.sequences_sync(conn, tables)
        conn.execute("ANALYZE")
    seconds = time.perf_counter() - started
    print(f"load: {args.accounts:,} active accounts (limit 1,000,000.00) in {seconds:.1f} s; "
          f"business date {args.business_date}")
    return {"seconds": seconds}


def create_token(args, deadline) -> str:
    # a storefront at checkout peak: its per-client throttle far above what the load reaches
    _, out, _ = base.run([base.PY, "manage.py", "create_api_client", "bench-storefront", "--rate", "1000000"],
                         env=base.child_env(args), deadline=deadline)
    return out.strip().splitlines()[-1].strip()


# --- the server -----------------------------------------------------------------------------------


def server_env(args) -> dict:
    env = base.child_env(args)
    env["ALLOWED_HOSTS"] = f"{HOST},testserver"
    env["DB_CONN_MAX_AGE"] = "600"  # persistent connections, as production would run
    if getattr(args, "pooler", None) is not None:  # --pgbouncer: the web's own pooler entry (timeouts)
        env["DATABASE_URL"] = args.pooler.web_url
    return env


def start_server(args, deadline, logdir: Path, token: str):
    log = open(logdir / "gunicorn.log", "w")  # noqa: SIM115 - closed with the process
    cmd = [base.PY, "-m", "gunicorn", "config.wsgi:application", "--bind", f"{HOST}:{args.port}",
           "--workers", str(args.gunicorn_workers), "--worker-class", args.worker_class,
           "--threads", str(args.threads), "--keep-alive", "30", "--backlog", "512",
           "--timeout", "60", "--log-level", "warning"]
    proc = base._register(base.subprocess.Popen(cmd, cwd=base.CODE, env=server_env(args), stdout=log,
                                                stderr=base.subprocess.STDOUT, start_new_session=True))
    proc._bench_log = log  # type: ignore[attr-defined]
    started = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise base.CommandFailed(f"gunicorn exited {proc.returncode}; see {logdir / 'gunicorn.log'}")
        deadline.check("gunicorn answered")
        if time.perf_counter() - started > 90:
            raise TimeoutError("gunicorn not answering after 90 s")
        try:
            conn = http.client.HTTPConnection(HOST, args.port, timeout=5)
            conn.request("GET", "/api/v1/accounts/1/payoff-quote", headers={"Authorization": f"Token {token}"})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                break
        except OSError:
            pass
        time.sleep(0.3)
    print(f"server: gunicorn {args.worker_class}, {args.gunicorn_workers} worker process(es) × {args.threads} "
          f"thread(s) on {HOST}:{args.port}, ready in {time.perf_counter() - started:.1f} s (pid {proc.pid})")
    return proc


def stop_server(proc) -> None:
    base._stop(proc, grace=15)
    log = getattr(proc, "_bench_log", None)
    if log:
        log.close()


# --- the load generator -----------------------------------------------------------------------------


class Client(threading.Thread):
    """One storefront client: a keep-alive connection, requests back to back."""

    def __init__(self, n: int, level: dict, token: str, args):
        super().__init__(daemon=True)
        self.n, self.level, self.token, self.args = n, level, token, args
        self.rng = random.Random(args.seed * 1000 + n)
        self.samples: list[tuple[float, float, int]] = []  # (start, latency s, status)
        self.errors: list[str] = []

    def run(self) -> None:
        args, level = self.args, self.level
        conn = http.client.HTTPConnection(HOST, args.port, timeout=args.request_timeout)
        seq = 0
        while not level["stop"].is_set():
            if level["issued"] >= args.max_requests:  # count bound (a read race only adds a few)
                break
            level["issued"] += 1
            seq += 1
            account = self.rng.randint(1, args.accounts)
            order = f"{level['tag']}-{self.n}-{seq}"
            body = json.dumps({"merchant_order_id": order, "amount": "100.00", "installments": 3})
            headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json",
                       "Idempotency-Key": f"key-{order}"}
            t0 = time.perf_counter()
            try:
                conn.request("POST", f"/api/v1/accounts/{account}/purchases", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                status = 0
                self.errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(HOST, args.port, timeout=args.request_timeout)
            self.samples.append((t0, time.perf_counter() - t0, status))
        conn.close()


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def load_level(args, clients: int, token: str, server, deadline) -> dict:
    print(f"\n=== {clients} concurrent clients: {args.warmup:.0f} s warm-up, then {args.duration:.0f} s "
          f"(at most {args.max_requests:,} requests) ===")
    deadline.check(f"the {clients}-client level")
    tag = f"c{clients}-{int(time.time())}"
    level = {"stop": threading.Event(), "issued": 0, "tag": tag}
    threads = [Client(n, level, token, args) for n in range(clients)]
    with base.connect(args.bench_url) as conn:
        purchases_before = conn.execute("SELECT COUNT(*) FROM installments_purchase").fetchone()[0]
    for t in threads:
        t.start()
    time.sleep(args.warmup)
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    with base.connect(args.bench_url) as conn:  # the meter finds the postmaster through a live backend
        meter = base.CpuMeter(conn.execute("SELECT pg_backend_pid()").fetchone()[0], server)
    t_start = time.perf_counter()
    end = t_start + min(args.duration, max(1.0, deadline.left() - 30))
    while time.perf_counter() < end and level["issued"] < args.max_requests:
        time.sleep(0.05)
    t_end = time.perf_counter()
    cpu = meter.stop()
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    level["stop"].set()
    for t in threads:
        t.join(timeout=args.request_timeout + 5)
    generator_cpu = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)

    window = [s for t in threads for s in t.samples if t_start <= s[0] and s[0] + s[1] <= t_end]
    all_samples = [s for t in threads for s in t.samples]
    statuses: dict[int, int] = {}
    for _, _, status in all_samples:
        statuses[status] = statuses.get(status, 0) + 1
    ok = sorted(lat for _, lat, status in window if status == 201)
    wall = t_end - t_start
    errors = [e for t in threads for e in t.errors][:5]
    with base.connect(args.bench_url) as conn:
        purchases_after = conn.execute("SELECT COUNT(*) FROM installments_purchase").fetchone()[0]
        lines = conn.execute("SELECT COUNT(*) FROM accounts_journalline").fetchone()[0]
    created = statuses.get(201, 0)
    result = {
        "clients": clients, "wall": wall, "completed_in_window": len(ok), "rate": len(ok) / wall if wall else 0,
        "p50_ms": 1000 * percentile(ok, 50), "p90_ms": 1000 * percentile(ok, 90),
        "p99_ms": 1000 * percentile(ok, 99), "max_ms": 1000 * (ok[-1] if ok else float("nan")),
        "mean_ms": 1000 * (statistics.fmean(ok) if ok else float("nan")),
        "statuses_all": statuses, "errors": errors, "cpu": cpu, "generator_cpu": generator_cpu,
        "purchases_created": purchases_after - purchases_before, "responses_201": created,
        "journal_lines": lines,
    }
    print(f"  {len(ok):,} purchases answered 201 in {wall:.1f} s = {result['rate']:,.0f} purchases/s; latency "
          f"p50 {result['p50_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
          f"max {result['max_ms']:.1f} ms, mean {result['mean_ms']:.1f} ms")
    print(f"  every answer incl. warm-up and drain, by status: {json.dumps(statuses)}"
          + (f"; client errors: {errors}" if errors else ""))
    print(f"  database: {result['purchases_created']:,} purchases created for {created:,} answers 201 "
          f"({'OK' if result['purchases_created'] == created else 'MISMATCH'})")
    gunicorn_cpu, pg_all = cpu["workers"], cpu["postgres"]
    # the bench database's own backends (the server also runs the other engineers' tests)
    pg_cpu = cpu["postgres_bench_db"] if cpu.get("postgres_bench_db") is not None else pg_all
    other = cpu["machine_busy"] - gunicorn_cpu - pg_all - generator_cpu
    capacity = cpu["wall"] * cpu["cores"]
    print(f"  CPU over {cpu['wall']:.1f} s × {cpu['cores']} cores: machine busy {cpu['machine_busy']:.1f} s "
          f"({100 * cpu['machine_busy'] / capacity:.0f}%): gunicorn {gunicorn_cpu:.1f} s, PostgreSQL {pg_all:.1f} s "
          f"(this benchmark's database: {pg_cpu:.1f} s), "
          f"load generator {generator_cpu:.1f} s, other {other:.1f} s, iowait {cpu['iowait']:.1f} s"
          + (f"; other processes seen: {', '.join(f'{n} {c:.1f} s' for n, c in cpu['other_processes'])}"
             if cpu.get("other_processes") else ""))
    if ok:
        per = 1000 / max(1, len(ok))
        print(f"  CPU per purchase: gunicorn {gunicorn_cpu * per:.2f} ms, PostgreSQL {pg_cpu * per:.2f} ms, "
              f"load generator {generator_cpu * per:.2f} ms → {cpu['cores'] * 1000 / ((gunicorn_cpu + pg_cpu) * per):,.0f}"
              f" purchases/s if server and database had both cores to themselves")
    result["cpu_other"] = other
    result["pg_cpu_bench_db"] = pg_cpu
    return result


# --- profile (child, inside Django) ------------------------------------------------------------------


def child_profile(requests: int, out_path: str) -> None:
    import cProfile
    import io
    import pstats

    base._django()
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    from config.api.clients import api_client_create_or_rotate

    _client, token = api_client_create_or_rotate(name="bench-profile", rate_per_minute=1_000_000)
    client = DjangoClient(HTTP_AUTHORIZATION=f"Token {token}")
    rng = random.Random(7)
    with connection.cursor() as cursor:
        cursor.execute("SELECT MAX(id) FROM accounts_creditaccount")
        n_accounts = cursor.fetchone()[0]

    def buy(tag: str, i: int):
        order = f"prof-{tag}-{i}"
        client.cookies.clear()  # a storefront sends no session cookie
        return client.post(f"/api/v1/accounts/{rng.randint(1, n_accounts)}/purchases",
                           data={"merchant_order_id": order, "amount": "100.00", "installments": 3},
                           content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"key-{order}")

    for i in range(30):  # warm-up: imports, caches, persistent connection
        assert buy("warm", i).status_code == 201
    with CaptureQueriesContext(connection) as ctx:
        response = buy("one", 0)
    captured = list(ctx.captured_queries)  # the next request's request_started signal clears the log
    print(f"SQL statements for one purchase request (status {response.status_code}): {len(captured)}")
    for i, q in enumerate(captured, 1):
        print(f"  {i:>2}. {base._shorten(q['sql'])}")
    started = time.perf_counter()
    for i in range(requests):
        buy("plain", i)
    plain = (time.perf_counter() - started) / requests
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(requests):
        buy("prof", i)
    profiler.disable()
    profiler.dump_stats(out_path)
    print(f"\n{requests} purchase requests in one process (no HTTP, no concurrency): {1000 * plain:.2f} ms each "
          f"= {1 / plain:,.0f}/s; cProfile stats in {out_path}")
    for key, count in (("tottime", 25), ("cumulative", 45)):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(key).print_stats(count)
        text = buf.getvalue()
        print(f"\n--- top {count} by {key} ---")
        print(text[text.find("   ncalls"):].rstrip())
    print(JSON_MARK + json.dumps({"queries": len(captured), "ms_per_request_inprocess": 1000 * plain}))


def profile(args, deadline, logdir: Path) -> dict:
    print(f"\n=== profile of the purchase request (one process, Django test Client, {args.profile_requests} "
          f"requests) ===")
    env = server_env(args)
    _, out, _ = base.run([base.PY, str(Path(__file__).resolve()), "--child", "profile", "--profile-requests",
                          str(args.profile_requests), "--profile-out", str(logdir / "purchase.pstats")],
                         env=env, deadline=deadline, log=logdir / "profile.log")
    print("\n".join(line for line in out.splitlines() if not line.startswith(JSON_MARK)))
    return json.loads(next(line for line in out.splitlines() if line.startswith(JSON_MARK))[len(JSON_MARK):])


# --- main ---------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=20_000, help="accounts preloaded (default 20000)")
    p.add_argument("--clients", default="16,64", help="concurrency levels, e.g. 16,64 (default)")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds per level (default 20)")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each level (default 3)")
    p.add_argument("--max-requests", type=int, default=100_000, help="bound on requests per level")
    p.add_argument("--request-timeout", type=float, default=10.0, help="socket timeout per request, seconds")
    p.add_argument("--port", type=int, default=8391, help="gunicorn port on 127.0.0.1 (default 8391)")
    p.add_argument("--gunicorn-workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    p.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    p.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    p.add_argument("--date", default="2026-12-01", help="business date")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--wait-idle", type=float, default=30,
                   help="before each level wait up to this many seconds for the machine to be <25%% busy")
    p.add_argument("--db", default="tally_bench_api", help="bench database on DATABASE_URL's server")
    p.add_argument("--reset", action="store_true", help="drop and recreate the bench database first")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/9", help="dedicated Redis db (flushed)")
    p.add_argument("--settings", choices=["production", "local"], default="production")
    p.add_argument("--timeout", type=float, default=900, help="bound on the whole script, seconds")
    p.add_argument("--no-pgbench", action="store_true")
    p.add_argument("--no-load-test", action="store_true", help="skip the HTTP levels (e.g. with --profile)")
    p.add_argument("--profile", action="store_true", help="SQL per request + cProfile, in one process")
    p.add_argument("--profile-requests", type=int, default=300)
    p.add_argument("--code", default="head", help="as bench/cob.py: head, worktree, live or a path")
    p.add_argument("--pg-options", default="", help="PGOPTIONS for the server processes")
    p.add_argument("--pgbouncer", action="store_true",
                   help="gunicorn and the commands through a private transaction-mode PgBouncer (bench/pgbouncer.py)")
    p.add_argument("--pgbouncer-pool", type=int, default=10, help="PgBouncer's server connections (default 10)")
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.business_date = base.date.fromisoformat(args.date)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child == "profile":
        child_profile(args.profile_requests, args.profile_out)
        return 0
    if args.db in base.FORBIDDEN_DBS or args.db.startswith("test_tally"):
        raise SystemExit(f"--db {args.db}: refusing to use that database")
    args.server = base.server_url()
    args.bench_url = base.url_with_db(args.server, args.db)
    levels = [int(c) for c in args.clients.split(",") if c.strip()]
    base.CODE, code_text, code_is_copy = base.snapshot_code(args.code)
    signal.signal(signal.SIGTERM, base._on_term)
    deadline = base.Deadline(args.timeout)
    logdir = Path(tempfile.mkdtemp(prefix="tally-bench-api-"))
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "levels": []}
    started = time.perf_counter()
    print(f"tally purchase API benchmark: bench database {args.db} on {urlsplit(args.server).netloc}, "
          f"server on {HOST}:{args.port}, logs in {logdir}")
    print(f"code: {code_text}" + (f"; PGOPTIONS={args.pg_options!r}" if args.pg_options else ""))
    results["code"] = code_text
    server = None
    try:
        base.ensure_database(args, deadline)
        if args.pgbouncer:
            args.pooler = base.start_pgbouncer(args)
        results["machine"] = base.machine(args)
        if not args.no_pgbench:
            results["pgbench"] = base.pgbench(args, deadline)
        results["load"] = load(args)
        base.redis_flush(args)
        if not args.no_load_test and levels:
            token = create_token(args, deadline)
            server = start_server(args, deadline, logdir, token)
            for clients in levels:
                base.wait_idle(args, deadline)
                results["levels"].append(load_level(args, clients, token, server, deadline))
            stop_server(server)
            server = None
            ok, _, _ = base.audit(args, deadline, "after the load test")
            results["audit_ok"] = ok
        if args.profile:
            results["profile"] = profile(args, deadline, logdir)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the processes this script started")
        return 130
    except (TimeoutError, base.CommandFailed) as exc:
        print(f"\nstopped: {exc}")
        results["error"] = str(exc)
    finally:
        if server is not None:
            stop_server(server)
        if args.pgbouncer:
            results["pgbouncer_cpu_seconds"] = base.pgbouncer_cpu(args)
        base._stop_all()
        if code_is_copy:
            base.shutil.rmtree(base.CODE, ignore_errors=True)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print_summary(results, time.perf_counter() - started)
    return 1 if results.get("error") else 0


def print_summary(results: dict, elapsed: float) -> None:
    print(f"\n=== summary ({elapsed:.0f} s) ===")
    pg = results.get("pgbench")
    if pg:
        print(f"pgbench baseline: {pg['tps']:,.0f} tps (-c 4 -j 2 -T 20, scale 10)")
    if results["levels"]:
        print(f"{'clients':>8}{'purchases/s':>13}{'× pgbench':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
              f"{'non-201':>9}{'gunicorn s':>11}{'pg s':>7}{'gen s':>7}{'busy %':>7}")
    for r in results["levels"]:
        cpu = r["cpu"]
        bad = sum(c for s, c in r["statuses_all"].items() if s != 201)
        ratio = f"{r['rate'] / pg['tps']:.3f}" if pg else "-"
        print(f"{r['clients']:>8}{r['rate']:>13,.0f}{ratio:>10}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}"
              f"{r['max_ms']:>8.1f}{bad:>9}{cpu['workers']:>11.1f}{r['pg_cpu_bench_db']:>7.1f}"
              f"{r['generator_cpu']:>7.1f}{100 * cpu['machine_busy'] / (cpu['wall'] * cpu['cores']):>7.0f}")
    if results.get("pgbouncer_cpu_seconds") is not None:
        print(f"pgbouncer: {results['pgbouncer_cpu_seconds']:.1f} s of CPU over the whole script")
    if "audit_ok" in results:
        print(f"audit_ledger after the load test: {'PASS' if results['audit_ok'] else 'FAIL'}")
    if results.get("profile"):
        p = results["profile"]
        print(f"profile: {p['queries']} SQL statements per purchase request; {p['ms_per_request_inprocess']:.2f} ms "
              f"per request in one process")
    if results.get("error"):
        print(f"ERROR: {results['error']}")


if __name__ == "__main__":
    sys.exit(main())
