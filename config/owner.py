"""Whether ``seed_demo`` or ``simulate`` may write to this database (config.models.DatabaseOwner).

A database is theirs when it carries their mark, or when it holds nothing (no customer, no
API client, no user) — or, for a database filled before the mark existed, only what they
write (demo customers ``demo-…`` and the demo staff; simulated customers ``sim-…`` and the
simulated staff), which is then marked."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from accounts.models import Customer
from config.api.models import ApiClient

from .models import DatabaseOwner

OWN_DATA = {
    DatabaseOwner.SEED_DEMO: ("demo-", {"admin", "reviewer", "manager", "agent", "supervisor", "ops"}),
    DatabaseOwner.SIMULATE: ("sim-", None),  # simulated staff are named sim-…
}


class DatabaseNotOurs(Exception):
    pass


def _only_own_data(tool: str) -> bool:
    prefix, usernames = OWN_DATA[tool]
    if Customer.objects.exclude(external_id__startswith=prefix).exists():
        return False
    users = User.objects.all()
    users = users.exclude(username__in=usernames) if usernames is not None else users.exclude(username__startswith=prefix)
    if users.exists():
        return False
    # the storefront client a simulation creates is its own; any client in a demo database is not
    return tool == DatabaseOwner.SIMULATE or not ApiClient.objects.exists()


def claim_database(tool: str) -> None:
    """Mark the database as ``tool``'s, or refuse (DatabaseNotOurs) when it holds data another
    tool or anyone else wrote."""
    with transaction.atomic():
        owner = DatabaseOwner.objects.select_for_update().order_by("pk").first()
        if owner is not None:
            if owner.owner != tool:
                raise DatabaseNotOurs(f"this database belongs to {owner.owner}; {tool} runs only on an empty database "
                                      "or one it filled itself")
            return
        if not _only_own_data(tool):
            raise DatabaseNotOurs(f"this database holds data {tool} did not write (customers, users or API clients); "
                                  f"{tool} runs only on an empty database or one it filled itself")
        DatabaseOwner.objects.create(owner=tool)
