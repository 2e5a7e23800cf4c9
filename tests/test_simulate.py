"""``manage.py simulate``: a small seeded population through the real services, API and nightly
close. Runs on real PostgreSQL with committed transactions (the storefront's concurrent
retries use their own connections), so every test is transactional."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import Customer, JournalEntry
from config.simulation import SimulationRefused, simulate
from config.simulation import faults as fault_module
from installments.models import PaymentAttempt, Repayment

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
