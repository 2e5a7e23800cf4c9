"""Reads of the risk domain."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Protocol

from django.db.models import Aggregate, Avg, Count, DurationField, F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import clock
from accounts.audit_trail import StaffUser
from accounts.errors import ApplicationError
from accounts.models import CreditAccount, Customer
from accounts.registry import Registry

from .models import Application, ApplicationStatus, PolicyStatus, ReviewCase, ReviewStatus, ScoringPolicy
from .policy import PolicyParams
from .scorecard import RepaymentHistory


class NoActivePolicy(ApplicationError):
    status_code = 503
    code = "no_active_policy"


def active_policy() -> ScoringPolicy:
    return active_policy_from(list(active_policy_query()[:1]))


def active_policy_query() -> QuerySet[ScoringPolicy]:
    """What ``active_policy`` reads, for a booking reading it with others in one round trip
    (``accounts.round_trips.read_together``); ``active_policy_from`` gives the policy of its rows."""
    return ScoringPolicy.objects.filter(status=PolicyStatus.ACTIVE).order_by("-version")


def active_policy_from(rows: list[ScoringPolicy]) -> ScoringPolicy:
    if not rows:
        raise NoActivePolicy(_("No scoring policy is active."))
    return rows[0]


# The active policy this process last saw, with its parsed parameters (a version's parameters
# never change once it is active). A booking written in one statement (the purchase path)
# checks in that statement that this version is still the active one; when another took its
# place the statement writes nothing and answers the active version's id, which is read here
# and the booking is built again.
_last_active: dict[str, tuple[ScoringPolicy, PolicyParams]] = {}


def active_policy_last_seen(*, policy_id: int | None = None) -> tuple[ScoringPolicy, PolicyParams]:
    """The active policy as this process last saw it, and its parameters; ``policy_id``: the
    version a statement found active (read when it is not the one seen)."""
    seen = _last_active.get("policy")
    if seen is None or (policy_id is not None and seen[0].pk != policy_id):
        policy = active_policy() if policy_id is None else ScoringPolicy.objects.get(pk=policy_id)
        seen = _last_active["policy"] = (policy, policy.parsed)
    return seen


def policy_authors(policy: ScoringPolicy) -> list[StaffUser]:
    """Who authored a version (four eyes, docs/rules.md §3.8): its creator (``created_by``, the
    only author recorded on versions older than ``authors``) and whoever created or edited it."""
    authors = {user.pk: user for user in policy.authors.order_by("username")}
    if policy.created_by is not None:
        authors.setdefault(policy.created_by.pk, policy.created_by)
    return sorted(authors.values(), key=lambda user: user.get_username())


def is_policy_author(policy: ScoringPolicy, user_id: int | None) -> bool:
    """Whether the member of staff created or edited this version: none of them may activate it."""
    if user_id is None:
        return False
    return policy.created_by_id == user_id or policy.authors.filter(pk=user_id).exists()


class RepaymentHistoryProvider(Protocol):
    def __call__(self, customer_ids: list[int], *, start: date | None, end: date | None) -> RepaymentHistory | None: ...


# Installments are booked by ``installments``, which registers its reader here at start-up
# (risk sits below installments and does not import it).
REPAYMENT_HISTORY: Registry[RepaymentHistoryProvider] = Registry("repayment history provider")


def repayment_history_for(customer: Customer, *, until: date | None,
                          lookback_days: int | None) -> RepaymentHistory | None:
    """The repayment record with Tally of the person behind ``customer`` — every store id with
    the same ID number (keyed hash) — for the scorecard and reopen checks; until an
    installment fell due there is none."""
    start = (until - timedelta(days=lookback_days)) if (until and lookback_days) else None
    return REPAYMENT_HISTORY.only()(same_person(customer), start=start, end=until)


def same_person(customer: Customer) -> list[int]:
    """The ids of every customer (store id) with this customer's ID number."""
    if not customer.id_number_hash:
        return [customer.pk]
    return sorted({customer.pk, *Customer.objects.filter(id_number_hash=customer.id_number_hash)
                   .values_list("id", flat=True)})


def written_off_account_of(id_number_hash: str) -> CreditAccount | None:
    """A written-off credit account of anyone with this ID number (keyed hash), if any."""
    if not id_number_hash:
        return None
    return (CreditAccount.objects.filter(customer__id_number_hash=id_number_hash, written_off_on__isnull=False)
            .order_by("written_off_on", "id").first())


def customer_applications(customer_id: int) -> QuerySet[Application]:
    return (Application.objects.filter(customer_id=customer_id).select_related("policy", "decided_by")
            .order_by("-created_at"))


class Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5)`` (works on intervals too)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


def awaiting_manager_q(user) -> Q:
    """Cases waiting for a risk manager: escalated, or a proposal above the high-limit
    threshold awaiting confirmation — not the manager's own proposal (four eyes)."""
    return (Q(status__in=[ReviewStatus.ESCALATED, ReviewStatus.AWAITING_CONFIRMATION])
            & ~Q(proposed_by_id=getattr(user, "pk", None)))


def manager_inbox_figures(user) -> dict[str, int]:
    """How many escalations and proposals wait for this risk manager (one query)."""
    return ReviewCase.objects.filter(awaiting_manager_q(user)).aggregate(
        escalated=Count("id", filter=Q(status=ReviewStatus.ESCALATED)),
        proposals=Count("id", filter=Q(status=ReviewStatus.AWAITING_CONFIRMATION)))


def reviewer_day_figures(user, *, now: datetime | None = None) -> dict[str, Any]:
    """The reviewer's own figures of today — the local calendar day in the business's time
    zone, from midnight (not the business date, which stays behind until the nightly close):
    cases they decided (approved or rejected) and the median and average time from their claim
    to their decision. One query over their own decisions of the day."""
    now = now or clock.now()
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    spent = F("decided_at") - F("claimed_at")
    return ReviewCase.objects.filter(
        decided_by_id=getattr(user, "pk", None), decided_at__gte=start, decided_at__lt=start + timedelta(days=1),
        status=ReviewStatus.DECIDED).aggregate(
        decided=Count("id"),
        median=Median(spent, output_field=DurationField(), filter=Q(claimed_at__isnull=False)),
        average=Avg(spent, output_field=DurationField(), filter=Q(claimed_at__isnull=False)))


def review_queue(*, user, view: str | None = None) -> QuerySet[ReviewCase]:
    """The queue list with its filters: unclaimed, mine, due_soon, overdue, awaiting_manager."""
    now = clock.now()
    qs = (ReviewCase.objects.exclude(status=ReviewStatus.DECIDED)
          .select_related("application", "application__customer", "claimed_by").order_by("due_at", "id"))
    if view == "unclaimed":
        idle_before = now - timedelta(minutes=active_policy().parsed.review_claim_idle_minutes)
        qs = qs.filter(~Q(status=ReviewStatus.CLAIMED) | Q(last_activity_at__lt=idle_before))
    elif view == "mine":
        qs = qs.filter(claimed_by=user, status=ReviewStatus.CLAIMED)
    elif view == "due_soon":
        qs = qs.filter(due_at__gte=now, due_at__lt=now + timedelta(hours=4))
    elif view == "overdue":
        qs = qs.filter(due_at__lt=now)
    elif view == "awaiting_manager":
        qs = qs.filter(awaiting_manager_q(user))
    return qs


def applications_due_for_retry(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    now = now or clock.now()
    return list(Application.objects.filter(status=ApplicationStatus.PENDING_RETRY, next_identity_retry_at__lte=now)
                .order_by("next_identity_retry_at").values_list("id", flat=True)[:limit])
