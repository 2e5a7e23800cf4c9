"""Hand-built rows for the charts' tests (tests/test_analytics*.py): each helper writes one
row of history directly, with the dates a test needs, so the figures can be asserted exactly."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from accounts.models import AccountStatusChange, CreditAccount
from complaints.models import ClosureRequest, Complaint
from installments.models import Installment, InstallmentPlan, Repayment, RestorationAlert
from risk.models import Application, ScoringPolicy
from tests.credit_lines import open_account

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


def account(name: str, *, opened: date, closed: date | None = None, written_off: date | None = None) -> CreditAccount:
    acc = open_account(f"tok_{name}", external_id=f"an-{name}")
    CreditAccount.objects.filter(pk=acc.pk).update(opened_on=opened, closed_on=closed, written_off_on=written_off)
    acc.refresh_from_db()
    return acc


def installment(acc: CreditAccount, due: date, *, state: str = "open", paid_on: date | None = None) -> Installment:
    plan = InstallmentPlan.objects.create(
        account=acc, kind="purchase", principal=Decimal("100.00"), periods=1, fee_rate=Decimal("0"),
        fee_per_period=Decimal("0"), start_date=due, policy_version=ScoringPolicy.objects.get(status="active"))
    return Installment.objects.create(plan=plan, account=acc, seq=1, due_date=due, principal=Decimal("100.00"),
                                      fee=Decimal("0"), state=state, paid_on=paid_on)


def application(customer, day: date, status: str, *, code: str | None = None, attempts: int = 1,
                flags: tuple[str, ...] = ()) -> Application:
    return Application.objects.create(
        customer=customer, kind="activation", status=status, name="Test", id_number_hash="h", id_number_masked="m",
        phone="13800000000", store_status="normal", store_since=date(2020, 1, 1), orders_12m=5,
        spend_12m=Decimal("1000.00"), return_rate=Decimal("0"), policy=ScoringPolicy.objects.get(status="active"),
        business_date=day, reasons=[{"code": code, "message": "", "detail": "", "params": {}}] if code else [],
        flags=list(flags), identity_attempts=attempts)


def repayment(acc: CreditAccount, day: date, ref: str, *, principal: str, held: str = "0.00") -> Repayment:
    principal_d, held_d = Decimal(principal), Decimal(held)
    return Repayment.objects.create(
        account=acc, reference=ref, source="manual", amount=principal_d + Decimal("1.00"), penalty_paid=Decimal("1.00"),
        fee_paid=Decimal("0"), principal_paid=principal_d, limit_restored=principal_d - held_d, held_amount=held_d,
        available_limit_after=Decimal("0"), business_date=day)


def alert(acc: CreditAccount, rep: Repayment | None) -> RestorationAlert:
    return RestorationAlert.objects.create(account=acc, repayment=rep, detail="test alert")


def complaint(customer, received: datetime, category: str, *, ack_breached: bool = False,
              response_breached: bool = False) -> Complaint:
    return Complaint.objects.create(
        customer=customer, category=category, channel="phone", description="x", received_at=received,
        acknowledge_by=received, round_started_at=received, respond_by=received, internal_target_at=received,
        acknowledge_breached=ack_breached, response_breached=response_breached)


def closed(acc: CreditAccount, day: date, reason_code: str) -> AccountStatusChange:
    return AccountStatusChange.objects.create(account=acc, from_status="active", to_status="closed",
                                              reason_code=reason_code, business_date=day)


def alternative_accepted(acc: CreditAccount, decided: datetime, alternative: str) -> ClosureRequest:
    return ClosureRequest.objects.create(account=acc, status="withdrawn", alternative=alternative, decided_at=decided)
