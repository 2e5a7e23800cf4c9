"""The end-of-simulation report: aggregates only (no ids, no timestamps), in a fixed order,
so the same seed gives a byte-identical report. ``money`` is the set of figures a fault run
must reproduce exactly (docs/decisions/0014-simulation.md)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, F, OuterRef, Q, Sum

from accounts.ledger_checks import LEDGER_CHECKS, run_all
from accounts.models import (
    DELINQUENCY_BUCKETS,
    AccountStatusChange,
    AuditEvent,
    CreditAccount,
    JournalEntry,
    JournalLine,
    LimitChange,
    delinquency_bucket_q,
)
from complaints.models import ClosureRequest, Complaint
from config.cob.models import CobFailure
from installments.models import (
    BillConversion,
    CreditBalancePayout,
    InstallmentPlan,
    PaymentAttempt,
    PayoutStatus,
    Penalty,
    PlanKind,
    Purchase,
    Refund,
    Repayment,
    RepaymentSource,
    SandboxGatewayCharge,
    SandboxGatewayPayout,
    Statement,
)
from risk.models import Application

from .population import START

ZERO = Decimal("0.00")
CAUSES = ("FRAUD_CONFIRMED", "BREACH_OF_TERMS")  # closure for cause (docs/rules.md §9)


def _m(value) -> str:
    return f"{(value or ZERO):.2f}"


def money_totals() -> dict[str, str]:
    """Every ledger book's balance, what was bought, refunded, repaid (by source), charged at
    the gateway, and what is still owed — the figures a fault run must equal."""
    totals: dict[str, str] = {}
    for book, amount in JournalLine.objects.values_list("book").annotate(s=Sum("amount")).order_by("book"):
        totals[f"ledger {book}"] = _m(amount)
    totals["purchased"] = _m(Purchase.objects.aggregate(s=Sum("amount"))["s"])
    totals["refunded"] = _m(Refund.objects.aggregate(s=Sum("amount"))["s"])
    for source, amount in Repayment.objects.values_list("source").annotate(s=Sum("amount")).order_by("source"):
        totals[f"repaid {source}"] = _m(amount)
    totals["penalties charged"] = _m(Penalty.objects.aggregate(s=Sum("amount"))["s"])
    totals["charged at the gateway"] = _m(SandboxGatewayCharge.objects.filter(outcome="succeeded")
                                          .aggregate(s=Sum("amount"))["s"])
    totals["recovered after write-off"] = _m(Repayment.objects.aggregate(s=Sum("recovered"))["s"])
    totals["paid out"] = _m(CreditBalancePayout.objects.filter(status=PayoutStatus.SUCCEEDED)
                            .aggregate(s=Sum("amount"))["s"])
    totals["paid out at the gateway"] = _m(SandboxGatewayPayout.objects.filter(outcome="succeeded")
                                           .aggregate(s=Sum("amount"))["s"])
    owed = CreditAccount.objects.aggregate(p=Sum("principal_outstanding"), f=Sum("fees_outstanding"),
                                           n=Sum("penalties_outstanding"), c=Sum("credit_balance"),
                                           limit=Sum("credit_limit"), avail=Sum("available_limit"))
    totals["outstanding principal"] = _m(owed["p"])
    totals["outstanding fees"] = _m(owed["f"])
    totals["outstanding penalties"] = _m(owed["n"])
    totals["credit balances"] = _m(owed["c"])
    totals["credit limits"] = _m(owed["limit"])
    totals["available limits"] = _m(owed["avail"])
    return totals


def _after(rows, closed_on: dict[int, date]) -> tuple[int, int]:
    """(accounts, rows) among ``(account_id, business_date)`` rows dated after the account's closure."""
    later = [account_id for account_id, day in rows if day > closed_on[account_id]]
    return len(set(later)), len(later)


