"""The composition root's one table: which tool a database belongs to.

``seed_demo`` and ``simulate`` fill a database with made-up people and money. They run only on
an empty database, which they then mark as theirs, or on one they marked before — never on one
holding data they did not write, whatever the settings (docs/decisions/0023-fail-closed-settings.md)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from config.analytics.models import Analytics  # the charts page's permission (config/analytics)

__all__ = ["Analytics", "DatabaseOwner"]


class DatabaseOwner(models.Model):
    """At most one row: the tool that filled this database."""

    SEED_DEMO = "seed_demo"
    SIMULATE = "simulate"

    owner = models.CharField(max_length=32, verbose_name=_("owner"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("database owner")
        verbose_name_plural = _("database owners")

    def __str__(self) -> str:
        return self.owner
