"""What the simulated people pay: on their due dates, late, or everything off early — by
hand or through the storefront's API — and the statements they convert into installments."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import F, Sum

from accounts.errors import ApplicationError
from accounts.models import CreditAccount
from installments.models import Installment, InstallmentState, Repayment, RepaymentSource, Statement
from installments.selectors import payoff_quote
from installments.services.repayments import repayment_create
from installments.services.statements import bill_installment_create

from .population import START, Person, decision_rng

SYSTEM_REFERENCE_SOURCES = (RepaymentSource.AUTO_DEBIT, RepaymentSource.CREDIT_BALANCE)
SYSTEM_KEY_REFERENCE_SHARE = 0.25  # of the storefront's repayments: a reference shaped like a system key

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from .storefront import Storefront


class Payments:
    """Mixed into ``engine.Simulation``."""

    seed: int
    people: list[Person]
    staff: dict[str, User]
    api: Storefront

    if TYPE_CHECKING:  # provided by engine.Simulation and its other mixins (a stub here would shadow them)
        def count(self, name: str, n: int = 1) -> None: ...
        def later(self, day: int, what: str, person: Person, **data: object) -> None: ...
        def refused(self, action: str, exc: ApplicationError) -> None: ...
        def api_refused(self, action: str, status: int, body: dict) -> None: ...
        def _after_conversion(self, person: Person, plan_id: int, index: int) -> None: ...

    def _amounts_due(self, account_ids: list[int], day: date) -> dict[int, Decimal]:
        """What each account's statement says is due by ``day`` (installments due so far,
        their fees, penalties) — what a customer reads before paying."""
        if not account_ids:
            return {}
        rows = (Installment.objects.filter(account_id__in=account_ids, state=InstallmentState.OPEN, due_date__lte=day)
                .values("account_id").annotate(
                    due=Sum(F("principal") - F("principal_paid") - F("principal_cancelled") + F("fee")
                            - F("fee_paid") - F("fee_waived"))).order_by("account_id"))
        penalties = dict(CreditAccount.objects.filter(pk__in=account_ids).values_list("pk", "penalties_outstanding"))
        due = {row["account_id"]: row["due"] for row in rows}
        return {pk: due.get(pk, Decimal("0.00")) + penalties.get(pk, Decimal("0.00"))
                for pk in sorted(set(due) | {pk for pk, p in penalties.items() if p > 0})}

    def _repay(self, index: int, day: date) -> None:
        on_due_date = [p for p in self.people if p.account_id and p.manual_payer]
        late = [p for p in self.people if p.account_id and p.persona in ("late", "complainer")]
        dpd = dict(CreditAccount.objects.filter(pk__in=[p.account_id for p in late], days_past_due__gt=0)
                   .values_list("pk", "days_past_due"))
        late = [p for p in late if dpd.get(p.opened_account_id, 0) >= p.lateness]
        payers = sorted({p.index: p for p in on_due_date + late}.values(), key=lambda p: p.index)
        due = self._amounts_due([p.opened_account_id for p in payers], day)
        for person in payers:
            amount = due.get(person.opened_account_id, Decimal("0.00"))
            if amount > 0:
                self._repayment(person, amount, self._storefront_reference(
                    person, index, f"{person.external_id}-d{index}", reuse_system=False))
                if person.persona in ("late", "complainer"):
                    person.lateness = decision_rng(self.seed, "lateness", person.index, index).randint(
                        1, 5 if person.persona == "complainer" else 30)
        for person in self.people:  # now and then someone pays everything off early
            if person.account_id and person.persona in ("good", "refunder") \
                    and decision_rng(self.seed, "payoff", person.index, index).random() < 0.004:
                self._pay_off(person, index)

    def _pay_off(self, person: Person, index: int) -> None:
        account = CreditAccount.objects.get(pk=person.opened_account_id)
        amount = payoff_quote(account)["amount_to_pay"]
        if amount > 0:
            self._repayment(person, amount, self._storefront_reference(person, index, f"{person.external_id}-p{index}",
                                                                       reuse_system=True))

    def _repayment(self, person: Person, amount: Decimal, reference: str) -> None:
        self.count("manual repayments tried")
        if person.via_api:
            status, body = self.api.post(f"accounts/{person.account_id}/repayments",
                                         {"reference": reference, "amount": f"{amount:.2f}"})
            if status >= 400:
                self.api_refused("repayment", status, body)
            return
        try:
            repayment_create(account_id=person.opened_account_id, reference=reference, amount=amount)
        except ApplicationError as exc:
            self.refused("repayment", exc)

    def _storefront_reference(self, person: Person, index: int, reference: str, *, reuse_system: bool) -> str:
        """Some storefront repayments carry a reference shaped like the system's own keys:
        ``debit:{account}:{date}`` or ``credit:{date}`` of today, or (``reuse_system``) the very
        reference of the account's latest auto-debit or credit-balance booking. Storefront
        references are their own namespace: each must be booked as any other."""
        if not person.via_api:
            return reference
        rng = decision_rng(self.seed, "reference", person.index, index)
        if rng.random() >= SYSTEM_KEY_REFERENCE_SHARE:
            return reference
        self.count("storefront references shaped like system keys")
        if reuse_system:
            latest = (Repayment.objects.filter(account_id=person.opened_account_id, source__in=SYSTEM_REFERENCE_SOURCES)
                      .order_by("-business_date", "-reference").values_list("reference", flat=True).first())
            if latest is not None:
                return latest
        today = (START + timedelta(days=index)).isoformat()
        return f"debit:{person.account_id}:{today}" if rng.random() < 0.5 else f"credit:{today}"

    def _convert_statements(self, index: int, day: date) -> None:
        converters = {p.account_id: p for p in self.people if p.account_id and p.converter}
        statements = Statement.objects.filter(account_id__in=list(converters), statement_date=day - timedelta(days=1),
                                              earliest_due_date__isnull=False).order_by("account_id")
        for statement in statements:
            person = converters[statement.account_id]
            rng = decision_rng(self.seed, "convert", person.index, index)
            if rng.random() >= 0.5:
                continue
            self.count("statement conversions tried")
            try:
                plan = bill_installment_create(statement_id=statement.pk, periods=rng.choice((3, 6, 12)))
            except ApplicationError as exc:
                self.refused("statement conversion", exc)
                continue
            self._after_conversion(person, plan.pk, index)
