"""Faults the simulation injects with ``--faults``. Each is one the system must absorb:

- the gateway takes the money and the answer is lost (``GatewayTimeout`` after charging) on a
  fixed share of auto-debits of good cards — the attempt goes ``unknown`` and is reconciled;
- a worker dies in the middle of the nightly close, after the gateway took a chunk's charges
  and before the chunk's settlement committed (``WorkerKilled``, not an ``Exception``, so no
  handler in the close catches it) — the close is then started again;
- every Celery task is delivered twice (eager tasks run twice; the nightly close fans its
  chunks out as tasks);
- a business day's close is run a second time after it finished;
- the storefront fires the same API request from several connections at once with one
  ``Idempotency-Key`` (see ``engine``).
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from celery.app.task import Task

from config.celery_app import app
from installments.gateway import ChargeResult, GatewayTimeout, SandboxGateway


class WorkerKilled(BaseException):
    """The worker process running the close died (simulated in process)."""


@dataclass
class FaultPlan:
    seed: int
    enabled: bool = False
    timeout_percent: int = 8
    kill_every: int = 20  # of the chunks the gateway charges, the 3rd, 23rd, 43rd, … die before settling
    chunks_charged: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def loses_answer(self, idempotency_key: str, card_token: str) -> bool:
        if not self.enabled or card_token != "tok_ok":
            return False
        digest = hashlib.sha256(f"{self.seed}:{idempotency_key}".encode()).digest()
        return digest[0] * 100 // 256 < self.timeout_percent


PLAN = FaultPlan(seed=0)  # the plan of the running simulation (one per process)


class FaultyGateway(SandboxGateway):
    """The sandbox bank with an unreliable line: see the module docstring."""

    def charge(self, *, idempotency_key: str, card_token: str, amount: Decimal) -> ChargeResult:
        result = super().charge(idempotency_key=idempotency_key, card_token=card_token, amount=amount)
        if PLAN.loses_answer(idempotency_key, card_token):
            PLAN.count("gateway answers lost after charging")
            raise GatewayTimeout("simulated: the charge was taken, the answer was lost")
        return result

    def charge_many(self, charges):
        answers = super().charge_many(charges)
        if PLAN.enabled and charges:
            PLAN.chunks_charged += 1
        if PLAN.enabled and charges and PLAN.chunks_charged % PLAN.kill_every == 3:
            PLAN.count("workers killed mid-close (after the gateway charged a chunk)")
            raise WorkerKilled("simulated: the worker died before settling the chunk")
        for key, token, _amount in charges:
            if PLAN.loses_answer(key, token) and isinstance(answers.get(key), ChargeResult):
                PLAN.count("gateway answers lost after charging")
                answers[key] = GatewayTimeout("simulated: the charge was taken, the answer was lost")
        return answers


@contextmanager
def celery_eager(*, deliver_twice: bool):
    """Run Celery tasks in this process (the simulation has no workers); with
    ``deliver_twice`` every task is executed twice, like a broker redelivering it."""
    saved = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    original_apply = Task.apply

    def apply_twice(self, *args, **kwargs):
        first = original_apply(self, *args, **kwargs)
        PLAN.count("celery tasks delivered twice")
        original_apply(self, *args, **kwargs)
        return first

    if deliver_twice:
        Task.apply = apply_twice
    try:
        yield
    finally:
        Task.apply = original_apply
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved
