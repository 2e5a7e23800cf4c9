"""The scorecard, limit bands and decision thresholds as pure functions (docs/rules.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypedDict

from accounts.money import round_down_to

from .policy import Bin, PolicyParams


@dataclass(frozen=True)
class RepaymentHistory:
    """The applicant's record with Tally (None = never had an account)."""

    installments_due: int
    installments_on_time: int
    max_days_late: int


@dataclass(frozen=True)
class ScoringInput:
    store_since: date
    orders_12m: int
    spend_12m: Decimal
    return_rate: Decimal
    history: RepaymentHistory | None
    as_of: date


class ScoreItem(TypedDict):
    value: str
    points: int


@dataclass(frozen=True)
class ScoreResult:
    score: int
    breakdown: dict[str, ScoreItem]  # feature → {"value": str, "points": int}


def months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (0 if ``start`` is in the future)."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    return max(0, months)


def _bin_points(bins: tuple[Bin, ...], value: Decimal) -> int:
    points = 0
    for b in bins:
        if value >= b.lower:
            points = b.points
    return points


def _return_rate_points(params: PolicyParams, rate: Decimal) -> int:
    for threshold, points in params.return_rate_steps:
        if rate <= threshold:
            return points
    return 0


def _history_points(params: PolicyParams, history: RepaymentHistory | None) -> tuple[str, int]:
    if history is None or history.installments_due == 0:
        return "none", params.history_none_points
    ratio = Decimal(history.installments_on_time) / Decimal(history.installments_due)
    if ratio >= params.history_good_on_time_ratio and history.max_days_late <= params.history_good_max_days_late:
        return f"on-time {ratio:.2f}, max {history.max_days_late} days late", params.history_good_points
    return f"on-time {ratio:.2f}, max {history.max_days_late} days late", params.history_bad_points


def score(params: PolicyParams, data: ScoringInput) -> ScoreResult:
    months = months_between(data.store_since, data.as_of)
    history_label, history_points = _history_points(params, data.history)
    breakdown: dict[str, ScoreItem] = {
        "base": {"value": "", "points": params.base_score},
        "months_since_customer": {"value": str(months),
                                  "points": _bin_points(params.months_since_customer_bins, Decimal(months))},
        "orders_12m": {"value": str(data.orders_12m),
                       "points": _bin_points(params.orders_12m_bins, Decimal(data.orders_12m))},
        "spend_12m": {"value": f"{data.spend_12m:.2f}", "points": _bin_points(params.spend_12m_bins, data.spend_12m)},
        "return_rate": {"value": str(data.return_rate), "points": _return_rate_points(params, data.return_rate)},
        "repayment_history": {"value": history_label, "points": history_points},
    }
    return ScoreResult(score=sum(item["points"] for item in breakdown.values()), breakdown=breakdown)


def limit_for(params: PolicyParams, score_value: int, spend_12m: Decimal) -> Decimal:
    """Band by score, capped at max(floor, spend in 12 months), rounded down to 100."""
    band_limit = Decimal(0)
    for band in params.limit_bands:
        if score_value >= band.min_score:
            band_limit = band.limit
    capped = min(band_limit, max(params.limit_floor_cap, spend_12m))
    return round_down_to(capped, params.limit_rounding).quantize(Decimal("0.01"))


def band_outcome(params: PolicyParams, score_value: int) -> str:
    """``approve``, ``review`` or ``reject`` by score alone."""
    if score_value >= params.approve_min_score:
        return "approve"
    if score_value >= params.review_min_score:
        return "review"
    return "reject"
