"""Data and staff for the complaint tests, made through the real services."""

from __future__ import annotations

import importlib
from datetime import date, datetime, time
from decimal import Decimal
from io import StringIO

from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone, translation

from accounts.lifecycle import credit_line
from accounts.models import AuditEvent, CreditAccount, JournalLine, Notification
from accounts.notifications import NOTIFICATION_TEXTS
from complaints.models import ClosureRequest, Complaint, ComplaintMessage, Waiver
from complaints.services.complaints import complaint_assign, complaint_file, complaint_start
from conftest import upsert_customer
from installments.services.purchases import purchase_create
from installments.services.repayments import repayment_create
from risk.models import ScoringPolicy
from risk.services.policies import policy_activate, policy_draft_create, policy_draft_update

GRANTS = importlib.import_module("complaints.migrations.0002_staff_grants").GRANTS
START = date(2026, 11, 20)


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """An aware Asia/Shanghai datetime (for time_machine and deadlines)."""
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def render(notification: Notification) -> str:
    """The English text of a complaint or closure notification: the text this app registered
    for its kind (``accounts.notifications`` renders it in the customer's language)."""
    assert notification.kind in NOTIFICATION_TEXTS, notification.kind
    with translation.override("en"):
        return NOTIFICATION_TEXTS.get(notification.kind)(notification.params)


def ensure_grants() -> None:
    """The complaint grants of the data migration (a transactional test elsewhere may have
    flushed them; the root conftest recreates the groups without them)."""
    for name, labels in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for label in labels:
            app_label, codename = label.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def staff(username: str, group: str | None) -> User:
    user = User.objects.create_user(username=username, password="pw", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return User.objects.get(pk=user.pk)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def open_account(n: int = 1, *, card: str = "tok_ok", limit: str = "1000.00") -> CreditAccount:
    customer = upsert_customer(external_id=f"cx-{n}", name="Sun Qi", id_number="11010519491231002X",
                               phone=f"1370000{n:04d}", store_status="normal", store_since=date(2020, 1, 1),
                               orders_12m=10, spend_12m=Decimal("9000.00"), return_rate=Decimal("0.01"))
    with transaction.atomic():
        return credit_line.open_account(customer=customer, credit_limit=Decimal(limit), card_token=card,
                                   policy_version_id=ScoringPolicy.objects.get(status="active").pk,
                                   reason_code="ACCOUNT_OPENED", acting_user=None)


def buy(account: CreditAccount, amount: str = "300.00", periods: int = 3, order: str = "o-1"):
    purchase, _ = purchase_create(account_id=account.pk, merchant_order_id=order,
                                                       amount=Decimal(amount), periods=periods)
    return purchase


def repay(account: CreditAccount, amount: str, reference: str = "bank-1"):
    return repayment_create(account_id=account.pk, reference=reference, amount=Decimal(amount)).repayment


def close_until(day: date) -> str:
    out = StringIO()
    call_command("close_business_day", "--until", day.isoformat(), stdout=out)
    return out.getvalue()


def hold_new_accounts(manager: User) -> None:
    """Policy v2: repayments of accounts younger than 30 days are held for 24 hours. ``manager``
    writes the draft; another risk manager activates it (four eyes)."""
    draft = policy_draft_create(acting_user=manager)
    params = dict(draft.params, restoration_hold_rules=[
        {"code": "NEW_ACCOUNT", "max_account_age_days": 30, "hold_hours": 24}])
    policy_draft_update(policy_id=draft.pk, params=params, notes="", acting_user=manager)
    activator = staff(f"{manager.get_username()}-activator", "Risk manager")
    policy_activate(policy_id=draft.pk, acting_user=activator, reason_text="hold new accounts")


def file(account: CreditAccount | None = None, *, category: str = "limit_not_restored", external_id: str = "cx-1",
         channel: str = "app", acting_user: User | None = None) -> Complaint:
    return complaint_file(customer_external_id=account.customer.external_id if account else external_id,
                                   category=category, channel=channel, description="My limit did not come back.",
                                   account_id=account.pk if account else None, acting_user=acting_user)


def working(complaint: Complaint, agent: User) -> Complaint:
    """Assigned to ``agent`` and acknowledged (in progress)."""
    complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
    return complaint_start(complaint_id=complaint.pk, acting_user=agent)


def world() -> tuple:
    """Everything a refused action must leave unchanged."""
    return (list(Complaint.objects.values().order_by("id")), list(ClosureRequest.objects.values().order_by("id")),
            list(Waiver.objects.values().order_by("id")), list(CreditAccount.objects.values().order_by("id")),
            ComplaintMessage.objects.count(), AuditEvent.objects.count(), Notification.objects.count(),
            JournalLine.objects.count())
