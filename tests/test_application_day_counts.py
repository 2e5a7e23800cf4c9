"""The applications of each day kept by the database (decision 0040): the trigger's deltas and
their folding give, at any moment, the same figures as counting the applications themselves —
whatever writes them, including concurrent writers and folds on real connections."""

from __future__ import annotations

import random
import threading
from datetime import date

import pytest
from django.db import connection

from risk import day_counts
from risk.models import Application, ApplicationDayCount, ApplicationDayDelta
from tests.analytics_data import account, application

pytestmark = pytest.mark.django_db
D1, D2 = date(2026, 3, 1), date(2026, 3, 2)


def truth(start: date, end: date) -> list[tuple]:
    """The same figures counted from the applications (what the charts read before)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT business_date, status, CASE WHEN status <> 'approved' THEN COALESCE(first_reason_code, '') "
            "ELSE '' END, status = 'pending_retry' OR identity_attempts >= 2, count(*) FROM risk_application "
            "WHERE business_date BETWEEN %s AND %s GROUP BY 1, 2, 3, 4", [start, end])
        return sorted(cursor.fetchall())


def kept(start: date, end: date) -> list[tuple]:
    return sorted(day_counts.application_day_counts(start, end))


def test_inserts_changes_and_deletes_are_counted_before_and_after_folding():
    customer = account("dc", opened=date(2026, 1, 1)).customer
    a = application(customer, D1, "received")
    b = application(customer, D1, "pending_retry", code="UPSTREAM_UNAVAILABLE")
    c = application(customer, D2, "rejected", code="ID_INVALID", attempts=0)
    assert kept(D1, D2) == truth(D1, D2) != []
    day_counts.fold()
    assert ApplicationDayDelta.objects.count() == 0 and ApplicationDayCount.objects.exists()
    assert kept(D1, D2) == truth(D1, D2)

    Application.objects.filter(pk=a.pk).update(status="approved", identity_attempts=3)
    Application.objects.filter(pk=b.pk).update(status="rejected", reasons=[{"code": "SCORE_BELOW_THRESHOLD"}])
    Application.objects.filter(pk=c.pk).update(business_date=D1)  # moved to another day
    Application.objects.filter(pk=c.pk).update(name="Renamed")  # nothing counted changes: no delta
    assert ApplicationDayDelta.objects.count() == 6
    assert kept(D1, D2) == truth(D1, D2)
    a.delete()
    assert kept(D1, D2) == truth(D1, D2)
    assert day_counts.fold() == 7
    assert kept(D1, D2) == truth(D1, D2)
    assert kept(D2, D2) == [] == truth(D2, D2)  # a day whose applications all moved away reads nothing


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_folds_never_lose_or_double_count(transactional_db, business_date):
    customer = account("dcc", opened=date(2026, 1, 1)).customer
    ids = [application(customer, D1 if n % 2 else D2, "received").pk for n in range(24)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(5)

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            barrier.wait()
            for _ in range(30):
                pk = rng.choice(ids)
                status = rng.choice(["approved", "rejected", "in_review", "pending_retry", "received"])
                Application.objects.filter(pk=pk).update(
                    status=status, identity_attempts=rng.randint(0, 3),
                    reasons=[{"code": rng.choice(["ID_INVALID", "VELOCITY", "UPSTREAM_UNAVAILABLE"])}])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def folder() -> None:
        try:
            barrier.wait()
            for _ in range(15):
                day_counts.fold()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=folder), threading.Thread(target=folder)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert kept(D1, D2) == truth(D1, D2)
    day_counts.fold()
    assert ApplicationDayDelta.objects.count() == 0
    assert kept(D1, D2) == truth(D1, D2)
    assert sum(row[-1] for row in kept(D1, D2)) == 24


def test_recount_rebuilds_the_counts_of_applications_written_with_triggers_off():
    customer = account("rc", opened=date(2026, 1, 1)).customer
    application(customer, D1, "rejected", code="ID_INVALID", attempts=0)
    with connection.cursor() as cursor:  # as a bulk load does: no trigger fires
        cursor.execute("SET LOCAL session_replication_role = replica")
        application(customer, D2, "pending_retry", code="UPSTREAM_UNAVAILABLE")
        application(customer, D2, "approved")
        cursor.execute("SET LOCAL session_replication_role = origin")
    assert kept(D1, D2) != truth(D1, D2)  # the two loaded ones are missing
    assert day_counts.recount() == 3
    assert kept(D1, D2) == truth(D1, D2)
    assert not ApplicationDayDelta.objects.exists()
    day_counts.fold()  # nothing to fold: the figures stay
    assert kept(D1, D2) == truth(D1, D2)
