"""Running the nightly close (docs/rules.md §2): one run at a time (PostgreSQL advisory lock),
the steps of ``pipeline`` in order, a day's run recorded step by step so a crashed run goes
on where it stopped. Chunked steps split their ids into chunks; with ``fan_out`` the chunks
go to Celery workers as a ``group`` (more workers on more machines → faster), otherwise they
run in this process. A chunk that fails is run again account by account (a chunk of one),
so one account's failure is recorded on that account and never stops the others; the next
close runs it again for its own business date until it succeeds."""

from __future__ import annotations

import logging
import threading
import traceback
from datetime import date

from celery import group
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.business_day import business_date_advance, business_date_get
from config.celery_app import app

from . import pipeline
from .models import CobFailure, CobRun, CobStepRun
from .pipeline import Step

logger = logging.getLogger("tally.cob")

ADVISORY_LOCK_KEY = 7_355_608  # "one close of business at a time"
CHUNK_SIZE = 500
CHUNK_TASK = "config.cob.tasks.cob_chunk"  # by name: the tasks module imports this one
RETRY_STEP = "retry_failures"  # the close's first step: what failed in earlier closes, run again


class CobAlreadyRunning(Exception):
    pass


def run_chunk(step_name: str, business_date: date, ids: list[int], step_run_id: int | None) -> tuple[int, int]:
    """Process one chunk of a step: (processed, failures). If the chunk fails as a whole it is
    run again one id at a time; an id that fails alone is recorded as the step's failure and
    the others go on (every step is idempotent per account: nothing is done twice)."""
    step = pipeline.step_by_name(step_name)
    if step.run is None:
        raise ValueError(f"{step_name} is not a chunked step")
    if not ids:
        return 0, 0
    try:
        step.run(ids, business_date)
        return len(ids), 0
    except Exception as exc:
        if len(ids) == 1:
            _record_failure(step, business_date, ids[0], step_run_id, exc)
            return 0, 1
        logger.exception("close of business %s step %s: chunk of %s failed; running it one by one",
                         business_date, step_name, len(ids))
    processed = failures = 0
    for item_id in ids:
        try:
            step.run([item_id], business_date)
            processed += 1
        except Exception as exc:
            _record_failure(step, business_date, item_id, step_run_id, exc)
            failures += 1
    return processed, failures


def _record_failure(step: Step, business_date: date, item_id: int, step_run_id: int | None,
                    exc: Exception) -> None:
    logger.exception("close of business %s step %s failed for %s", business_date, step.name, item_id)
    if step_run_id is not None:
        CobFailure.objects.create(step_run_id=step_run_id, account_id=item_id if step.ids_are_accounts else None,
                                  item_id=item_id, error=_error_text(exc))


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"[:4000]


def retry_open_failures(before: date) -> tuple[int, int]:
    """Run again, for its own business date, every step an account (or attempt) failed in a
    close before ``before`` and that has not succeeded since — oldest first, in step order —
    before that close's own steps (docs/rules.md §2). A retry that succeeds resolves the
    failure; one that fails again stays open (``retries`` counts) for the next close. Returns
    (resolved, still open)."""
    resolved = still_open = 0
    failures = (CobFailure.objects.filter(resolved_at__isnull=True, item_id__isnull=False,
                                          step_run__run__business_date__lt=before)
                .select_related("step_run__run").order_by("step_run__run__business_date", "step_run__position", "id"))
    for failure in failures:
        if retry_failure(failure):
            resolved += 1
        else:
            still_open += 1
    return resolved, still_open


def retry_failure(failure: CobFailure) -> bool:
    """Run ``failure``'s step again for its item and its own business date: resolved (True) if
    it succeeds, else still open with the new error (``retries`` counts either way)."""
    step = pipeline.step_by_name(failure.step_run.step)
    day = failure.step_run.run.business_date
    assert step.run is not None and failure.item_id is not None  # only chunked steps record failures
    try:
        step.run([failure.item_id], day)
    except Exception as exc:
        logger.exception("close of business: retry of %s for %s on %s failed again", step.name,
                         failure.item_id, day)
        CobFailure.objects.filter(pk=failure.pk).update(retries=failure.retries + 1, error=_error_text(exc))
        return False
    CobFailure.objects.filter(pk=failure.pk).update(retries=failure.retries + 1, resolved_at=timezone.now())
    return True


