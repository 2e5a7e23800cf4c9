"""Beat without money knobs (docs/decisions/0026-beat-without-money-knobs.md): operations staff
enable, disable and re-time jobs and run the safe ones now; only a superuser changes what a job
runs. ``install_schedules --check`` and ``--prune`` guard deploys."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from accounts.models import AuditEvent
from config.schedules import SCHEDULES

pytestmark = pytest.mark.django_db

CLOSE = "cob: close business days"
SWEEP = "accounts: deliver pending notifications"


@pytest.fixture
def installed():
    call_command("install_schedules", stdout=StringIO())


@pytest.fixture
def ops():
    user = User.objects.create_user(username="ops", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Operations"))
    client = Client()
    client.force_login(user)
    return client


def change_url(task: PeriodicTask) -> str:
    return reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])


def form_data(job: PeriodicTask, **changes) -> dict:
    task = job
    data = {"name": task.name, "task": task.task, "enabled": "on" if task.enabled else "",
            "interval": task.interval_id or "", "crontab": task.crontab_id or "", "args": task.args,
            "kwargs": task.kwargs, "queue": task.queue or "", "description": task.description}
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_operations_cannot_change_a_jobs_task_or_arguments(installed, ops):
    task = PeriodicTask.objects.get(name=SWEEP)
    page = ops.get(change_url(task))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert set(form.fields) == {"enabled", "interval", "crontab"}
    before = PeriodicTask.objects.values("task", "args", "kwargs", "queue", "headers").get(pk=task.pk)
    response = ops.post(change_url(task), form_data(
        task, task="installments.tasks.release_restoration_holds", args=json.dumps([1, 2]),
        kwargs=json.dumps({"amount": "1000000.00"}), queue="celery", enabled=""))
    assert response.status_code == 302
    assert PeriodicTask.objects.values("task", "args", "kwargs", "queue", "headers").get(pk=task.pk) == before
    task.refresh_from_db()
    assert task.enabled is False  # what operations may change did change
    event = AuditEvent.objects.filter(action="django_celery_beat.periodictask.changed").latest("pk")
    assert event.after == {"enabled": False}


def test_operations_retime_a_job_and_cannot_add_or_delete_one(installed, ops):
    task = PeriodicTask.objects.get(name=SWEEP)
    slower = IntervalSchedule.objects.create(every=120, period=IntervalSchedule.SECONDS)
    assert ops.post(change_url(task), form_data(task, interval=slower.pk)).status_code == 302
    task.refresh_from_db()
    assert task.interval_id == slower.pk
    assert ops.get(reverse("admin:django_celery_beat_periodictask_add")).status_code == 403
    assert ops.post(reverse("admin:django_celery_beat_periodictask_delete", args=[task.pk]),
                    {"post": "yes"}).status_code == 403
    assert PeriodicTask.objects.filter(pk=task.pk).exists()
    # both a crontab and an interval: refused by the model's own validation
    crontab = CrontabSchedule.objects.create(minute="0", hour="1")
    response = ops.post(change_url(task), form_data(task, crontab=crontab.pk))
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.crontab_id is None


def test_operations_run_safe_jobs_now_but_not_the_close(installed, ops, monkeypatch):
    sent = []
    monkeypatch.setattr("celery.app.task.Task.apply_async", lambda self, *a, **k: sent.append(self.name))
    changelist = reverse("admin:django_celery_beat_periodictask_changelist")
    close = PeriodicTask.objects.get(name=CLOSE)
    sweep = PeriodicTask.objects.get(name=SWEEP)
    ops.post(changelist, {"action": "run_tasks", "_selected_action": [close.pk, sweep.pk]})
    assert sent == []
    assert not AuditEvent.objects.filter(action="django_celery_beat.periodictask.run_by_hand").exists()
    ops.post(changelist, {"action": "run_tasks", "_selected_action": [sweep.pk]})
    assert sent == ["accounts.tasks.deliver_pending_notifications"]
    assert AuditEvent.objects.filter(action="django_celery_beat.periodictask.run_by_hand").count() == 1


def test_a_superuser_may_change_what_a_job_runs(installed):
    root = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(root)
    task = PeriodicTask.objects.get(name=SWEEP)
    form = client.get(change_url(task)).context["adminform"].form
    assert {"task", "args", "kwargs", "regtask"} <= set(form.fields)


def test_install_schedules_check_and_prune(installed):
    out = StringIO()
    call_command("install_schedules", "--check", stdout=out)
    assert out.getvalue().count("ok: ") == len(SCHEDULES)
    # a job whose arguments were changed behind the code's back, and a job removed from the code
    PeriodicTask.objects.filter(name=SWEEP).update(kwargs='{"x": 1}')
    PeriodicTask.objects.create(name="old: removed job", task="accounts.tasks.deliver_notification",
                                interval=IntervalSchedule.objects.first())
    with pytest.raises(CommandError, match="2 beat schedule"):
        call_command("install_schedules", "--check", stdout=(out := StringIO()))
    assert "differs from the code (kwargs)" in out.getvalue() and "not in the code" in out.getvalue()
    # a re-timing by operations is reported, not refused
    task = PeriodicTask.objects.get(name="risk: expire idle review claims")
    task.interval = IntervalSchedule.objects.create(every=900, period=IntervalSchedule.SECONDS)
    task.save()
    call_command("install_schedules", "--prune", stdout=(out := StringIO()))
    assert "deleted (not in the code): old: removed job" in out.getvalue()
    assert "updated (kwargs)" in out.getvalue()
    call_command("install_schedules", "--check", stdout=(out := StringIO()))
    assert "ok (re-timed by operations): risk: expire idle review claims" in out.getvalue()
    assert PeriodicTask.objects.get(name="risk: expire idle review claims").interval.every == 900
    call_command("install_schedules", "--retime", stdout=StringIO())
    assert PeriodicTask.objects.get(name="risk: expire idle review claims").interval.every == 300
    assert AuditEvent.objects.filter(action="django_celery_beat.periodictask.pruned").count() == 1
