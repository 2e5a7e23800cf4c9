"""Install the beat schedules of ``config/schedules.py`` into django-celery-beat's tables.

Idempotent: a second run creates nothing. A schedule whose definition changed in code gets
its task, timing and description updated; the ``enabled`` flag belongs to operations staff
(they switch jobs off and on in the admin) and is never touched on an existing row.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from config.schedules import SCHEDULES, Schedule

SCHEDULE_TIMEZONE = "Asia/Shanghai"  # docs/rules.md: the business runs on China Standard Time
_ADVISORY_LOCK_KEY = 7_261_001  # two installers at once (make run and a beat start) take turns


def _interval_for(every_seconds: int) -> IntervalSchedule:
    if every_seconds <= 0:
        raise CommandError(f"every_seconds must be positive, got {every_seconds}")
    interval = (IntervalSchedule.objects.filter(every=every_seconds, period=IntervalSchedule.SECONDS)
                .order_by("pk").first())
    if interval is None:
        interval = IntervalSchedule.objects.create(every=every_seconds, period=IntervalSchedule.SECONDS)
    return interval


def _crontab_for(expression: str) -> CrontabSchedule:
    parts = expression.split()
    if len(parts) != 5:
        raise CommandError(f"crontab {expression!r} must have 5 fields: minute hour day_of_month month day_of_week")
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    fields = {"minute": minute, "hour": hour, "day_of_month": day_of_month, "month_of_year": month_of_year,
              "day_of_week": day_of_week}
    crontab = CrontabSchedule.objects.filter(timezone=SCHEDULE_TIMEZONE, **fields).order_by("pk").first()
    if crontab is None:
        crontab = CrontabSchedule.objects.create(timezone=SCHEDULE_TIMEZONE, **fields)
    return crontab


def _install_one(schedule: Schedule) -> str:
    """Create or update the periodic task of one schedule; returns what happened."""
    if (schedule.every_seconds is None) == (schedule.crontab is None):
        raise CommandError(f"schedule {schedule.name!r} needs exactly one of every_seconds or crontab")
    interval = _interval_for(schedule.every_seconds) if schedule.every_seconds is not None else None
    crontab = _crontab_for(schedule.crontab) if schedule.crontab is not None else None
    wanted = {"task": schedule.task, "interval": interval, "crontab": crontab, "solar": None, "clocked": None,
              "description": schedule.description}
    task = PeriodicTask.objects.select_for_update().filter(name=schedule.name).first()
    if task is None:
        PeriodicTask.objects.create(name=schedule.name, enabled=True, **wanted)
        return "created"
    current = {"task": task.task, "interval": task.interval_id, "crontab": task.crontab_id,
               "solar": task.solar_id, "clocked": task.clocked_id, "description": task.description}
    target = {field: getattr(value, "pk", value) for field, value in wanted.items()}
    changed = [field for field in wanted if current[field] != target[field]]
    if not changed:
        return "unchanged"
    for field in changed:
        setattr(task, field, wanted[field])
    task.save()  # ``enabled`` stays as the operator left it
    return "updated (" + ", ".join(changed) + ")"


class Command(BaseCommand):
    help = "Install the beat schedules defined in config/schedules.py (idempotent; keeps `enabled`)."

    def handle(self, *args, **options):
        names = [s.name for s in SCHEDULES]
        if len(names) != len(set(names)):
            raise CommandError("config/schedules.py defines the same schedule name twice")
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
            for schedule in SCHEDULES:
                outcome = _install_one(schedule)
                timing = (f"every {schedule.every_seconds}s" if schedule.every_seconds is not None
                          else f"crontab '{schedule.crontab}' {SCHEDULE_TIMEZONE}")
                self.stdout.write(f"{outcome}: {schedule.name} -> {schedule.task} ({timing})")
