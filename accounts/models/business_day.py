"""The business date (docs/rules.md §2)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class BusinessCalendar(models.Model):
    """The single row holding the business date."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    current_date = models.DateField(_("business date"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="business_calendar_single_row")]

    def __str__(self) -> str:
        return str(self.current_date)
