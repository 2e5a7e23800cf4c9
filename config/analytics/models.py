"""The permission to open the charts page. The page reads other apps' tables and owns none,
so the permission hangs on a model without a table (``managed = False``; never queried)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Analytics(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_analytics", _("Can view the analytics charts"))]
        verbose_name = _("analytics")
        verbose_name_plural = _("analytics")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
