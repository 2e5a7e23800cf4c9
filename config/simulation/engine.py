"""The simulation engine behind ``manage.py simulate`` (docs/decisions/0011-simulation.md).

A seeded population (``population``) lives through ``days`` business days: it applies, buys
with every term, gets refunds, repays by hand and by auto-debit with every sandbox card,
converts statements, asks for closure and reopening, and complains; simulated staff work the
review queue, the complaints and the closure requests; the real nightly close runs every
night. Every write goes through the services (or, for a quarter of the storefront's calls,
through the real HTTP API with an ``Idempotency-Key``) — the engine holds no business rule.

Determinism: the business date starts at ``START`` and the wall clock is frozen at fixed
times of each business day (time-machine), every person's decisions come from their own
seeded generator, and the report is built from aggregates only (no ids, no timestamps).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Sum
from django.test.utils import override_settings

from accounts.errors import ApplicationError
from accounts.models import AccountStatus, CreditAccount, Customer

from . import faults as fault_module
from .population import COMPLAINT_CATEGORIES, TERMS, Person, build_population, decision_rng, money, pick

START = date(2026, 1, 5)
TZ = ZoneInfo("Asia/Shanghai")
CUSTOMER_HOURS = time(10, 0)
STAFF_HOURS = time(15, 0)
CLOSE_HOURS = time(0, 30)  # of the next calendar day
API_CLIENT_NAME = "sim-storefront"
SIM_STAFF = (("sim-reviewer", "Risk reviewer"), ("sim-manager", "Risk manager"), ("sim-agent", "CS agent"),
             ("sim-supervisor", "CS supervisor"))
CONCURRENT_RETRIES = 3
# Tables the simulation owns and ``--reset`` empties: everything of the four domain apps
# except the scoring policies and the staff profiles (reference data and staff).
KEEP_TABLES = {"risk_scoringpolicy", "accounts_staffprofile"}
DOMAIN_APPS = ("accounts", "risk", "installments", "complaints")


class SimulationRefused(Exception):
    pass


@dataclass
class SimulationResult:
    report: str
    money: dict[str, str]
    audit_violations: list[str]
    faults: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def _hundreds(amount: Decimal) -> Decimal:
    return (amount / 100).to_integral_value(rounding=ROUND_DOWN) * 100


def _instant(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=TZ)


def wipe_simulation_data() -> None:
    """Empty the domain tables (``--reset``); refused under the production settings."""
    from django.apps import apps

    if getattr(settings, "TALLY_ENVIRONMENT", "") == "production":
        raise SimulationRefused("The simulation never runs under the production settings.")
    tables = sorted(model._meta.db_table for app in DOMAIN_APPS for model in apps.get_app_config(app).get_models(include_auto_created=True)
                    if model._meta.db_table not in KEEP_TABLES and not model._meta.proxy)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables) + " RESTART IDENTITY")


def _staff_users() -> dict[str, object]:
    from django.contrib.auth.models import Group, User

    users = {}
    for username, group_name in SIM_STAFF:
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            user.set_unusable_password()
            user.save()
        user.groups.set([Group.objects.get(name=group_name)])
        users[username.removeprefix("sim-")] = User.objects.get(pk=user.pk)  # fresh permission cache
    return users


class Storefront:
    """The storefront's HTTP client (DRF's test client on the real URLconf and middleware).
    With ``concurrent`` every POST is fired from several threads at once — each with its own
    database connection, kept for the whole run as a storefront's connection pool would —
    with one ``Idempotency-Key``, then retried until answered. Use it as a context manager:
    leaving it stops the threads and closes their connections."""

    def __init__(self, token: str, *, concurrent: bool, plan: fault_module.FaultPlan):
        self.token = token
        self.concurrent = concurrent
        self.plan = plan
        self.counter = 0
        self.inboxes: list[queue.Queue] = []
        self.threads: list[threading.Thread] = []

    def __enter__(self):
        if self.concurrent:
            self.inboxes = [queue.Queue() for _ in range(CONCURRENT_RETRIES)]
            self.threads = [threading.Thread(target=self._serve, args=(inbox,), daemon=True) for inbox in self.inboxes]
            for thread in self.threads:
                thread.start()
        return self

    def __exit__(self, *exc):
        for inbox in self.inboxes:
            inbox.put(None)
        for thread in self.threads:
            thread.join(timeout=30)

    def _serve(self, inbox: queue.Queue) -> None:
        """One storefront connection: runs the jobs it is given until told to stop."""
        try:
            while (job := inbox.get()) is not None:
                job()
        finally:
            connection.close()

    def _client(self):
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {self.token}")
        return client

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        self.counter += 1
        key = f"sim-{self.counter}"
        headers = {"HTTP_IDEMPOTENCY_KEY": key}
        if not self.concurrent:
            response = self._client().post(f"/api/v1/{path}", body, format="json", **headers)
            return response.status_code, response.json()
        answers: list = [None] * CONCURRENT_RETRIES
        barrier = threading.Barrier(CONCURRENT_RETRIES)
        done = threading.Semaphore(0)

        def fire(slot: int) -> None:
            try:
                barrier.wait(timeout=10)
                response = self._client().post(f"/api/v1/{path}", body, format="json", **headers)
                answers[slot] = (response.status_code, response.json(), response.headers.get("Idempotent-Replayed"))
            except Exception as exc:  # raised again below, in the simulation's thread
                answers[slot] = exc
            finally:
                done.release()

        for slot, inbox in enumerate(self.inboxes):
            inbox.put(lambda slot=slot: fire(slot))
        for _ in self.inboxes:
            done.acquire()
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        firsts = [a for a in answers if a is not None and a[2] != "true" and not _in_progress(a)]
        self.plan.count("concurrent duplicate API requests", CONCURRENT_RETRIES - 1)
        self.plan.count("duplicate API requests answered 'request_in_progress'", sum(_in_progress(a) for a in answers))
        self.plan.count("duplicate API requests replayed", sum(a[2] == "true" for a in answers))
        if len(firsts) != 1:
            raise AssertionError(f"idempotency: {len(firsts)} requests ran for key {key}: {answers}")
        # The storefront retries whatever was told "in progress": it now gets the replay.
        for answer in answers:
            if _in_progress(answer):
                replay = self._client().post(f"/api/v1/{path}", body, format="json", **headers)
                if replay.headers.get("Idempotent-Replayed") != "true" or replay.json() != firsts[0][1]:
                    raise AssertionError(f"idempotency: retry of {key} was not the first answer replayed")
                self.plan.count("retries after 'request_in_progress' replayed")
        return firsts[0][0], firsts[0][1]


def _in_progress(answer) -> bool:
    return answer[0] == 409 and answer[1].get("error", {}).get("code") == "request_in_progress"


def _application_body(person: Person, kind: str) -> dict:
    a = person.applicant
    return {"kind": kind, "repayment_card_token": person.card, "customer": {
        "external_id": a.external_id, "name": a.name, "id_number": a.id_number, "phone": a.phone,
        "store_status": a.store_status, "store_since": a.store_since.isoformat(), "orders_12m": a.orders_12m,
        "spend_12m": f"{a.spend_12m:.2f}", "return_rate": f"{a.return_rate:.2f}"}}


class Simulation:
    def __init__(self, *, customers: int, days: int, seed: int, faults: bool,
                 progress: Callable[[int, int, date], None] | None = None):
        self.customers, self.days, self.seed, self.faults = customers, days, seed, faults
        self.progress = progress
        self.plan = fault_module.PLAN
        self.plan.seed, self.plan.enabled, self.plan.chunks_charged, self.plan.counts = seed, faults, 0, {}
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
        import time_machine

        from accounts.services import api_client_create_or_rotate, business_date_set

        from . import report

        with ExitStack() as stack:
            traveller = stack.enter_context(time_machine.travel(_instant(START, CUSTOMER_HOURS), tick=False))
            stack.enter_context(override_settings(  # DEBUG off: no SQL log kept for every statement
                DEBUG=False, TALLY_PAYMENT_GATEWAY="config.simulation.faults.FaultyGateway", TALLY_COB_CHUNK_QUEUE=None))
            stack.enter_context(fault_module.celery_eager(deliver_twice=self.faults))
            stack.enter_context(_quiet_logs())
            stack.enter_context(_asynchronous_commits())
            stack.enter_context(_reconcile_after_auto_debit())
            business_date_set(new_date=START, acting_user=None, reason="simulation start")
            self.staff = _staff_users()
            _client, token = api_client_create_or_rotate(name=API_CLIENT_NAME)
            self.api = stack.enter_context(Storefront(token, concurrent=self.faults, plan=self.plan))
            for index in range(self.days):
                day = START + timedelta(days=index)
                traveller.move_to(_instant(day, CUSTOMER_HOURS))
                self._customer_day(index, day)
                traveller.move_to(_instant(day, STAFF_HOURS))
                self._staff_day(index, day)
                traveller.move_to(_instant(day + timedelta(days=1), CLOSE_HOURS))
                self._close(index, day)
                if self.progress:
                    self.progress(index + 1, self.days, day)
            body, money_totals, violations = report.build(self)
        return SimulationResult(report=body, money=money_totals, audit_violations=violations,
                                faults=dict(sorted(self.plan.counts.items())), counts=dict(self.counts))

    # --- a business day -----------------------------------------------------------------------

    def _customer_day(self, index: int, day: date) -> None:
        from risk.services import application_retry_identity, applications_due_for_retry

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
        from risk.services import application_submit

        person.applications += 1
        self.count(f"applications submitted ({kind})")
        if person.via_api:
            status, body = self.api.post("applications", _application_body(person, kind))
            if status >= 400:
                self.api_refused(f"{kind} application", status, body)
            return
        try:
            application_submit(kind=kind, applicant=person.applicant, card_token=person.card)
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
        from accounts.services import business_date_get

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
        account = CreditAccount.objects.only("status", "credit_limit", "available_limit").get(pk=person.account_id)
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
        from installments.services import purchase_create

        self.count("purchases tried")
        if person.via_api:
            status, body = self.api.post(f"accounts/{person.account_id}/purchases", {
                "merchant_order_id": order_id, "amount": f"{amount:.2f}", "installments": periods})
            if status >= 400:
                self.api_refused("purchase", status, body)
                return None
            return int(body["id"])
        try:
            purchase, _created = purchase_create(account_id=person.account_id, merchant_order_id=order_id,
                                                 amount=amount, periods=periods)
        except ApplicationError as exc:
            self.refused("purchase", exc)
            return None
        return purchase.pk

    def _do_refund(self, person: Person, index: int, day: date, *, purchase_id: int, amount: Decimal,
                   refund_id: str) -> None:
        from installments.models import Purchase
        from installments.services import refund_create

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

    # --- repayments ----------------------------------------------------------------------------------

    def _amounts_due(self, account_ids: list[int], day: date) -> dict[int, Decimal]:
        """What each account's statement says is due by ``day`` (installments due so far,
        their fees, penalties) — what a customer reads before paying."""
        from installments.models import Installment, InstallmentState

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
        late = [p for p in late if dpd.get(p.account_id, 0) >= p.lateness]
        payers = sorted({p.index: p for p in on_due_date + late}.values(), key=lambda p: p.index)
        due = self._amounts_due([p.account_id for p in payers], day)
        for person in payers:
            amount = due.get(person.account_id, Decimal("0.00"))
            if amount > 0:
                self._repayment(person, amount, f"{person.external_id}-d{index}")
                if person.persona in ("late", "complainer"):
                    person.lateness = decision_rng(self.seed, "lateness", person.index, index).randint(
                        1, 5 if person.persona == "complainer" else 30)
        for person in self.people:  # now and then someone pays everything off early
            if person.account_id and person.persona in ("good", "refunder") \
                    and decision_rng(self.seed, "payoff", person.index, index).random() < 0.004:
                self._pay_off(person, index)

    def _pay_off(self, person: Person, index: int) -> None:
        from installments.selectors import payoff_quote

        account = CreditAccount.objects.get(pk=person.account_id)
        amount = payoff_quote(account)["amount_to_pay"]
        if amount > 0:
            self._repayment(person, amount, f"{person.external_id}-p{index}")

    def _repayment(self, person: Person, amount: Decimal, reference: str) -> None:
        from installments.repayments import repayment_create

        self.count("manual repayments tried")
        if person.via_api:
            status, body = self.api.post(f"accounts/{person.account_id}/repayments",
                                         {"reference": reference, "amount": f"{amount:.2f}"})
            if status >= 400:
                self.api_refused("repayment", status, body)
            return
        try:
            repayment_create(account_id=person.account_id, reference=reference, amount=amount)
        except ApplicationError as exc:
            self.refused("repayment", exc)

    def _convert_statements(self, index: int, day: date) -> None:
        from installments.models import Statement
        from installments.services import bill_installment_create

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
                bill_installment_create(statement_id=statement.pk, periods=rng.choice((3, 6, 12)))
            except ApplicationError as exc:
                self.refused("statement conversion", exc)

    # --- closure and reopening ----------------------------------------------------------------------

    def _ask_closure(self, person: Person, index: int) -> None:
        from complaints.services import closure_request_create

        self.count("closure requests tried")
        try:
            request = closure_request_create(account_id=person.account_id, channel="app", note="Please close my line.")
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

    def _do_verify_closure(self, person: Person, index: int, day: date, *, request_id: int) -> None:
        from complaints.services import closure_request_verify_identity

        try:
            request = closure_request_verify_identity(request_id=request_id, method="video call, ID shown",
                                                      acting_user=self.staff["agent"])
        except ApplicationError as exc:
            self.refused("identity verification", exc)
            return
        self.later(index + 15, "reopen_if_closed", person, request_id=request.pk)

    def _do_reopen_if_closed(self, person: Person, index: int, day: date, *, request_id: int) -> None:
        status = CreditAccount.objects.values_list("status", flat=True).get(pk=person.account_id)
        if status == AccountStatus.CLOSED and decision_rng(self.seed, "reopen", person.index).random() < 0.6:
            self._apply(person, "reopen")

    def _do_alternative(self, person: Person, index: int, day: date, *, request_id: int, alternative: str) -> None:
        from complaints.services import closure_request_accept_alternative

        account = CreditAccount.objects.get(pk=person.account_id)
        new_limit = max(Decimal("1000.00"), _hundreds(account.credit_limit / 2))
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
        from complaints.services import account_resume

        try:
            account_resume(account_id=person.account_id, note="customer resumes", acting_user=self.staff["agent"])
        except ApplicationError as exc:
            self.refused("resume", exc)

    # --- complaints ----------------------------------------------------------------------------------

    def _complain(self, person: Person, index: int) -> None:
        from complaints.services import complaint_file

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

    def _work_complaints(self, index: int) -> None:
        from complaints import services as cs

        agent, supervisor = self.staff["agent"], self.staff["supervisor"]
        for complaint_id, plan in sorted(self.complaint_plans.items(), key=lambda kv: (kv[1]["person"], kv[0])):
            try:
                if plan["start"] == index:
                    cs.complaint_assign(complaint_id=complaint_id, assignee=agent, acting_user=agent)
                    cs.complaint_start(complaint_id=complaint_id, acting_user=agent)
                    self.count("complaints acknowledged")
                if plan["await"] and plan["start"] + 1 == index < plan["resolve"]:
                    cs.complaint_reply(complaint_id=complaint_id, body="Could you send us the order number?",
                                       acting_user=agent, await_customer=True)
                if plan["await"] and plan["start"] + 3 == index < plan["resolve"]:
                    cs.complaint_record_customer_message(complaint_id=complaint_id, body="Order number attached.",
                                                         acting_user=agent)
                if plan["extend"] == index:
                    cs.complaint_extend_deadline(complaint_id=complaint_id, reason_text="waiting for the merchant",
                                                 acting_user=supervisor)
                if plan["resolve"] == index:
                    cs.complaint_resolve(complaint_id=complaint_id, resolution="We checked and explained the case.",
                                         acting_user=agent)
                    if plan.pop("reopen", False):
                        plan["reopen_on"] = index + 3
                if plan.get("reopen_on") == index:
                    cs.complaint_reopen(complaint_id=complaint_id, note="The customer disagrees.", acting_user=agent)
                    plan["resolve"] = index + 5
            except ApplicationError as exc:
                self.refused("complaint handling", exc)

    # --- staff --------------------------------------------------------------------------------------

    def _staff_day(self, index: int, day: date) -> None:
        self._work_review_queue()
        self._work_complaints(index)
        self._close_frauds()

    def _work_review_queue(self) -> None:
        from risk import services as rs

        reviewer = self.staff["reviewer"]
        while (case := rs.review_case_claim_next(acting_user=reviewer)) is not None:
            application = case.application
            person = self.by_external_id.get(application.customer.external_id)
            codes = {r.get("code") for r in application.reasons or []}
            try:
                if person is None or person.persona == "fraud" or "UPSTREAM_UNAVAILABLE" in codes:
                    code = "REVIEW_REJECTED_FRAUD_RISK" if person and person.persona == "fraud" \
                        else "REVIEW_REJECTED_UNVERIFIABLE"
                    rs.review_case_reject(case_id=case.pk, reason_code=code, note="simulated review",
                                          acting_user=reviewer)
                elif (application.score or 0) >= 560 or "SHARED_PHONE" in codes or "HIGH_LIMIT" in codes:
                    limit = min(Decimal("20000.00"), max(Decimal("1000.00"), _hundreds(application.spend_12m / 2)))
                    rs.review_case_approve(case_id=case.pk, credit_limit=limit, note="simulated review",
                                           acting_user=reviewer)
                else:
                    rs.review_case_reject(case_id=case.pk, reason_code="REVIEW_REJECTED_AFFORDABILITY",
                                          note="simulated review", acting_user=reviewer)
                self.count("review cases decided")
            except ApplicationError as exc:
                self.refused("review decision", exc)
                rs.review_case_release(case_id=case.pk, acting_user=reviewer)
                break

    def _close_frauds(self) -> None:
        from complaints.services import account_close_for_cause

        candidates = {p.account_id: p for p in self.people
                      if p.variant == "bust_out" and p.account_id and not p.state.get("closed_for_cause")}
        if not candidates:
            return
        for account_id in (CreditAccount.objects.filter(pk__in=list(candidates), days_past_due__gt=30)
                           .exclude(status=AccountStatus.CLOSED).order_by("pk").values_list("pk", flat=True)):
            candidates[account_id].state["closed_for_cause"] = True
            try:
                account_close_for_cause(account_id=account_id, reason_code="FRAUD_CONFIRMED",
                                        note="bust-out pattern confirmed", acting_user=self.staff["manager"])
            except ApplicationError as exc:
                self.refused("closure for cause", exc)

    # --- the nightly close ----------------------------------------------------------------------------

    def _close(self, index: int, day: date) -> None:
        from config.cob import close_business_day, run_day

        for _attempt in range(5):
            try:
                close_business_day(fan_out=self.faults)
                break
            except fault_module.WorkerKilled:
                connection.close()  # the dead worker's session (and any lock it held) is gone
                continue
        else:
            raise RuntimeError(f"the close of {day} did not finish")
        if self.faults and index % 10 == 6:
            self.plan.count("business days closed a second time")
            run_day(day, fan_out=True, rerun_completed_steps=True)


class _quiet_logs:
    """The close logs every unknown payment outcome and Celery every task; the progress bar would drown."""

    def __enter__(self):
        self.loggers = [logging.getLogger(name) for name in ("tally", "celery", "django.request")]
        self.levels = [logger.level for logger in self.loggers]
        for logger in self.loggers:
            logger.setLevel(logging.CRITICAL)

    def __exit__(self, *exc):
        for logger, level in zip(self.loggers, self.levels, strict=True):
            logger.setLevel(level)


class _asynchronous_commits:
    """``synchronous_commit = off`` on the simulation's connections: a commit no longer waits
    for the disk flush (10× faster here). Atomicity, isolation and locks are unchanged; only
    the last few commits could be lost if the server crashed — acceptable for simulated data."""

    @staticmethod
    def _set(sender=None, connection=None, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")

    def __enter__(self):
        from django.db.backends.signals import connection_created

        connection_created.connect(self._set)
        connection.ensure_connection()
        self._set(connection=connection)

    def __exit__(self, *exc):
        from django.db.backends.signals import connection_created

        connection_created.disconnect(self._set)
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO DEFAULT")


class _reconcile_after_auto_debit:
    """The payment-reconciliation job runs while the close is still running: right after each
    auto-debit chunk it asks the gateway about that chunk's attempts left ``unknown`` and
    settles them for the same business date (``reconcile_attempt``). Without it an answer lost
    at the gateway would move a collection to the next business date."""

    def __enter__(self):
        import config.cob as cob

        self.cob = cob
        self.original = cob.run_chunk
        original = self.original

        def run_chunk(step_name, business_date, ids, step_run_id):
            result = original(step_name, business_date, ids, step_run_id)
            if step_name == "auto_debit":
                from installments.models import AttemptStatus, PaymentAttempt
                from installments.repayments import reconcile_attempt

                for attempt_id in (PaymentAttempt.objects.filter(account_id__in=ids, business_date=business_date,
                                                                 status=AttemptStatus.UNKNOWN)
                                   .order_by("id").values_list("id", flat=True)):
                    reconcile_attempt(attempt_id=attempt_id, business_date=business_date)
            return result

        cob.run_chunk = run_chunk

    def __exit__(self, *exc):
        self.cob.run_chunk = self.original


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
