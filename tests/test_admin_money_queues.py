"""The money pages of the back office, part two (part one: ``test_admin_money``): the collections
queue, the nightly runs' pages with their failures, restoration holds and their early release,
the read-only money lists."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, CreditAccount
from config.cob.models import CobFailure, CobRun
from installments.models import (
    PaymentAttempt,
    Penalty,
    Purchase,
    Refund,
    Repayment,
    RestorationAlert,
    RestorationHold,
    Statement,
)
from installments.services import fees, repayments
from installments.services.refunds import refund_create
from tests.test_admin_money import (  # noqa: F401 - start: the autouse fixture
    COLLECTIONS,
    account_state,
    account_url,
    buy,
    client_for,
    close_until,
    hold_new_accounts,
    open_account,
    readonly_value,
    repay,
    staff,
    start,
)

pytestmark = pytest.mark.django_db


# --- the collections queue ---------------------------------------------------------------------------


def test_collections_queue_lists_overdue_accounts_with_bucket_and_last_attempt(agent):
    late = open_account("tok_insufficient_funds", n=1)
    fine = open_account("tok_ok", n=2)
    buy(late)
    buy(fine, order="o-2")
    close_until(date(2026, 12, 30))
    client = client_for(agent)
    response = client.get(COLLECTIONS)
    assert response.status_code == 200
    [row] = response.context["page"].object_list
    assert row.pk == late.pk
    assert (row.days_past_due, row.bucket, row.overdue_amount, row.outstanding_total, row.status) == (
        9, "1-30", Decimal("102.10"), Decimal("302.10"), "suspended")
    # overdue: 100.00 principal + 1.80 posted fee of the installment due on 20 December + 6 × 0.05
    # penalties; outstanding: 300.00 principal + that one posted fee + the penalties
    assert (row.last_attempt_on, row.last_attempt_status, row.last_attempt_decline_code) == (
        date(2026, 12, 27), "declined", "insufficient_funds")
    html = response.content.decode()
    assert f'data-account="{late.pk}"' in html and f'data-account="{fine.pk}"' not in html
    assert "2026-12-27 declined (insufficient_funds)" in html
    assert "102.10" in html and "adm-1" in html
    assert [a.pk for a in client.get(COLLECTIONS + "?bucket=1-30").context["page"].object_list] == [late.pk]
    assert list(client.get(COLLECTIONS + "?bucket=31-60").context["page"].object_list) == []
    # linked from the credit account list
    assert COLLECTIONS in client.get(reverse("admin:accounts_creditaccount_changelist")).content.decode()


def test_collections_queue_sorts_by_days_past_due_and_needs_account_view_permission(agent):
    older = open_account("tok_insufficient_funds", n=1)
    buy(older)
    close_until(date(2026, 11, 22))
    newer = open_account("tok_insufficient_funds", n=2)
    buy(newer, order="o-2")  # due two days later
    close_until(date(2026, 12, 25))
    rows = client_for(agent).get(COLLECTIONS).context["page"].object_list
    assert [(a.pk, a.days_past_due) for a in rows] == [(older.pk, 4), (newer.pk, 2)]
    assert client_for(staff("ops", "Operations")).get(COLLECTIONS).status_code == 403
    assert Client().get(COLLECTIONS).status_code == 302  # to the login page


def _collections_queries(client: Client, django_assert_num_queries) -> list[int]:
    with django_assert_num_queries(COLLECTIONS_QUERIES):
        response = client.get(COLLECTIONS)
    assert response.status_code == 200
    return [a.pk for a in response.context["page"].object_list]


def test_collections_query_count_does_not_grow_with_accounts(agent, django_assert_num_queries):
    accounts = [open_account("tok_insufficient_funds", n=n) for n in range(20)]
    for account in accounts[:3]:
        buy(account, order=f"o-{account.pk}")
    close_until(date(2026, 11, 21))
    for account in accounts[3:]:
        buy(account, order=f"o-{account.pk}")  # due a day later than the first three
    close_until(date(2026, 12, 22))
    client = client_for(agent)
    client.get(COLLECTIONS)  # warm up (content types, session)
    assert len(_collections_queries(client, django_assert_num_queries)) == 3
    close_until(date(2026, 12, 23))
    assert len(_collections_queries(client, django_assert_num_queries)) == 20


# session, user, staff profile, permissions (user, groups), business date, count, bucket counts, rows,
# the header's unread staff notifications
COLLECTIONS_QUERIES = 10


# --- close-of-business runs ----------------------------------------------------------------------------


def test_cob_run_page_shows_steps_and_failures_to_operations(monkeypatch, agent):
    bad = open_account(n=1)
    good = open_account(n=2)
    buy(bad, order="b")
    buy(good, order="g")
    close_until(date(2026, 12, 20))
    real = fees.post_fees

    def failing(accounts, **due):
        if bad.pk in accounts:
            raise RuntimeError("disk on fire")  # a chunk holding it fails, then it fails alone
        return real(accounts, **due)

    # the close's fee step and a repayment's posting of the fees already due both go through it
    monkeypatch.setattr(fees, "post_fees", failing)
    monkeypatch.setattr(repayments, "post_fees", failing)
    close_until(date(2026, 12, 21))
    run = CobRun.objects.get(business_date=date(2026, 12, 20))
    failure_rows = CobFailure.objects.filter(step_run__run=run)
    ops = client_for(staff("ops", "Operations"))
    listing = ops.get(reverse("admin:cob_cobrun_changelist"))
    assert listing.status_code == 200
    by_date = {r.business_date: r for r in listing.context["cl"].result_list}
    assert by_date[date(2026, 12, 20)].failure_count == failure_rows.count() >= 1
    assert by_date[date(2026, 12, 19)].failure_count == 0
    page = ops.get(reverse("admin:cob_cobrun_change", args=[run.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    steps = [(row["step"].position, row["step"].step, row["step"].failures) for row in page.context["steps"]]
    assert steps[6] == (6, "post_fees", 1)
    assert [s[1] for s in steps][:9] == ["retry_failures", "reconcile_unknown_attempts", "reconcile_unknown_payouts",
                                         "accrue_penalties", "classify_delinquency", "issue_statements", "post_fees",
                                         "apply_credit_balances", "auto_debit"]
    failures = [(f["failure"].step_run.step, f["failure"].account_id, f["summary"]) for f in page.context["failures"]]
    assert ("post_fees", bad.pk, "RuntimeError: disk on fire") in failures
    assert {account_id for _, account_id, _ in failures} == {bad.pk}  # the good account went on
    assert len(failures) == failure_rows.count()
    assert "disk on fire" in html and f"#{bad.pk}" in html
    assert readonly_value(html, "total_failures") == str(failure_rows.count())
    # nobody changes a run
    assert ops.post(reverse("admin:cob_cobrun_change", args=[run.pk]), {"status": "x"}).status_code == 403
    assert client_for(staff("root", superuser=True)).get(
        reverse("admin:cob_cobrun_delete", args=[run.pk])).status_code == 403
    # risk managers see the runs too; CS agents do not
    assert client_for(staff("rm", "Risk manager")).get(
        reverse("admin:cob_cobrun_change", args=[run.pk])).status_code == 200
    assert client_for(agent).get(reverse("admin:cob_cobrun_changelist")).status_code == 403
    assert client_for(agent).get(reverse("admin:cob_cobrun_change", args=[run.pk])).status_code == 403


# --- restoration holds ----------------------------------------------------------------------------------


def _held_account(manager: User) -> tuple[CreditAccount, RestorationHold]:
    hold_new_accounts(manager)
    account = open_account()
    buy(account)
    repayment = repay(account, "50.00", "h-1")
    assert repayment.held_amount == Decimal("50.00")
    account.refresh_from_db()
    assert (account.held_amount, account.available_limit) == (Decimal("50.00"), Decimal("700.00"))
    return account, RestorationHold.objects.get(account=account)


def _release(user: User, hold: RestorationHold):
    return client_for(user).post(reverse("admin:installments_restorationhold_changelist"),
                                 {"action": "release_now", "_selected_action": [hold.pk], "index": 0},
                                 follow=True)


def test_cs_agent_cannot_release_a_hold(manager, agent):
    account, hold = _held_account(manager)
    listing = client_for(agent).get(reverse("admin:installments_restorationhold_changelist"))
    assert listing.status_code == 200  # agents see holds ...
    assert "release_now" not in listing.content.decode()  # ... but are not offered the action
    before = account_state(account)
    audit_before = AuditEvent.objects.count()
    response = _release(agent, hold)
    assert response.status_code == 200
    assert account_state(account) == before
    assert AuditEvent.objects.count() == audit_before


def test_cs_supervisor_releases_a_hold_now(manager):
    account, hold = _held_account(manager)
    supervisor = staff("sup", "CS supervisor")
    assert "release_now" in client_for(supervisor).get(
        reverse("admin:installments_restorationhold_changelist")).content.decode()
    response = _release(supervisor, hold)
    assert response.status_code == 200
    assert "Released 50.00 on account #" in response.content.decode()
    account.refresh_from_db()
    assert (account.held_amount, account.available_limit) == (Decimal("0.00"), Decimal("750.00"))
    hold.refresh_from_db()
    assert hold.released_at is not None and hold.released_by == supervisor
    event = AuditEvent.objects.get(action="restoration_hold.released")
    assert event.actor == supervisor
    # released once: running it again changes nothing
    again = _release(supervisor, hold)
    assert "Nothing released" in again.content.decode()
    account.refresh_from_db()
    assert account.held_amount == Decimal("0.00")
    assert AuditEvent.objects.filter(action="restoration_hold.released").count() == 1
    # the account page shows the hold as released
    page = client_for(supervisor).get(account_url(account))
    [row] = page.context["account_sections"][0]["section"]["holds"]
    assert row.released_by == supervisor


def test_risk_manager_and_superuser_may_release(manager, rf):
    account, hold = _held_account(manager)
    model_admin = django_admin.site.get_model_admin(RestorationHold)

    def may_release(user: User) -> bool:
        request = rf.get("/")
        request.user = user
        return model_admin.has_release_permission(request)

    assert may_release(manager) and may_release(staff("root", superuser=True))
    assert not may_release(staff("agent2", "CS agent"))
    assert not may_release(staff("ops", "Operations"))
    _release(manager, hold)
    account.refresh_from_db()
    assert (account.held_amount, account.available_limit) == (Decimal("0.00"), Decimal("750.00"))


# --- the read-only money lists ------------------------------------------------------------------------------


MONEY_MODELS = [Purchase, Refund, Statement, Repayment, Penalty, PaymentAttempt, RestorationHold, RestorationAlert]


def test_money_lists_are_read_only_and_searchable(manager, agent):
    hold_new_accounts(manager)
    account = open_account("tok_insufficient_funds")
    purchase = buy(account)
    refund_create(purchase_id=purchase.pk, merchant_refund_id="rf-1", amount=Decimal("30.00"))
    repay(account, "10.00", "bank-0")  # a young account: held
    close_until(date(2026, 12, 26))
    repay(account, "20.00", "bank-7")
    RestorationAlert.objects.create(account=account, repayment=Repayment.objects.get(reference="bank-7"),
                                    detail="test alert")
    other = open_account(n=2)
    buy(other, order="o-other")
    root = client_for(staff("root", superuser=True))
    cs = client_for(agent)
    for model in MONEY_MODELS:
        info = model._meta.app_label, model._meta.model_name
        row = model.objects.order_by("id").first()
        assert row is not None, model
        for client in (root, cs):
            listing = client.get(reverse("admin:{}_{}_changelist".format(*info)))
            assert listing.status_code == 200, model
            assert client.get(reverse("admin:{}_{}_change".format(*info), args=[row.pk])).status_code == 200
            assert client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 403
            assert client.post(reverse("admin:{}_{}_change".format(*info), args=[row.pk]), {}).status_code == 403
            assert client.post(reverse("admin:{}_{}_delete".format(*info), args=[row.pk]),
                               {"post": "yes"}).status_code == 403
        # a search by the account id finds that account's rows only
        found = root.get(reverse("admin:{}_{}_changelist".format(*info)) + f"?q={account.pk}")
        assert found.status_code == 200
        assert found.context["cl"].result_list, model
        assert {_account_of(r) for r in found.context["cl"].result_list} == {account.pk}, model

    def search(name: str, term: str) -> list:
        return list(root.get(reverse(f"admin:installments_{name}_changelist") + f"?q={term}")
                    .context["cl"].result_list)

    assert [p.merchant_order_id for p in search("purchase", "o-other")] == ["o-other"]
    assert [r.merchant_refund_id for r in search("refund", "rf-1")] == ["rf-1"]
    assert [r.reference for r in search("repayment", "bank-7")] == ["bank-7"]
    assert search("purchase", "no-such-order") == []
    statuses = root.get(reverse("admin:installments_paymentattempt_changelist") + "?status__exact=declined")
    assert {a.status for a in statuses.context["cl"].result_list} == {"declined"}
    assert Penalty.objects.filter(account=account).exists()
    # CS agents see the app on the admin index
    assert "Purchases and installments" in cs.get(reverse("admin:index")).content.decode()


def _account_of(row) -> int:
    return row.purchase.account_id if isinstance(row, Refund) else row.account_id


def test_hold_released_by_the_close_of_business_shows_on_the_account_page(manager, agent):
    account, hold = _held_account(manager)
    close_until(timezone.localdate(hold.release_at) + timedelta(days=1))
    page = client_for(agent).get(account_url(account))
    [row] = page.context["account_sections"][0]["section"]["repayments"]
    assert row["hold"].released_at is not None
    assert "close of business" in page.content.decode()
