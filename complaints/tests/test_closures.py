"""Closure requests (docs/rules.md §9): identity verified by an agent, awaiting payoff while
anything is owed (expiring after 30 days), the risk check, approval closing the account,
the alternatives (lower limit, pause / resume), withdrawal, and system closure by a risk
manager. Each refusal changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.errors import BusinessRuleRefused, Conflict, PermissionRefused, ValidationFailed
from accounts.models import AccountStatusChange, AuditEvent, LimitChange, Notification
from complaints import tasks
from complaints.models import ClosureRequest
from complaints.services.closures import (
    account_close_for_cause,
    account_pause,
    account_resume,
    closure_request_accept_alternative,
    closure_request_create,
    closure_request_decide,
    closure_request_verify_identity,
    closure_request_withdraw,
    closure_requests_advance,
)
from installments.models import CreditBalancePayout, Purchase
from installments.services.purchases import purchase_create
from installments.services.refunds import refund_create
from tests.credit_lines import assert_ledger_ok

from .helpers import START, at, buy, close_until, file, open_account, render, repay, working, world

pytestmark = pytest.mark.django_db


def request_closure(account, **kwargs) -> ClosureRequest:
    return closure_request_create(account_id=account.pk, channel=kwargs.pop("channel", "app"), **kwargs)


def verify(request, user) -> ClosureRequest:
    return closure_request_verify_identity(request_id=request.pk, method="called back on file phone",
                                                    acting_user=user)


def assert_purchase_refused(account):
    with pytest.raises(BusinessRuleRefused) as refused:
        purchase_create(account_id=account.pk, merchant_order_id="after", amount=Decimal("1.00"),
                                             periods=1)
    assert refused.value.code == "account_not_active"


def test_nothing_owed_identity_verified_then_the_account_is_closed(agent):
    account = open_account()
    request = request_closure(account, note="not using it")
    assert (request.status, request.payoff_expires_at, request.origin) == ("under_review", None, "customer")
    before = world()
    with pytest.raises(BusinessRuleRefused) as unverified:
        closure_request_decide(request_id=request.pk, acting_user=agent)
    assert unverified.value.code == "identity_not_verified"
    assert world() == before

    verify(request, agent)

    request.refresh_from_db()
    account.refresh_from_db()
    assert (request.status, request.identity_verified_by, request.decided_by) == ("approved", agent, agent)
    assert [r["code"] for r in request.reasons] == ["CLOSURE_APPROVED"]
    assert (account.status, account.closed_reason, account.closed_on) == ("closed", "CUSTOMER_REQUEST", START)
    assert (account.credit_limit, account.available_limit) == (Decimal("0.00"), Decimal("0.00"))
    change = AccountStatusChange.objects.filter(account=account).first()
    assert (change.from_status, change.to_status, change.reason_code, change.actor) == (
        "active", "closed", "CUSTOMER_REQUEST", agent)
    assert LimitChange.objects.filter(account=account, reason_code="CUSTOMER_REQUEST",
                                      new_limit=Decimal("0.00")).count() == 1
    done = Notification.objects.get(kind="closure_done")
    assert render(done) == "Your credit line is closed. Thank you for using Tally."
    assert list(AuditEvent.objects.filter(object_type="complaints.closurerequest").order_by("id")
                .values_list("action", flat=True)) == [
        "closure_request.created", "closure_request.identity_verified", "closure_request.approved"]
    assert_purchase_refused(account)
    before = world()
    with pytest.raises(Conflict) as closed:
        request_closure(account)
    assert closed.value.code == "account_closed"
    assert world() == before


def test_owing_waits_for_payoff_then_proceeds_when_paid(agent, clock):
    account = open_account()
    buy(account, amount="300.00", periods=3)
    request = request_closure(account)
    assert request.status == "awaiting_payoff"
    assert request.payoff_expires_at == at(START) + timedelta(days=30)
    verify(request, agent)
    request.refresh_from_db()
    assert request.status == "awaiting_payoff"  # verified, still waiting for the money
    before = world()
    assert tasks.sweep_complaints_and_closures()["closure_requests"] == 0
    assert world() == before

    repay(account, "300.00")  # pays off (no fee is owed before its due date)
    clock.shift(timedelta(hours=1))
    assert tasks.sweep_complaints_and_closures()["closure_requests"] == 2  # paid off, then approved

    request.refresh_from_db()
    account.refresh_from_db()
    assert (request.status, request.decided_by) == ("approved", None)
    assert account.status == "closed"
    assert list(AuditEvent.objects.filter(object_type="complaints.closurerequest").order_by("id")
                .values_list("action", flat=True)) == [
        "closure_request.created", "closure_request.identity_verified", "closure_request.payoff_complete",
        "closure_request.approved"]
    assert_purchase_refused(account)


def test_a_paid_off_request_waits_for_identity_verification(agent):
    account = open_account()
    buy(account)
    request = request_closure(account)
    repay(account, "300.00")
    closure_requests_advance()
    request.refresh_from_db()
    assert request.status == "under_review"
    account.refresh_from_db()
    assert account.status == "active"
    verify(request, agent)
    request.refresh_from_db()
    assert request.status == "approved"


def test_an_unpaid_request_expires_after_30_days(agent, clock):
    account = open_account()
    buy(account)
    request = request_closure(account)
    clock.shift(timedelta(days=30) - timedelta(seconds=1))
    assert closure_requests_advance().expired == 0
    clock.shift(timedelta(seconds=1))
    assert closure_requests_advance().expired == 1
    request.refresh_from_db()
    account.refresh_from_db()
    assert (request.status, [r["code"] for r in request.reasons]) == ("expired", ["PAYOFF_NOT_RECEIVED"])
    assert account.status == "active"
    refused = Notification.objects.get(kind="closure_refused")
    assert render(refused) == ("We could not close your credit line: Your closure request expired because the "
                               "balance was not paid within 30 days.")
    # a new request may be made
    assert request_closure(account).status == "awaiting_payoff"


def test_the_nightly_close_does_not_lose_a_waiting_request(agent):
    """The close of business leaves the request alone; the sweep moves it."""
    account = open_account()
    buy(account)
    request = request_closure(account)
    close_until(date(2026, 11, 23))
    request.refresh_from_db()
    assert request.status == "awaiting_payoff"


def test_risk_check_refuses_with_an_open_dispute(agent):
    account = open_account()
    dispute = file(account, category="billing_dispute")
    request = request_closure(account)
    verify(request, agent)
    request.refresh_from_db()
    account.refresh_from_db()
    assert request.status == "rejected"
    assert [r["code"] for r in request.reasons] == ["OPEN_DISPUTE"]
    assert str(dispute.pk) in request.reasons[0]["detail"]
    assert account.status == "active"
    text = render(Notification.objects.get(kind="closure_refused"))
    assert text.startswith("We could not close your credit line: Your credit line cannot be closed while a dispute")


def test_a_credit_balance_is_paid_out_at_closure_and_a_frozen_account_is_refused(
        agent, django_capture_on_commit_callbacks):
    account = open_account()
    buy(account, amount="300.00", periods=1)
    repay(account, "300.00")
    purchase = Purchase.objects.get(account=account)
    refund_create(purchase_id=purchase.pk, merchant_refund_id="r-1", amount=Decimal("100.00"))
    account.refresh_from_db()
    assert account.credit_balance == Decimal("100.00")
    request = request_closure(account)
    with django_capture_on_commit_callbacks(execute=True):  # the payout is sent once the closure commits
        verify(request, agent)
    request.refresh_from_db()
    account.refresh_from_db()
    assert (request.status, account.status, account.credit_balance) == ("approved", "closed", Decimal("0.00"))
    payout = CreditBalancePayout.objects.get(account=account)
    assert (payout.amount, payout.status, payout.reason) == (Decimal("100.00"), "succeeded", "closure")
    assert Notification.objects.filter(account=account, kind="payout_sent").count() == 1
    assert_ledger_ok()

    frozen = open_account(2)
    frozen.freeze()
    frozen.save()
    request = request_closure(frozen)
    verify(request, agent)
    request.refresh_from_db()
    frozen.refresh_from_db()
    assert (request.status, [r["code"] for r in request.reasons]) == ("rejected", ["ACCOUNT_FROZEN"])
    assert frozen.status == "frozen"


def test_closure_request_refusals_change_nothing(agent, reviewer):
    account = open_account()
    first = request_closure(account)
    before = world()
    with pytest.raises(Conflict) as duplicate:
        request_closure(account)
    assert duplicate.value.code == "closure_request_open"
    assert duplicate.value.details["closure_request_id"] == str(first.pk)
    with pytest.raises(ValidationFailed):
        request_closure(account, channel="fax")
    with pytest.raises(PermissionRefused):
        request_closure(account, acting_user=reviewer)
    with pytest.raises(PermissionRefused):
        verify(first, reviewer)
    with pytest.raises(ValidationFailed):
        closure_request_verify_identity(request_id=first.pk, method=" ", acting_user=agent)
    with pytest.raises(ValidationFailed):
        closure_request_withdraw(request_id=first.pk, note="", acting_user=agent)
    assert world() == before


def test_the_customer_accepts_a_lower_limit_instead(agent):
    account = open_account()
    request = request_closure(account)
    before = world()
    for bad in (None, Decimal("1000.00"), Decimal("1500.00"), Decimal("450.00"), Decimal("0.00")):
        with pytest.raises(ValidationFailed):
            closure_request_accept_alternative(request_id=request.pk, alternative="lower_limit",
                                                        new_limit=bad, note="", acting_user=agent)
    with pytest.raises(ValidationFailed):
        closure_request_accept_alternative(request_id=request.pk, alternative="cheaper", note="",
                                                    acting_user=agent)
    assert world() == before

    closure_request_accept_alternative(request_id=request.pk, alternative="lower_limit",
                                                new_limit=Decimal("500.00"), note="lower is fine", acting_user=agent)

    request.refresh_from_db()
    account.refresh_from_db()
    assert (request.status, request.alternative) == ("withdrawn", "lower_limit")
    assert request.alternative_detail == {"old_limit": "1000.00", "new_limit": "500.00"}
    assert (account.status, account.credit_limit, account.available_limit) == (
        "active", Decimal("500.00"), Decimal("500.00"))
    change = LimitChange.objects.get(account=account, reason_code="CUSTOMER_REQUEST")
    assert (change.old_limit, change.new_limit, change.actor) == (Decimal("1000.00"), Decimal("500.00"), agent)
    assert Notification.objects.filter(kind="limit_changed", account=account).count() == 1
    before = world()
    with pytest.raises(Conflict):
        closure_request_withdraw(request_id=request.pk, note="again", acting_user=agent)
    assert world() == before


def test_the_customer_pauses_instead_and_resumes_later(agent):
    account = open_account()
    buy(account, amount="100.00", periods=1)
    request = request_closure(account)
    closure_request_accept_alternative(request_id=request.pk, alternative="pause", note="travelling",
                                                acting_user=agent)
    request.refresh_from_db()
    account.refresh_from_db()
    assert (request.status, request.alternative) == ("withdrawn", "pause")
    assert (account.status, account.paused_by_customer) == ("suspended", True)
    assert AccountStatusChange.objects.filter(account=account).first().reason_code == "PAUSED_BY_CUSTOMER"
    assert_purchase_refused(account)
    close_until(date(2026, 11, 22))  # the nightly close keeps a paused account suspended
    account.refresh_from_db()
    assert account.status == "suspended"
    before = world()
    with pytest.raises(Conflict):
        account_pause(account_id=account.pk, note="again", acting_user=agent)
    assert world() == before

    account_resume(account_id=account.pk, note="back home", acting_user=agent)

    account.refresh_from_db()
    assert (account.status, account.paused_by_customer) == ("active", False)
    assert AccountStatusChange.objects.filter(account=account).first().reason_code == "RESUMED_BY_CUSTOMER"
    purchase_create(account_id=account.pk, merchant_order_id="o-2", amount=Decimal("10.00"),
                                         periods=1)
    before = world()
    with pytest.raises(Conflict):
        account_resume(account_id=account.pk, note="again", acting_user=agent)
    assert world() == before


def test_a_risk_manager_closes_for_cause_even_while_money_is_owed(agent, supervisor, manager):
    account = open_account()
    buy(account)
    open_request = request_closure(account)
    before = world()
    for user in (agent, supervisor):
        with pytest.raises(PermissionRefused):
            account_close_for_cause(account_id=account.pk, reason_code="FRAUD_CONFIRMED", note="x",
                                             acting_user=user)
    with pytest.raises(ValidationFailed) as bad:
        account_close_for_cause(account_id=account.pk, reason_code="DISLIKE", note="", acting_user=manager)
    assert set(bad.value.details) == {"reason_code", "note"}
    assert world() == before

    system = account_close_for_cause(account_id=account.pk, reason_code="FRAUD_CONFIRMED",
                                              note="card testing confirmed by the bank", acting_user=manager)

    account.refresh_from_db()
    open_request.refresh_from_db()
    assert (system.origin, system.status, system.decided_by) == ("system", "approved", manager)
    assert (account.status, account.closed_reason) == ("closed", "FRAUD_CONFIRMED")
    assert account.principal_outstanding == Decimal("300.00")  # collection continues
    assert open_request.status == "withdrawn"
    assert render(Notification.objects.get(kind="closure_done")) == "Your credit line was closed for security reasons."
    assert AuditEvent.objects.get(action="closure_request.system_closure").actor == manager
    before = world()
    with pytest.raises(Conflict):
        account_close_for_cause(account_id=account.pk, reason_code="BREACH_OF_TERMS", note="x",
                                         acting_user=manager)
    assert world() == before


def test_a_risk_manager_handles_closure_requests(manager):
    account = open_account()
    request = request_closure(account)
    verify(request, manager)
    request.refresh_from_db()
    assert request.status == "approved"


def test_an_agent_records_the_request_with_identity_in_one_step(agent):
    account = open_account()
    working(file(account, category="closure"), agent)
    request = request_closure(account, acting_user=agent, identity_method="ID card", channel="phone")
    assert (request.status, request.created_by, request.identity_verified_by) == ("approved", agent, agent)
