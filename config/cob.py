"""The nightly close of business (DOMAIN.md §2): which steps, in which order, and how they
are run. One run at a time (PostgreSQL advisory lock); each step is idempotent per
(account, business date, step) by the unique keys of what it writes, so a day run twice —
or crashed half-way and run again — changes nothing twice. Per-account steps are split
into chunks of account ids; with ``fan_out`` the chunks go to Celery workers as a
``group`` (more workers on more machines → faster), otherwise they run in this process.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import services as account_services
from accounts.models import CobFailure, CobRun, CobStepRun

logger = logging.getLogger("tally.cob")

ADVISORY_LOCK_KEY = 7_355_608  # "one close of business at a time"
CHUNK_SIZE = 500


class CobAlreadyRunning(Exception):
    pass


@dataclass(frozen=True)
class Step:
    name: str
    select: Callable[[date], list[int]] | None = None  # ids to process one by one
    run_one: Callable[[int, date], object] | None = None
    run_all: Callable[[date], dict] | None = None  # a set-based step
    run_many: Callable[[list[int], date], list[int]] | None = None  # a chunk at once → ids left to run_one


def _end_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def _steps() -> list[Step]:
    from installments import repayments, services
    from risk import limits
    from risk import services as risk_services

    return [
        Step("reconcile_unknown_attempts", repayments.attempts_to_reconcile,
             lambda attempt_id, d: repayments.reconcile_attempt(attempt_id=attempt_id, business_date=d)),
        Step("accrue_penalties", repayments.accounts_overdue,
             lambda account_id, d: repayments.penalty_accrue(account_id=account_id, business_date=d),
             run_many=lambda ids, d: repayments.penalties_accrue_accounts(account_ids=ids, business_date=d)),
        Step("classify_delinquency", repayments.accounts_to_classify,
             lambda account_id, d: repayments.delinquency_classify(account_id=account_id, business_date=d),
             run_many=lambda ids, d: repayments.delinquency_classify_accounts(account_ids=ids, business_date=d)),
        Step("issue_statements", services.accounts_to_bill,
             lambda account_id, d: services.statement_issue(account_id=account_id, statement_date=d),
             run_many=lambda ids, d: _all_done(services.statements_issue_accounts(account_ids=ids, statement_date=d))),
        Step("post_fees", services.accounts_with_fees_due,
             lambda account_id, d: services.fees_post_due(account_id=account_id, business_date=d),
             run_many=lambda ids, d: _all_done(services.fees_post_due_accounts(account_ids=ids, business_date=d))),
        Step("auto_debit", repayments.accounts_to_debit,
             lambda account_id, d: repayments.auto_debit_account(account_id=account_id, business_date=d),
             run_many=lambda ids, d: repayments.auto_debit_accounts(account_ids=ids, business_date=d)),
        Step("release_holds", lambda d: repayments.accounts_with_holds_due(_end_of(d)),
             lambda account_id, d: repayments.holds_release(account_id=account_id, until=_end_of(d))),
        Step("recalculate_limits", run_all=lambda d: limits.limits_recalculate(business_date=d)),
        Step("write_off", repayments.accounts_to_write_off,
             lambda account_id, d: repayments.write_off_account(account_id=account_id, business_date=d)),
        Step("escalate_deadlines", run_all=lambda d: {
            "review_cases": risk_services.review_cases_flag_breaches(now=_end_of(d)),
            **_escalate_complaints(d)}),
    ]


def _all_done(_result) -> list[int]:
    """``run_many`` of a batch that does every account of its chunk (or raises)."""
    return []


def _escalate_complaints(day: date) -> dict:
    """Escalate missed complaint deadlines, auto-close resolved complaints and move closure
    requests on, as of the end of the business day (the frequent sweep does the same)."""
    from complaints.services import complaints_sweep

    return {"complaints": complaints_sweep(now=_end_of(day))}


def step_by_name(name: str) -> Step:
    for step in _steps():
        if step.name == name:
            return step
    raise KeyError(name)


def run_chunk(step_name: str, business_date: date, ids: list[int], step_run_id: int | None) -> tuple[int, int]:
    """Process one chunk; a failing account is recorded and the others go on. A step with
    ``run_many`` does the chunk at once; if that fails, the chunk is run one by one (every
    step is idempotent per account, so whatever the batch did is not done twice)."""
    step = step_by_name(step_name)
    processed = failures = 0
    if step.run_many is not None and ids:
        try:
            leftover = step.run_many(ids, business_date)
            processed, ids = len(ids) - len(leftover), leftover
        except Exception:
            logger.exception("close of business %s step %s: chunk of %s failed; running it one by one",
                             business_date, step_name, len(ids))
    for item_id in ids:
        try:
            step.run_one(item_id, business_date)
            processed += 1
        except Exception as exc:
            failures += 1
            logger.exception("close of business %s step %s failed for %s", business_date, step_name, item_id)
            if step_run_id is not None:
                account_id = item_id if step_name != "reconcile_unknown_attempts" else None
                CobFailure.objects.create(step_run_id=step_run_id, account_id=account_id,
                                          error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"[:4000])
    return processed, failures


def _dispatch(step: Step, business_date: date, ids: list[int], step_run_id: int, fan_out: bool) -> tuple[int, int]:
    chunks = [ids[i:i + CHUNK_SIZE] for i in range(0, len(ids), CHUNK_SIZE)]
    if not fan_out:
        totals = [run_chunk(step.name, business_date, chunk, step_run_id) for chunk in chunks]
    else:
        from celery import group

        from accounts.tasks import cob_chunk

        result = group(cob_chunk.s(step.name, business_date.isoformat(), chunk, step_run_id)
                       for chunk in chunks).apply_async(queue=settings.TALLY_COB_CHUNK_QUEUE)
        totals = result.get(disable_sync_subtasks=False, propagate=True,
                            timeout=settings.TALLY_COB_STEP_TIMEOUT_SECONDS)
    return sum(t[0] for t in totals), sum(t[1] for t in totals)


def run_day(business_date: date, *, fan_out: bool = False, rerun_completed_steps: bool = False) -> CobRun:
    """Run every step for ``business_date`` (without advancing the date)."""
    run, created = CobRun.objects.get_or_create(business_date=business_date)
    if not created:
        CobRun.objects.filter(pk=run.pk).update(attempts=run.attempts + 1, status="running")
    for position, step in enumerate(_steps(), start=1):
        if not rerun_completed_steps and CobStepRun.objects.filter(run=run, step=step.name,
                                                                   status="completed").exists():
            continue
        step_run = CobStepRun.objects.create(run=run, position=position, step=step.name)
        if step.run_all is not None:
            detail = step.run_all(business_date)
            processed, failures, count = sum(v for v in detail.values() if isinstance(v, int)), 0, 0
        else:
            ids = step.select(business_date)
            count = len(ids)
            processed, failures = _dispatch(step, business_date, ids, step_run.pk, fan_out)
            detail = {}
        CobStepRun.objects.filter(pk=step_run.pk).update(
            status="completed", accounts=count, processed=processed, failures=failures, detail=detail,
            finished_at=timezone.now())
    CobRun.objects.filter(pk=run.pk).update(status="completed", finished_at=timezone.now())
    run.refresh_from_db()
    return run


def _try_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def _unlock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


def close_business_day(*, fan_out: bool = False) -> CobRun:
    """Close the current business day and advance the business date by one."""
    if not _try_lock():
        raise CobAlreadyRunning(_("another close of business is running"))
    try:
        day = account_services.business_date_get()
        run = run_day(day, fan_out=fan_out)
        with transaction.atomic():
            if account_services.business_date_get() == day:
                account_services.business_date_set(new_date=day + timedelta(days=1), acting_user=None,
                                                   reason=f"close of business {day}")
        return run
    finally:
        _unlock()


def close_business_days_until(target: date, *, fan_out: bool = False) -> list[CobRun]:
    """Close day by day until the business date equals ``target`` (catch-up of missed days)."""
    runs = []
    while account_services.business_date_get() < target:
        runs.append(close_business_day(fan_out=fan_out))
    return runs


def summary_line(run: CobRun) -> str:
    steps = run.steps.order_by("position", "id")
    failures = sum(s.failures for s in steps)
    parts = ", ".join(f"{s.step}={s.processed}" for s in steps)
    return f"{run.business_date}: closed ({parts}; failures={failures})"
