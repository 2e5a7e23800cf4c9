"""Liveness and readiness for the load balancer and the orchestrator (django-health-check):

- ``/health/`` — the process answers (no dependency is asked: a database outage must not get
  every web process restarted);
- ``/ready/`` — PostgreSQL answers, the Redis broker answers, and every migration is applied
  (a process of a newer release must not take traffic before ``release`` has migrated).

Both answer 200 when healthy and 500 otherwise, JSON with ``?format=json`` or
``Accept: application/json`` (docs/deploy.md)."""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView
from redis.asyncio import Redis as AsyncRedis


@dataclasses.dataclass
class MigrationsApplied(HealthCheck):
    """Every migration the code knows is applied to the database."""

    alias: str = DEFAULT_DB_ALIAS

    def run(self) -> None:
        connection = connections[self.alias]
        try:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except Exception as exc:
            raise ServiceUnavailable("cannot read the migration state") from exc
        finally:
            connection.close()  # this runs in a worker thread of its own
        if pending:
            raise ServiceUnavailable(f"{len(pending)} migration(s) not applied")


def _broker() -> AsyncRedis:
    return AsyncRedis.from_url(str(settings.CELERY_BROKER_URL or ""), socket_connect_timeout=2, socket_timeout=2)


def liveness_view():
    return HealthCheckView.as_view(checks=())


def readiness_view():
    return HealthCheckView.as_view(checks=(
        Database,
        (Redis, {"client_factory": _broker}),
        MigrationsApplied,
    ))
