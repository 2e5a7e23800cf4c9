#!/usr/bin/env python
"""Admin list pages benchmark (run by hand; never part of the test suite).

    .venv/bin/python bench/admin_lists.py                          # 100,000 accounts, 1,000,000 installments
    .venv/bin/python bench/admin_lists.py --no-load --repeat 9     # time again on the data already loaded
    .venv/bin/python bench/admin_lists.py --explain                # + EXPLAIN ANALYZE of each page's slowest query

What it does (docs/benchmarks.md has the figures):

1. Its own database (``--db``, default ``tally_bench_admin``) on ``DATABASE_URL``'s server,
   created and migrated if missing (the helpers of ``bench/cob.py``; it refuses ``tally`` and
   ``test_tally*``).
2. Empties the data tables and loads, server-side (``INSERT … SELECT … generate_series``):
   N customers (``--accounts``, default 100,000) with an approved application and an active
   credit account each; two purchases per account (300.00 in 3 and 700.00 in 7 installments:
   10 installments per account, 1,000,000 at the default N) with their plans and balanced
   journal entries; one account in 20 overdue (installment 1 unpaid, 1–90 days past due, a
   declined auto-debit attempt), so the collections queue has N/20 rows; ``--review-cases``
   applications in review with an open case (default 3,000) plus as many decided cases;
   ``--complaints`` complaints in every status (default 20,000); one notification and one
   audit event per account; for the charts page (``/admin/analytics/``), a year of history:
   N/2 more applications (approved, rejected with reasons, waiting for the identity
   provider) spread over the 365 days before the business date, one repayment per account
   (one in ten held, with its released hold; rows only, the charts read no ledger line), a
   closure status change for one account in 50 and an accepted alternative for one in 100.
   Then ANALYZE, ``manage.py recount_application_days`` (the charts' per-day counts, which the
   triggers would have kept) and ``manage.py audit_ledger``.
3. In one Django process (``config.settings.production``, DEBUG off, the test Client, a
   superuser logged in): every changelist of the admin site, the collections queue, the
   review queue's views and a credit account's page. Per page: the SQL query count, the
   median / min / max milliseconds of ``--repeat`` requests after one warm-up, the status and
   the slowest query. Pages over ``--budget-ms`` (300) are flagged. The charts page is
   requested for the default 90 days and for the longest range (366 days), and the new back
   office pages (staff inbox, exports, collections desk, waiver queue, manager inbox, my
   notifications) when this version of the code has them. Then the searches of every big list
   (``SEARCHES``: an account id, a whole key, reference or store customer id, a name's start, a
   term the list refuses) and the last page of every list of more than 10,000 rows. Each
   median is also printed as a ratio to the pgbench baseline of the same run: ms × tps / 1000,
   the page's time in pgbench transactions, which compares across machines and loads.
4. A pgbench baseline on the same server in the same run (``bench/cob.py``'s: ``-i -s 10``,
   ``-c 4 -j 2 -T 20``; ``--no-pgbench`` skips it).

Bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cob as base

JSON_MARK = base.JSON_MARK

LOAD_SQL = [
    ("customers", """
        INSERT INTO accounts_customer (id, external_id, name, id_number_encrypted, id_number_hash,
            id_number_masked, phone, store_status, store_since, orders_12m, spend_12m, return_rate, language,
            created_at, updated_at)
        SELECT i, 'bench-' || i, 'Bench Customer ' || i, 'bench-not-encrypted', md5('b' || i) || md5('h' || i),
               '110105**********2X', '139' || lpad(i::text, 8, '0'), 'normal', DATE '2020-01-01', 12, 8000.00,
               0.0300, 'en', now() - (i || ' seconds')::interval, now()
        FROM generate_series(1, %(n)s) AS i"""),
    # one account in 20 is overdue: installment 1 of its first purchase was due dpd days ago
    ("credit accounts", """
        INSERT INTO accounts_creditaccount (id, customer_id, status, credit_limit, available_limit, held_amount,
            principal_outstanding, fees_outstanding, penalties_outstanding, credit_balance, days_past_due,
            billing_day, repayment_card_token, auto_debit, paused_by_customer, opened_on, closed_reason,
            policy_version_id, created_at, updated_at, written_off_amount, recovered_amount)
        SELECT i, i, 'active', 20000.00, 19000.00, 0, 1000.00, 0, 0, 0,
               CASE WHEN i %% 20 = 0 THEN i %% 90 + 1 ELSE 0 END,
               (i - 1) %% 28 + 1, 'tok_ok', true, false, %(opened_on)s, '', %(policy)s, now(), now(), 0, 0
        FROM generate_series(1, %(n)s) AS i"""),
    ("approved applications", """
        INSERT INTO risk_application (id, kind, status, name, id_number_hash, id_number_masked, phone, store_status,
            store_since, orders_12m, spend_12m, return_rate, repayment_card_token, score, score_breakdown, flags,
            reasons, proposed_limit, credit_limit, decided_at, identity_attempts, next_identity_retry_at,
            business_date, created_at, updated_at, account_id, customer_id, decided_by_id, policy_id)
        SELECT i, 'activation', 'approved', 'Bench Customer ' || i, md5('b' || i) || md5('h' || i),
               '110105**********2X', '139' || lpad(i::text, 8, '0'), 'normal', DATE '2020-01-01', 12, 8000.00,
               0.0300, 'tok_ok', 700, '{}'::jsonb, '[]'::jsonb, '[]'::jsonb, 20000.00, 20000.00, now(), 1, NULL,
               %(opened_on)s, now(), now(), i, i, NULL, %(policy)s
        FROM generate_series(1, %(n)s) AS i"""),
    ("purchases", """
        INSERT INTO installments_purchase (id, account_id, merchant_order_id, amount, periods, refunded_amount,
            business_date, created_at)
        SELECT (i - 1) * 2 + p.k, i, 'bench-order-' || i || '-' || p.k, p.amount, p.periods, 0,
               CASE WHEN i %% 20 = 0 AND p.k = 1 THEN %(day)s::date - (i %% 90 + 1) - 30 ELSE %(day)s::date - 10 END,
               now()
        FROM generate_series(1, %(n)s) AS i CROSS JOIN (VALUES (1, 300.00, 3), (2, 700.00, 7)) AS p(k, amount, periods)
        """),
    ("installment plans", """
        INSERT INTO installments_installmentplan (id, account_id, kind, purchase_id, statement_id, principal,
            periods, fee_rate, fee_per_period, start_date, policy_version_id, created_at, grace_days,
            penalty_daily_rate, debit_retry_offsets_days, debit_recovery_interval_days, write_off_days)
        SELECT id, account_id, 'purchase', id, NULL, amount, periods, 0.00600, ROUND(amount * 0.006, 2),
               business_date, %(policy)s, now(), 3, 0.0005, '[1, 3, 7]'::jsonb, 7, 180
        FROM installments_purchase"""),
    ("installments", """
        INSERT INTO installments_installment (id, plan_id, account_id, purchase_id, seq, due_date, principal, fee,
            principal_paid, principal_cancelled, fee_paid, fee_waived, fee_posted, state, paid_on)
        SELECT row_number() OVER (ORDER BY p.id, s.seq), p.id, p.account_id, p.id, s.seq,
               (p.business_date + 30 * s.seq), 100.00, ROUND(p.amount * 0.006, 2), 0, 0, 0, 0,
               (p.business_date + 30 * s.seq) < %(day)s, 'open', NULL
        FROM installments_purchase p CROSS JOIN LATERAL generate_series(1, p.periods) AS s(seq)"""),
    ("journal entries", """
        INSERT INTO accounts_journalentry (id, idempotency_key, kind, business_date, credit_account_id,
            description, reverses_id, actor_id, created_at)
        SELECT id, 'purchase:' || id, 'purchase', business_date, account_id, 'purchase ' || merchant_order_id,
               NULL, NULL, now()
        FROM installments_purchase"""),
    ("journal lines", """
        INSERT INTO accounts_journalline (entry_id, book, credit_account_id, amount, installment_id,
            business_date, created_at)
        SELECT p.id, l.book, CASE WHEN l.book = 'principal_receivable' THEN p.account_id END, l.sign * p.amount,
               NULL, p.business_date, now()
        FROM installments_purchase p
        CROSS JOIN (VALUES ('principal_receivable', 1), ('merchant_settlement', -1)) AS l(book, sign)
        ORDER BY p.id, l.sign DESC"""),
    ("fees outstanding (overdue accounts)", """
        UPDATE accounts_creditaccount a SET fees_outstanding = s.fees
        FROM (SELECT account_id, SUM(fee) AS fees FROM installments_installment WHERE fee_posted GROUP BY 1) s
        WHERE a.id = s.account_id"""),
    # the fee of each installment due before the business date was posted on its due date
    ("fee entries (overdue accounts)", """
        INSERT INTO accounts_journalentry (id, idempotency_key, kind, business_date, credit_account_id,
            description, reverses_id, actor_id, created_at)
        SELECT 2 * %(n)s + i.id, 'fee:' || i.id, 'fee', i.due_date, i.account_id, 'fee', NULL, NULL, now()
        FROM installments_installment i WHERE i.fee_posted"""),
    ("fee lines (overdue accounts)", """
        INSERT INTO accounts_journalline (entry_id, book, credit_account_id, amount, installment_id,
            business_date, created_at)
        SELECT 2 * %(n)s + i.id, l.book, CASE WHEN l.book = 'fee_receivable' THEN i.account_id END,
               l.sign * i.fee, CASE WHEN l.book = 'fee_receivable' THEN i.id END, i.due_date, now()
        FROM installments_installment i
        CROSS JOIN (VALUES ('fee_receivable', 1), ('fee_income', -1)) AS l(book, sign)
        WHERE i.fee_posted"""),
    ("declined attempts (overdue accounts)", """
        INSERT INTO installments_paymentattempt (business_date, idempotency_key, card_token, amount, status,
            decline_code, gateway_reference, series_start, retry_number, retry_on, created_at, updated_at, account_id)
        SELECT %(day)s::date - 1, 'auto-debit:' || id || ':bench', 'tok_ok', 101.80, 'declined',
               'insufficient_funds', 'gw-' || id, %(day)s::date - days_past_due, 0, NULL, now(), now(), id
        FROM accounts_creditaccount WHERE days_past_due > 0"""),
    ("applications in review", """
        INSERT INTO risk_application (id, kind, status, name, id_number_hash, id_number_masked, phone, store_status,
            store_since, orders_12m, spend_12m, return_rate, repayment_card_token, score, score_breakdown, flags,
            reasons, proposed_limit, credit_limit, decided_at, identity_attempts, next_identity_retry_at,
            business_date, created_at, updated_at, account_id, customer_id, decided_by_id, policy_id)
        SELECT %(n)s + r, 'reopen', 'in_review', 'Bench Customer ' || r, md5('b' || r) || md5('h' || r),
               '110105**********2X', '139' || lpad(r::text, 8, '0'), 'normal', DATE '2020-01-01', 12, 8000.00,
               0.0300, 'tok_ok', 540 + r %% 40, '{}'::jsonb, '["shared_phone"]'::jsonb, '[]'::jsonb, 5000.00, NULL,
               NULL, 1, NULL, %(day)s, now(), now(), NULL, r, NULL, %(policy)s
        FROM generate_series(1, %(cases)s) AS r"""),
    ("review cases (open, escalated, decided)", """
        INSERT INTO risk_reviewcase (status, due_at, claimed_at, last_activity_at, escalated, escalation_note,
            proposed_limit, proposal_note, decision, decision_reason_code, decision_note, decided_at,
            deadline_breached, created_at, application_id, claimed_by_id, decided_by_id, proposed_by_id)
        SELECT CASE WHEN c.open THEN (CASE WHEN a %% 10 = 0 THEN 'escalated' ELSE 'open' END) ELSE 'decided' END,
               now() + ((a %% 48) || ' hours')::interval, NULL, NULL, c.open AND a %% 10 = 0,
               '', NULL, '', CASE WHEN c.open THEN '' ELSE 'approved' END, '', '',
               CASE WHEN c.open THEN NULL ELSE now() END, false, now(), c.app, NULL, NULL, NULL
        FROM generate_series(1, %(cases)s) AS a
        CROSS JOIN LATERAL (VALUES (true, %(n)s + a), (false, a)) AS c(open, app)"""),
    ("complaints", """
        INSERT INTO complaints_complaint (category, channel, description, status, assigned_at, received_at,
            acknowledge_by, acknowledged_at, round, round_started_at, respond_by, extended_at, extension_reason,
            internal_target_at, internal_paused, paused_since, resolution, resolved_at, closed_at, reopened_count,
            acknowledge_breached, response_breached, escalated, escalated_at, next_due_at, created_at, updated_at,
            account_id, assigned_to_id, created_by_id, customer_id, extended_by_id, resolved_by_id)
        SELECT (ARRAY['limit_not_restored', 'activation_failed', 'auto_debit_failed', 'billing_dispute',
                      'fee_dispute', 'other'])[c %% 6 + 1],
               (ARRAY['phone', 'app', 'email', 'web'])[c %% 4 + 1], 'bench complaint ' || c,
               (ARRAY['new', 'in_progress', 'awaiting_customer', 'resolved', 'closed', 'closed'])[c %% 6 + 1],
               NULL, now() - ((c %% 500) || ' hours')::interval, now() + interval '1 day', NULL, 1,
               now() - ((c %% 500) || ' hours')::interval, now() + ((c %% 300) || ' hours')::interval, NULL, '',
               now() + interval '2 days', interval '0', NULL, '', NULL, NULL, 0, false, false, false, NULL,
               CASE WHEN c %% 6 < 3 THEN now() + ((c %% 300) || ' hours')::interval END, now(), now(),
               (c - 1) %% %(n)s + 1, NULL, NULL, (c - 1) %% %(n)s + 1, NULL, NULL
        FROM generate_series(1, %(complaints)s) AS c"""),
    ("notifications", """
        INSERT INTO accounts_notification (customer_id, account_id, kind, event_key, params, status, channel,
            rendered, error, created_at, sent_at, attempts)
        SELECT i, i, 'purchase_booked', 'bench-purchase:' || i, '{}'::jsonb, 'sent', 'sms', '', '', now(), now(), 1
        FROM generate_series(1, %(n)s) AS i"""),
    # --- a year of history for the charts page (config/analytics) ---
    ("applications over a year (charts)", """
        INSERT INTO risk_application (id, kind, status, name, id_number_hash, id_number_masked, phone, store_status,
            store_since, orders_12m, spend_12m, return_rate, repayment_card_token, score, score_breakdown, flags,
            reasons, proposed_limit, credit_limit, decided_at, identity_attempts, next_identity_retry_at,
            business_date, created_at, updated_at, account_id, customer_id, decided_by_id, policy_id)
        SELECT %(n)s + %(cases)s + r, 'activation', (ARRAY['approved', 'rejected', 'rejected', 'pending_retry'])[r %% 4 + 1],
               'Bench Customer ' || r, md5('b' || r) || md5('h' || r), '110105**********2X',
               '139' || lpad(r::text, 8, '0'), 'normal', DATE '2020-01-01', 12, 8000.00, 0.0300, 'tok_ok', 600,
               '{}'::jsonb, '[]'::jsonb,
               jsonb_build_array(jsonb_build_object('code', (ARRAY['APPROVED', 'ID_INVALID', 'SCORE_BELOW_THRESHOLD',
                   'UPSTREAM_UNAVAILABLE'])[r %% 4 + 1], 'message', '', 'detail', 'bench', 'params', '{}'::jsonb)),
               NULL, NULL, NULL, 1 + (r %% 7 = 3)::int, NULL, %(day)s::date - (r %% 365), now(), now(), NULL,
               (r - 1) %% %(n)s + 1, NULL, %(policy)s
        FROM generate_series(1, %(n)s / 2) AS r"""),
    ("repayments over a year (charts)", """
        INSERT INTO installments_repayment (account_id, reference, source, amount, penalty_paid, fee_paid,
            principal_paid, recovered, limit_restored, held_amount, hold_release_at, available_limit_after,
            payment_attempt_id, business_date, created_at)
        SELECT i, 'bench-repay-' || i, 'manual', 10.00, 0, 0, 10.00, 0,
               CASE WHEN i %% 10 = 0 THEN 0 ELSE 10.00 END, CASE WHEN i %% 10 = 0 THEN 10.00 ELSE 0 END,
               CASE WHEN i %% 10 = 0 THEN now() END, 19000.00, NULL, %(day)s::date - (i %% 365), now()
        FROM generate_series(1, %(n)s) AS i"""),
    ("released holds of the held repayments (charts)", """
        INSERT INTO installments_restorationhold (account_id, repayment_id, amount, reason_code, release_at,
            released_at, released_by_id)
        SELECT account_id, id, held_amount, 'NEW_ACCOUNT', created_at, created_at, NULL
        FROM installments_repayment WHERE held_amount > 0"""),
    ("closures over a year (charts)", """
        INSERT INTO accounts_accountstatuschange (account_id, from_status, to_status, reason_code, note, business_date,
            actor_id, created_at)
        SELECT i, 'active', 'closed', (ARRAY['CUSTOMER_REQUEST', 'FRAUD_CONFIRMED', 'BREACH_OF_TERMS',
                                             'WRITE_OFF'])[i / 50 %% 4 + 1], 'bench', %(day)s::date - (i %% 365), NULL, now()
        FROM generate_series(50, %(n)s, 50) AS i"""),
    ("alternatives accepted (charts)", """
        INSERT INTO complaints_closurerequest (account_id, origin, channel, note, status, complaint_id,
            identity_verified_at, identity_verified_by_id, identity_method, payoff_expires_at, reasons, alternative,
            alternative_detail, decided_at, decided_by_id, created_by_id, created_at, updated_at)
        SELECT i, 'customer', 'phone', 'bench', 'withdrawn', NULL, now(), NULL, 'bench', NULL, '[]'::jsonb,
               (ARRAY['lower_limit', 'pause'])[i / 100 %% 2 + 1], '{}'::jsonb,
               (%(day)s::date - (i %% 365))::timestamp + interval '10 hours', NULL, NULL, now(), now()
        FROM generate_series(100, %(n)s, 100) AS i"""),
    ("audit events", """
        INSERT INTO accounts_auditevent (actor_id, actor_label, action, object_type, object_id, before, after,
            reason, created_at)
        SELECT NULL, 'system', 'account.open', 'creditaccount', i::text, '{}'::jsonb, '{}'::jsonb, '', now()
        FROM generate_series(1, %(n)s) AS i"""),
]


def columns(conn, table: str) -> set[str]:
    return {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                                       [table]).fetchall()}


def load(args) -> dict:
    params = {"n": args.accounts, "day": args.business_date, "opened_on": date(2026, 1, 5),
              "cases": args.review_cases, "complaints": args.complaints}
    timings = {}
    started = time.perf_counter()
    with base.connect(args.bench_url) as conn:
        params["policy"] = conn.execute("SELECT id FROM risk_scoringpolicy WHERE status = 'active'").fetchone()[0]
        tables = base.data_tables(conn)
        conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")
        with conn.transaction():
            conn.execute("""SET LOCAL "pgtrigger.ignore" = '{}'""")
            # No trigger fires during the bulk load (balance check, append-only guards, foreign
            # keys); audit_ledger right after checks the ledger invariants they guard.
            conn.execute("SET LOCAL session_replication_role = replica")
            for label, statement in LOAD_SQL:
                t = time.perf_counter()
                try:
                    conn.execute(statement, params)
                except Exception as exc:
                    raise base.CommandFailed(f"load step {label!r} failed: {exc}") from exc
                timings[label] = time.perf_counter() - t
            conn.execute("""
                INSERT INTO accounts_businesscalendar (id, "current_date", updated_at) VALUES (1, %s, now())
                ON CONFLICT (id) DO UPDATE SET "current_date" = EXCLUDED."current_date", updated_at = now()""",
                         [args.business_date])
            base.sequences_sync(conn, tables)
        t = time.perf_counter()
        conn.execute("ANALYZE")
        timings["analyze"] = time.perf_counter() - t
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in (
            "accounts_creditaccount", "installments_installment", "installments_purchase", "accounts_journalline",
            "risk_reviewcase", "complaints_complaint", "installments_paymentattempt")}
    total = time.perf_counter() - started
    print(f"load in {total:.1f} s ({', '.join(f'{k} {v:.1f}s' for k, v in timings.items())})")
    print(f"      rows: {', '.join(f'{k} {v:,}' for k, v in counts.items())}; business date {args.business_date}")
    return {"seconds": total, "timings": timings, "counts": counts}


# --- the timing child (inside Django) -----------------------------------------------------------------


def new_pages() -> list[tuple[str, str]]:
    """The back office pages of the staff workbench: the staff inbox, the manager's inbox, the
    waiver queue, the close failures list and the collections desk's account page."""
    from django.urls import reverse

    from accounts.models import CreditAccount

    overdue = CreditAccount.objects.filter(days_past_due__gt=0).order_by("pk").values_list("pk", flat=True).first()
    pages = [
        ("staff inbox (My notifications)", reverse("admin:accounts_staffnotification_changelist")),
        ("manager inbox (review queue, awaiting a manager)",
         reverse("admin:risk_reviewcase_changelist") + "?queue=awaiting_manager"),
        ("waiver queue", reverse("admin:complaints_complaint_waiver_queue")),
        ("close failures", reverse("admin:cob_cobfailure_changelist")),
    ]
    if overdue is not None:
        pages.append(("collections desk: an account", reverse("admin:accounts_creditaccount_collections_account",
                                                              args=[overdue])))
    return pages


