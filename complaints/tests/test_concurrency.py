"""Concurrent staff and storefront requests, with real threads and connections: two agents
taking the same complaint, two closure requests for one account at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from accounts.errors import ApplicationError
from complaints.models import ClosureRequest, Complaint
from complaints.services.closures import closure_request_create
from complaints.services.complaints import complaint_assign

from .helpers import file, open_account, staff

pytestmark = pytest.mark.django_db(transaction=True)


def race(calls: list[Callable[[], object]]) -> tuple[list[object], list[ApplicationError]]:
    barrier = threading.Barrier(len(calls))
    results: list[object] = []
    refusals: list[ApplicationError] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            result = call()
            with lock:
                results.append(result)
        except ApplicationError as exc:
            with lock:
                refusals.append(exc)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results, refusals


def test_two_agents_taking_the_same_complaint_one_gets_it(transactional_db):
    complaint = file(open_account())
    agents = [staff(f"racer{n}", "CS agent") for n in range(4)]

    results, refusals = race([
        (lambda user=user: complaint_assign(complaint_id=complaint.pk, assignee=user, acting_user=user))
        for user in agents])

    assert len(results) == 1 and len(refusals) == 3
    complaint.refresh_from_db()
    assert (complaint.status, complaint.assigned_to_id) == ("assigned", results[0].assigned_to_id)


def test_two_closure_requests_at_once_make_one(transactional_db):
    account = open_account()

    results, refusals = race([
        (lambda: closure_request_create(account_id=account.pk, channel="app")) for _ in range(3)])

    assert len(results) == 1
    assert {exc.code for exc in refusals} == {"closure_request_open"}
    assert ClosureRequest.objects.filter(account=account).count() == 1
    assert Complaint.objects.count() == 0
