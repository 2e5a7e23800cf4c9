"""The simulation engine behind ``manage.py simulate`` (docs/decisions/0014-simulation.md).

A seeded population (``population``) lives through ``days`` business days: it applies, buys
with every term, gets refunds, repays by hand and by auto-debit with every sandbox card,
converts statements, asks for closure and reopening, and complains; simulated staff work the
review queue, the complaints and the closure requests; the real nightly close runs every
night. Every write goes through the services (or, for the people who use the app — 15% of
them, ``Person.via_api`` — through the real HTTP API with an ``Idempotency-Key``): the engine
holds no business rule.

Determinism: the business date starts at ``START`` and the system's clock
(``accounts.clock``) is simulated at fixed times of each business day; every person's
decisions come from their own seeded generator, and the report is built from aggregates only
(no ids, no timestamps).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.test.utils import override_settings

from accounts import clock
from accounts.business_day import business_date_get, business_date_set
from accounts.errors import ApplicationError
from accounts.models import AccountStatus, CreditAccount, Customer
from complaints.services.closures import (
    closure_request_create,
)
from complaints.services.complaints import complaint_file
from config.api.clients import api_client_create_or_rotate
from config.cob import runner
from installments.models import Purchase
from installments.services.purchases import purchase_create
from installments.services.refunds import refund_create
from risk.selectors import applications_due_for_retry
from risk.services.applications import application_retry_identity, application_submit

from . import faults as fault_module
from . import report
from .edges import Edges
from .environment import (
    SimulationRefused,
    asynchronous_commits,
    quiet_logs,
    reconcile_after_auto_debit,
    staff_users,
    wipe_simulation_data,
)
from .payments import Payments
from .population import COMPLAINT_CATEGORIES, START, TERMS, Person, build_population, decision_rng, money, pick
from .staff import StaffWork
from .storefront import Storefront, application_body

TZ = ZoneInfo("Asia/Shanghai")
CUSTOMER_HOURS = time(10, 0)
STAFF_HOURS = time(15, 0)
CLOSE_HOURS = time(0, 30)  # of the next calendar day
API_CLIENT_NAME = "sim-storefront"
SIMULATION_API_RATE = 1_000_000  # requests a minute: never reached (see where the client is made)


@dataclass
class SimulationResult:
    report: str
    money: dict[str, str]
    audit_violations: list[str]
    faults: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def _instant(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=TZ)


class Simulation(Payments, StaffWork, Edges):
    def __init__(self, *, customers: int, days: int, seed: int, faults: bool,
                 progress: Callable[[int, int, date], None] | None = None):
        self.customers, self.days, self.seed, self.faults = customers, days, seed, faults
        self.progress = progress
        self.plan = fault_module.PLAN
        self.plan.seed, self.plan.enabled, self.plan.chunks_charged, self.plan.counts = seed, faults, 0, {}
        self.plan.last_business_date = START + timedelta(days=days - 1)
        self.people = build_population(seed=seed, customers=customers, days=days, start=START)
        self.by_external_id = {p.external_id: p for p in self.people}
        self.agenda: dict[int, list[tuple[str, Person, dict]]] = {}
        self.complaint_plans: dict[int, dict] = {}
        self.counts: dict[str, int] = {}
        self.last_account_id = 0

    # --- bookkeeping --------------------------------------------------------------------------

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def later(self, day: int, what: str, person: Person, **data) -> None:
        if day < self.days:
            self.agenda.setdefault(day, []).append((what, person, data))

    def refused(self, action: str, exc: ApplicationError) -> None:
        self.count(f"refused {action}: {exc.code}")

    def api_refused(self, action: str, status: int, body: dict) -> None:
        self.count(f"refused {action}: {body.get('error', {}).get('code', status)}")

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> SimulationResult:
        with ExitStack() as stack:
            stack.enter_context(clock.simulated(_instant(START, CUSTOMER_HOURS)))
            stack.enter_context(override_settings(  # DEBUG off: no SQL log kept for every statement
                DEBUG=False, TALLY_PAYMENT_GATEWAY="config.simulation.faults.FaultyGateway", TALLY_COB_CHUNK_QUEUE=None))
            stack.enter_context(fault_module.celery_eager(deliver_twice=self.faults))
            stack.enter_context(fault_module.step_answers_lost())
            stack.enter_context(quiet_logs())
            stack.enter_context(asynchronous_commits())
            stack.enter_context(reconcile_after_auto_debit())
            business_date_set(new_date=START, acting_user=None, reason="simulation start")
            self.staff = staff_users()
            self._set_write_off_age()
            # The throttle counts real minutes; the simulation lives simulated days as fast as the
            # machine goes, so at the default rate a faster machine would get 429s a slower one
            # did not, and the report would depend on the machine.
            _client, token = api_client_create_or_rotate(name=API_CLIENT_NAME, rate_per_minute=SIMULATION_API_RATE)
            self.api = stack.enter_context(Storefront(token, concurrent=self.faults, plan=self.plan))
            for index in range(self.days):
                day = START + timedelta(days=index)
                clock.set_simulated(_instant(day, CUSTOMER_HOURS))
                self._customer_day(index, day)
                clock.set_simulated(_instant(day, STAFF_HOURS))
                self._staff_day(index, day)
                clock.set_simulated(_instant(day + timedelta(days=1), CLOSE_HOURS))
                self._close(index, day)
                if self.progress:
                    self.progress(index + 1, self.days, day)
            self._reconcile_payments()  # the job's first run after the last close (a payout at closure)
            body, money_totals, violations = report.build(self)
            for name, n in report.close_step_retries().items():
                self.plan.count(name, n)
        return SimulationResult(report=body, money=money_totals, audit_violations=violations,
                                faults=dict(sorted(self.plan.counts.items())), counts=dict(self.counts))

    # --- a business day -----------------------------------------------------------------------

    def _customer_day(self, index: int, day: date) -> None:
        for application_id in applications_due_for_retry():
            application_retry_identity(application_id=application_id)
        for person in self.people:
            if person.arrival_day == index:
                self._apply(person, "activation")
                if person.variant == "velocity":  # reapplies every day until told to wait
                    for extra in range(1, 5):
                        self.later(index + extra, "apply", person)
                elif person.persona == "thin":
                    self.later(index + 30, "apply", person)
        for what, person, data in self.agenda.pop(index, []):
            getattr(self, f"_do_{what}")(person, index, day, **data)
        self._refresh_accounts()
        self._edges_customer_day(index, day)
        for person in self.people:
            if person.account_id is not None:
                self._shop(person, index)
            if index in person.complaint_days and person.applications:
                self._complain(person, index)
            if person.closer_day == index and person.account_id is not None:
                self._ask_closure(person, index)
        self._repay(index, day)
        self._convert_statements(index, day)

    def _apply(self, person: Person, kind: str) -> None:
        person.applications += 1
        self.count(f"applications submitted ({kind})")
        if person.via_api:
            status, body = self.api.post("applications", application_body(person, kind))
            if status >= 400:
                self.api_refused(f"{kind} application", status, body)
            return
        try:
            application_submit(kind=kind, applicant=person.applicant, card_token=person.current_card)
        except ApplicationError as exc:
            self.refused(f"{kind} application", exc)

    def _do_apply(self, person: Person, index: int, day: date) -> None:
        self._apply(person, "activation")

    def _do_reopen(self, person: Person, index: int, day: date) -> None:
        self._apply(person, "reopen")

    def _refresh_accounts(self) -> None:
        for external_id, account_id in (CreditAccount.objects.filter(pk__gt=self.last_account_id)
                                        .order_by("pk").values_list("customer__external_id", "pk")):
            person = self.by_external_id.get(external_id)
            if person is not None:
                person.account_id = account_id
                person.state["opened_day"] = self._today_index
            self.last_account_id = max(self.last_account_id, account_id)

    @property
    def _today_index(self) -> int:
        return (business_date_get() - START).days

    # --- purchases and refunds --------------------------------------------------------------------

    def _shop(self, person: Person, index: int) -> None:
        rng = decision_rng(self.seed, "shop", person.index, index)
        opened = person.state.get("opened_day", index)
        if person.variant == "bust_out":
            if person.state.get("busted"):
                return
            chance = 1.0
        elif person.persona == "defaulter" and index - opened > 20:
            return
        else:
            chance = person.buy_rate
        if rng.random() >= chance:
            return
        account = (CreditAccount.objects.only("status", "credit_limit", "available_limit")
                   .get(pk=person.opened_account_id))
        if account.status != AccountStatus.ACTIVE:
            return
        if person.variant == "bust_out":
            person.state["busted"] = True
            amount, periods = account.available_limit, 12
        else:
            amount = max(Decimal("20.00"), money(rng.uniform(0.03, 0.3) * float(account.credit_limit)))
            periods = pick(rng, TERMS)
            if amount > account.available_limit and rng.random() < 0.5:
                amount = account.available_limit
        if amount < Decimal("20.00"):
            return
        person.state["orders"] = person.state.get("orders", 0) + 1
        order_id = f"{person.external_id}-o{person.state['orders']}"
        purchase_id = self._purchase(person, order_id, amount, periods)
        if purchase_id is None:
            return
        refund_chance = 0.4 if person.persona == "refunder" else 0.03
        if rng.random() < refund_chance:
            share = 1.0 if rng.random() < 0.3 else rng.uniform(0.1, 0.9)
            self.later(index + rng.randint(2, 25), "refund", person, purchase_id=purchase_id,
                       amount=max(Decimal("0.01"), money(float(amount) * share)), refund_id=f"{order_id}-r1")

    def _purchase(self, person: Person, order_id: str, amount: Decimal, periods: int) -> int | None:
        self.count("purchases tried")
        if person.via_api:
            status, body = self.api.post(f"accounts/{person.account_id}/purchases", {
                "merchant_order_id": order_id, "amount": f"{amount:.2f}", "installments": periods})
            if status >= 400:
                self.api_refused("purchase", status, body)
                return None
            return int(body["id"])
        try:
            purchase, _created = purchase_create(account_id=person.opened_account_id, merchant_order_id=order_id,
                                                 amount=amount, periods=periods)
        except ApplicationError as exc:
            self.refused("purchase", exc)
            return None
        return purchase.pk

    def _do_refund(self, person: Person, index: int, day: date, *, purchase_id: int, amount: Decimal,
                   refund_id: str) -> None:
        purchase = Purchase.objects.only("amount", "refunded_amount").get(pk=purchase_id)
        amount = min(amount, purchase.amount - purchase.refunded_amount)
        if amount <= 0:
            return
        if person.via_api:
            status, body = self.api.post(f"purchases/{purchase_id}/refunds",
                                         {"merchant_refund_id": refund_id, "amount": f"{amount:.2f}"})
            if status >= 400:
                self.api_refused("refund", status, body)
            return
        try:
            refund_create(purchase_id=purchase_id, merchant_refund_id=refund_id, amount=amount)
        except ApplicationError as exc:
            self.refused("refund", exc)

    # --- closure and reopening ----------------------------------------------------------------------

    def _ask_closure(self, person: Person, index: int) -> None:
        self.count("closure requests tried")
        try:
            request = closure_request_create(account_id=person.opened_account_id, channel="app",
                                             note="Please close my line.")
        except ApplicationError as exc:
            self.refused("closure request", exc)
            return
        rng = decision_rng(self.seed, "closure", person.index, index)
        if rng.random() < 0.3:
            self.later(index + 1, "alternative", person, request_id=request.pk,
                       alternative=rng.choice(("pause", "lower_limit")))
            return
        if request.status == "awaiting_payoff":
            self.later(index + 1, "pay_off", person)
        self.later(index + 2, "verify_closure", person, request_id=request.pk)

    def _do_pay_off(self, person: Person, index: int, day: date) -> None:
        self._pay_off(person, index)

    def _do_reopen_if_closed(self, person: Person, index: int, day: date, *, request_id: int) -> None:
        status = CreditAccount.objects.values_list("status", flat=True).get(pk=person.opened_account_id)
        if status == AccountStatus.CLOSED and decision_rng(self.seed, "reopen", person.index).random() < 0.6:
            self._apply(person, "reopen")

    # --- complaints ----------------------------------------------------------------------------------

    def _complain(self, person: Person, index: int) -> None:
        n = person.state["complaints"] = person.state.get("complaints", 0) + 1
        rng = decision_rng(self.seed, "complaint", person.index, n)
        category = pick(rng, COMPLAINT_CATEGORIES)
        description = f"Simulated {category.replace('_', ' ')} complaint."
        self.count("complaints filed")
        if person.via_api:
            status, body = self.api.post("complaints", {"customer_external_id": person.external_id,
                                                        "category": category, "channel": "app",
                                                        "description": description})
            if status >= 400:
                self.api_refused("complaint", status, body)
                return
            complaint_id = int(body["id"])
        else:
            try:
                complaint_id = complaint_file(customer_external_id=person.external_id, category=category,
                                              channel=rng.choice(("phone", "app", "email", "web")),
                                              description=description).pk
            except ApplicationError as exc:
                self.refused("complaint", exc)
                return
        start = index + pick(rng, ((0, 85), (1, 10), (2, 5)))
        resolve_after = rng.randint(1, 10) if rng.random() < 0.8 else rng.randint(12, 25)
        self.complaint_plans[complaint_id] = {
            "start": start, "await": rng.random() < 0.3, "resolve": start + resolve_after,
            "extend": start + 11 if resolve_after > 13 and rng.random() < 0.5 else None,
            "reopen": rng.random() < 0.1, "person": person.index}

    # --- the nightly close ----------------------------------------------------------------------------

    def _close(self, index: int, day: date) -> None:
        for _attempt in range(5):
            try:
                runner.close_business_day(fan_out=self.faults)
                break
            except fault_module.WorkerKilled:
                connection.close()  # the dead worker's session (and any lock it held) is gone
                continue
        else:
            raise RuntimeError(f"the close of {day} did not finish")
        if self.faults and index % 10 == 6:
            self.plan.count("business days closed a second time")
            runner.run_day(day, fan_out=True, rerun_completed_steps=True)


def simulate(*, customers: int, days: int, seed: int = 1, faults: bool = False, reset: bool = False,
             progress: Callable[[int, int, date], None] | None = None) -> SimulationResult:
    """Run a simulation on this database (refused under production settings; refused when
    customers exist unless ``reset`` empties the simulation's tables first)."""
    if getattr(settings, "TALLY_ENVIRONMENT", "") == "production":
        raise SimulationRefused("The simulation never runs under the production settings.")
    if customers < 1 or days < 1:
        raise SimulationRefused("--customers and --days must be at least 1.")
    if reset:
        wipe_simulation_data()
    elif Customer.objects.exists():
        raise SimulationRefused("This database already has customers: run the simulation on an empty database, "
                                "or pass --reset to empty the simulation's tables first.")
    if transaction.get_connection().in_atomic_block:
        raise SimulationRefused("The simulation must not run inside a transaction.")
    return Simulation(customers=customers, days=days, seed=seed, faults=faults, progress=progress).run()
