"""Scoring policy parameters as data (docs/rules.md figures marked *(policy)*).

A ``ScoringPolicy`` row stores these as JSON; ``PolicyParams.from_json`` validates and
parses them. Version 1 — ``DEFAULT_POLICY`` — is created by a migration. Logic never
hard-codes these figures: it receives a ``PolicyParams``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Bin:
    """``points`` for values ``>= lower`` (and below the next bin's lower bound)."""

    lower: Decimal
    points: int


@dataclass(frozen=True)
class LimitBand:
    min_score: int
    limit: Decimal


@dataclass(frozen=True)
class PolicyParams:
    base_score: int = 300
    months_since_customer_bins: tuple[Bin, ...] = (
        Bin(Decimal(0), 0), Bin(Decimal(3), 40), Bin(Decimal(12), 80), Bin(Decimal(36), 120))
    orders_12m_bins: tuple[Bin, ...] = (
        Bin(Decimal(0), 0), Bin(Decimal(3), 40), Bin(Decimal(10), 80), Bin(Decimal(30), 110))
    spend_12m_bins: tuple[Bin, ...] = (
        Bin(Decimal(0), 0), Bin(Decimal(1000), 40), Bin(Decimal(5000), 80), Bin(Decimal(20000), 110))
    # return rate: <= threshold → points, checked in order; above the last → 0
    return_rate_steps: tuple[tuple[Decimal, int], ...] = ((Decimal("0.05"), 60), (Decimal("0.15"), 30))
    history_none_points: int = 30
    history_good_points: int = 80
    history_bad_points: int = 0
    history_good_on_time_ratio: Decimal = Decimal("0.95")
    history_good_max_days_late: int = 30

    approve_min_score: int = 580
    review_min_score: int = 540
    limit_bands: tuple[LimitBand, ...] = (
        LimitBand(580, Decimal(2000)), LimitBand(620, Decimal(5000)), LimitBand(660, Decimal(10000)),
        LimitBand(700, Decimal(20000)), LimitBand(740, Decimal(30000)))
    limit_floor_cap: Decimal = Decimal(1000)
    limit_rounding: Decimal = Decimal(100)
    high_limit_threshold: Decimal = Decimal(20000)
    review_max_limit: Decimal = Decimal(30000)

    min_spend_12m: Decimal = Decimal("200.00")
    velocity_window_days: int = 7
    velocity_max_applications: int = 3  # the 4th within the window is refused
    review_deadline_hours: int = 24
    review_claim_idle_minutes: int = 30
    identity_retry_delays_seconds: tuple[int, ...] = (60, 300, 1800, 86400, 86400, 86400)
    reopen_max_days_late: int = 30
    reopen_lookback_days: int = 365

    # Later capabilities read these (docs/rules.md §5–8); they live in the same versioned data.
    term_fee_rates: dict[str, Decimal] = field(default_factory=lambda: {
        "1": Decimal("0"), "3": Decimal("0.0060"), "6": Decimal("0.0055"), "12": Decimal("0.0050")})
    pay_later_days: int = 30
    grace_days: int = 3
    penalty_daily_rate: Decimal = Decimal("0.0005")
    debit_retry_offsets_days: tuple[int, ...] = (1, 3, 7)
    debit_recovery_interval_days: int = 7  # after the ladder: try again every N days until paid
    write_off_days: int = 180
    restoration_hold_rules: tuple[dict, ...] = ()
    limit_increase_factor: Decimal = Decimal("1.2")
    limit_increase_max: Decimal = Decimal(50000)
    limit_increase_min_days: int = 90
    limit_increase_lookback_days: int = 180
    limit_increase_min_on_time_installments: int = 3
    severe_delinquency_days: int = 30

    def to_json(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicyParams:
        """Parse stored JSON; unknown keys are refused, missing keys take the defaults."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown policy parameters: {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key.endswith("_bins"):
                kwargs[key] = tuple(Bin(Decimal(str(b["lower"])), int(b["points"])) for b in value)
            elif key == "limit_bands":
                kwargs[key] = tuple(LimitBand(int(b["min_score"]), Decimal(str(b["limit"]))) for b in value)
            elif key == "return_rate_steps":
                kwargs[key] = tuple((Decimal(str(t)), int(p)) for t, p in value)
            elif key == "term_fee_rates":
                kwargs[key] = {str(k): Decimal(str(v)) for k, v in value.items()}
            elif key in ("identity_retry_delays_seconds", "debit_retry_offsets_days"):
                kwargs[key] = tuple(int(v) for v in value)
            elif key == "restoration_hold_rules":
                kwargs[key] = tuple(dict(v) for v in value)
            else:
                default = cls.__dataclass_fields__[key].default
                if isinstance(default, Decimal):
                    kwargs[key] = Decimal(str(value))
                elif isinstance(default, int):  # every other scalar parameter is a whole number
                    kwargs[key] = int(value)
                else:
                    raise TypeError(f"policy parameter {key} has no scalar default")
        params = cls(**kwargs)
        params.validate()
        return params

    def validate(self) -> None:
        if not self.review_min_score <= self.approve_min_score:
            raise ValueError("review_min_score must not exceed approve_min_score")
        for name in ("months_since_customer_bins", "orders_12m_bins", "spend_12m_bins"):
            lowers = [b.lower for b in getattr(self, name)]
            if lowers != sorted(lowers) or not lowers or lowers[0] != 0:
                raise ValueError(f"{name} must start at 0 and ascend")
        scores = [b.min_score for b in self.limit_bands]
        if scores != sorted(scores):
            raise ValueError("limit_bands must ascend by min_score")
        if self.limit_rounding <= 0:
            raise ValueError("limit_rounding must be positive")
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high} (got {value})")
        for periods, rate in self.term_fee_rates.items():
            if not Decimal("0") <= rate <= MAX_FEE_RATE:
                raise ValueError(f"the fee of {periods} installments must be between 0 and {MAX_FEE_RATE} per period")
        offsets = list(self.debit_retry_offsets_days)
        if offsets != sorted(set(offsets)) or any(not 1 <= d <= 30 for d in offsets) or len(offsets) > 6:
            raise ValueError("debit_retry_offsets_days must be up to 6 ascending days between 1 and 30")


# What a risk manager may set (docs/rules.md §3.8): a mistyped rate or age is refused, never
# applied to every loan overnight.
BOUNDS: dict[str, tuple[Any, Any]] = {
    "grace_days": (0, 30),
    "penalty_daily_rate": (Decimal("0"), Decimal("0.001")),  # at most 0.1 % a day
    "write_off_days": (90, 720),
    "debit_recovery_interval_days": (1, 30),
    "pay_later_days": (7, 60),
    "min_spend_12m": (Decimal("0"), Decimal("100000")),
    "velocity_window_days": (1, 90),
    "velocity_max_applications": (1, 20),
    "review_deadline_hours": (1, 240),
    "review_claim_idle_minutes": (5, 480),
    "high_limit_threshold": (Decimal("1000"), Decimal("200000")),
    "review_max_limit": (Decimal("1000"), Decimal("200000")),
    "limit_increase_factor": (Decimal("1"), Decimal("2")),
    "limit_increase_max": (Decimal("1000"), Decimal("500000")),
    "severe_delinquency_days": (1, 180),
}
MAX_FEE_RATE = Decimal("0.02")  # at most 2 % of the principal per period


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


DEFAULT_POLICY = PolicyParams()
