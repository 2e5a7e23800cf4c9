#!/usr/bin/env python
"""CSV export benchmark (run by hand; never part of the test suite).

    .venv/bin/python bench/exports.py                     # 10,000 and 100,000 rows
    .venv/bin/python bench/exports.py --rows 10000,100000,300000 --db tally_bench_exports

What it does (decision 0034 has the figures):

1. Its own database (``--db``, default ``tally_bench_exports``) on ``DATABASE_URL``'s server,
   created and migrated if missing (it refuses ``tally``, ``postgres`` and ``test_tally*``).
2. Loads, for each size N of ``--rows``, N audit events of action ``bench.export.<N>.rows`` with
   ``bulk_create`` (batches of 5,000; a size already loaded is kept), plus a superuser.
3. For each size, in this process (test settings, DEBUG off, the test Client): streams
   ``/admin/accounts/auditevent/export.csv?action=bench.export.<N>.rows`` — the real view, its
   changelist filters, the audit row, the server-side cursor — and reads the response chunk by
   chunk as a client would, without keeping it: once timed (rows/s, MB/s, the resident set
   before and its peak, VmHWM reset per export), once under tracemalloc (the peak of Python
   allocations while streaming); checks the row count.

Constant memory shows as the same tracemalloc peak and no RSS growth at 10× the rows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FORBIDDEN = {"tally", "postgres", "template0", "template1"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--rows", default="10000,100000", help="comma-separated export sizes")
    p.add_argument("--db", default="tally_bench_exports", help="bench database on DATABASE_URL's server")
    return p.parse_args(argv)


def kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs), so each export's peak is its own."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def ensure_database(url: str, name: str) -> str:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            print(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.db in FORBIDDEN or args.db.startswith("test_tally"):
        raise SystemExit(f"--db {args.db}: refusing to use that database")
    sizes = [int(n) for n in args.rows.split(",") if n.strip()]
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    os.environ["DATABASE_URL"] = ensure_database(server, args.db)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import AuditEvent

    setup_test_environment()  # the test Client's host; DEBUG stays off (no query log)
    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", "--no-input", verbosity=0)
    print(f"tally CSV export benchmark: database {args.db} on {urlsplit(server).netloc}, DEBUG={settings.DEBUG}")
    for size in sizes:
        action = f"bench.export.{size}.rows"
        have = AuditEvent.objects.filter(action=action).count()
        if have < size:
            started = time.perf_counter()
            for start in range(have, size, 5000):
                AuditEvent.objects.bulk_create([
                    AuditEvent(actor_label="bench", action=action, object_type="accounts.creditaccount",
                               object_id=str(i), after={"limit": "1000.00", "note": "李雷 =1+1"},
                               reason="=HYPERLINK(\"x\") 退款" if i % 10 == 0 else "bench row")
                    for i in range(start, min(start + 5000, size))])
            print(f"loaded {size - have:,} audit events for {action} in {time.perf_counter() - started:.1f} s")
    user, _ = User.objects.get_or_create(username="bench-exports", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    def stream(size: int, trace: bool) -> tuple[int, int, float, int]:
        """(rows, bytes, seconds, Python peak) of one export read as a client would, nothing kept."""
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        response = client.get("/admin/accounts/auditevent/export.csv", {"action": f"bench.export.{size}.rows"})
        assert response.status_code == 200, response.status_code
        lines = size_bytes = 0
        for chunk in response.streaming_content:
            size_bytes += len(chunk)
            lines += chunk.count(b"\r\n")
        response.close()
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        if trace:
            tracemalloc.stop()
        return lines - 1, size_bytes, seconds, peak  # less the header

    print(f"\n  {'rows':>9} {'seconds':>8} {'rows/s':>9} {'MB':>7} {'MB/s':>6} {'RSS before→peak MiB':>21} "
          f"{'py peak MiB':>12}")
    results = []
    for size in sizes:
        reset_peak_rss()
        rss_before = kib("VmRSS")
        rows, size_bytes, seconds, _ = stream(size, trace=False)  # timed without tracemalloc's overhead
        rss_peak = kib("VmHWM")
        _, _, _, py_peak = stream(size, trace=True)  # the same export again, allocations traced
        assert rows == size, (rows, size)
        results.append((size, py_peak))
        print(f"  {rows:>9,} {seconds:>8.2f} {rows / seconds:>9,.0f} {size_bytes / 1e6:>7.1f} "
              f"{size_bytes / 1e6 / seconds:>6.1f} {rss_before / 1024:>9.1f} → {rss_peak / 1024:>8.1f} "
              f"{py_peak / 2**20:>12.1f}")
    if len(results) > 1:
        (small, small_peak), (large, large_peak) = results[0], results[-1]
        print(f"\n{large // small}× the rows: Python peak ×{large_peak / small_peak:.2f} "
              f"({small_peak / 2**20:.1f} → {large_peak / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
