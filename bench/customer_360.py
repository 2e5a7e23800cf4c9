#!/usr/bin/env python
"""The customer 360° page, the customer's audit trail and the dashboard with years of history
(run by hand; never part of the test suite; prints its figures).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tally .venv/bin/python bench/customer_360.py
    ... bench/customer_360.py --months 60 --audit-rows 2000000 --repeat 9

1. Its own database (``--db``, default ``tally_bench_360``) on ``DATABASE_URL``'s server,
   created and migrated if missing (it refuses ``tally`` and ``test_tally*``).
2. One customer with ``--months`` months of history made through the real services, one
   business month at a time: each month ``--purchases-per-month`` purchases (in 3, 6 and 12
   installments), as many repayments and one complaint (assigned and answered), so five years
   are 240 purchases (1,680 installments), 240 repayments, 60 complaints and their audit rows
   and notifications. Then ``--audit-rows`` audit events of other customers' objects (same
   object types, spread over five years) inserted server-side, so the customer's trail is a
   needle in a large table; ANALYZE.
3. The test Client, a superuser logged in: the 360° page, the audit list filtered on the
   customer and searched by the store customer id, and the admin index with its dashboard.
   Per page: SQL query count, median / min / max milliseconds of ``--repeat`` requests after
   one warm-up, and the slowest query.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXTERNAL_ID = "bench-360"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="tally_bench_360")
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--purchases-per-month", type=int, default=4)
    parser.add_argument("--audit-rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the bench database first")
    return parser.parse_args(argv)


def database_url(name: str, *, fresh: bool = False) -> str:
    server = os.environ.get("DATABASE_URL")
    if not server:
        sys.exit("DATABASE_URL must name the PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/tally)")
    if name == "tally" or name.startswith("test_tally"):
        sys.exit(f"refusing to use {name!r}")
    parts = urlsplit(server)
    import psycopg

    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["CELERY_BROKER_URL"] = "memory://"  # notifications are queued in-process, never delivered
    os.environ["CELERY_RESULT_BACKEND"] = "cache+memory://"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def load_history(months: int, per_month: int) -> None:
    from django.db import transaction

    from accounts.business_day import business_date_set
    from accounts.customers import customer_upsert
    from accounts.lifecycle import credit_line
    from accounts.models import CreditAccount, Customer
    from complaints.services import complaints
    from installments.services.purchases import purchase_create
    from installments.services.repayments import repayment_create
    from risk.models import ScoringPolicy

    existing = Customer.objects.filter(external_id=EXTERNAL_ID).first()
    if existing is not None:
        if existing.complaints.count() < months:
            sys.exit(f"the history of {EXTERNAL_ID} is incomplete (an earlier run stopped): rerun with --fresh")
        print(f"history of {EXTERNAL_ID} already loaded")
        return
    from django.contrib.auth.models import Group, User

    agent = User.objects.get_or_create(username="bench-agent", defaults={"is_staff": True})[0]
    agent.groups.add(Group.objects.get(name="CS agent"))
    agent = User.objects.get(pk=agent.pk)
    start = date(2021, 1, 5)
    business_date_set(new_date=start, acting_user=None, reason="bench")
    with transaction.atomic():
        customer = customer_upsert(external_id=EXTERNAL_ID, name="Bench Long History", id_number="11010519491231002X",
                                   phone="13900000360", store_status="normal", store_since=date(2018, 1, 1),
                                   orders_12m=40, spend_12m=Decimal("30000.00"), return_rate=Decimal("0.02"))
        account = credit_line.open_account(customer=customer, credit_limit=Decimal("1000000.00"),
                                           card_token="tok_ok",
                                           policy_version_id=ScoringPolicy.objects.get(status="active").pk,
                                           reason_code="ACCOUNT_OPENED", acting_user=None)
    began = time.monotonic()
    for month in range(months):
        business_date_set(new_date=start + timedelta(days=30 * month), acting_user=None, reason="bench")
        for k in range(per_month):
            purchase_create(account_id=account.pk, merchant_order_id=f"b360-{month}-{k}",
                                         amount=Decimal("120.00"), periods=(3, 6, 12)[k % 3])
        for k in range(per_month):
            repayment_create(account_id=account.pk, reference=f"b360-r-{month}-{k}", amount=Decimal("20.00"))
        complaint = complaints.complaint_file(customer_external_id=EXTERNAL_ID, category="other", channel="app",
                                              description="A question.", account_id=account.pk, acting_user=agent)
        complaints.complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
    account = CreditAccount.objects.get(pk=account.pk)
    print(f"history: {months} months in {time.monotonic() - began:.1f} s; account #{account.pk} owes "
          f"{account.principal_outstanding}")


def load_audit_noise(rows: int) -> None:
    from django.db import connection

    from accounts.models import AuditEvent

    have = AuditEvent.objects.exclude(actor_label="bench-noise").count()
    noise = AuditEvent.objects.filter(actor_label="bench-noise").count()
    if noise >= rows:
        print(f"audit table: {noise} noise rows already, {have} of the services")
        return
    began = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO accounts_auditevent (actor_id, actor_label, action, object_type, object_id, before, after,
                                             reason, created_at)
            SELECT NULL, 'bench-noise', (ARRAY['account.status_changed', 'complaint.assigned',
                       'application.approved', 'closure_request.created', 'customer.updated'])[i %% 5 + 1],
                   (ARRAY['accounts.creditaccount', 'complaints.complaint', 'risk.application',
                          'complaints.closurerequest', 'accounts.customer'])[i %% 5 + 1],
                   (1000000 + i / 5)::text, '{}'::jsonb, '{"status": "x"}'::jsonb, 'bench',
                   now() - ((i %% 1825) || ' days')::interval
            FROM generate_series(%s, %s) AS i""", [noise + 1, rows])
        cursor.execute("ANALYZE accounts_auditevent")
    print(f"audit table: {rows - noise} noise rows inserted in {time.monotonic() - began:.1f} s")


