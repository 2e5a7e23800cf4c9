"""Faults the simulation injects with ``--faults``. Each is one the system must absorb:

- the gateway takes the money and the answer is lost (``GatewayTimeout`` after charging) on a
  fixed share of auto-debits of good cards — the attempt goes ``unknown`` and is reconciled;
- the gateway takes the money and answers ``pending`` (neither success nor decline) on another
  share of auto-debits of good cards — ``unknown`` too, reconciled the same way;
- the gateway pays a credit-balance payout out and the answer is lost (``GatewayTimeout`` after
  the sandbox recorded the payout) on a share of payouts — the payout goes ``unknown`` and the
  reconciliation job (run at staff hours, and by the close) finds it paid;
- a close step does its work for a chunk of accounts and commits, then its worker loses the
  connection before reporting back (``StepAnswerLost``) on a share of (step, account, business
  date) — the close runs the chunk again one account at a time, records the chosen account's
  failure, and the next close retries that step for its own business date, finds the work done,
  and resolves the failure;
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

import dataclasses
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from celery.app.task import Task

from accounts.business_day import business_date_get
from config.celery_app import app
from config.cob import pipeline
from installments.gateway import ChargeResult, GatewayTimeout, SandboxGateway


class WorkerKilled(BaseException):
    """The worker process running the close died (simulated in process)."""


@dataclass
class FaultPlan:
    seed: int
    enabled: bool = False
    timeout_percent: int = 8
    pending_percent: int = 6  # of the good-card charges whose answer is not lost
    payout_loss_percent: int = 25
    step_failure_permille: int = 4  # of the (step, account, day) of FAILING_STEPS, during that day's close
    last_business_date: date | None = None  # no close follows it to retry: nothing fails that day
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

    def answers_pending(self, idempotency_key: str, card_token: str) -> bool:
        if not self.enabled or card_token != "tok_ok" or self.loses_answer(idempotency_key, card_token):
            return False
        digest = hashlib.sha256(f"{self.seed}:pending:{idempotency_key}".encode()).digest()
        return digest[0] * 100 // 256 < self.pending_percent

    def loses_payout_answer(self, idempotency_key: str, amount: Decimal, business_date: date) -> bool:
        """Chosen by the payout's account, amount and business date: a payout's key is random
        (``payout:<account>:<uuid>``), and the same payouts must lose their answer in every run
        of a seed."""
        if not self.enabled:
            return False
        account = idempotency_key.rsplit(":", 1)[0]
        digest = hashlib.sha256(f"{self.seed}:payout:{account}:{amount}:{business_date}".encode()).digest()
        return digest[0] * 100 // 256 < self.payout_loss_percent


    def step_answer_lost(self, step: str, business_date: date, ids: list[int]) -> int | None:
        """The account of this chunk whose step "fails" after its work committed, if any: only in
        the close of ``business_date`` itself (a retry by a later close goes through)."""
        if (not self.enabled or step not in FAILING_STEPS or business_date_get() != business_date
                or business_date == self.last_business_date):
            return None
        for item_id in ids:
            digest = hashlib.sha256(f"{self.seed}:step:{step}:{business_date}:{item_id}".encode()).digest()
            if int.from_bytes(digest[:2], "big") * 1000 // 65536 < self.step_failure_permille:
                return item_id
        return None


# Steps idempotent per account and date whose work a lost answer leaves done (docs/rules.md §2).
FAILING_STEPS = ("issue_statements", "post_fees", "auto_debit")
PLAN = FaultPlan(seed=0)  # the plan of the running simulation (one per process)


class StepAnswerLost(Exception):
    """The chunk's work committed; the worker lost its connection before reporting it."""


@contextmanager
def step_answers_lost():
    """Wrap the close's chunked steps: after a chunk's work is done and committed, the answer
    of a chosen account is lost (``FaultPlan.step_answer_lost``)."""
    original = pipeline.step_by_name

    def step_by_name(name: str) -> pipeline.Step:
        step = original(name)
        real = step.run
        if real is None or name not in FAILING_STEPS:
            return step

        def run(ids: list[int], business_date: date):
            result = real(ids, business_date)
            lost = PLAN.step_answer_lost(name, business_date, ids)
            if lost is not None:
                if len(ids) == 1:
                    PLAN.count("close-step answers lost after the work committed (retried by the next close)")
                raise StepAnswerLost(f"simulated: {name} for {lost} done, its answer lost")
            return result

        return dataclasses.replace(step, run=run)

    pipeline.step_by_name = step_by_name
    try:
        yield
    finally:
        pipeline.step_by_name = original


class FaultyGateway(SandboxGateway):
    """The sandbox bank with an unreliable line: see the module docstring."""

    def charge(self, *, idempotency_key: str, card_token: str, amount: Decimal) -> ChargeResult:
        result = super().charge(idempotency_key=idempotency_key, card_token=card_token, amount=amount)
        if PLAN.loses_answer(idempotency_key, card_token):
            PLAN.count("gateway answers lost after charging")
            raise GatewayTimeout("simulated: the charge was taken, the answer was lost")
        return _pending(idempotency_key, card_token, result)

    def charge_many(self, charges):
        answers = super().charge_many(charges)
        if PLAN.enabled and charges:
            PLAN.chunks_charged += 1
        if PLAN.enabled and charges and PLAN.chunks_charged % PLAN.kill_every == 3:
            PLAN.count("workers killed mid-close (after the gateway charged a chunk)")
            raise WorkerKilled("simulated: the worker died before settling the chunk")
        for key, token, _amount in charges:
            answer = answers.get(key)
            if PLAN.loses_answer(key, token) and isinstance(answer, ChargeResult):
                PLAN.count("gateway answers lost after charging")
                answers[key] = GatewayTimeout("simulated: the charge was taken, the answer was lost")
            elif isinstance(answer, ChargeResult):
                answers[key] = _pending(key, token, answer)
        return answers

    def payout(self, *, idempotency_key: str, card_token: str, amount: Decimal) -> ChargeResult:
        result = super().payout(idempotency_key=idempotency_key, card_token=card_token, amount=amount)
        if PLAN.loses_payout_answer(idempotency_key, amount, business_date_get()):
            PLAN.count("payout answers lost after the gateway recorded the payout")
            raise GatewayTimeout("simulated: the payout was recorded, the answer was lost")
        return result


def _pending(key: str, token: str, answer: ChargeResult) -> ChargeResult:
    """The money taken, the answer ``pending`` (unclear: the attempt is unknown until asked)."""
    if answer.status != "succeeded" or not PLAN.answers_pending(key, token):
        return answer
    PLAN.count("gateway answers 'pending' after charging")
    return ChargeResult("pending", "", answer.reference)


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
