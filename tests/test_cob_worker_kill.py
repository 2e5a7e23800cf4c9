"""A real Celery worker process is killed (SIGKILL) in the middle of a nightly close; the day
is run again and every account is collected exactly once, the ledger intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection, transaction

from accounts import ledger_checks
from accounts.business_day import business_date_get, business_date_set
from accounts.lifecycle import credit_line
from config.celery_app import app
from config.cob.runner import close_business_day
from conftest import upsert_customer
from installments.models import PaymentAttempt, Repayment, SandboxGatewayCharge
from installments.services.purchases import purchase_create
from risk.models import ScoringPolicy
from tests.test_celery_worker import _test_database_url

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = 30


@pytest.mark.django_db(transaction=True)
def test_killed_worker_then_rerun_collects_every_account_exactly_once(settings):
    business_date_set(new_date=date(2026, 11, 20), acting_user=None, reason="test")
    policy = ScoringPolicy.objects.get(status="active")
    for n in range(ACCOUNTS):
        customer = upsert_customer(external_id=f"kill-{n}", name="Qian Qi", id_number="11010519491231002X",
                                   phone=f"1390000{n:04d}", store_status="normal", store_since=date(2020, 1, 1),
                                   orders_12m=10, spend_12m=Decimal("9000.00"), return_rate=Decimal("0.01"))
        with transaction.atomic():
            account = credit_line.open_account(customer=customer, credit_limit=Decimal("1000.00"), card_token="tok_ok",
                                          policy_version_id=policy.pk, reason_code="ACCOUNT_OPENED",
                                          acting_user=None)
        purchase_create(account_id=account.pk, merchant_order_id=f"k-{n}", amount=Decimal("300.00"),
                                 periods=3)
    business_date_set(new_date=date(2026, 12, 20), acting_user=None, reason="test: first due date")

    queue = f"cob-test-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DATABASE_URL=_test_database_url(), CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
               DJANGO_SETTINGS_MODULE="config.settings.local",
               TALLY_PAYMENT_GATEWAY="tests.slow_gateway.SlowSandboxGateway")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", queue,
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    settings.TALLY_COB_CHUNK_QUEUE = queue
    settings.TALLY_COB_STEP_TIMEOUT_SECONDS = 20
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    outcome: dict[str, BaseException | None] = {"error": None}

    def drive():
        try:
            close_business_day(fan_out=True)
        except BaseException as exc:  # the driver gives up when its worker is gone
            outcome["error"] = exc
        finally:
            connection.close()

    driver = threading.Thread(target=drive)
    try:
        driver.start()
        deadline = time.monotonic() + 60
        while PaymentAttempt.objects.count() < ACCOUNTS // 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert PaymentAttempt.objects.count() >= ACCOUNTS // 3, "the worker never started debiting"
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        driver.join(timeout=60)
        assert not driver.is_alive()
    finally:
        app.conf.task_always_eager = eager
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert outcome["error"] is not None
    settled_before_rerun = PaymentAttempt.objects.filter(status="succeeded").count()
    assert settled_before_rerun < ACCOUNTS
    assert business_date_get() == date(2026, 12, 20)  # the day was not closed

    settings.TALLY_COB_CHUNK_QUEUE = None
    close_business_day(fan_out=False)  # run the day again
    assert business_date_get() == date(2026, 12, 21)
    assert PaymentAttempt.objects.count() == ACCOUNTS
    assert set(PaymentAttempt.objects.values_list("status", flat=True)) == {"succeeded"}
    assert Repayment.objects.count() == ACCOUNTS
    assert SandboxGatewayCharge.objects.count() == ACCOUNTS
    assert set(Repayment.objects.values_list("amount", flat=True)) == {Decimal("101.80")}
    violations, _ = ledger_checks.run_all()
    assert violations == []