# the searches of every big list: (list, label, term) — an account id, a whole key or id of
# the bench data, and a term the list cannot search by
SEARCHES = [
    ("accounts_creditaccount", "store customer id", "bench-54321"),
    ("accounts_creditaccount", "phone number", "13900054321"),
    ("accounts_creditaccount", "letters (no such id)", "abc"),
    ("accounts_customer", "store customer id", "bench-54321"),
    ("accounts_customer", "start of a name", "Bench Customer 5432"),
    ("accounts_customer", "digits", "54321"),
    ("risk_application", "store customer id", "bench-54321"),
    ("risk_application", "digits", "54321"),
    ("installments_purchase", "account id", "54321"),
    ("installments_purchase", "merchant order id", "bench-order-54321-1"),
    ("accounts_journalentry", "account id", "54321"),
    ("accounts_journalentry", "idempotency key", "purchase:108641"),
    ("accounts_journalline", "idempotency key", "purchase:108641"),
    ("accounts_journalline", "letters (no such key)", "abc"),
    ("accounts_notification", "store customer id", "bench-54321"),
    ("accounts_notification", "event key", "bench-purchase:54321"),
    ("accounts_auditevent", "object id", "54321"),
    ("accounts_auditevent", "action", "account.open"),
    ("installments_repayment", "account id", "54321"),
    ("installments_repayment", "reference", "bench-repay-54321"),
    ("installments_restorationhold", "repayment reference", "bench-repay-54320"),
    ("installments_paymentattempt", "gateway reference", "gw-54320"),
    ("installments_penalty", "letters (refused)", "abc"),
    ("complaints_complaint", "store customer id", "bench-54321"),
]


