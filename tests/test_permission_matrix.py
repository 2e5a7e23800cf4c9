"""The permission matrix of docs/permissions.md, walked role by role and action by action.

For every role (risk reviewer, risk manager, CS agent, CS supervisor, operations, superuser)
and every sensitive action, the action is tried through the real service and through the
admin endpoint a member of staff would use (Django test client, logged in as that role). An
allowed action must take effect; a refused one must raise / answer a refusal and leave every
row it could touch exactly as it was (snapshots before and after). Who may open which page,
the ledger rows refused to everyone and the API closed to staff sessions:
``test_staff_page_access``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts.customers import id_number_reveal
from accounts.errors import Conflict, PermissionRefused
from accounts.models import AuditEvent, CreditAccount, JournalEntry, JournalLine
from complaints.models import Complaint, Waiver
from complaints.services.complaints import complaint_assign, complaint_extend_deadline, complaint_start
from complaints.services.remedies import complaint_waiver_request, waiver_approve
from complaints.tests.helpers import START, at, buy, ensure_grants, file, open_account
from installments.models import Installment
from installments.services.fees import fees_post_due_accounts
from installments.services.repayment_cards import repayment_card_change
from installments.services.risk_actions import account_freeze, account_unfreeze
from installments.services.write_off import account_write_off
from risk.models import Application, ReviewCase, ScoringPolicy
from risk.rules import id_check_char
from risk.services.applications import ApplicantData, application_submit
from risk.services.policies import policy_activate, policy_draft_create, policy_draft_update
from risk.services.review_queue import review_case_approve, review_case_claim_next, review_case_reject

pytestmark = pytest.mark.django_db

ROLES = ("reviewer", "manager", "agent", "supervisor", "ops", "superuser")
GROUP_OF = {"reviewer": "Risk reviewer", "manager": "Risk manager", "agent": "CS agent",
            "supervisor": "CS supervisor", "ops": "Operations"}
CS_ROLES = {"agent", "supervisor", "superuser"}


@pytest.fixture(autouse=True)
def _world(business_date):
    ensure_grants()
    with time_machine.travel(at(START), tick=False):
        yield


def make_user(role: str, username: str | None = None) -> User:
    username = username or f"matrix-{role}"
    if role == "superuser":
        return User.objects.create_superuser(username=username, password="pw")
    user = User.objects.create_user(username=username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=GROUP_OF[role]))
    return User.objects.get(pk=user.pk)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows(model, **filters) -> list[dict]:
    return list(model.objects.filter(**filters).values().order_by("pk"))


def error_messages(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request) if m.level_tag == "error"]


def success_messages(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request) if m.level_tag == "success"]


# --- the world each action needs -------------------------------------------------------------


def borderline_case(n: int = 1) -> ReviewCase:
    """560 points under policy v1: in review with BORDERLINE_SCORE."""
    first17 = f"11010519491231{n:03d}"
    application = application_submit(kind="activation", card_token="tok_ok", applicant=ApplicantData(
        external_id=f"m-{n}", name=f"Applicant {n}", id_number=first17 + id_check_char(first17),
        phone=f"139{n:08d}", store_status="normal", store_since=date(2020, 1, 1), orders_12m=5,
        spend_12m=Decimal("3000.00"), return_rate=Decimal("0.10")))
    assert application.status == "in_review"
    return ReviewCase.objects.get(application=application)


def working_complaint(account: CreditAccount, handler: User, category: str = "fee_dispute") -> Complaint:
    complaint = file(account, category=category)
    complaint_assign(complaint_id=complaint.pk, assignee=handler, acting_user=handler)
    return complaint_start(complaint_id=complaint.pk, acting_user=handler)


def posted_fee(account: CreditAccount) -> Installment:
    first = Installment.objects.filter(account=account).order_by("seq").first()
    fees_post_due_accounts(account_ids=[account.pk], business_date=first.due_date)
    first.refresh_from_db()
    return first


def world_rows() -> tuple:
    """Rows every action could touch; a refusal leaves all of them as they were."""
    return (rows(CreditAccount), rows(ReviewCase), rows(Application), rows(ScoringPolicy),
            rows(ScoringPolicy.authors.through), rows(Complaint), rows(Waiver), rows(PeriodicTask),
            JournalLine.objects.count(), JournalEntry.objects.count(), AuditEvent.objects.count())


@dataclass
class Action:
    name: str
    allowed: set[str]
    setup: Callable[[User], dict[str, Any]]
    service: Callable[[dict[str, Any], User], Any] | None
    admin: Callable[[dict[str, Any], Client], Any]
    took_effect: Callable[[dict[str, Any]], bool]
    refused_by: dict[str, type[Exception]] | None = None


# decide an application (claim the case, reject it)

def decide_setup(user: User) -> dict:
    return {"case": borderline_case()}


def decide_service(ctx: dict, user: User) -> None:
    case = review_case_claim_next(acting_user=user)
    assert case is not None and case.pk == ctx["case"].pk
    review_case_reject(case_id=case.pk, reason_code="REVIEW_REJECTED_POLICY", note="outside policy",
                                     acting_user=user)


def decide_admin(ctx: dict, client: Client):
    response = client.post(reverse("admin:risk_reviewcase_claim_next"))
    if response.status_code != 302 or response["Location"] != reverse("admin:risk_reviewcase_change",
                                                                      args=[ctx["case"].pk]):
        return response
    return client.post(reverse("admin:risk_reviewcase_reject", args=[ctx["case"].pk]),
                       {"reason_code": "REVIEW_REJECTED_POLICY", "note": "outside policy"})


def decided(ctx: dict) -> bool:
    ctx["case"].refresh_from_db()
    return ctx["case"].status == "decided" and ctx["case"].application.status == "rejected"


# confirm a limit above 20,000 proposed by a reviewer

def high_limit_setup(user: User) -> dict:
    case = borderline_case()
    proposer = make_user("reviewer", "matrix-proposer")
    review_case_claim_next(acting_user=proposer)
    case = review_case_approve(case_id=case.pk, credit_limit=Decimal("30000.00"), note="strong history",
                                             acting_user=proposer)
    assert case.status == "awaiting_confirmation"
    return {"case": case}


def high_limit_service(ctx: dict, user: User) -> None:
    review_case_claim_next(acting_user=user)
    review_case_approve(case_id=ctx["case"].pk, credit_limit=Decimal("30000.00"), note="confirmed",
                                      acting_user=user)


def high_limit_admin(ctx: dict, client: Client):
    response = client.post(reverse("admin:risk_reviewcase_claim_next"))
    if response.status_code == 403:
        return response
    return client.post(reverse("admin:risk_reviewcase_approve", args=[ctx["case"].pk]),
                       {"credit_limit": "30000.00", "note": "confirmed"})


def high_limit_confirmed(ctx: dict) -> bool:
    ctx["case"].refresh_from_db()
    return (ctx["case"].status == "decided"
            and CreditAccount.objects.get(customer=ctx["case"].application.customer).credit_limit == Decimal("30000"))


# edit a draft policy, activate a policy

def draft_setup(user: User) -> dict:
    """A draft written by someone else (its author may not activate it: four eyes)."""
    author = make_user("superuser", "matrix-root")
    return {"draft": policy_draft_create(acting_user=author, notes="v2")}


def edited_params(ctx: dict) -> dict:
    return dict(ctx["draft"].params, grace_days=5)


def edit_service(ctx: dict, user: User) -> None:
    policy_draft_update(policy_id=ctx["draft"].pk, params=edited_params(ctx), notes="grace 5",
                                      acting_user=user)


def edit_admin(ctx: dict, client: Client):
    return client.post(reverse("admin:risk_scoringpolicy_change", args=[ctx["draft"].pk]),
                       {"notes": "grace 5", "params_text": json.dumps(edited_params(ctx))})


def edited(ctx: dict) -> bool:
    ctx["draft"].refresh_from_db()
    return ctx["draft"].params["grace_days"] == 5


def activate_service(ctx: dict, user: User) -> None:
    policy_activate(policy_id=ctx["draft"].pk, acting_user=user, reason_text="new grace")


def activate_admin(ctx: dict, client: Client):
    return client.post(reverse("admin:risk_scoringpolicy_activate", args=[ctx["draft"].pk]), {"reason": "new grace"})


def activated(ctx: dict) -> bool:
    ctx["draft"].refresh_from_db()
    return ctx["draft"].status == "active"


# freeze, unfreeze, write off

def account_setup(user: User) -> dict:
    account = open_account(1)
    buy(account, amount="300.00", periods=3)
    account.refresh_from_db()
    return {"account": account}


def frozen_setup(user: User) -> dict:
    ctx = account_setup(user)
    root = make_user("superuser", "matrix-root")
    account_freeze(account_id=ctx["account"].pk, reason_text="fraud alert", acting_user=root)
    return ctx


def account_action_admin(route: str) -> Callable[[dict, Client], Any]:
    def post(ctx: dict, client: Client):
        return client.post(reverse(f"admin:accounts_creditaccount_{route}", args=[ctx["account"].pk]),
                           {"reason": "fraud alert"})
    return post


def status_is(status: str) -> Callable[[dict], bool]:
    def check(ctx: dict) -> bool:
        ctx["account"].refresh_from_db()
        return ctx["account"].status == status
    return check


def card_is(token: str) -> Callable[[dict], bool]:
    def check(ctx: dict) -> bool:
        ctx["account"].refresh_from_db()
        return ctx["account"].repayment_card_token == token
    return check


# waivers

def small_waiver_setup(user: User) -> dict:
    account = open_account(1)
    buy(account, amount="300.00", periods=3)
    first = posted_fee(account)
    handler = user if user.has_perm("complaints.handle_complaint") else make_user("agent", "matrix-owner")
    return {"account": account, "installment": first, "complaint": working_complaint(account, handler)}


def small_waiver_service(ctx: dict, user: User) -> None:
    complaint_waiver_request(complaint_id=ctx["complaint"].pk, kind="fee",
                                                item_id=ctx["installment"].pk, amount=Decimal("1.80"),
                                                reason_text="goodwill", acting_user=user)


def small_waiver_admin(ctx: dict, client: Client):
    return client.post(reverse("admin:complaints_complaint_waiver", args=[ctx["complaint"].pk]),
                       {"item": f"fee:{ctx['installment'].pk}", "amount": "1.80", "reason": "goodwill"})


def waiver_applied(ctx: dict) -> bool:
    return Waiver.objects.filter(complaint=ctx["complaint"], status="applied").count() == 1


def large_waiver_setup(user: User) -> dict:
    account = open_account(1, limit="20000.00")
    buy(account, amount="20000.00", periods=3)
    first = posted_fee(account)
    owner = make_user("agent", "matrix-owner")
    complaint = working_complaint(account, owner)
    waiver = complaint_waiver_request(complaint_id=complaint.pk, kind="fee", item_id=first.pk,
                                                         amount=Decimal("120.00"), reason_text="goodwill",
                                                         acting_user=owner)
    assert waiver.status == "pending"
    return {"account": account, "complaint": complaint, "waiver": waiver}


def large_waiver_service(ctx: dict, user: User) -> None:
    waiver_approve(waiver_id=ctx["waiver"].pk, note="agreed", acting_user=user)


def large_waiver_admin(ctx: dict, client: Client):
    return client.post(reverse("admin:complaints_complaint_waiver_approve", args=[ctx["waiver"].pk]),
                       {"note": "agreed"})


# extend a complaint deadline

def complaint_setup(user: User) -> dict:
    account = open_account(1)
    return {"account": account, "complaint": file(account, category="billing_dispute")}


def extend_service(ctx: dict, user: User) -> None:
    complaint_extend_deadline(complaint_id=ctx["complaint"].pk, reason_text="bank records",
                                                 acting_user=user)


def extend_admin(ctx: dict, client: Client):
    return client.post(reverse("admin:complaints_complaint_extend", args=[ctx["complaint"].pk]),
                       {"note": "bank records"})


def extended(ctx: dict) -> bool:
    ctx["complaint"].refresh_from_db()
    return ctx["complaint"].extended


# view the full ID number

def customer_setup(user: User) -> dict:
    return {"customer": open_account(1).customer}


def reveal_service(ctx: dict, user: User) -> None:
    assert id_number_reveal(customer=ctx["customer"], acting_user=user, purpose="fraud check") == "11010519491231002X"


def reveal_admin(ctx: dict, client: Client):
    response = client.post(reverse("admin:accounts_customer_reveal_id_number", args=[ctx["customer"].pk]),
                           {"purpose": "fraud check"})
    if response.status_code == 200:
        assert "11010519491231002X" in response.content.decode()
    return response


def id_view_logged(ctx: dict) -> bool:
    return AuditEvent.objects.filter(action="pii.id_number_viewed", object_id=str(ctx["customer"].pk)).count() == 1


# beat schedules (no service: django-celery-beat's own admin, behind its model permissions)

def beat_setup(user: User) -> dict:
    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    return {"task": PeriodicTask.objects.create(name="matrix sweep", task="complaints.tasks.sweep", interval=every,
                                                enabled=True)}


def beat_admin(ctx: dict, client: Client):
    return client.post(reverse("admin:django_celery_beat_periodictask_changelist"),
                       {"action": "disable_tasks", "_selected_action": [ctx["task"].pk]})


def beat_disabled(ctx: dict) -> bool:
    ctx["task"].refresh_from_db()
    return not ctx["task"].enabled


ACTIONS = [
    Action("decide application", {"reviewer", "manager", "superuser"}, decide_setup, decide_service, decide_admin,
           decided),
    Action("confirm a limit above 20,000", {"manager", "superuser"}, high_limit_setup, high_limit_service,
           high_limit_admin, high_limit_confirmed,
           # a reviewer may decide, but the queue never hands over a proposal awaiting confirmation
           refused_by={"reviewer": Conflict}),
    Action("edit a draft policy", {"manager", "superuser"}, draft_setup, edit_service, edit_admin, edited),
    Action("activate a policy", {"manager", "superuser"}, draft_setup, activate_service, activate_admin, activated),
    Action("freeze an account", {"manager", "superuser"}, account_setup,
           lambda ctx, user: account_freeze(account_id=ctx["account"].pk,
                                                                 reason_text="fraud alert", acting_user=user),
           account_action_admin("freeze"), status_is("frozen")),
    Action("unfreeze an account", {"manager", "superuser"}, frozen_setup,
           lambda ctx, user: account_unfreeze(account_id=ctx["account"].pk,
                                                                   reason_text="cleared", acting_user=user),
           account_action_admin("unfreeze"), status_is("active")),
    Action("write off an account", {"manager", "superuser"}, account_setup,
           lambda ctx, user: account_write_off(account_id=ctx["account"].pk,
                                                                    reason_text="confirmed fraud", acting_user=user),
           account_action_admin("write_off"), status_is("closed")),
    Action("change the repayment card", {"agent", "supervisor", "manager", "superuser"}, account_setup,
           lambda ctx, user: repayment_card_change(account_id=ctx["account"].pk, card_token="tok_matrix",
                                                   reason="the customer called", acting_user=user),
           lambda ctx, client: client.post(reverse("admin:accounts_creditaccount_repayment_card",
                                                   args=[ctx["account"].pk]),
                                           {"card_token": "tok_matrix", "reason": "the customer called"}),
           card_is("tok_matrix")),
    Action("waive up to 100.00", CS_ROLES, small_waiver_setup, small_waiver_service, small_waiver_admin,
           waiver_applied),
    Action("approve a waiver above 100.00", {"supervisor", "superuser"}, large_waiver_setup, large_waiver_service,
           large_waiver_admin, waiver_applied),
    Action("extend a complaint deadline", {"supervisor", "superuser"}, complaint_setup, extend_service,
           extend_admin, extended),
    Action("view a full ID number", {"superuser"}, customer_setup, reveal_service, reveal_admin, id_view_logged),
    Action("edit beat schedules", {"ops", "superuser"}, beat_setup, None, beat_admin, beat_disabled),
]
CASES = [pytest.param(action, role, id=f"{action.name}-{role}") for action in ACTIONS for role in ROLES]


@pytest.mark.parametrize(("action", "role"), [c for c in CASES if c.values[0].service is not None])
def test_service(action: Action, role: str):
    user = make_user(role)
    ctx = action.setup(user)
    if role in action.allowed:
        action.service(ctx, user)
        assert action.took_effect(ctx)
        return
    before = world_rows()
    refusal = (action.refused_by or {}).get(role, PermissionRefused)
    with pytest.raises(refusal):
        action.service(ctx, user)
    assert world_rows() == before
    assert not action.took_effect(ctx)


@pytest.mark.parametrize(("action", "role"), CASES)
def test_admin(action: Action, role: str):
    user = make_user(role)
    ctx = action.setup(user)
    client = client_for(user)
    if role in action.allowed:
        response = action.admin(ctx, client)
        assert response.status_code in (200, 302)
        assert error_messages(response) == []
        assert action.took_effect(ctx)
        return
    before = world_rows()
    response = action.admin(ctx, client)
    # refused by the view itself (403), or by the service and reported as an error message
    assert response.status_code == 403 or (response.status_code == 302 and error_messages(response)
                                           and not success_messages(response)), response
    assert world_rows() == before
    assert not action.took_effect(ctx)
