"""The back-office page of charts (``/admin/analytics/``): the range form, then one section
per question — its chart, the figures behind it as a table, and what it counts. Staff with
``tally.view_analytics`` open it (docs/permissions.md); a bad range is a form error (400),
never a server error. Queries: a fixed number whatever the rows (``tests`` pin it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.business_day import business_date_get

from . import backoffice, labels
from .activations import OUTCOMES, applications_per_day
from .closures import closures_per_day
from .complaint_volume import complaints_per_day
from .period import PeriodForm, is_month_end
from .restoration import restoration_per_day
from .roll_rates import CURRENT, STATES, WRITTEN_OFF, roll_rates
from .svg import Series, grouped_bars, stacked_bars

VIEW_ANALYTICS = backoffice.VIEW_ANALYTICS
TEMPLATE = "admin/analytics/charts.html"
MAX_SERIES = 8  # the most frequent codes get their own colour; the rest are summed as "other"
OTHER = "other"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _by_code(days: Sequence[date], by_day: dict[date, Counter[str]], totals: list[tuple[str, int]],
             name: Any) -> list[Series]:
    """One series per code, most frequent first; beyond ``MAX_SERIES`` the rest as one."""
    codes = [code for code, _n in totals]
    kept, rest = codes[:MAX_SERIES], set(codes[MAX_SERIES:])
    series = [Series(code, name(code), [by_day.get(day, Counter())[code] for day in days]) for code in kept]
    if rest:
        series.append(Series(OTHER, gettext("other"),
                             [sum(n for code, n in by_day.get(day, Counter()).items() if code in rest) for day in days]))
    return series


def _day_labels(days: Sequence[date]) -> list[str]:
    return [day.strftime("%m-%d") for day in days]


def _applications(period) -> dict[str, Any]:
    figures = applications_per_day(period)
    days, categories = figures.days, _day_labels(figures.days)
    outcome_series = [Series(str(status), labels.label(labels.OUTCOMES, status),
                             [figures.outcomes.get(day, Counter())[status] for day in days]) for status in OUTCOMES]
    total = sum(figures.total(status) for status in OUTCOMES)
    reasons = figures.reason_totals()
    not_approved = sum(n for _code, n in reasons)
    outage_days = [day for day in days if figures.outages[day]]
    return {
        "key": "applications", "title": _("Applications per day by outcome"),
        "question": _("Why do activations fail? Applications by their outcome on the day they were submitted; "
                      "a red mark: applications that met the identity provider unavailable."),
        "chart": stacked_bars(chart_id="chart-applications", title=gettext("Applications per day by outcome"),
                              categories=categories, series=outcome_series,
                              markers=[figures.outages[day] for day in days],
                              marker_label=gettext("identity provider unavailable")),
        "chart2": stacked_bars(chart_id="chart-application-reasons",
                               title=gettext("Applications not approved, by reason"), categories=categories,
                               series=_by_code(days, figures.reasons, reasons,
                                               lambda code: labels.label(labels.APPLICATION_REASONS, code))),
        "headers": [_("Outcome or reason"), _("Code"), _("Applications"), _("Share")],
        "rows": [*[(s.label, s.key, figures.total(s.key), _share(figures.total(s.key), total)) for s in outcome_series],
                 *[(gettext("not approved: %(reason)s") % {"reason": labels.label(labels.APPLICATION_REASONS, code)},
                    code, n, _share(n, not_approved)) for code, n in reasons],
                 (gettext("met the identity provider unavailable"), "UPSTREAM_UNAVAILABLE",
                  sum(figures.outages.values()), _share(sum(figures.outages.values()), total)),
                 (gettext("days with a provider outage"), "", len(outage_days), "")],
    }


def _restoration(period) -> dict[str, Any]:
    figures = restoration_per_day(period)
    days = figures.days
    total = figures.total()
    repayments = total.at_once + total.held
    return {
        "key": "restoration", "title": _("Limit restoration after repayment"),
        "question": _("Are limits coming back after repayment? Repayments that paid principal, per day: limit "
                      "restored at once, or held; a red mark: restoration alerts."),
        "chart": stacked_bars(chart_id="chart-restoration", title=gettext("Limit restoration after repayment"),
                              categories=_day_labels(days),
                              series=[Series("at_once", gettext("restored at once"),
                                             [figures.by_day[d].at_once if d in figures.by_day else 0 for d in days]),
                                      Series("held", gettext("held"),
                                             [figures.by_day[d].held if d in figures.by_day else 0 for d in days])],
                              markers=[figures.by_day[d].alerts if d in figures.by_day else 0 for d in days],
                              marker_label=gettext("restoration alert")),
        "headers": [_("Repayments"), _("Code"), _("Count"), _("Share")],
        "rows": [(gettext("restored at once"), "at_once", total.at_once, _share(total.at_once, repayments)),
                 (gettext("held"), "held", total.held, _share(total.held, repayments)),
                 (gettext("with a restoration alert"), "alert", total.alerts, _share(total.alerts, repayments)),
                 (gettext("limit restored (CNY)"), "", f"{total.restored_amount:,.2f}", ""),
                 (gettext("limit held (CNY)"), "", f"{total.held_amount:,.2f}", "")],
    }


def _snapshot_label(snapshot: date) -> str:
    if is_month_end(snapshot):
        return snapshot.strftime("%Y-%m")
    return gettext("%(month)s (to %(day)s)") % {"month": snapshot.strftime("%Y-%m"), "day": snapshot.strftime("%m-%d")}


def _roll_rates(period) -> dict[str, Any]:
    rates = roll_rates(period)
    sources = [state for state in STATES if state != WRITTEN_OFF]
    categories = [_snapshot_label(s) for s in rates.snapshots]
    series = []
    for state in sources:
        values = [rates.roll_rate(s, state) for s in rates.snapshots]
        series.append(Series(state, labels.state_label(state),
                             [None if v is None else round(100 * v, 1) for v in values]))
    rows = []
    for snapshot, category in zip(rates.snapshots, categories, strict=True):
        for state in sources:
            base = rates.accounts_in(snapshot, state)
            if base:
                rolled, cured = rates.rolled(snapshot, state), rates.cured(snapshot, state)
                rows.append((category, labels.state_label(state), base, rolled, _share(rolled, base),
                             cured if state != CURRENT else "", _share(cured, base) if state != CURRENT else ""))
    matrix = rates.matrix()
    to_states = [*STATES, "closed"]
    return {
        "key": "roll-rates", "title": _("Roll rates between delinquency buckets, per month"),
        "question": _("Who is rolling from one delinquency bucket to the next? For each month, the share of the "
                      "accounts in each state at the end of the month before that are in a worse state at the "
                      "month's end (the month so far for the last one)."),
        "chart": grouped_bars(chart_id="chart-roll-rates", title=gettext("Roll rates per month"),
                              categories=categories, series=series, unit=" %", top=100),
        "headers": [_("Month"), _("From"), _("Accounts"), _("Rolled to a worse state"), _("Roll rate"), _("Cured"),
                    _("Cure rate")],
        "rows": rows,
        "matrix": {"columns": [labels.state_label(s) for s in to_states],
                   "rows": [(labels.state_label(src), [matrix[(src, dst)] for dst in to_states]) for src in STATES
                            if any(matrix[(src, dst)] for dst in to_states)]},
    }


def _complaints(period) -> dict[str, Any]:
    figures = complaints_per_day(period)
    days = figures.days
    totals = figures.category_totals()
    return {
        "key": "complaints", "title": _("Complaints per day by category"),
        "question": _("Complaints received per day by category; a red mark: complaints of that day that breached "
                      "a regulatory deadline."),
        "chart": stacked_bars(chart_id="chart-complaints", title=gettext("Complaints per day by category"),
                              categories=_day_labels(days),
                              series=_by_code(days, figures.by_day, [(c, n) for c, n, _b in totals],
                                              lambda code: labels.label(labels.CATEGORIES, code)),
                              markers=[figures.breached[day] for day in days],
                              marker_label=gettext("deadline breached")),
        "headers": [_("Category"), _("Code"), _("Complaints"), _("Breached a deadline")],
        "rows": [(labels.label(labels.CATEGORIES, c), c, n, b) for c, n, b in totals],
    }


def _closures(period) -> dict[str, Any]:
    figures = closures_per_day(period)
    days = figures.days
    reasons, alternatives = figures.reason_totals(), figures.alternative_totals()
    return {
        "key": "closures", "title": _("Closures by reason, and alternatives accepted"),
        "question": _("Accounts closed per day by reason; below, closure requests withdrawn because the customer "
                      "accepted an alternative (a lower limit or a pause)."),
        "chart": stacked_bars(chart_id="chart-closures", title=gettext("Closures per day by reason"),
                              categories=_day_labels(days),
                              series=_by_code(days, figures.closures, reasons,
                                              lambda code: labels.label(labels.CLOSURE_REASONS, code))),
        "chart2": stacked_bars(chart_id="chart-alternatives", title=gettext("Alternatives accepted per day"),
                               categories=_day_labels(days),
                               series=_by_code(days, figures.alternatives, alternatives,
                                               lambda code: labels.label(labels.ALTERNATIVES, code))),
        "headers": [_("Closure reason or alternative"), _("Code"), _("Count")],
        "rows": [*[(labels.label(labels.CLOSURE_REASONS, c), c, n) for c, n in reasons],
                 *[(gettext("alternative accepted: %(alternative)s") % {"alternative": labels.label(labels.ALTERNATIVES, c)},
                    c, n) for c, n in alternatives]],
    }


def analytics_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(VIEW_ANALYTICS):
        raise PermissionDenied
    today = business_date_get()
    form = PeriodForm(request.GET, today=today)
    context: dict[str, Any] = {**admin.site.each_context(request), "title": gettext("Charts"), "form": form,
                               "business_date": today}
    if not form.is_valid():
        return TemplateResponse(request, TEMPLATE, context, status=400)
    period = form.period
    context.update(period=period, sections=[_applications(period), _restoration(period), _roll_rates(period),
                                            _complaints(period), _closures(period)])
    return TemplateResponse(request, TEMPLATE, context)