def _edges(out) -> None:
    """The edges of the credit line (docs/decisions/0031-simulation-edges.md), aggregates only."""
    out("Edges of the credit line")
    ages = ", ".join(f"{days} days {n}" for days, n in InstallmentPlan.objects.values_list("write_off_days")
                     .annotate(n=Count("id")).order_by("write_off_days"))
    out(f"  plans by write-off age: {ages or 'none'}")

    closed_on: dict[int, date] = {}
    by_reason: Counter[str] = Counter()
    for account_id, reason_code, day in (AccountStatusChange.objects.filter(reason_code__in=CAUSES)
                                         .order_by("business_date", "id")
                                         .values_list("account_id", "reason_code", "business_date")):
        if account_id not in closed_on:
            closed_on[account_id] = day
            by_reason[reason_code] += 1
    cause_ids = list(closed_on)
    billed, _statements = _after(Statement.objects.filter(account_id__in=cause_ids)
                                 .values_list("account_id", "statement_date"), closed_on)
    debited, attempts = _after(PaymentAttempt.objects.filter(account_id__in=cause_ids)
                               .values_list("account_id", "business_date"), closed_on)
    penalised, _penalties = _after(Penalty.objects.filter(account_id__in=cause_ids)
                                   .values_list("account_id", "business_date"), closed_on)
    written_off = CreditAccount.objects.filter(pk__in=cause_ids, written_off_on__isnull=False).aggregate(
        n=Count("id"), s=Sum("written_off_amount"))
    out(f"  closed for cause: {len(cause_ids)} accounts ("
        + (", ".join(f"{code} {by_reason[code]}" for code in sorted(by_reason)) or "none") + ")")
    out(f"    after the closure: billed {billed}, auto-debited {debited} ({attempts} attempts), penalised "
        f"{penalised}; written off {written_off['n']} ({_m(written_off['s'])})")

    accounts = CreditAccount.objects.filter(written_off_on__isnull=False).aggregate(
        n=Count("id"), w=Sum("written_off_amount"), r=Sum("recovered_amount"),
        back=Count("id", filter=Q(recovered_amount__gt=0)), whole=Count("id", filter=Q(
            recovered_amount__gt=0, recovered_amount=F("written_off_amount"))))
    out(f"  written off: {accounts['n']} accounts ({_m(accounts['w'])}); recovered from {accounts['back']} "
        f"({accounts['whole']} in full): {_m(accounts['r'])}; still recoverable "
        f"{_m((accounts['w'] or ZERO) - (accounts['r'] or ZERO))}")
    for source, n, amount in (Repayment.objects.filter(recovered__gt=0).values_list("source")
                              .annotate(n=Count("id"), s=Sum("recovered")).order_by("source")):
        out(f"    recoveries {source:<14} {n:>7}  {_m(amount):>14}")

    out("  credit-balance payouts")
    for reason, status, n, amount in (CreditBalancePayout.objects.values_list("reason", "status")
                                      .annotate(n=Count("id"), s=Sum("amount")).order_by("reason", "status")):
        out(f"    {reason:<10} {status:<12} {n:>7}  {_m(amount):>14}")

    changes = AuditEvent.objects.filter(action="account.repayment_card_changed")
    by_storefront = changes.filter(actor_label__startswith="api:").count()
    by_staff = changes.filter(actor__isnull=False).count()
    out(f"  repayment card changes: {changes.count()} (storefront {by_storefront}, agents {by_staff})")
    changed = [int(pk) for pk in changes.values_list("object_id", flat=True).distinct()]
    first_card = dict(PaymentAttempt.objects.filter(account_id__in=changed).order_by("account_id", "business_date", "id")
                      .distinct("account_id").values_list("account_id", "card_token"))
    on_new: Counter[str] = Counter()
    for account_id, card, status in (PaymentAttempt.objects.filter(account_id__in=changed)
                                     .values_list("account_id", "card_token", "status")):
        if card != first_card.get(account_id):
            on_new[status] += 1
    out("    attempts on the new cards: " + (", ".join(f"{s} {on_new[s]}" for s in sorted(on_new)) or "none"))

    still_open = CobFailure.objects.filter(resolved_at__isnull=True).count()
    if still_open:  # a failure no later close retried successfully (the fault mode's are all resolved)
        out(f"  close-step failures still open: {still_open}")

    refunds = Refund.objects.filter(Exists(BillConversion.objects.filter(  # refunds booked after the conversion
        purchase_id=OuterRef("purchase_id"), plan__created_at__lt=OuterRef("created_at")))).aggregate(
        n=Count("id"), s=Sum("amount"), p=Sum("principal_reduced"), c=Sum("credit_balance_added"))
    taken_back = BillConversion.objects.aggregate(s=Sum("principal_refunded"))["s"]
    out(f"  refunds of purchases converted into bill plans: {refunds['n']} ({_m(refunds['s'])}; principal reduced "
        f"{_m(refunds['p'])}, of it from bill plans {_m(taken_back)}; credit balance {_m(refunds['c'])})")

    keyed = Repayment.objects.filter(source=RepaymentSource.MANUAL).filter(
        Q(reference__startswith="debit:") | Q(reference__startswith="credit:"))
    shared = keyed.filter(Exists(Repayment.objects.filter(account_id=OuterRef("account_id"),
                                                          reference=OuterRef("reference"))
                                 .exclude(source=RepaymentSource.MANUAL))).count()
    out(f"  storefront repayments with references shaped like system keys: {keyed.count()} "
        f"(the same reference as a system booking of the account: {shared})")


