"""``seed_demo``: staff per role, applications in every state, and activity for the agents'
queues, through the real services; a second run changes nothing."""

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from accounts import ledger_checks
from complaints.models import ClosureRequest, Complaint
from installments.models import Purchase, Repayment
from risk.models import Application

pytestmark = pytest.mark.django_db


def _counts():
    return (User.objects.count(), Application.objects.count(), Purchase.objects.count(),
            Repayment.objects.count(), Complaint.objects.count(), ClosureRequest.objects.count())


def test_seed_demo_fills_every_queue_once():
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO())
    assert "note:" not in out.getvalue()
    statuses = set(Application.objects.values_list("status", flat=True))
    assert {"approved", "rejected", "in_review", "pending_retry"} <= statuses
    assert set(User.objects.filter(is_staff=True).values_list("username", flat=True)) >= {
        "reviewer", "manager", "agent", "supervisor", "ops", "collector", "admin"}
    assert sorted(Complaint.objects.values_list("category", flat=True)) == [
        "activation_failed", "auto_debit_failed", "limit_not_restored"]
    assert Purchase.objects.count() == 6
    repayment = Repayment.objects.get()
    assert repayment.amount > 0
    assert ClosureRequest.objects.get().status == "awaiting_payoff"  # the customer still owes
    assert ledger_checks.run_all()[0] == []

    before = _counts()
    again = StringIO()
    call_command("seed_demo", stdout=again, stderr=StringIO())
    assert "nothing to do" in again.getvalue()
    assert _counts() == before
