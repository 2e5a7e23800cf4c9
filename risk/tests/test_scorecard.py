"""The scorecard, limit bands and ID rules as pure functions — no database."""

from datetime import date
from decimal import Decimal

import pytest

from risk.policy import DEFAULT_POLICY, PolicyParams
from risk.rules import id_check_char, id_number_problem
from risk.scorecard import RepaymentHistory, ScoringInput, band_outcome, limit_for, months_between, score

AS_OF = date(2026, 11, 20)


def inp(**kw):
    base = {"store_since": date(2021, 3, 1), "orders_12m": 42, "spend_12m": Decimal("26800.00"),
            "return_rate": Decimal("0.03"), "history": None, "as_of": AS_OF}
    base.update(kw)
    return ScoringInput(**base)


def test_strong_profile_scores_730():
    result = score(DEFAULT_POLICY, inp())
    assert result.score == 730
    assert {k: v["points"] for k, v in result.breakdown.items()} == {
        "base": 300, "months_since_customer": 120, "orders_12m": 110, "spend_12m": 110,
        "return_rate": 60, "repayment_history": 30}


@pytest.mark.parametrize(("since", "points"), [
    (date(2026, 8, 21), 0), (date(2026, 8, 20), 40), (date(2025, 11, 21), 40), (date(2025, 11, 20), 80),
    (date(2023, 11, 21), 80), (date(2023, 11, 20), 120), (date(2027, 1, 1), 0)])
def test_months_since_customer_bins(since, points):
    assert score(DEFAULT_POLICY, inp(store_since=since)).breakdown["months_since_customer"]["points"] == points


@pytest.mark.parametrize(("orders", "points"), [(0, 0), (2, 0), (3, 40), (9, 40), (10, 80), (29, 80), (30, 110)])
def test_orders_bins(orders, points):
    assert score(DEFAULT_POLICY, inp(orders_12m=orders)).breakdown["orders_12m"]["points"] == points


@pytest.mark.parametrize(("spend", "points"), [
    ("999.99", 0), ("1000.00", 40), ("4999.99", 40), ("5000.00", 80), ("19999.99", 80), ("20000.00", 110)])
def test_spend_bins(spend, points):
    assert score(DEFAULT_POLICY, inp(spend_12m=Decimal(spend))).breakdown["spend_12m"]["points"] == points


@pytest.mark.parametrize(("rate", "points"), [("0", 60), ("0.05", 60), ("0.0501", 30), ("0.15", 30), ("0.1501", 0)])
def test_return_rate_steps(rate, points):
    assert score(DEFAULT_POLICY, inp(return_rate=Decimal(rate))).breakdown["return_rate"]["points"] == points


@pytest.mark.parametrize(("history", "points"), [
    (None, 30), (RepaymentHistory(0, 0, 0), 30), (RepaymentHistory(20, 19, 30), 80),
    (RepaymentHistory(20, 19, 31), 0), (RepaymentHistory(20, 18, 0), 0)])
def test_repayment_history(history, points):
    assert score(DEFAULT_POLICY, inp(history=history)).breakdown["repayment_history"]["points"] == points


@pytest.mark.parametrize(("value", "outcome"), [(579, "review"), (580, "approve"), (540, "review"), (539, "reject")])
def test_thresholds(value, outcome):
    assert band_outcome(DEFAULT_POLICY, value) == outcome


@pytest.mark.parametrize(("value", "spend", "limit"), [
    (580, "50000", "2000.00"), (619, "50000", "2000.00"), (620, "50000", "5000.00"), (660, "50000", "10000.00"),
    (700, "50000", "20000.00"), (740, "50000", "30000.00"), (740, "26850.00", "26800.00"),
    (740, "500.00", "1000.00"), (700, "1234.56", "1200.00")])
def test_limit_bands_cap_and_rounding(value, spend, limit):
    assert limit_for(DEFAULT_POLICY, value, Decimal(spend)) == Decimal(limit)


def test_months_between():
    assert months_between(date(2026, 1, 31), date(2026, 2, 28)) == 0
    assert months_between(date(2026, 1, 28), date(2026, 2, 28)) == 1


def test_iso_7064_check_digit():
    assert id_check_char("11010519491231002") == "X"
    assert id_number_problem("11010519491231002X", today=AS_OF) is None
    assert id_number_problem("11010519491231002x", today=AS_OF) is None
    assert id_number_problem("110105194912310021", today=AS_OF) == "check_digit"
    assert id_number_problem("11010519491331002X", today=AS_OF) == "birth_date"
    assert id_number_problem("11010520991231002X", today=AS_OF) == "birth_date"
    assert id_number_problem("1101051949123100", today=AS_OF) == "format"
    assert id_number_problem("A1010519491231002X", today=AS_OF) == "format"


def test_policy_round_trips_through_json():
    assert PolicyParams.from_json(DEFAULT_POLICY.to_json()) == DEFAULT_POLICY


def test_policy_refuses_unknown_keys_and_inconsistent_values():
    with pytest.raises(ValueError, match="unknown"):
        PolicyParams.from_json({"bogus": 1})
    with pytest.raises(ValueError):
        PolicyParams.from_json({"review_min_score": 600, "approve_min_score": 580})
