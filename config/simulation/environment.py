"""The conditions a simulation runs in: its own tables (emptied by ``--reset``), its staff,
quiet logs, asynchronous commits, and the reconciliation job running beside the close."""

from __future__ import annotations

import logging

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.backends.signals import connection_created

from config.cob import runner
from installments.models import AttemptStatus, PaymentAttempt
from installments.services.reconciliation import reconcile_attempts

SIM_STAFF = (("sim-reviewer", "Risk reviewer"), ("sim-manager", "Risk manager"), ("sim-manager2", "Risk manager"),
             ("sim-agent", "CS agent"), ("sim-supervisor", "CS supervisor"))
# Tables the simulation owns and ``--reset`` empties: everything of the domain apps, the close's
# runs and the API's clients, except the scoring policies and the staff profiles (reference
# data and staff).
KEEP_TABLES = {"risk_scoringpolicy", "accounts_staffprofile"}
DOMAIN_APPS = ("accounts", "risk", "installments", "complaints", "cob", "api")


class SimulationRefused(Exception):
    pass


def wipe_simulation_data() -> None:
    """Empty the domain tables (``--reset``); refused under the production settings."""
    if getattr(settings, "TALLY_ENVIRONMENT", "") == "production":
        raise SimulationRefused("The simulation never runs under the production settings.")
    tables = sorted(model._meta.db_table for app in DOMAIN_APPS for model in apps.get_app_config(app).get_models(include_auto_created=True)
                    if model._meta.db_table not in KEEP_TABLES and not model._meta.proxy)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables) + " RESTART IDENTITY")


def staff_users() -> dict[str, User]:
    """The simulated staff, one per role."""
    users = {}
    for username, group_name in SIM_STAFF:
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            user.set_unusable_password()
            user.save()
        user.groups.set([Group.objects.get(name=group_name)])
        users[username.removeprefix("sim-")] = User.objects.get(pk=user.pk)  # fresh permission cache
    return users


class quiet_logs:
    """The close logs every unknown payment outcome and Celery every task; the progress bar would drown."""

    def __enter__(self):
        self.loggers = [logging.getLogger(name) for name in ("tally", "celery", "django.request")]
        self.levels = [logger.level for logger in self.loggers]
        for logger in self.loggers:
            logger.setLevel(logging.CRITICAL)

    def __exit__(self, *exc):
        for logger, level in zip(self.loggers, self.levels, strict=True):
            logger.setLevel(level)


class asynchronous_commits:
    """``synchronous_commit = off`` on the simulation's connections: a commit no longer waits
    for the disk flush (10× faster here). Atomicity, isolation and locks are unchanged; only
    the last few commits could be lost if the server crashed — acceptable for simulated data."""

    @staticmethod
    def _set(sender=None, connection=None, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")

    def __enter__(self):
        connection_created.connect(self._set)
        connection.ensure_connection()
        self._set(connection=connection)

    def __exit__(self, *exc):
        connection_created.disconnect(self._set)
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO DEFAULT")


class reconcile_after_auto_debit:
    """The payment-reconciliation job runs while the close is still running: right after each
    auto-debit chunk it asks the gateway about that chunk's attempts left ``unknown`` and
    settles them for the same business date. Without it an answer lost at the gateway would
    move a collection to the next business date."""

    def __enter__(self):
        self.original = runner.run_chunk
        original = self.original

        def run_chunk(step_name, business_date, ids, step_run_id):
            result = original(step_name, business_date, ids, step_run_id)
            if step_name == "auto_debit":
                unknown = list(PaymentAttempt.objects.filter(account_id__in=ids, business_date=business_date,
                                                             status=AttemptStatus.UNKNOWN)
                               .order_by("id").values_list("id", flat=True))
                if unknown:
                    reconcile_attempts(attempt_ids=unknown, business_date=business_date)
            return result

        runner.run_chunk = run_chunk

    def __exit__(self, *exc):
        runner.run_chunk = self.original
