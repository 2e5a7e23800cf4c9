"""Thin Celery tasks: call one service, safe to run twice."""

from celery import shared_task

from .services.sweeps import complaints_sweep


@shared_task(ignore_result=True)
def sweep_complaints_and_closures() -> dict[str, int]:
    """Frequent sweep: escalate breached deadlines, close complaints resolved 7 days ago,
    move closure requests whose balance is paid forward and expire unpaid ones."""
    return complaints_sweep()
