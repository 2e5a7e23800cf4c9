"""Schedule math (docs/rules.md §5): examples from the issue and properties for every principal
from 1.00 to 1,000,000.00 and every term."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from installments.schedules import TERMS, add_months, build_schedule, split_principal
from risk.policy import DEFAULT_POLICY

RATES = {n: DEFAULT_POLICY.term_fee_rates[str(n)] for n in TERMS}


def test_100_in_3():
    schedule = build_schedule(principal=Decimal("100.00"), periods=3, start=date(2026, 1, 10), fee_rate=RATES[3])
    assert [i.principal for i in schedule] == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    assert [i.fee for i in schedule] == [Decimal("0.60")] * 3


def test_10000_in_12():
    schedule = build_schedule(principal=Decimal("10000.00"), periods=12, start=date(2026, 1, 10), fee_rate=RATES[12])
    assert {i.fee for i in schedule} == {Decimal("50.00")}
    assert sum(i.principal for i in schedule) == Decimal("10000.00")


@pytest.mark.parametrize(("year", "feb"), [(2026, 28), (2028, 29)])
def test_due_dates_clamp_to_month_end(year, feb):
    schedule = build_schedule(principal=Decimal("100.00"), periods=3, start=date(year, 1, 31), fee_rate=RATES[3])
    assert [i.due_date for i in schedule] == [date(year, 2, feb), date(year, 3, 31), date(year, 4, 30)]


def test_pay_later_is_due_in_30_days_without_fee():
    [only] = build_schedule(principal=Decimal("99.99"), periods=1, start=date(2026, 12, 15), fee_rate=Decimal(0))
    assert (only.seq, only.due_date, only.principal, only.fee) == (1, date(2027, 1, 14), Decimal("99.99"), Decimal(0))


def test_add_months_over_year_end():
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 31), 12) == date(2027, 12, 31)


def test_fee_rounds_half_up():
    # 0.55% of 100.10 = 0.55055 → 0.55; 0.60% of 0.75 = 0.0045 → 0.00; 0.5% of 1.01 = 0.00505 → 0.01
    assert build_schedule(principal=Decimal("100.10"), periods=6, start=date(2026, 1, 1),
                          fee_rate=RATES[6])[0].fee == Decimal("0.55")
    assert build_schedule(principal=Decimal("1.01"), periods=12, start=date(2026, 1, 1),
                          fee_rate=RATES[12])[0].fee == Decimal("0.01")


cents = st.integers(min_value=100, max_value=100_000_000).map(lambda c: Decimal(c).scaleb(-2))


@settings(max_examples=400, deadline=None)
@given(principal=cents, periods=st.sampled_from(TERMS),
       start=st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31)))
def test_schedule_properties(principal, periods, start):
    schedule = build_schedule(principal=principal, periods=periods, start=start, fee_rate=RATES[periods])
    assert len(schedule) == periods
    assert sum(i.principal for i in schedule) == principal
    assert all(i.principal >= 0 for i in schedule)
    assert all(i.principal == i.principal.quantize(Decimal("0.01")) for i in schedule)
    fees = {i.fee for i in schedule}
    assert len(fees) == 1
    assert sum(i.fee for i in schedule) == periods * schedule[0].fee
    assert [i.seq for i in schedule] == list(range(1, periods + 1))
    dates = [i.due_date for i in schedule]
    assert dates == sorted(dates) and dates[0] > start


def test_split_refuses_floats_and_zero_periods():
    with pytest.raises(TypeError):
        split_principal(1.5, 3)
    with pytest.raises(ValueError):
        split_principal(Decimal("1.00"), 0)
