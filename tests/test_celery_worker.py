"""The real thing: a Celery worker process on the Redis broker delivers an outbox row from
the test database (nothing eager, nothing mocked)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from accounts import services, tasks
from accounts.models import Notification
from config.celery_app import app

ROOT = Path(__file__).resolve().parent.parent


def _test_database_url() -> str:
    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_worker_delivers_a_notification_through_redis():
    customer = services.customer_upsert(
        external_id="w-1", name="Wang Wu", id_number="11010519491231002X", phone="13800000077",
        store_status="normal", store_since=date(2020, 1, 1), orders_12m=1, spend_12m=Decimal("300.00"),
        return_rate=Decimal("0"))
    customer.language = "en"
    customer.save()
    note = Notification.objects.create(customer=customer, kind="application_result", event_key="worker-1",
                                       params={"status": "rejected", "reasons": []})
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DATABASE_URL=_test_database_url(), CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
               DJANGO_SETTINGS_MODULE="config.settings.local")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", queue,
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        tasks.deliver_notification.apply_async(args=[note.pk], queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            note.refresh_from_db()
            if note.status == "sent":
                break
            assert worker.poll() is None, worker.stdout.read().decode()
            time.sleep(0.2)
    finally:
        app.conf.task_always_eager = eager
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert note.status == "sent"
    assert note.rendered == "Your application was not approved: "