def close_step_retries() -> dict[str, int]:
    """What the close's retries did (printed with the faults: a clean run has none), by step:
    failures recorded, and how many a later close's retry resolved."""
    lines: dict[str, int] = {}
    for step, n, resolved, retries in (CobFailure.objects.values_list("step_run__step")
                                       .annotate(n=Count("id"), r=Count("id", filter=Q(resolved_at__isnull=False)),
                                                 t=Sum("retries")).order_by("step_run__step")):
        lines[f"close-step failures of {step}: recorded"] = n
        lines[f"close-step failures of {step}: retried by a later close"] = retries or 0
        lines[f"close-step failures of {step}: resolved by the retry"] = resolved
    return lines


def build(sim) -> tuple[str, dict[str, str], list[str]]:
    lines: list[str] = []
    out = lines.append
    end = START + timedelta(days=sim.days)
    out(f"Simulation: {sim.customers} customers, {sim.days} business days, seed {sim.seed}"
        f"{', with faults' if sim.faults else ''}")
    out(f"Business dates {START} .. {end - timedelta(days=1)} (business date now {end})")
    personas = Counter(p.persona for p in sim.people)
    out("Population: " + ", ".join(f"{name} {personas[name]}" for name in sorted(personas)))
    cards = Counter(p.card for p in sim.people)
    out("Repayment cards: " + ", ".join(f"{name} {cards[name]}" for name in sorted(cards)))

    out("")
    out("Applications by outcome")
    for kind, status, n in (Application.objects.values_list("kind", "status").annotate(n=Count("id"))
                            .order_by("kind", "status")):
        out(f"  {kind:<10} {status:<14} {n:>7}")
    reasons: Counter[tuple[str, str]] = Counter()
    for status, found in Application.objects.values_list("status", "reasons"):
        for item in found or []:
            reasons[(status, item.get("code", "?"))] += 1
    out("Application reasons")
    for (status, code), n in sorted(reasons.items()):
        out(f"  {status:<14} {code:<28} {n:>7}")
    out("Accounts by status: " + ", ".join(
        f"{status} {n}" for status, n in CreditAccount.objects.values_list("status").annotate(n=Count("id"))
        .order_by("status")))

    out("")
    out("Volumes")
    for periods, n, amount in (Purchase.objects.values_list("periods").annotate(n=Count("id"), s=Sum("amount"))
                               .order_by("periods")):
        out(f"  purchases in {periods:>2} installment(s) {n:>7}  {_m(amount):>14}")
    refunds = Refund.objects.aggregate(n=Count("id"), s=Sum("amount"), p=Sum("principal_reduced"),
                                       c=Sum("credit_balance_added"))
    out(f"  refunds {refunds['n']:>7}  {_m(refunds['s'])} (principal reduced {_m(refunds['p'])}, "
        f"credit balance {_m(refunds['c'])})")
    bills = InstallmentPlan.objects.filter(kind=PlanKind.BILL).aggregate(n=Count("id"), s=Sum("principal"))
    out(f"  statements issued {Statement.objects.count()}, converted into installments {bills['n']} "
        f"({_m(bills['s'])})")

    out("")
    out("Repayments")
    for source, n, amount, principal, fees, penalties in (
            Repayment.objects.values_list("source").annotate(n=Count("id"), s=Sum("amount"), p=Sum("principal_paid"),
                                                             f=Sum("fee_paid"), x=Sum("penalty_paid"))
            .order_by("source")):
        out(f"  {source:<14} {n:>7}  {_m(amount):>14} (principal {_m(principal)}, fees {_m(fees)}, "
            f"penalties {_m(penalties)})")
    out("Auto-debit attempts by final status")
    for status, n, amount in (PaymentAttempt.objects.values_list("status").annotate(n=Count("id"), s=Sum("amount"))
                              .order_by("status")):
        out(f"  {status:<14} {n:>7}  {_m(amount):>14}")

    out("")
    out("Limit changes")
    for code, n in LimitChange.objects.values_list("reason_code").annotate(n=Count("id")).order_by("reason_code"):
        out(f"  {code:<28} {n:>7}")
    out("Account status changes")
    for code, n in (AccountStatusChange.objects.values_list("reason_code").annotate(n=Count("id"))
                    .order_by("reason_code")):
        out(f"  {code:<28} {n:>7}")

    out("")
    out("Delinquency at the end (accounts not closed)")
    open_accounts = CreditAccount.objects.exclude(status="closed")
    for name in DELINQUENCY_BUCKETS:
        row = open_accounts.filter(delinquency_bucket_q(name)).aggregate(
            n=Count("id"), p=Sum("principal_outstanding"))
        out(f"  {name:<8} {row['n']:>7} accounts  {_m(row['p']):>14} principal")
    written = JournalEntry.objects.filter(kind="write_off").count()
    write_off_amount = money_totals().get("ledger write_off_expense", "0.00")
    out(f"Write-offs: {written} ({write_off_amount})")

    out("")
    _edges(out)

    out("")
    out("Complaints")
    for category, status, n in (Complaint.objects.values_list("category", "status").annotate(n=Count("id"))
                                .order_by("category", "status")):
        out(f"  {category:<26} {status:<18} {n:>5}")
    flags = Complaint.objects.aggregate(
        ack=Count("id", filter=Q(acknowledge_breached=True)), resp=Count("id", filter=Q(response_breached=True)),
        esc=Count("id", filter=Q(escalated=True)), ext=Count("id", filter=Q(extended_at__isnull=False)),
        reo=Sum("reopened_count"))
    out(f"Deadline breaches: acknowledgement {flags['ack']}, final response {flags['resp']}; escalated "
        f"{flags['esc']}; extended {flags['ext']}; reopened {flags['reo'] or 0}")
    out("Closure requests: " + ", ".join(
        f"{origin}/{status} {n}" for origin, status, n in ClosureRequest.objects.values_list("origin", "status")
        .annotate(n=Count("id")).order_by("origin", "status")))
    alternatives = ClosureRequest.objects.exclude(alternative="").values_list("alternative").annotate(n=Count("id"))
    out("Alternatives accepted: " + (", ".join(f"{a} {n}" for a, n in alternatives.order_by("alternative"))
                                     or "none"))

    out("")
    out("Activity refused or tried (by the simulated people and staff)")
    for name, n in sorted(sim.counts.items()):
        out(f"  {name:<52} {n:>7}")

    totals = money_totals()
    out("")
    out("Money totals")
    for name, value in totals.items():
        out(f"  {name:<36} {value:>16}")

    violations, _counts = run_all()
    out("")
    if violations:
        out(f"audit_ledger: {len(violations)} violation(s)")
        lines.extend(f"  {v}" for v in violations[:50])
    else:
        out(f"audit_ledger: OK — {len(LEDGER_CHECKS)} checks over {JournalEntry.objects.count()} entries "
            f"and {CreditAccount.objects.count()} accounts")
    return "\n".join(lines) + "\n", totals, violations
