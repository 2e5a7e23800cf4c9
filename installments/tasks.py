"""Thin Celery tasks of ``installments`` (safe to run twice)."""

from celery import shared_task

from accounts import clock

from .selectors import accounts_with_holds_due
from .services.holds import holds_release_accounts


@shared_task(ignore_result=True)
def release_restoration_holds() -> int:
    """Frequent sweep: release every restoration hold whose time has come."""
    now = clock.now()
    ids = accounts_with_holds_due(now)
    if ids:
        holds_release_accounts(account_ids=ids, until=now)
    return len(ids)