def time_pages(repeat: int) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from accounts.models import AuditEvent, Customer

    customer = Customer.objects.get(external_id=EXTERNAL_ID)
    root = User.objects.filter(username="bench-root").first() or User.objects.create_superuser(
        "bench-root", password="bench")
    client = Client()
    client.force_login(root)
    audit = reverse("admin:accounts_auditevent_changelist")
    pages = [
        ("customer 360° page", reverse("admin:accounts_customer_360", args=[customer.pk]), {}),
        ("audit list, customer filter", audit, {"customer": str(customer.pk)}),
        ("audit list, store id search", audit, {"q": EXTERNAL_ID}),
        ("audit list, unfiltered", audit, {}),
        ("admin index with dashboard", reverse("admin:index"), {}),
    ]
    print(f"audit rows: {AuditEvent.objects.count():,}; customer's own: "
          f"{AuditEvent.objects.exclude(actor_label='bench-noise').count():,}")
    print(f"{'page':32} {'queries':>7} {'median ms':>10} {'min':>8} {'max':>8}  slowest query")
    for label, url, params in pages:
        client.get(url, params)  # warm-up
        times = []
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, params)
        queries = list(captured.captured_queries)  # before more requests move Django's query log on
        assert response.status_code == 200 and queries, (label, response.status_code, response.content[:300])
        for _ in range(repeat):
            began = time.perf_counter()
            client.get(url, params)
            times.append(1000 * (time.perf_counter() - began))
        slowest = max(queries, key=lambda q: float(q["time"]))
        print(f"{label:32} {len(queries):7d} {statistics.median(times):10.1f} {min(times):8.1f} {max(times):8.1f}"
              f"  {1000 * float(slowest['time']):.1f} ms: {slowest['sql'][:90]}")


def main(argv=None) -> int:
    args = parse_args(argv)
    setup(database_url(args.db, fresh=args.fresh))
    load_history(args.months, args.purchases_per_month)
    load_audit_noise(args.audit_rows)
    time_pages(args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
