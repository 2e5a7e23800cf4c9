"""The simulated storefront's HTTP client: DRF's test client on the real URLconf and
middleware, with an ``Idempotency-Key`` on every POST. With ``concurrent`` (``--faults``)
every POST is fired from several threads at once — each with its own database connection,
kept for the whole run as a storefront's connection pool would — then retried until answered;
exactly one of them may run."""

from __future__ import annotations

import queue
import threading

from django.db import connection
from rest_framework.test import APIClient

from . import faults as fault_module
from .population import Person

CONCURRENT_RETRIES = 3


class Storefront:
    """The storefront's HTTP client (DRF's test client on the real URLconf and middleware).
    With ``concurrent`` every POST is fired from several threads at once — each with its own
    database connection, kept for the whole run as a storefront's connection pool would —
    with one ``Idempotency-Key``, then retried until answered. Use it as a context manager:
    leaving it stops the threads and closes their connections."""

    def __init__(self, token: str, *, concurrent: bool, plan: fault_module.FaultPlan):
        self.token = token
        self.concurrent = concurrent
        self.plan = plan
        self.counter = 0
        self.inboxes: list[queue.Queue] = []
        self.threads: list[threading.Thread] = []

    def __enter__(self):
        if self.concurrent:
            self.inboxes = [queue.Queue() for _ in range(CONCURRENT_RETRIES)]
            self.threads = [threading.Thread(target=self._serve, args=(inbox,), daemon=True) for inbox in self.inboxes]
            for thread in self.threads:
                thread.start()
        return self

    def __exit__(self, *exc):
        for inbox in self.inboxes:
            inbox.put(None)
        for thread in self.threads:
            thread.join(timeout=30)

    def _serve(self, inbox: queue.Queue) -> None:
        """One storefront connection: runs the jobs it is given until told to stop."""
        try:
            while (job := inbox.get()) is not None:
                job()
        finally:
            connection.close()

    def _client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {self.token}")
        return client

    def put(self, path: str, body: dict) -> tuple[int, dict]:
        """A PUT (no ``Idempotency-Key``: a PUT is idempotent by itself), sent once."""
        response = self._client().put(f"/api/v1/{path}", body, format="json")
        return response.status_code, response.json()

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        self.counter += 1
        key = f"sim-{self.counter}"
        if not self.concurrent:
            response = self._client().post(f"/api/v1/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
            return response.status_code, response.json()
        answers: list = [None] * CONCURRENT_RETRIES
        barrier = threading.Barrier(CONCURRENT_RETRIES)
        done = threading.Semaphore(0)

        def fire(slot: int) -> None:
            try:
                barrier.wait(timeout=10)
                response = self._client().post(f"/api/v1/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
                answers[slot] = (response.status_code, response.json(), response.headers.get("Idempotent-Replayed"))
            except Exception as exc:  # raised again below, in the simulation's thread
                answers[slot] = exc
            finally:
                done.release()

        for slot, inbox in enumerate(self.inboxes):
            inbox.put(lambda slot=slot: fire(slot))
        for _ in self.inboxes:
            done.acquire()
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        firsts = [a for a in answers if a is not None and a[2] != "true" and not _in_progress(a)]
        self.plan.count("concurrent duplicate API requests", CONCURRENT_RETRIES - 1)
        self.plan.count("duplicate API requests answered 'request_in_progress'", sum(_in_progress(a) for a in answers))
        self.plan.count("duplicate API requests replayed", sum(a[2] == "true" for a in answers))
        if len(firsts) != 1:
            raise AssertionError(f"idempotency: {len(firsts)} requests ran for key {key}: {answers}")
        # The storefront retries whatever was told "in progress": it now gets the replay.
        for answer in answers:
            if _in_progress(answer):
                replay = self._client().post(f"/api/v1/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
                if replay.headers.get("Idempotent-Replayed") != "true" or replay.json() != firsts[0][1]:
                    raise AssertionError(f"idempotency: retry of {key} was not the first answer replayed")
                self.plan.count("retries after 'request_in_progress' replayed")
        return firsts[0][0], firsts[0][1]


def _in_progress(answer) -> bool:
    return answer[0] == 409 and answer[1].get("error", {}).get("code") == "request_in_progress"


def application_body(person: Person, kind: str) -> dict:
    a = person.applicant
    return {"kind": kind, "repayment_card_token": person.current_card, "customer": {
        "external_id": a.external_id, "name": a.name, "id_number": a.id_number, "phone": a.phone,
        "store_status": a.store_status, "store_since": a.store_since.isoformat(), "orders_12m": a.orders_12m,
        "spend_12m": f"{a.spend_12m:.2f}", "return_rate": f"{a.return_rate:.2f}"}}