def search_and_deep_pages(user) -> list[tuple[str, str]]:
    """Each search of ``SEARCHES``, then the last page of every list of more than 10,000 rows
    (the last page of the list as shown, its default filters applied)."""
    from urllib.parse import urlencode

    from django.contrib import admin
    from django.db import connection
    from django.test import RequestFactory
    from django.urls import reverse

    pages = [(f"{table.split('_', 1)[1]}: search {label}",
              reverse(f"admin:{table}_changelist") + "?" + urlencode({"q": term})) for table, label, term in SEARCHES]
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.db_table):
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT COUNT(*) FROM "{model._meta.db_table}"')
            rows = cursor.fetchone()[0]
        if rows > 10_000:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            request = RequestFactory().get(url)
            request.user = user
            try:
                last = model_admin.get_changelist_instance(request).paginator.num_pages
            except Exception:  # a list that needs more of a request than this: its pages by rows
                last = max(1, -(-rows // model_admin.list_per_page))
            pages.append((f"{model._meta.model_name} list, last page ({last:,})", f"{url}?p={last}"))
    return pages


def child_time(repeat: int, explain: bool, budget_ms: float, tps: float = 0.0) -> None:
    base._django()
    from django.contrib import admin
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    user = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "bench@example.invalid", None)
    try:
        from accounts.models import StaffProfile

        StaffProfile.objects.update_or_create(user=user, defaults={"language": "en"})
    except Exception:  # the profile only sets the display language
        pass
    client = Client()
    client.force_login(user)
    # the production settings require a second factor (decision 0022): a confirmed TOTP device,
    # verified in the session as django-otp's login would
    with contextlib.suppress(ImportError):
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
            user=user, name="bench", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    with connection.cursor() as cursor:
        cursor.execute('SELECT "current_date" FROM accounts_businesscalendar WHERE id = 1')
        business_date = str(cursor.fetchone()[0])

    pages: list[tuple[str, str]] = []
    for model in sorted(admin.site._registry, key=lambda m: (m._meta.app_label, m._meta.model_name)):
        opts = model._meta
        pages.append((f"{opts.app_label}.{opts.model_name} list",
                      reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")))
    extra = [
        ("review queue: all open (default)", reverse("admin:risk_reviewcase_changelist")),
        ("review queue: decided too", reverse("admin:risk_reviewcase_changelist") + "?decided=include"),
        ("complaints: open, by status", reverse("admin:complaints_complaint_changelist") + "?status__exact=new"),
        ("collections queue", reverse("admin:accounts_creditaccount_collections")),
        ("collections queue, page 50", reverse("admin:accounts_creditaccount_collections") + "?p=50"),
        ("accounts: search by id", reverse("admin:accounts_creditaccount_changelist") + "?q=54321"),
        ("accounts list, page 1000", reverse("admin:accounts_creditaccount_changelist") + "?p=1000"),
        ("journal lines: one account", reverse("admin:accounts_journalline_changelist") + "?q=54321"),
        *search_and_deep_pages(user),
        ("credit account page (10 installments)", reverse("admin:accounts_creditaccount_change", args=[54321])),
    ]
    for label, name, args in (("admin index (dashboard)", "admin:index", []),
                              ("customer 360° page", "admin:accounts_customer_360", [54321])):
        with contextlib.suppress(Exception):  # a page this version of the code does not have
            extra.append((label, reverse(name, args=args)))
    with contextlib.suppress(Exception):  # the charts page (config/analytics), when the code has it
        charts = reverse("analytics")
        extra.append(("charts: last 90 days (default)", charts))
        year = date.fromisoformat(business_date)
        extra.append(("charts: 366 days", f"{charts}?start={year.replace(year=year.year - 1) + timedelta(days=1)}"
                                           f"&end={year}"))
    extra += new_pages()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM complaints_complaint ORDER BY id LIMIT 1")
        row = cursor.fetchone()
    if row:
        extra.append(("complaint page", reverse("admin:complaints_complaint_change", args=[row[0]])))
    pages += extra

    results = []
    for label, url in pages:
        response = client.get(url)  # warm-up (and the status)
        status = response.status_code
        with CaptureQueriesContext(connection) as ctx:
            client.get(url)
        queries = [(float(q["time"]), q["sql"]) for q in ctx.captured_queries]
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            client.get(url)
            times.append(1000 * (time.perf_counter() - t))
        slowest = max(queries, default=(0.0, ""))
        row = {"page": label, "url": url, "status": status, "queries": len(queries),
               "median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
               # the page's time in pgbench transactions of this run (ms × tps / 1000): comparable
               # between machines and loads where the milliseconds are not
               "pgbench_ratio": statistics.median(times) * tps / 1000 if tps else None,
               "slowest_query_ms": 1000 * slowest[0], "slowest_query": base._shorten(slowest[1])}
        if explain and slowest[1] and (row["median_ms"] > budget_ms or os.environ.get("BENCH_EXPLAIN_ALL")):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest[1])
                row["explain"] = [r[0] for r in cursor.fetchall()]
        results.append(row)
        flag = "  OVER BUDGET" if row["median_ms"] > budget_ms else ""
        ratio = f"{row['pgbench_ratio']:>7.0f} ×tx" if tps else ""
        print(f"  {label:<44}{status:>4}{len(queries):>5} q{row['median_ms']:>9.1f} ms{ratio}  "
              f"(min {row['min_ms']:.1f}, max {row['max_ms']:.1f}; slowest query {row['slowest_query_ms']:.1f} ms)"
              f"{flag}", flush=True)
        if flag or os.environ.get("BENCH_EXPLAIN_ALL"):
            print(f"      slowest: {row['slowest_query']}")
            for line in row.get("explain", [])[:25]:
                print(f"        {line}")
    print(JSON_MARK + json.dumps(results))


# --- main ---------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=100_000, help="accounts (10 installments each; default 100000)")
    p.add_argument("--review-cases", type=int, default=3_000, help="open review cases (and as many decided)")
    p.add_argument("--complaints", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=5, help="timed requests per page after one warm-up")
    p.add_argument("--budget-ms", type=float, default=300.0)
    p.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slowest query of pages over budget")
    p.add_argument("--explain-all", action="store_true", help="EXPLAIN ANALYZE the slowest query of every page")
    p.add_argument("--no-pgbench", action="store_true", help="skip the pgbench baseline")
    p.add_argument("--no-load", action="store_true", help="time the data already in the bench database")
    p.add_argument("--date", default="2026-12-20", help="business date")
    p.add_argument("--db", default="tally_bench_admin", help="bench database on DATABASE_URL's server")
    p.add_argument("--reset", action="store_true", help="drop and recreate the bench database first")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/9", help="dedicated Redis db")
    p.add_argument("--settings", choices=["production", "local"], default="production")
    p.add_argument("--timeout", type=float, default=900, help="bound on the whole script, seconds")
    p.add_argument("--code", default="head", help="as bench/cob.py: head, worktree, live or a path")
    p.add_argument("--pg-options", default="")
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--tps", type=float, default=0.0, help=argparse.SUPPRESS)  # the parent's pgbench, to the child
    args = p.parse_args(argv)
    args.business_date = date.fromisoformat(args.date)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child == "time":
        child_time(args.repeat, args.explain, args.budget_ms, args.tps)
        return 0
    if args.db in base.FORBIDDEN_DBS or args.db.startswith("test_tally"):
        raise SystemExit(f"--db {args.db}: refusing to use that database")
    args.server = base.server_url()
    args.bench_url = base.url_with_db(args.server, args.db)
    base.CODE, code_text, code_is_copy = base.snapshot_code(args.code)
    deadline = base.Deadline(args.timeout)
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    static_root = ""
    started = time.perf_counter()
    print(f"tally admin list pages benchmark: bench database {args.db} on {urlsplit(args.server).netloc}")
    print(f"code: {code_text}")
    results["code"] = code_text
    try:
        base.ensure_database(args, deadline)
        results["machine"] = base.machine(args)
        if not args.no_load:
            results["load"] = load(args)
            # the load ran with triggers off: the charts' per-day application counts from scratch
            base.run([base.PY, "manage.py", "recount_application_days"], env=base.child_env(args), deadline=deadline)
            ok, _, _ = base.audit(args, deadline, "after the load")
            if not ok:
                raise base.CommandFailed("audit_ledger fails right after the load: the bench data is wrong")
        if not args.no_pgbench:
            results["pgbench"] = base.pgbench(args, deadline)
        env = base.child_env(args)
        env["ALLOWED_HOSTS"] = "testserver"
        if args.explain_all:
            env["BENCH_EXPLAIN_ALL"] = "1"
        # the production settings serve hashed static files (whitenoise's manifest): collect them
        # into a directory of this run, as a release does (docs/deploy.md)
        env["TALLY_STATIC_ROOT"] = static_root = tempfile.mkdtemp(prefix="tally-bench-static-")
        base.run([base.PY, "manage.py", "collectstatic", "--no-input", "-v", "0"], env=env, deadline=deadline)
        print(f"\n=== pages (superuser, median of {args.repeat} after a warm-up; budget {args.budget_ms:.0f} ms) ===")
        print(f"  {'page':<44}{'HTTP':>4}{'SQL':>5}  {'median':>9}"
              + ("  × pgbench tx (ms × tps / 1000)" if results.get("pgbench") else ""))
        cmd = [base.PY, str(Path(__file__).resolve()), "--child", "time", "--repeat", str(args.repeat),
               "--budget-ms", str(args.budget_ms),
               "--tps", str(results.get("pgbench", {}).get("tps", 0.0))] + (
                   ["--explain"] if args.explain or args.explain_all else [])
        logdir = Path(tempfile.mkdtemp(prefix="tally-bench-admin-"))
        _, out, _ = base.run(cmd, env=env, deadline=deadline, log=logdir / "pages.log")
        print("\n".join(line for line in out.splitlines() if not line.startswith(JSON_MARK)))
        results["pages"] = json.loads(next(line for line in out.splitlines()
                                           if line.startswith(JSON_MARK))[len(JSON_MARK):])
    except (TimeoutError, base.CommandFailed) as exc:
        print(f"\nstopped: {exc}")
        results["error"] = str(exc)
    finally:
        base._stop_all()
        if static_root:
            base.shutil.rmtree(static_root, ignore_errors=True)
        if code_is_copy:
            base.shutil.rmtree(base.CODE, ignore_errors=True)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    pages = results.get("pages", [])
    over = [p for p in pages if p["median_ms"] > args.budget_ms]
    bad = [p for p in pages if p["status"] != 200]
    print(f"\n=== summary ({time.perf_counter() - started:.0f} s) ===")
    if pages:
        print(f"{len(pages)} pages; slowest median {max(p['median_ms'] for p in pages):.1f} ms "
              f"({max(pages, key=lambda p: p['median_ms'])['page']}); {len(over)} over {args.budget_ms:.0f} ms"
              + (f": {', '.join(p['page'] for p in over)}" if over else "")
              + (f"; non-200: {', '.join(p['page'] + ' ' + str(p['status']) for p in bad)}" if bad else ""))
    if results.get("pgbench"):
        print(f"pgbench in the same run: {results['pgbench']['tps']:,.0f} tps")
    if results.get("error"):
        print(f"ERROR: {results['error']}")
    return 1 if results.get("error") or bad else 0


if __name__ == "__main__":
    sys.exit(main())
