"""The beat schedules' admin (django-celery-beat) with every staff change in the audit trail:
operations staff switching a job off, re-timing it or running it by hand are staff actions
like any other (who, when, before, after), written in the admin's transaction.

No money knobs (docs/decisions/0026-beat-without-money-knobs.md): only a superuser may add or
delete a periodic task or change what it runs — its task, arguments, queue and routing;
everyone else may enable, disable and re-time it (interval or crontab), and run now only the
jobs of ``SAFE_TO_RUN_NOW``. The code's schedules are installed and checked by
``manage.py install_schedules [--check] [--prune]``.

The stock admin classes are kept and re-registered with ``AuditedScheduleMixin``."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models, transaction
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from accounts.audit_trail import audit_record

# Jobs anyone who may change periodic tasks may also run now: they move no money and are safe
# to run at any time (each is idempotent and also runs on its own schedule).
SAFE_TO_RUN_NOW = frozenset({
    "accounts.tasks.deliver_pending_notifications",
    "risk.tasks.retry_pending_applications",
    "risk.tasks.expire_idle_review_claims",
    "risk.tasks.sweep_stuck_applications",
    "risk.tasks.fold_application_day_counts",
    "installments.tasks.reconcile_payments",
    "config.api.tasks.purge_idempotency_records",
})
# What a member of staff other than a superuser may change on a periodic task.
OPERATOR_FIELDS = ("enabled", "interval", "crontab")


class OperatorPeriodicTaskForm(forms.ModelForm):
    """Switch a job on or off and re-time it; nothing else is in the form (so nothing else can
    be posted)."""

    class Meta:
        model = PeriodicTask
        fields = OPERATOR_FIELDS


def _plain(value: Any) -> Any:
    """A JSON-safe form of a form or model value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, date | datetime | time | Decimal):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return str(value)


class AuditedScheduleMixin:
    """Adds, changes and deletions through this admin write an audit row in the same
    transaction (Django's change form and delete views run in one)."""

    def _label(self) -> str:
        return self.model._meta.label_lower  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: models.Model, form, change: bool) -> None:
        fields = list(form.changed_data)
        before = {}
        if change and obj.pk:
            current = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = {f: _plain(getattr(current, f, None)) for f in fields} if current else {}
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        after = {f: _plain(getattr(obj, f, form.cleaned_data.get(f))) for f in fields}
        if change and not fields:
            return
        audit_record(acting_user=request.user, action=f"{self._label()}.{'changed' if change else 'added'}",
                     obj=obj, before=before, after=after, reason="admin")

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        audit_record(acting_user=request.user, action=f"{self._label()}.deleted", obj=obj,
                     before={"name": str(obj)}, reason="admin")
        super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            for obj in queryset:
                audit_record(acting_user=request.user, action=f"{self._label()}.deleted", obj=obj,
                             before={"name": str(obj)}, reason="admin")
            super().delete_queryset(request, queryset)  # type: ignore[misc]


class AuditedPeriodicTaskAdmin(AuditedScheduleMixin, beat_admin.PeriodicTaskAdmin):
    operator_fieldsets = (
        (None, {"fields": ("name", "task", "enabled", "description")}),
        (_("Schedule"), {"fields": ("interval", "crontab", "solar", "clocked", "start_time", "last_run_at",
                                               "one_off")}),
        (_("Arguments"), {"fields": ("args", "kwargs")}),
        (_("Execution Options"), {"fields": ("expires", "expire_seconds", "queue", "exchange", "routing_key",
                                                        "priority", "headers")}),
    )

    @staticmethod
    def _superuser(request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None):
        return super().get_fieldsets(request, obj) if self._superuser(request) else self.operator_fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        if self._superuser(request):
            return super().get_readonly_fields(request, obj)
        shown = [field for _name, options in self.operator_fieldsets for field in options["fields"]]
        return [field for field in shown if field not in OPERATOR_FIELDS]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        if not self._superuser(request):
            kwargs["form"] = OperatorPeriodicTaskForm
            kwargs["fields"] = OPERATOR_FIELDS
        return super().get_form(request, obj, change=change, **kwargs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._superuser(request)

    def _audited_action(self, request: HttpRequest, queryset, action: str, run) -> None:
        with transaction.atomic():
            tasks = list(queryset.select_for_update(of=("self",)).order_by("pk"))
            before = {task.pk: task.enabled for task in tasks}
            run(request, queryset.model.objects.filter(pk__in=before))
            after = dict(queryset.model.objects.filter(pk__in=before).values_list("pk", "enabled"))
            for task in tasks:
                audit_record(acting_user=request.user, action=f"django_celery_beat.periodictask.{action}", obj=task,
                             before={"enabled": before[task.pk]}, after={"enabled": after.get(task.pk)},
                             reason="admin action")

    @admin.action(description=beat_admin.PeriodicTaskAdmin.enable_tasks.short_description)
    def enable_tasks(self, request: HttpRequest, queryset) -> None:
        self._audited_action(request, queryset, "enabled", super().enable_tasks)

    @admin.action(description=beat_admin.PeriodicTaskAdmin.disable_tasks.short_description)
    def disable_tasks(self, request: HttpRequest, queryset) -> None:
        self._audited_action(request, queryset, "disabled", super().disable_tasks)

    @admin.action(description=beat_admin.PeriodicTaskAdmin.toggle_tasks.short_description)
    def toggle_tasks(self, request: HttpRequest, queryset) -> None:
        self._audited_action(request, queryset, "toggled", super().toggle_tasks)

    @admin.action(description=beat_admin.PeriodicTaskAdmin.run_tasks.short_description)
    def run_tasks(self, request: HttpRequest, queryset) -> None:
        if not self._superuser(request):
            refused = sorted({task.task for task in queryset if task.task not in SAFE_TO_RUN_NOW})
            if refused:
                messages.error(request, gettext("Only a superuser may run these jobs by hand: %(tasks)s. Nothing was run.")
                               % {"tasks": ", ".join(refused)})
                return
        with transaction.atomic():
            for task in queryset.order_by("pk"):
                audit_record(acting_user=request.user, action="django_celery_beat.periodictask.run_by_hand",
                             obj=task, after={"task": task.task}, reason="admin action")
        super().run_tasks(request, queryset)


class AuditedClockedScheduleAdmin(AuditedScheduleMixin, beat_admin.ClockedScheduleAdmin):
    pass


class AuditedCrontabScheduleAdmin(AuditedScheduleMixin, beat_admin.CrontabScheduleAdmin):
    pass


class AuditedSolarScheduleAdmin(AuditedScheduleMixin, beat_admin.SolarScheduleAdmin):
    pass


class AuditedIntervalScheduleAdmin(AuditedScheduleMixin, beat_admin.IntervalScheduleAdmin):
    pass


for _model, _admin_class in ((PeriodicTask, AuditedPeriodicTaskAdmin), (ClockedSchedule, AuditedClockedScheduleAdmin),
                             (CrontabSchedule, AuditedCrontabScheduleAdmin), (SolarSchedule, AuditedSolarScheduleAdmin),
                             (IntervalSchedule, AuditedIntervalScheduleAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
