"""The real thing: a Celery worker process on the Redis broker delivers an outbox row from
the test database (nothing eager, nothing mocked)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from accounts import tasks
from accounts.models import Notification
from config.celery_app import app
from conftest import upsert_customer

ROOT = Path(__file__).resolve().parent.parent


def _test_database_url() -> str:
    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def worker_process(*, application_name: str = "tally-test-worker"):
    """A real solo Celery worker on its own queue of the test broker, against the test database
    (local settings, so CONN_MAX_AGE is the deployed 60 s); yields the process and its queue."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DATABASE_URL=f"{_test_database_url()}?application_name={application_name}",
               CELERY_BROKER_URL=settings.CELERY_BROKER_URL, DJANGO_SETTINGS_MODULE="config.settings.local")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", queue,
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield worker, queue
    finally:
        app.conf.task_always_eager = eager
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def _deliver_through(worker, queue: str, note: Notification) -> None:
    tasks.deliver_notification.apply_async(args=[note.pk], queue=queue)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        note.refresh_from_db()
        if note.status == "sent":
            return
        assert worker.poll() is None, worker.stdout.read().decode()
        time.sleep(0.2)
    raise AssertionError(f"notification {note.pk} not delivered: {note.status}")


def _customer(external_id: str):
    customer = upsert_customer(
        external_id=external_id, name="Wang Wu", id_number="11010519491231002X", phone="13800000077",
        store_status="normal", store_since=date(2020, 1, 1), orders_12m=1, spend_12m=Decimal("300.00"),
        return_rate=Decimal("0"))
    customer.language = "en"
    customer.save()
    return customer


@pytest.mark.django_db(transaction=True)
def test_worker_delivers_a_notification_through_redis():
    customer = _customer("w-1")
    note = Notification.objects.create(customer=customer, kind="application_result", event_key="worker-1",
                                       params={"status": "rejected", "reasons": []})
    with worker_process() as (worker, queue):
        _deliver_through(worker, queue, note)
    assert note.status == "sent"
    assert note.rendered == "Your application was not approved: "


def _worker_backends(application_name: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
                       [application_name])
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_between_tasks_and_replaces_a_broken_one():
    """Decision 0020: not a new PostgreSQL backend per task; a connection the server dropped
    is noticed by the health check and replaced, and the task still runs."""
    customer = _customer("w-2")
    notes = [Notification.objects.create(customer=customer, kind="application_result", event_key=f"reuse-{i}",
                                         params={"status": "rejected", "reasons": []}) for i in range(3)]
    name = f"tally-reuse-{uuid.uuid4().hex[:6]}"
    with worker_process(application_name=name) as (worker, queue):
        _deliver_through(worker, queue, notes[0])
        first = _worker_backends(name)
        _deliver_through(worker, queue, notes[1])
        assert _worker_backends(name) == first and len(first) == 1
        with connection.cursor() as cursor:  # the server drops the worker's session
            cursor.execute("SELECT pg_terminate_backend(%s)", [first[0]])
        _deliver_through(worker, queue, notes[2])
        replaced = _worker_backends(name)
        assert len(replaced) == 1 and replaced != first
    assert [n.status for n in notes] == ["sent", "sent", "sent"]