def _dispatch(step: Step, business_date: date, ids: list[int], step_run_id: int, fan_out: bool) -> tuple[int, int]:
    chunks = [ids[i:i + CHUNK_SIZE] for i in range(0, len(ids), CHUNK_SIZE)]
    if not fan_out:
        totals = [run_chunk(step.name, business_date, chunk, step_run_id) for chunk in chunks]
    else:
        result = group(app.signature(CHUNK_TASK, args=(step.name, business_date.isoformat(), chunk, step_run_id))
                       for chunk in chunks).apply_async(queue=settings.TALLY_COB_CHUNK_QUEUE)
        totals = result.get(disable_sync_subtasks=False, propagate=True,
                            timeout=settings.TALLY_COB_STEP_TIMEOUT_SECONDS)
    return sum(t[0] for t in totals), sum(t[1] for t in totals)


def run_day(business_date: date, *, fan_out: bool = False, rerun_completed_steps: bool = False) -> CobRun:
    """Retry what failed in earlier closes, then run every step for ``business_date``
    (without advancing the date)."""
    run, created = CobRun.objects.get_or_create(business_date=business_date)
    if not created:
        CobRun.objects.filter(pk=run.pk).update(attempts=run.attempts + 1, status="running")
    if rerun_completed_steps or not CobStepRun.objects.filter(run=run, step=RETRY_STEP, status="completed").exists():
        step_run = CobStepRun.objects.create(run=run, position=0, step=RETRY_STEP)
        resolved, still_open = retry_open_failures(business_date)
        CobStepRun.objects.filter(pk=step_run.pk).update(
            status="completed", accounts=resolved + still_open, processed=resolved,
            detail={"resolved": resolved, "still_open": still_open}, finished_at=timezone.now())
    for position, step in enumerate(pipeline.STEPS, start=1):
        if not rerun_completed_steps and CobStepRun.objects.filter(run=run, step=step.name,
                                                                   status="completed").exists():
            continue
        step_run = CobStepRun.objects.create(run=run, position=position, step=step.name)
        if step.run_all is not None:
            detail = step.run_all(business_date)
            processed, failures, count = sum(v for v in detail.values() if isinstance(v, int)), 0, 0
        else:
            assert step.select is not None
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


_lock_holder = threading.local()


def _try_lock() -> bool:
    """Take the close's lock on a connection of its own, as a transaction-level lock in a
    transaction held open until ``_unlock``. Behind a transaction-mode pooler
    (``DATABASE_POOLER``) that transaction keeps its one server connection, where a session
    lock would stay behind on whichever server connection took it (decision 0038). The held
    transaction writes nothing and keeps no snapshot between statements: it does not hold
    vacuum back. A process that dies drops the connection, and the lock with it."""
    wrapper = type(connections[connection.alias])
    holder = wrapper(dict(connection.settings_dict), alias=connection.alias)
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        locked = bool(cursor.fetchone()[0])
    if not locked:
        holder.rollback()
        holder.close()
        return False
    _lock_holder.connection = holder
    return True


def _unlock() -> None:
    holder = getattr(_lock_holder, "connection", None)
    _lock_holder.connection = None
    if holder is not None:
        try:
            holder.rollback()
        finally:
            holder.close()


def close_business_day(*, fan_out: bool = False) -> CobRun:
    """Close the current business day and advance the business date by one."""
    if not _try_lock():
        raise CobAlreadyRunning(_("another close of business is running"))
    try:
        day = business_date_get()
        run = run_day(day, fan_out=fan_out)
        business_date_advance(from_date=day, reason=f"close of business {day}")
        return run
    finally:
        _unlock()


def close_business_days_until(target: date, *, fan_out: bool = False) -> list[CobRun]:
    """Close day by day until the business date equals ``target`` (catch-up of missed days)."""
    runs = []
    while business_date_get() < target:
        runs.append(close_business_day(fan_out=fan_out))
    return runs


def summary_line(run: CobRun) -> str:
    steps = run.steps.order_by("position", "id")
    failures = sum(s.failures for s in steps)
    parts = ", ".join(f"{s.step}={s.processed}" for s in steps)
    return f"{run.business_date}: closed ({parts}; failures={failures})"

