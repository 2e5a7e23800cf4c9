"""``manage.py simulate``: a small seeded population through the real services, API and nightly
close. Runs on real PostgreSQL with committed transactions (the storefront's concurrent
retries use their own connections), so every test is transactional."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import AccountStatusChange, AuditEvent, CreditAccount, Customer, JournalEntry
from config.cob.models import CobFailure
from config.simulation import SimulationRefused, edges, payments, population, simulate
from config.simulation import faults as fault_module
from installments.models import (
    CreditBalancePayout,
    InstallmentPlan,
    PaymentAttempt,
    Refund,
    Repayment,
    SandboxGatewayPayout,
    Statement,
)

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS, DAYS = 30, 45  # long enough for the first due dates and their auto-debits


def test_same_seed_same_report_and_audit_passes_different_seed_differs():
    first = simulate(customers=16, days=24, seed=11)
    assert first.audit_violations == []
    assert "audit_ledger: OK" in first.report
    assert first.counts["purchases tried"] > 0 and first.counts["complaints filed"] > 0
    assert first.money["purchased"] != "0.00"
    second = simulate(customers=16, days=24, seed=11, reset=True)
    assert second.report == first.report
    # four eyes: the author's own activation of the 90-day write-off age was refused, another
    # manager activated it, and every plan keeps that age
    assert first.counts["refused policy activation by its author: four_eyes"] == 1
    assert set(InstallmentPlan.objects.values_list("write_off_days", flat=True)) == {90}
    assert "plans by write-off age: 90 days" in first.report
    other = simulate(customers=16, days=24, seed=12, reset=True)
    assert other.audit_violations == []
    assert other.report != first.report
    assert other.money != first.money


def test_fault_run_ends_with_the_clean_runs_money(monkeypatch):
    monkeypatch.setattr(fault_module.PLAN, "timeout_percent", 100)  # enough lost answers in a small run
    clean = simulate(customers=CUSTOMERS, days=DAYS, seed=11)
    assert clean.audit_violations == []
    # the population really lived: auto-debit collected and failed, people repaid by hand
    assert Repayment.objects.filter(source="auto_debit").exists()
    assert Repayment.objects.filter(source="manual").exists()
    assert PaymentAttempt.objects.exclude(status="succeeded").exists()
    faulty = simulate(customers=CUSTOMERS, days=DAYS, seed=11, faults=True, reset=True)
    assert faulty.audit_violations == []
    assert faulty.money == clean.money
    # every kind of fault really happened
    for name in ("gateway answers lost after charging", "workers killed mid-close (after the gateway charged a chunk)",
                 "celery tasks delivered twice", "business days closed a second time",
                 "duplicate API requests answered 'request_in_progress'"):
        assert faulty.faults.get(name, 0) > 0, name
    # the lost answers were reconciled, nothing is left unknown or submitted
    assert not PaymentAttempt.objects.filter(status__in=["unknown", "submitted"]).exists()
    # the report body is the clean one; only the title says faults were injected
    assert faulty.report.replace(", with faults", "", 1) == clean.report


def test_refused_on_a_database_with_customers_and_under_production():
    simulate(customers=3, days=2, seed=1)
    customers, entries = Customer.objects.count(), JournalEntry.objects.count()
    with pytest.raises(SimulationRefused, match="already has customers"):
        simulate(customers=3, days=2, seed=1)
    with override_settings(TALLY_ENVIRONMENT="production"), pytest.raises(CommandError, match="production"):
        call_command("simulate", customers=3, days=2, reset=True)
    assert (Customer.objects.count(), JournalEntry.objects.count()) == (customers, entries)


def test_command_prints_the_report(capsys):
    call_command("simulate", customers=5, days=3, seed=2, no_progress=True)
    out = capsys.readouterr().out
    assert out.startswith("Simulation: 5 customers, 3 business days, seed 2\n")
    assert "Applications by outcome" in out and "audit_ledger: OK" in out


def _every_edge_often(monkeypatch) -> None:
    """Turn the edges up (each lived by most of the people it can happen to) and the new faults
    to every good-card charge and every payout, so that a small population shows them all."""
    monkeypatch.setattr(edges, "RECOVERY_PAY_SHARE", 0.5)
    monkeypatch.setattr(edges, "RECOVERY_CARD_SHARE", 0.5)
    monkeypatch.setattr(edges, "NEW_CARD_SHARE", 1.0)
    monkeypatch.setattr(edges, "PAYOUT_SHARE", 0.5)
    monkeypatch.setattr(edges, "CONVERTED_REFUND_SHARE", 1.0)
    monkeypatch.setattr(edges, "RECOVERY_AFTER_DAYS", (1, 4))
    monkeypatch.setattr(edges, "CONVERTED_REFUND_AFTER_DAYS", (1, 5))
    monkeypatch.setattr(population, "CONVERTER_SHARE", 1.0)
    monkeypatch.setattr(population, "PERSONAS", (("good", 30), ("late", 10), ("defaulter", 30), ("refunder", 10),
                                                 ("fraud", 5), ("complainer", 10), ("thin", 5)))
    monkeypatch.setattr(payments, "SYSTEM_KEY_REFERENCE_SHARE", 0.5)
    monkeypatch.setattr(fault_module.PLAN, "timeout_percent", 40)
    monkeypatch.setattr(fault_module.PLAN, "pending_percent", 100)  # of the good-card charges not lost
    monkeypatch.setattr(fault_module.PLAN, "payout_loss_percent", 100)
    monkeypatch.setattr(fault_module.PLAN, "step_failure_permille", 60)


EDGE_CUSTOMERS, EDGE_DAYS, EDGE_SEED = 30, 155, 3  # past the 90-day write-off age of the first defaults


@pytest.mark.slow
def test_a_long_run_lives_the_edges_and_its_fault_run_keeps_the_money(monkeypatch):
    _every_edge_often(monkeypatch)
    clean = simulate(customers=EDGE_CUSTOMERS, days=EDGE_DAYS, seed=EDGE_SEED)
    assert clean.audit_violations == []
    written_off = CreditAccount.objects.filter(written_off_on__isnull=False)
    assert written_off.exists()
    # recoveries after write-off: paid by hand, and by auto-debit on a card brought afterwards
    assert Repayment.objects.filter(recovered__gt=0, source="manual").exists()
    assert Repayment.objects.filter(recovered__gt=0, source="auto_debit").exists()
    # closed for cause and still collected: billed, penalised and written off after the closure
    closed = dict(AccountStatusChange.objects.filter(reason_code__in=["FRAUD_CONFIRMED", "BREACH_OF_TERMS"])
                  .values_list("account_id", "business_date"))
    assert closed
    assert written_off.filter(pk__in=list(closed)).exists()
    assert any(day > closed[account_id] for account_id, day in
               Statement.objects.filter(account_id__in=list(closed)).values_list("account_id", "statement_date"))
    # new cards after hard declines (storefront and agents), tried by the next closes
    changes = AuditEvent.objects.filter(action="account.repayment_card_changed")
    assert changes.filter(actor__isnull=False).exists()
    changed = [int(pk) for pk in changes.values_list("object_id", flat=True)]
    assert PaymentAttempt.objects.filter(account_id__in=changed, status="succeeded").exclude(
        card_token="tok_card_closed").exists()
    # credit balances paid out; refunds of converted purchases reduced the bill plans
    assert CreditBalancePayout.objects.filter(status="succeeded").exists()
    assert Refund.objects.filter(purchase__conversions__principal_refunded__gt=0).exists()
    # storefront references equal to the system's own keys, booked beside them
    keyed = Repayment.objects.filter(source="manual", reference__regex=r"^(debit|credit):")
    assert keyed.exists()
    assert any(Repayment.objects.filter(account_id=r.account_id, reference=r.reference).exclude(source="manual").exists()
               for r in keyed)
    assert clean.money["recovered after write-off"] != "0.00" and clean.money["paid out"] != "0.00"

    faulty = simulate(customers=EDGE_CUSTOMERS, days=EDGE_DAYS, seed=EDGE_SEED, faults=True, reset=True)
    assert faulty.audit_violations == []
    assert faulty.money == clean.money
    assert faulty.report.replace(", with faults", "", 1) == clean.report
    for name in ("gateway answers 'pending' after charging", "gateway answers lost after charging",
                 "payout answers lost after the gateway recorded the payout",
                 "close-step answers lost after the work committed (retried by the next close)"):
        assert faulty.faults.get(name, 0) > 0, name
    # every close-step failure was retried by the next close for its own day, and resolved
    failures = CobFailure.objects.all()
    assert {f.step_run.step for f in failures} == set(fault_module.FAILING_STEPS)
    assert all(f.resolved_at is not None and f.retries == 1 for f in failures)
    for step in fault_module.FAILING_STEPS:
        recorded = faulty.faults[f"close-step failures of {step}: recorded"]
        assert recorded == faulty.faults[f"close-step failures of {step}: resolved by the retry"] > 0
    # every unclear answer was asked about and settled: nothing is left unknown
    assert not PaymentAttempt.objects.filter(status__in=["unknown", "submitted"]).exists()
    assert not CreditBalancePayout.objects.filter(status__in=["unknown", "submitted"]).exists()
    assert SandboxGatewayPayout.objects.filter(outcome="succeeded").count() == \
        CreditBalancePayout.objects.filter(status="succeeded").count()
