"""The edges of the credit line the population lives (docs/decisions/0031-simulation-edges.md):
a write-off age of 90 days drafted by one risk manager and activated by another (four eyes);
defaulters closed for breach of terms, still collected; recoveries after write-off, paid by
hand or by a new card; new repayment cards after hard declines; merchant refunds of purchases
converted into bill plans; credit balances paid out on request; storefront references shaped
like the system's own keys; and the payment reconciliation the 15-minute job runs during the
day. Every decision comes from ``decision_rng``; every write goes through a service or the API."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from accounts.errors import ApplicationError
from accounts.models import CreditAccount
from installments.models import AttemptStatus, BillConversion, PaymentAttempt
from installments.services.payouts import payout_request
from installments.services.reconciliation import payments_reconcile
from installments.services.repayment_cards import repayment_card_change
from risk.selectors import active_policy
from risk.services.policies import policy_activate, policy_draft_create, policy_draft_update

from .population import START, Person, decision_rng, money, pick

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from .faults import FaultPlan
    from .storefront import Storefront

WRITE_OFF_DAYS = 90  # the lowest the policy allows: a 200-day run sees write-offs and recoveries
# The cards a customer brings after a hard decline: mostly another card short of money, some a
# good one, some whose bank answers "pending" after taking the money (an unknown outcome).
NEW_CARDS: tuple[tuple[str, int], ...] = (("tok_insufficient_funds", 55), ("tok_ok", 30), ("tok_pending_charged", 15))
# How often each edge is lived (a test turns them up for a short run).
RECOVERY_PAY_SHARE = 0.35  # of the written-off (not frauds): pay part or all of what is recoverable
RECOVERY_CARD_SHARE = 0.2  # of them: bring a good card instead, for auto-debit to recover
NEW_CARD_SHARE = 0.45  # of the hard declines (not frauds): another card some days later
PAYOUT_SHARE = 0.06  # of the credit-balance holders, each day: ask for it
CONVERTED_REFUND_SHARE = 0.35  # of the conversions: a merchant refund of a purchase the bill plan financed
RECOVERY_AFTER_DAYS = (3, 30)  # how long after the write-off a returning customer acts
CONVERTED_REFUND_AFTER_DAYS = (3, 40)  # how long after the conversion the merchant refunds


class Edges:
    """Mixed into ``engine.Simulation``."""

    seed: int
    days: int
    people: list[Person]
    staff: dict[str, User]
    api: Storefront
    plan: FaultPlan

    if TYPE_CHECKING:  # provided by engine.Simulation and its other mixins (a stub here would shadow them)
        def count(self, name: str, n: int = 1) -> None: ...
        def later(self, day: int, what: str, person: Person, **data: object) -> None: ...
        def refused(self, action: str, exc: ApplicationError) -> None: ...
        def api_refused(self, action: str, status: int, body: dict) -> None: ...
        def _repayment(self, person: Person, amount: Decimal, reference: str) -> None: ...

    # --- the policy: four eyes --------------------------------------------------------------------

    def _set_write_off_age(self) -> None:
        """One risk manager drafts a version of the active policy writing loans off after
        ``WRITE_OFF_DAYS`` days; activating it themselves is refused (four eyes); a second risk
        manager activates it. Plans booked from then on keep that age."""
        author, approver = self.staff["manager"], self.staff["manager2"]
        active = active_policy()
        draft = policy_draft_create(acting_user=author, based_on=active, notes="simulation: shorter write-off age")
        policy_draft_update(policy_id=draft.pk, params={**active.params, "write_off_days": WRITE_OFF_DAYS},
                            notes=f"write off after {WRITE_OFF_DAYS} days past due", acting_user=author)
        try:
            policy_activate(policy_id=draft.pk, acting_user=author, reason_text="activated by its author")
        except ApplicationError as exc:
            self.refused("policy activation by its author", exc)
        else:
            self.count("policy activated by its author (four eyes not enforced)")
            return
        policy_activate(policy_id=draft.pk, acting_user=approver, reason_text="second risk manager's approval")

    # --- what the simulated people notice each morning ------------------------------------------

    def _accounts_of_people(self) -> dict[int, Person]:
        return {p.account_id: p for p in self.people if p.account_id is not None}

    def _edges_customer_day(self, index: int, day: date) -> None:
        people = self._accounts_of_people()
        self._notice_write_offs(people, index)
        self._notice_hard_declines(people, index, day)
        self._ask_payouts(people, index)

    def _notice_write_offs(self, people: dict[int, Person], index: int) -> None:
        """A written-off customer may come back: pay part or all of what is recoverable some days
        later, or bring a good card so that auto-debit recovers it. Frauds never do."""
        watched = [pk for pk, p in people.items() if not p.state.get("written_off_on")]
        for account_id, written_off_on in (CreditAccount.objects.filter(pk__in=watched, written_off_on__isnull=False)
                                           .order_by("pk").values_list("pk", "written_off_on")):
            person = people[account_id]
            assert written_off_on is not None  # filtered above
            person.state["written_off_on"] = written_off_on
            if person.persona == "fraud":
                continue
            rng = decision_rng(self.seed, "recovery", person.index)
            on = max(index + 1, (written_off_on - START).days + rng.randint(*RECOVERY_AFTER_DAYS))
            choice = rng.random()
            if choice < RECOVERY_PAY_SHARE:
                share = 1.0 if rng.random() < 0.4 else rng.uniform(0.1, 0.8)
                self.later(on, "recover", person, share=share)
            elif choice < RECOVERY_PAY_SHARE + RECOVERY_CARD_SHARE:
                self.later(on, "change_card", person, card="tok_ok", why="customer brings a card to settle the written-off debt")

    def _do_recover(self, person: Person, index: int, day: date, *, share: float) -> None:
        recoverable = CreditAccount.objects.get(pk=person.opened_account_id).recoverable
        if recoverable <= 0:
            return
        amount = recoverable if share >= 1 else min(recoverable, max(Decimal("0.01"), money(float(recoverable) * share)))
        self.count("recoveries tried (paid after write-off)")
        self._repayment(person, amount, f"{person.external_id}-w{index}")

    def _notice_hard_declines(self, people: dict[int, Person], index: int, day: date) -> None:
        """Yesterday's hard declines (the card is closed): some customers bring another card some
        days later — through the app, or by calling an agent. Frauds do not."""
        for account_id, card in (PaymentAttempt.objects.filter(account_id__in=list(people),
                                                                status=AttemptStatus.HARD_DECLINED,
                                                                business_date=day - timedelta(days=1))
                                 .order_by("account_id").values_list("account_id", "card_token")):
            person = people[account_id]
            if person.persona == "fraud" or person.state.get("card_change_planned") == card:
                continue
            person.state["card_change_planned"] = card
            rng = decision_rng(self.seed, "new card", person.index, index)
            if rng.random() < NEW_CARD_SHARE:
                self.later(index + rng.randint(1, 6), "change_card", person, card=pick(rng, NEW_CARDS),
                           why="customer called after the card was declined: new card")

    def _do_change_card(self, person: Person, index: int, day: date, *, card: str, why: str) -> None:
        self.count("repayment card changes tried")
        if person.via_api:
            status, body = self.api.put(f"accounts/{person.account_id}/repayment-card", {"repayment_card_token": card})
            if status >= 400:
                self.api_refused("repayment card change", status, body)
                return
        else:
            try:
                repayment_card_change(account_id=person.opened_account_id, card_token=card,
                                      acting_user=self.staff["agent"], reason=why)
            except ApplicationError as exc:
                self.refused("repayment card change", exc)
                return
        person.state["card"] = card

    def _ask_payouts(self, people: dict[int, Person], index: int) -> None:
        """Some customers holding a credit balance ask for it: all of it, a part, or (a few)
        more than they hold."""
        for account_id, balance in (CreditAccount.objects.filter(pk__in=list(people), credit_balance__gt=0)
                                    .order_by("pk").values_list("pk", "credit_balance")):
            person = people[account_id]
            rng = decision_rng(self.seed, "payout", person.index, index)
            if person.persona == "fraud" or rng.random() >= PAYOUT_SHARE:
                continue
            kind = rng.random()
            amount = None if kind < 0.6 else (balance + Decimal("10.00") if kind >= 0.95
                                               else max(Decimal("0.01"), money(float(balance) * rng.uniform(0.2, 0.9))))
            self._payout(person, amount)

    def _payout(self, person: Person, amount: Decimal | None) -> None:
        self.count("credit-balance payouts asked")
        if person.via_api:
            status, body = self.api.post(f"accounts/{person.account_id}/credit-balance-payouts",
                                         {} if amount is None else {"amount": f"{amount:.2f}"})
            if status >= 400:
                self.api_refused("credit-balance payout", status, body)
            return
        try:
            payout_request(account_id=person.opened_account_id, amount=amount)
        except ApplicationError as exc:
            self.refused("credit-balance payout", exc)

    # --- conversions -------------------------------------------------------------

    def _after_conversion(self, person: Person, plan_id: int, index: int) -> None:
        """Some converters later get a merchant refund of a purchase the bill plan financed."""
        rng = decision_rng(self.seed, "converted refund", person.index, index)
        if rng.random() >= CONVERTED_REFUND_SHARE:
            return
        conversion = (BillConversion.objects.filter(plan_id=plan_id).select_related("purchase")
                      .order_by("purchase_id").first())
        if conversion is None:
            return
        purchase = conversion.purchase
        share = 1.0 if rng.random() < 0.3 else rng.uniform(0.1, 0.9)
        self.later(index + rng.randint(*CONVERTED_REFUND_AFTER_DAYS), "refund", person, purchase_id=purchase.pk,
                   amount=max(Decimal("0.01"), money(float(purchase.amount) * share)),
                   refund_id=f"{purchase.merchant_order_id}-rc{index}")

    # --- staff hours -------------------------------------------------------------------------------

    def _reconcile_payments(self) -> None:
        """The 15-minute reconciliation job (``payments_reconcile``), as it runs at staff hours."""
        asked = payments_reconcile()
        if asked:
            self.plan.count("unknown payments asked about during the day (15-minute job)", len(asked))
