"""Payment gateway adapters. ``charge`` is called outside any database transaction, after the
attempt row is committed; ``GatewayTimeout`` means the outcome is unknown and must be
reconciled through ``status`` — never retried blind."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from .models import SandboxGatewayCharge


class GatewayTimeout(Exception):
    """No readable answer: the money may or may not have been taken."""


@dataclass(frozen=True)
class ChargeResult:
    status: str  # succeeded | declined | hard_declined
    decline_code: str = ""
    reference: str = ""


@dataclass(frozen=True)
class StatusResult:
    found: bool
    status: str = ""  # succeeded | declined | hard_declined when found
    reference: str = ""


class PaymentGateway(Protocol):
    def charge(self, *, idempotency_key: str, card_token: str, amount: Decimal) -> ChargeResult: ...

    def status(self, *, idempotency_key: str) -> StatusResult: ...


class SandboxGateway:
    """Deterministic sandbox of docs/api.md, keeping its own records so status queries are real.

    The same idempotency key charged twice is answered from the records (never charged twice)."""

    OUTCOMES = {
        "tok_ok": ("succeeded", ""),
        "tok_insufficient_funds": ("declined", "insufficient_funds"),
        "tok_card_closed": ("hard_declined", "card_closed"),
        "tok_timeout_charged": ("succeeded", ""),
    }

    def charge(self, *, idempotency_key: str, card_token: str, amount: Decimal) -> ChargeResult:
        existing = SandboxGatewayCharge.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return ChargeResult(existing.outcome, self.OUTCOMES.get(existing.card_token, ("", ""))[1],
                                f"sbx-{existing.pk}")
        if card_token == "tok_timeout_not_charged":
            raise GatewayTimeout("sandbox: timed out, nothing taken")
        outcome, code = self.OUTCOMES.get(card_token, ("hard_declined", "unknown_card"))
        try:
            with transaction.atomic():
                record = SandboxGatewayCharge.objects.create(idempotency_key=idempotency_key, card_token=card_token,
                                                             amount=amount, outcome=outcome)
        except IntegrityError:
            record = SandboxGatewayCharge.objects.get(idempotency_key=idempotency_key)
        if card_token == "tok_timeout_charged":
            raise GatewayTimeout("sandbox: timed out after taking the money")
        return ChargeResult(record.outcome, code, f"sbx-{record.pk}")

    def charge_many(self, charges: list[tuple[str, str, Decimal]]) -> dict[str, ChargeResult | GatewayTimeout]:
        """``charge`` for many (idempotency key, card token, amount): the answer per key, a
        ``GatewayTimeout`` instance where ``charge`` would raise it. Same records, 3 statements."""
        keys = [key for key, _, _ in charges]
        seen = set(SandboxGatewayCharge.objects.filter(idempotency_key__in=keys).values_list("idempotency_key",
                                                                                            flat=True))
        with transaction.atomic():
            SandboxGatewayCharge.objects.bulk_create([
                SandboxGatewayCharge(idempotency_key=key, card_token=token, amount=amount,
                                     outcome=self.OUTCOMES.get(token, ("hard_declined", "unknown_card"))[0])
                for key, token, amount in charges if key not in seen and token != "tok_timeout_not_charged"],
                ignore_conflicts=True)
        records = {r.idempotency_key: r for r in SandboxGatewayCharge.objects.filter(idempotency_key__in=keys)}
        answers: dict[str, ChargeResult | GatewayTimeout] = {}
        for key, token, _ in charges:
            record = records.get(key)
            if key in seen:
                assert record is not None  # seen before this call
                answers[key] = ChargeResult(record.outcome, self.OUTCOMES.get(record.card_token, ("", ""))[1],
                                            f"sbx-{record.pk}")
            elif token == "tok_timeout_not_charged":
                answers[key] = GatewayTimeout("sandbox: timed out, nothing taken")
            elif token == "tok_timeout_charged":
                answers[key] = GatewayTimeout("sandbox: timed out after taking the money")
            else:
                assert record is not None  # created above (or by a concurrent call with the same key)
                answers[key] = ChargeResult(record.outcome, self.OUTCOMES.get(token, ("hard_declined",
                                                                                      "unknown_card"))[1],
                                            f"sbx-{record.pk}")
        return answers

    def status(self, *, idempotency_key: str) -> StatusResult:
        record = SandboxGatewayCharge.objects.filter(idempotency_key=idempotency_key).first()
        if record is None:
            return StatusResult(found=False)
        return StatusResult(found=True, status=record.outcome, reference=f"sbx-{record.pk}")


@lru_cache(maxsize=4)
def _gateway_class(path: str):
    return import_string(path)


def get_gateway() -> PaymentGateway:
    return _gateway_class(settings.TALLY_PAYMENT_GATEWAY)()
