"""The close's Celery tasks (thin, safe to run twice)."""

from datetime import date

from celery import shared_task

from accounts import clock

from . import runner


@shared_task(acks_late=True, reject_on_worker_lost=True)
def cob_chunk(step_name: str, business_date: str, ids: list[int], step_run_id: int) -> tuple[int, int]:
    """One chunk of accounts of one close-of-business step (safe to run twice)."""
    return runner.run_chunk(step_name, date.fromisoformat(business_date), ids, step_run_id)


@shared_task(ignore_result=True)
def close_business_days() -> int:
    """Beat: close every business date earlier than today's calendar date, day by day."""
    try:
        return len(runner.close_business_days_until(clock.localdate(), fan_out=True))
    except runner.CobAlreadyRunning:
        return 0
