"""The charts' figures (config/analytics) on hand-built history: every count, share and roll
rate asserted exactly; the date range refused when bad, reversed or too long."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.analytics.activations import NO_REASON, applications_per_day
from config.analytics.closures import closures_per_day
from config.analytics.complaint_volume import complaints_per_day
from config.analytics.period import MAX_DAYS, Period, PeriodForm
from config.analytics.restoration import restoration_per_day
from config.analytics.roll_rates import roll_rates
from risk.models import Application
from tests.analytics_data import (
    account,
    alert,
    alternative_accepted,
    application,
    at,
    closed,
    complaint,
    installment,
    repayment,
)

pytestmark = pytest.mark.django_db

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


def test_applications_by_outcome_reason_and_provider_outages():
    customer = account("apps", opened=date(2026, 1, 1)).customer
    application(customer, D1, "approved", code="APPROVED")
    application(customer, D1, "approved", code="APPROVED", attempts=3)  # the provider failed twice first
    application(customer, D1, "rejected", code="ID_INVALID", attempts=0)
    application(customer, D1, "rejected", code="ID_MISMATCH")
    application(customer, D2, "pending_retry", code="UPSTREAM_UNAVAILABLE")
    application(customer, D2, "in_review", code="IDENTITY_RETRIES_EXHAUSTED", attempts=7, flags=("UPSTREAM_UNAVAILABLE",))
    application(customer, D2, "rejected", code="ID_INVALID", attempts=0)
    application(customer, date(2026, 2, 28), "rejected", code="VELOCITY")  # before the range
    application(customer, date(2026, 3, 4), "rejected", code="VELOCITY")  # after it

    figures = applications_per_day(Period(D1, D3))

    assert figures.days == [D1, D2, D3]
    assert figures.outcomes == {D1: Counter(approved=2, rejected=2),
                                D2: Counter(pending_retry=1, in_review=1, rejected=1)}
    assert figures.reasons == {D1: Counter(ID_INVALID=1, ID_MISMATCH=1),
                               D2: Counter(UPSTREAM_UNAVAILABLE=1, IDENTITY_RETRIES_EXHAUSTED=1, ID_INVALID=1)}
    assert figures.reason_totals() == [("ID_INVALID", 2), ("IDENTITY_RETRIES_EXHAUSTED", 1), ("ID_MISMATCH", 1),
                                       ("UPSTREAM_UNAVAILABLE", 1)]
    assert figures.outages == Counter({D1: 1, D2: 2})
    assert (figures.total("approved"), figures.total("rejected")) == (2, 3)


def test_the_first_reason_code_is_kept_by_postgresql_and_the_chart_reads_no_json():
    """``Application.first_reason_code`` is a stored generated column of ``reasons`` (decision
    0036): PostgreSQL writes it on every insert and update, whoever writes the row."""
    customer = account("gen", opened=date(2026, 1, 1)).customer
    app = application(customer, D1, "rejected", code="ID_INVALID")
    app.refresh_from_db()
    assert app.first_reason_code == "ID_INVALID"
    Application.objects.filter(pk=app.pk).update(
        reasons=[{"code": "SCORE_BELOW_THRESHOLD", "message": ""}, {"code": "ID_INVALID", "message": ""}])
    app.refresh_from_db()
    assert app.first_reason_code == "SCORE_BELOW_THRESHOLD"
    Application.objects.filter(pk=app.pk).update(reasons=[])
    app.refresh_from_db()
    assert app.first_reason_code is None
    with CaptureQueriesContext(connection) as captured:
        figures = applications_per_day(Period(D1, D1))
    assert figures.reasons == {D1: Counter({NO_REASON: 1})}
    assert len(captured.captured_queries) == 1
    # the per-day counts the database keeps (decision 0040), not the applications
    assert "risk_application " not in captured.captured_queries[0]["sql"]
    assert "risk_applicationdaycount" in captured.captured_queries[0]["sql"]


def test_restoration_at_once_held_and_alerts_per_day():
    acc = account("rest", opened=date(2026, 1, 1))
    first = repayment(acc, D1, "r1", principal="100.00")
    repayment(acc, D1, "r2", principal="50.00", held="50.00")
    repayment(acc, D2, "r3", principal="30.00")
    repayment(acc, D2, "r4", principal="0.00")  # a penalty only: nothing to restore, not counted
    repayment(acc, date(2026, 3, 4), "r5", principal="10.00")  # after the range
    alert(acc, first)

    figures = restoration_per_day(Period(D1, D3))

    day1, day2 = figures.by_day[D1], figures.by_day[D2]
    assert (day1.at_once, day1.held, day1.alerts, str(day1.restored_amount), str(day1.held_amount)) == (
        1, 1, 1, "100.00", "50.00")
    assert (day2.at_once, day2.held, day2.alerts, str(day2.restored_amount)) == (1, 0, 0, "30.00")
    assert D3 not in figures.by_day
    total = figures.total()
    assert (total.at_once, total.held, total.alerts, str(total.restored_amount)) == (2, 1, 1, "130.00")


def test_complaints_by_category_and_breaches_on_the_local_date_received():
    customer = account("cx", opened=date(2026, 1, 1)).customer
    complaint(customer, at(D1, 0), "fee_dispute", ack_breached=True)  # 00:00 Shanghai is still 1 March
    complaint(customer, at(D1, 23), "fee_dispute")
    complaint(customer, at(D1, 12), "activation_failed", response_breached=True)
    complaint(customer, at(D2, 9), "limit_not_restored", ack_breached=True, response_breached=True)
    complaint(customer, at(date(2026, 2, 28), 23), "other")  # 15:00 UTC on 28 February: before the range

    figures = complaints_per_day(Period(D1, D3))

    assert figures.by_day == {D1: Counter(fee_dispute=2, activation_failed=1), D2: Counter(limit_not_restored=1)}
    assert figures.breached == Counter({D1: 2, D2: 1})
    assert figures.category_totals() == [("fee_dispute", 2, 1), ("activation_failed", 1, 1),
                                         ("limit_not_restored", 1, 1)]


def test_closures_by_reason_and_alternatives_accepted():
    accounts = [account(f"cl{n}", opened=date(2026, 1, 1)) for n in range(5)]
    closed(accounts[0], D1, "CUSTOMER_REQUEST")
    closed(accounts[1], D1, "CUSTOMER_REQUEST")
    closed(accounts[2], D2, "WRITE_OFF")
    closed(accounts[3], date(2026, 3, 4), "FRAUD_CONFIRMED")  # after the range
    alternative_accepted(accounts[3], at(D2), "pause")
    alternative_accepted(accounts[4], at(D3), "lower_limit")
    alternative_accepted(accounts[4], at(date(2026, 3, 4), 1), "lower_limit")  # after the range

    figures = closures_per_day(Period(D1, D3))

    assert figures.closures == {D1: Counter(CUSTOMER_REQUEST=2), D2: Counter(WRITE_OFF=1)}
    assert figures.alternatives == {D2: Counter(pause=1), D3: Counter(lower_limit=1)}
    assert figures.reason_totals() == [("CUSTOMER_REQUEST", 2), ("WRITE_OFF", 1)]


def _roll_book():
    """Eight accounts whose states at the ends of January, February and March are known."""
    jan1 = date(2026, 1, 1)
    a = account("a", opened=jan1)
    installment(a, date(2026, 1, 20))  # 11 days past due on 31 Jan, 39 on 28 Feb, 70 on 31 Mar
    b = account("b", opened=jan1)
    installment(b, date(2026, 1, 25), state="paid", paid_on=date(2026, 2, 10))  # 6 on 31 Jan, then cured
    c = account("c", opened=jan1)
    installment(c, date(2026, 4, 10))  # never overdue
    d = account("d", opened=date(2026, 2, 15))
    installment(d, date(2026, 3, 1))  # opened in February; 30 days past due on 31 Mar
    e = account("e", opened=date(2025, 6, 1), written_off=date(2026, 3, 2))
    installment(e, date(2025, 9, 1), state="written_off")  # 152 on 31 Jan, 180 on 28 Feb, then written off
    account("f", opened=jan1, closed=date(2026, 2, 20))  # closed in February, never overdue
    g = account("g", opened=jan1)
    installment(g, date(2026, 1, 10), state="paid")  # converted into a bill plan before it fell due
    h = account("h", opened=jan1)
    installment(h, date(2026, 1, 10), state="cancelled")  # refunded
    installment(c, date(2026, 1, 5), state="paid", paid_on=date(2026, 1, 5))  # paid on time


def test_roll_rates_per_month_from_the_installments_history():
    _roll_book()
    feb, mar = date(2026, 2, 28), date(2026, 3, 31)

    rates = roll_rates(Period(date(2026, 2, 1), mar))

    assert rates.snapshots == [feb, mar]
    assert rates.previous == {feb: date(2026, 1, 31), mar: feb}
    assert rates.transitions[feb] == Counter({("current", "current"): 3, ("current", "closed"): 1,
                                              ("1-30", "31-60"): 1, ("1-30", "current"): 1,
                                              ("91-180", "91-180"): 1})
    assert rates.transitions[mar] == Counter({("current", "current"): 4, ("current", "1-30"): 1,
                                              ("31-60", "61-90"): 1, ("91-180", "written_off"): 1})
    assert (rates.accounts_in(feb, "current"), rates.rolled(feb, "current"), rates.roll_rate(feb, "current")) == (4, 0, 0)
    assert (rates.accounts_in(feb, "1-30"), rates.rolled(feb, "1-30"), rates.cured(feb, "1-30")) == (2, 1, 1)
    assert rates.roll_rate(feb, "1-30") == 0.5
    assert rates.roll_rate(feb, "91-180") == 0
    assert rates.roll_rate(mar, "current") == 0.2
    assert rates.roll_rate(mar, "31-60") == 1
    assert rates.roll_rate(mar, "91-180") == 1
    assert rates.roll_rate(mar, "61-90") is None  # nobody was 61-90 at the end of February
    assert rates.matrix()[("current", "current")] == 7


def test_roll_rates_month_so_far_when_the_range_ends_mid_month():
    _roll_book()
    mid = date(2026, 3, 15)

    rates = roll_rates(Period(date(2026, 3, 1), mid))

    assert rates.snapshots == [mid]
    assert rates.previous == {mid: date(2026, 2, 28)}
    # d: 14 days past due on 15 March; e: written off on 2 March; a: 54 days, still 31-60
    assert rates.transitions[mid] == Counter({("current", "current"): 4, ("current", "1-30"): 1,
                                              ("31-60", "31-60"): 1, ("91-180", "written_off"): 1})


@pytest.mark.parametrize(("query", "message"), [
    ({"start": "2026-13-01"}, "Enter a date as YYYY-MM-DD."),
    ({"start": "yesterday", "end": "2026-03-01"}, "Enter a date as YYYY-MM-DD."),
    ({"start": "2026-03-02", "end": "2026-03-01"}, "The range ends before it starts"),
    ({"start": "2025-01-01", "end": "2026-03-01"}, "Choose a range of at most 366 days (this one has 425)."),
    ({"start": "1999-12-31", "end": "2000-01-02"}, "Choose dates between 2000-01-01 and 2999-12-31."),
])
def test_a_bad_range_is_a_form_error(query, message):
    form = PeriodForm(query, today=date(2026, 3, 10))
    assert not form.is_valid()
    assert message in " ".join(str(e) for errors in form.errors.values() for e in errors)


def test_the_range_defaults_to_the_last_90_business_days_and_allows_366():
    form = PeriodForm({}, today=date(2026, 3, 10))
    assert form.is_valid() and form.period == Period(date(2025, 12, 11), date(2026, 3, 10))
    form = PeriodForm({"start": "2025-03-10", "end": "2026-03-10"}, today=date(2026, 3, 10))
    assert form.is_valid() and form.period.days == MAX_DAYS
    with pytest.raises(ValueError, match="ends on or after"):
        Period(D2, D1)
