"""Money: ``Decimal`` quantized to the fen (0.01 CNY). The one place rounding is decided.

A float reaching money code is a bug and raises ``TypeError``.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation
from typing import Any

from django.db import models

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal("100")

# Every money column: 14 digits, 2 of them after the point.
MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}


def money_field(**kwargs: Any) -> models.DecimalField:
    """A money column defaulting to 0.00."""
    return models.DecimalField(default=0, **MONEY, **kwargs)


def to_money(value: Decimal | str | int) -> Decimal:
    """Exact conversion to a 2-place Decimal. Refuses floats and more than 2 places."""
    if isinstance(value, float):
        raise TypeError("money must never be a float")
    if isinstance(value, bool):
        raise TypeError("money must not be a bool")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise ValueError(f"not a money amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a finite money amount: {value!r}")
    quantized = amount.quantize(FEN)
    if quantized != amount:
        raise ValueError(f"money has more than 2 decimal places: {value!r}")
    return quantized


def round_half_up(value: Decimal) -> Decimal:
    """Round to the fen, half up (the default rule of docs/rules.md)."""
    if isinstance(value, float):
        raise TypeError("money must never be a float")
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def truncate(value: Decimal) -> Decimal:
    """Truncate to the fen (principal split)."""
    if isinstance(value, float):
        raise TypeError("money must never be a float")
    return value.quantize(FEN, rounding=ROUND_DOWN)


def round_down_to(value: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of ``step`` (limits are rounded down to 100)."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def round_up_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_UP) * step


def format_money(value: Decimal) -> str:
    return f"{to_money(value):.2f}"
