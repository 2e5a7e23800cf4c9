"""Payment gateway adapters (docs/api.md, "Sandbox"). ``charge`` and ``payout`` are called
outside any database transaction, after the attempt or payout row is committed;
``GatewayTimeout`` — and any answer that is not a clear success, decline or hard decline —
means the outcome is unknown and must be reconciled through ``status`` / ``payout_status``,
never retried blind."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from .models import SandboxGatewayCharge, SandboxGatewayPayout

# The answers that settle an attempt; anything else leaves it unknown.
CLEAR_CHARGE_ANSWERS = ("succeeded", "declined", "hard_declined")
CLEAR_PAYOUT_ANSWERS = ("succeeded", "failed")


class GatewayTimeout(Exception):
    """No readable answer: the money may or may not have moved."""


@dataclass(frozen=True)
class ChargeResult:
    status: str  # succeeded | declined | hard_declined; anything else is unclear (unknown)
    decline_code: str = ""
    reference: str = ""


@dataclass(frozen=True)
class StatusResult:
    found: bool
    status: str = ""  # the gateway's answer when found
    reference: str = ""


class PaymentGateway(Protocol):
    def charge(self, *, idempotency_key: str, card_token: str, amount: Decimal) -> ChargeResult: ...

    def status(self, *, idempotency_key: str) -> StatusResult: ...

    def payout(self, *, idempotency_key: str, card_token: str, amount: Decimal) -> ChargeResult: ...

    def payout_status(self, *, idempotency_key: str) -> StatusResult: ...


class SandboxGateway:
    """Deterministic sandbox, keeping its own records ("the bank") so status queries are real.

    By card token: ``tok_ok`` succeeds; ``tok_insufficient_funds`` is declined (retryable);
    ``tok_card_closed`` is a hard decline (a payout to it fails); ``tok_timeout_charged``
    times out after the money moved; ``tok_timeout_not_charged`` times out with nothing
    moved; ``tok_pending_charged`` answers ``pending`` (neither success nor decline) while the
    money moved — the status query then says succeeded. The same idempotency key twice is
    answered from the records: never charged or paid twice."""

    OUTCOMES = {
        "tok_ok": ("succeeded", ""),
        "tok_insufficient_funds": ("declined", "insufficient_funds"),
        "tok_card_closed": ("hard_declined", "card_closed"),
        "tok_timeout_charged": ("succeeded", ""),
        "tok_pending_charged": ("succeeded", ""),
    }
    PAYOUT_OUTCOMES = {
        "tok_card_closed": ("failed", "card_closed"),
    }

    # --- charges ---

    def _answer(self, record: SandboxGatewayCharge) -> ChargeResult:
        if record.card_token == "tok_pending_charged":
            return ChargeResult("pending", "", f"sbx-{record.pk}")
        return ChargeResult(record.outcome, self.OUTCOMES.get(record.card_token, ("hard_declined", "unknown_card"))[1],
                            f"sbx-{record.pk}")

    def charge(self, *, idempotency_key: str, card_token: str, amount: Decimal) -> ChargeResult:
        existing = SandboxGatewayCharge.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return self._answer(existing)
        if card_token == "tok_timeout_not_charged":
            raise GatewayTimeout("sandbox: timed out, nothing taken")
        outcome, _code = self.OUTCOMES.get(card_token, ("hard_declined", "unknown_card"))
        try:
            with transaction.atomic():
                record = SandboxGatewayCharge.objects.create(idempotency_key=idempotency_key, card_token=card_token,
                                                             amount=amount, outcome=outcome)
        except IntegrityError:
            record = SandboxGatewayCharge.objects.get(idempotency_key=idempotency_key)
        if card_token == "tok_timeout_charged":
            raise GatewayTimeout("sandbox: timed out after taking the money")
        return self._answer(record)

    def charge_many(self, charges: list[tuple[str, str, Decimal]]) -> dict[str, ChargeResult | GatewayTimeout]:
        """``charge`` for many (idempotency key, card token, amount): the answer per key, a
        ``GatewayTimeout`` instance where ``charge`` would raise it. Same records, 3 statements."""
        keys = [key for key, _, _ in charges]
        seen = set(SandboxGatewayCharge.objects.filter(idempotency_key__any_of=keys).values_list("idempotency_key",
                                                                                            flat=True))
        with transaction.atomic():
            SandboxGatewayCharge.objects.bulk_create([
                SandboxGatewayCharge(idempotency_key=key, card_token=token, amount=amount,
                                     outcome=self.OUTCOMES.get(token, ("hard_declined", "unknown_card"))[0])
                for key, token, amount in charges if key not in seen and token != "tok_timeout_not_charged"],
                ignore_conflicts=True)
        records = {r.idempotency_key: r for r in SandboxGatewayCharge.objects.filter(idempotency_key__any_of=keys)}
        answers: dict[str, ChargeResult | GatewayTimeout] = {}
        for key, token, _ in charges:
            record = records.get(key)
            if key not in seen and token == "tok_timeout_not_charged":
                answers[key] = GatewayTimeout("sandbox: timed out, nothing taken")
            elif key not in seen and token == "tok_timeout_charged":
                answers[key] = GatewayTimeout("sandbox: timed out after taking the money")
            else:
                assert record is not None  # seen before, created above, or by a concurrent call with the key
                answers[key] = self._answer(record)
        return answers

    def status(self, *, idempotency_key: str) -> StatusResult:
        record = SandboxGatewayCharge.objects.filter(idempotency_key=idempotency_key).first()
        if record is None:
            return StatusResult(found=False)
        return StatusResult(found=True, status=record.outcome, reference=f"sbx-{record.pk}")

    # --- payouts of credit balances ---

    def payout(self, *, idempotency_key: str, card_token: str, amount: Decimal) -> ChargeResult:
        existing = SandboxGatewayPayout.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            if card_token == "tok_timeout_not_charged":
                raise GatewayTimeout("sandbox: timed out, nothing paid")
            outcome, _code = self.PAYOUT_OUTCOMES.get(card_token, ("succeeded", ""))
            try:
                with transaction.atomic():
                    existing = SandboxGatewayPayout.objects.create(idempotency_key=idempotency_key,
                                                                   card_token=card_token, amount=amount,
                                                                   outcome=outcome)
            except IntegrityError:
                existing = SandboxGatewayPayout.objects.get(idempotency_key=idempotency_key)
            if card_token == "tok_timeout_charged":
                raise GatewayTimeout("sandbox: timed out after paying")
        return ChargeResult(existing.outcome, self.PAYOUT_OUTCOMES.get(existing.card_token, ("", ""))[1],
                            f"sbx-p{existing.pk}")

    def payout_status(self, *, idempotency_key: str) -> StatusResult:
        record = SandboxGatewayPayout.objects.filter(idempotency_key=idempotency_key).first()
        if record is None:
            return StatusResult(found=False)
        return StatusResult(found=True, status=record.outcome, reference=f"sbx-p{record.pk}")


@lru_cache(maxsize=4)
def _gateway_class(path: str):
    return import_string(path)


def get_gateway() -> PaymentGateway:
    return _gateway_class(settings.TALLY_PAYMENT_GATEWAY)()
