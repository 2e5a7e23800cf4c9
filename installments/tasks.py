"""Thin Celery tasks of ``installments`` (safe to run twice)."""

from celery import shared_task

from accounts import clock

from .selectors import accounts_with_holds_due
from .services.holds import holds_release_accounts
from .services.reconciliation import payments_reconcile


@shared_task(ignore_result=True)
def release_restoration_holds() -> int:
    """Frequent sweep: release every restoration hold whose time has come."""
    now = clock.now()
    ids = accounts_with_holds_due(now)
    if ids:
        holds_release_accounts(account_ids=ids, until=now)
    return len(ids)


@shared_task(ignore_result=True)
def reconcile_payments() -> int:
    """Every 15 minutes: ask the gateway about unknown payment attempts and payouts."""
    return len(payments_reconcile())
