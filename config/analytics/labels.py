"""Short, translatable names of the codes the charts group by (reason codes are stored in
English as codes; the page shows these names and the code beside them)."""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.functional import Promise
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from accounts.models import DELINQUENCY_BUCKETS
from complaints.models import Alternative, Category
from risk.models import ApplicationStatus

from .roll_rates import CLOSED, CURRENT, WRITTEN_OFF

APPLICATION_REASONS: dict[str, Promise] = {
    "ID_INVALID": _("invalid ID number"),
    "PRIOR_WRITE_OFF": _("earlier write-off"),
    "ACCOUNT_ABNORMAL": _("store account not normal"),
    "INSUFFICIENT_HISTORY": _("too little store history"),
    "VELOCITY": _("too many applications"),
    "RECENT_DELINQUENCY": _("recent late payments"),
    "ID_MISMATCH": _("identity mismatch"),
    "UPSTREAM_UNAVAILABLE": _("identity provider unavailable"),
    "IDENTITY_RETRIES_EXHAUSTED": _("identity retries exhausted"),
    "SCORE_BELOW_THRESHOLD": _("score below threshold"),
    "BORDERLINE_SCORE": _("borderline score (review)"),
    "SHARED_PHONE": _("shared phone (review)"),
    "HIGH_LIMIT": _("high limit (review)"),
    "REVIEW_REJECTED_FRAUD_RISK": _("rejected in review: fraud risk"),
    "REVIEW_REJECTED_AFFORDABILITY": _("rejected in review: affordability"),
    "REVIEW_REJECTED_UNVERIFIABLE": _("rejected in review: unverifiable"),
    "REVIEW_REJECTED_POLICY": _("rejected in review: policy"),
    "-": _("no reason recorded"),
}

CLOSURE_REASONS: dict[str, Promise] = {
    "CUSTOMER_REQUEST": _("customer's request"),
    "FRAUD_CONFIRMED": _("confirmed fraud"),
    "BREACH_OF_TERMS": _("breach of terms"),
    "WRITE_OFF": _("written off (automatic)"),
    "MANUAL_WRITE_OFF": _("written off by a risk manager"),
}

STATES: dict[str, Promise] = {
    CURRENT: pgettext_lazy("delinquency bucket", "current"),
    WRITTEN_OFF: _("written off"),
    CLOSED: _("closed"),
}

OUTCOMES = dict(ApplicationStatus.choices)
CATEGORIES = dict(Category.choices)
ALTERNATIVES = dict(Alternative.choices)


def label(names: Mapping[str, object], code: str) -> str:
    return str(names.get(code, code))


def state_label(state: str) -> str:
    """A roll-rate state: current, a delinquency bucket ("1-30 days"), written off, closed."""
    if state in DELINQUENCY_BUCKETS and state != CURRENT:
        return gettext("%(bucket)s days") % {"bucket": state}
    return label(STATES, state)
