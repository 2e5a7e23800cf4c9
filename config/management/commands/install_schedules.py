"""Install the beat schedules of ``config/schedules.py`` into django-celery-beat's tables.

Idempotent: a second run creates nothing. What a job runs — its task, arguments, queue and
routing — always follows the code (operations staff cannot change it in the admin either,
docs/decisions/0026-beat-without-money-knobs.md). Its timing follows the code when the row is
created or with ``--retime``; otherwise operations' re-timing stands. The ``enabled`` flag
belongs to operations staff and is never touched on an existing row.

- ``--check`` writes nothing: exit 1 when a job of the code is missing, runs something else
  than the code says, or a periodic task not in the code exists (the release fails before
  beat starts); a re-timed job is reported, not refused.
- ``--prune`` deletes the periodic tasks that are not in the code (jobs removed from code).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from accounts.audit_trail import audit_record
from config.schedules import SCHEDULES, Schedule

SCHEDULE_TIMEZONE = "Asia/Shanghai"  # docs/rules.md: the business runs on China Standard Time
_ADVISORY_LOCK_KEY = 7_261_001  # two installers at once (make run and a beat start) take turns
# What a job runs: always as the code says.
RUNS = {"task": None, "args": "[]", "kwargs": "{}", "queue": None, "exchange": None, "routing_key": None,
        "headers": "{}", "solar": None, "clocked": None}


def _interval_for(every_seconds: int, *, create: bool = True) -> IntervalSchedule | None:
    if every_seconds <= 0:
        raise CommandError(f"every_seconds must be positive, got {every_seconds}")
    interval = (IntervalSchedule.objects.filter(every=every_seconds, period=IntervalSchedule.SECONDS)
                .order_by("pk").first())
    if interval is None and create:
        interval = IntervalSchedule.objects.create(every=every_seconds, period=IntervalSchedule.SECONDS)
    return interval


def _crontab_fields(expression: str) -> dict[str, str]:
    parts = expression.split()
    if len(parts) != 5:
        raise CommandError(f"crontab {expression!r} must have 5 fields: minute hour day_of_month month day_of_week")
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    return {"minute": minute, "hour": hour, "day_of_month": day_of_month, "month_of_year": month_of_year,
            "day_of_week": day_of_week}


def _crontab_for(expression: str, *, create: bool = True) -> CrontabSchedule | None:
    fields = _crontab_fields(expression)
    crontab = CrontabSchedule.objects.filter(timezone=SCHEDULE_TIMEZONE, **fields).order_by("pk").first()
    if crontab is None and create:
        crontab = CrontabSchedule.objects.create(timezone=SCHEDULE_TIMEZONE, **fields)
    return crontab


def _validate(schedule: Schedule) -> None:
    if (schedule.every_seconds is None) == (schedule.crontab is None):
        raise CommandError(f"schedule {schedule.name!r} needs exactly one of every_seconds or crontab")


def _runs(schedule: Schedule) -> dict[str, Any]:
    return {**RUNS, "task": schedule.task}


def _timing_matches(task: PeriodicTask, schedule: Schedule) -> bool:
    if schedule.every_seconds is not None:
        return (task.crontab_id is None and task.interval is not None and task.interval.every == schedule.every_seconds
                and task.interval.period == IntervalSchedule.SECONDS)
    crontab = task.crontab
    return (task.interval_id is None and crontab is not None and str(crontab.timezone) == SCHEDULE_TIMEZONE
            and all(getattr(crontab, k) == v for k, v in _crontab_fields(schedule.crontab or "").items()))


def _install_one(schedule: Schedule, *, retime: bool) -> str:
    """Create or update the periodic task of one schedule; returns what happened."""
    _validate(schedule)
    task = PeriodicTask.objects.select_for_update(of=("self",)).select_related("interval", "crontab").filter(
        name=schedule.name).first()
    if task is None or retime:
        timing = {"interval": _interval_for(schedule.every_seconds) if schedule.every_seconds is not None else None,
                  "crontab": _crontab_for(schedule.crontab) if schedule.crontab is not None else None}
    else:
        timing = {}
    wanted = {**_runs(schedule), **timing, "description": schedule.description}
    if task is None:
        PeriodicTask.objects.create(name=schedule.name, enabled=True, **wanted)
        return "created"
    changed = [field for field, value in wanted.items()
               if getattr(task, f"{field}_id" if field in ("interval", "crontab", "solar", "clocked") else field)
               != getattr(value, "pk", value)]
    if not changed:
        return "unchanged" if _timing_matches(task, schedule) else "unchanged (re-timed by operations)"
    before = {field: str(getattr(task, field)) for field in changed}
    for field in changed:
        setattr(task, field, wanted[field])
    task.save()  # ``enabled`` stays as the operator left it
    audit_record(acting_user=None, action="django_celery_beat.periodictask.installed", obj=task, before=before,
                 after={field: str(getattr(task, field)) for field in changed}, reason="install_schedules")
    return "updated (" + ", ".join(changed) + ")"


def _check_one(schedule: Schedule) -> tuple[str, bool]:
    """What differs between the code and the table for one schedule; (line, is a problem)."""
    _validate(schedule)
    task = PeriodicTask.objects.select_related("interval", "crontab").filter(name=schedule.name).first()
    if task is None:
        return "missing", True
    differs = [field for field, value in _runs(schedule).items()
               if getattr(task, f"{field}_id" if field in ("solar", "clocked") else field) != value]
    if differs:
        return "differs from the code (" + ", ".join(differs) + ")", True
    if not _timing_matches(task, schedule):
        return "ok (re-timed by operations)", False
    return "ok", False


class Command(BaseCommand):
    help = ("Install the beat schedules defined in config/schedules.py (idempotent; keeps `enabled` and operations' "
            "timing); --check compares without writing, --prune deletes jobs no longer in the code.")

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the tables differ")
        parser.add_argument("--prune", action="store_true", help="delete periodic tasks not defined in the code")
        parser.add_argument("--retime", action="store_true", help="set every job's timing to the code's")

    def handle(self, *args, check=False, prune=False, retime=False, **options):
        names = [s.name for s in SCHEDULES]
        if len(names) != len(set(names)):
            raise CommandError("config/schedules.py defines the same schedule name twice")
        if check:
            self._check(names)
            return
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
            for schedule in SCHEDULES:
                outcome = _install_one(schedule, retime=retime)
                self.stdout.write(f"{outcome}: {schedule.name} -> {schedule.task} ({_timing(schedule)})")
            if prune:
                for task in PeriodicTask.objects.exclude(name__in=names).exclude(name__startswith="celery.").order_by("name"):
                    audit_record(acting_user=None, action="django_celery_beat.periodictask.pruned", obj=task,
                                 before={"name": task.name, "task": task.task}, reason="install_schedules --prune")
                    task.delete()
                    self.stdout.write(f"deleted (not in the code): {task.name} -> {task.task}")

    def _check(self, names: list[str]) -> None:
        problems = 0
        for schedule in SCHEDULES:
            line, problem = _check_one(schedule)
            problems += problem
            self.stdout.write(f"{line}: {schedule.name} -> {schedule.task} ({_timing(schedule)})")
        for task in PeriodicTask.objects.exclude(name__in=names).exclude(name__startswith="celery.").order_by("name"):
            problems += 1
            self.stdout.write(f"not in the code (install_schedules --prune deletes it): {task.name} -> {task.task}")
        if problems:
            raise CommandError(f"{problems} beat schedule(s) differ from config/schedules.py; run install_schedules")


def _timing(schedule: Schedule) -> str:
    return (f"every {schedule.every_seconds}s" if schedule.every_seconds is not None
            else f"crontab '{schedule.crontab}' {SCHEDULE_TIMEZONE}")
