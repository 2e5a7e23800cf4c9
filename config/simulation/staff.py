"""What the simulated staff do each day: the payment reconciliation, the review queue, the
complaints, the customers' closure requests and alternatives, and closing confirmed frauds and
some defaulters for cause."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from accounts.errors import ApplicationError
from accounts.lifecycle.states import AccountStatus
from accounts.models import CreditAccount
from complaints.services import complaints as complaint_services
from complaints.services.closures import (
    account_close_for_cause,
    account_resume,
    closure_request_accept_alternative,
    closure_request_verify_identity,
)
from risk.services import review_queue as queue_services

from .population import Person, decision_rng

BREACH_SHARE = 0.3  # of the defaulters, those a risk manager closes for breach of terms

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from .storefront import Storefront


def hundreds(amount: Decimal) -> Decimal:
    """``amount`` rounded down to a multiple of 100."""
    return (amount / 100).to_integral_value(rounding=ROUND_DOWN) * 100


class StaffWork:
    """Mixed into ``engine.Simulation``."""

    complaint_plans: dict[int, dict[str, Any]]
    seed: int
    people: list[Person]
    by_external_id: dict[str, Person]
    staff: dict[str, User]
    api: Storefront

    if TYPE_CHECKING:  # provided by engine.Simulation and its other mixins (a stub here would shadow them)
        def count(self, name: str, n: int = 1) -> None: ...
        def later(self, day: int, what: str, person: Person, **data: object) -> None: ...
        def refused(self, action: str, exc: ApplicationError) -> None: ...
        def api_refused(self, action: str, status: int, body: dict) -> None: ...
        def _reconcile_payments(self) -> None: ...

    def _do_verify_closure(self, person: Person, index: int, day: date, *, request_id: int) -> None:
        try:
            request = closure_request_verify_identity(request_id=request_id, method="video call, ID shown",
                                                      acting_user=self.staff["agent"])
        except ApplicationError as exc:
            self.refused("identity verification", exc)
            return
        self.later(index + 15, "reopen_if_closed", person, request_id=request.pk)

    def _do_alternative(self, person: Person, index: int, day: date, *, request_id: int, alternative: str) -> None:
        account = CreditAccount.objects.get(pk=person.opened_account_id)
        new_limit = max(Decimal("1000.00"), hundreds(account.credit_limit / 2))
        try:
            closure_request_accept_alternative(
                request_id=request_id, alternative=alternative, note="customer accepted an alternative",
                acting_user=self.staff["agent"], new_limit=new_limit if alternative == "lower_limit" else None)
        except ApplicationError as exc:
            self.refused(f"alternative {alternative}", exc)
            return
        if alternative == "pause":
            self.later(index + 10, "resume", person)

    def _do_resume(self, person: Person, index: int, day: date) -> None:
        try:
            account_resume(account_id=person.opened_account_id, note="customer resumes",
                           acting_user=self.staff["agent"])
        except ApplicationError as exc:
            self.refused("resume", exc)

    def _work_complaints(self, index: int) -> None:
        agent, supervisor = self.staff["agent"], self.staff["supervisor"]
        for complaint_id, plan in sorted(self.complaint_plans.items(), key=lambda kv: (kv[1]["person"], kv[0])):
            try:
                if plan["start"] == index:
                    complaint_services.complaint_assign(complaint_id=complaint_id, assignee=agent, acting_user=agent)
                    complaint_services.complaint_start(complaint_id=complaint_id, acting_user=agent)
                    self.count("complaints acknowledged")
                if plan["await"] and plan["start"] + 1 == index < plan["resolve"]:
                    complaint_services.complaint_reply(complaint_id=complaint_id, body="Could you send us the order number?",
                                       acting_user=agent, await_customer=True)
                if plan["await"] and plan["start"] + 3 == index < plan["resolve"]:
                    complaint_services.complaint_record_customer_message(complaint_id=complaint_id, body="Order number attached.",
                                                         acting_user=agent)
                if plan["extend"] == index:
                    complaint_services.complaint_extend_deadline(complaint_id=complaint_id, reason_text="waiting for the merchant",
                                                 acting_user=supervisor)
                if plan["resolve"] == index:
                    complaint_services.complaint_resolve(complaint_id=complaint_id, resolution="We checked and explained the case.",
                                         acting_user=agent)
                    if plan.pop("reopen", False):
                        plan["reopen_on"] = index + 3
                if plan.get("reopen_on") == index:
                    complaint_services.complaint_reopen(complaint_id=complaint_id, note="The customer disagrees.", acting_user=agent)
                    plan["resolve"] = index + 5
            except ApplicationError as exc:
                self.refused("complaint handling", exc)

    # --- staff --------------------------------------------------------------------------------------

    def _staff_day(self, index: int, day: date) -> None:
        self._reconcile_payments()
        self._work_review_queue()
        self._work_complaints(index)
        self._close_for_cause()

    def _work_review_queue(self) -> None:
        reviewer = self.staff["reviewer"]
        while (case := queue_services.review_case_claim_next(acting_user=reviewer)) is not None:
            application = case.application
            person = self.by_external_id.get(application.customer.external_id)
            codes = {r.get("code") for r in application.reasons or []}
            try:
                if person is None or person.persona == "fraud" or "UPSTREAM_UNAVAILABLE" in codes:
                    code = "REVIEW_REJECTED_FRAUD_RISK" if person and person.persona == "fraud" \
                        else "REVIEW_REJECTED_UNVERIFIABLE"
                    queue_services.review_case_reject(case_id=case.pk, reason_code=code, note="simulated review",
                                          acting_user=reviewer)
                elif (application.score or 0) >= 560 or "SHARED_PHONE" in codes or "HIGH_LIMIT" in codes:
                    limit = min(Decimal("20000.00"), max(Decimal("1000.00"), hundreds(application.spend_12m / 2)))
                    queue_services.review_case_approve(case_id=case.pk, credit_limit=limit, note="simulated review",
                                           acting_user=reviewer)
                else:
                    queue_services.review_case_reject(case_id=case.pk, reason_code="REVIEW_REJECTED_AFFORDABILITY",
                                          note="simulated review", acting_user=reviewer)
                self.count("review cases decided")
            except ApplicationError as exc:
                self.refused("review decision", exc)
                queue_services.review_case_release(case_id=case.pk, acting_user=reviewer)
                break

    def _close_for_cause(self) -> None:
        """Confirmed bust-outs (more than 30 days past due) are closed for fraud; some defaulters,
        more than 60 days past due, for breach of terms. Collection goes on (docs/rules.md §9)."""
        candidates = {p.account_id: p for p in self.people
                      if p.account_id and not p.state.get("closed_for_cause")
                      and (p.variant == "bust_out" or (p.persona == "defaulter" and decision_rng(
                          self.seed, "breach", p.index).random() < BREACH_SHARE))}
        if not candidates:
            return
        for account_id, days_past_due in (CreditAccount.objects.filter(pk__in=list(candidates), days_past_due__gt=30)
                                          .exclude(status=AccountStatus.CLOSED).order_by("pk")
                                          .values_list("pk", "days_past_due")):
            person = candidates[account_id]
            fraud = person.variant == "bust_out"
            if not fraud and days_past_due <= 60:
                continue
            person.state["closed_for_cause"] = True
            try:
                account_close_for_cause(account_id=account_id, reason_code="FRAUD_CONFIRMED" if fraud else "BREACH_OF_TERMS",
                                        note="bust-out pattern confirmed" if fraud else "repeated missed payments",
                                        acting_user=self.staff["manager"])
            except ApplicationError as exc:
                self.refused("closure for cause", exc)
