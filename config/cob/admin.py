"""The nightly runs' pages: each run's steps and the accounts that failed in them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.admin.base import ReadOnlyAdmin

from .models import CobFailure, CobRun, CobStepRun

if TYPE_CHECKING:
    from .backoffice import CobRunWithFailures

VIEW_RUNS = "cob.view_cobrun"

COB_FAILURES_SHOWN = 200


def _may_view_cob_runs(request: HttpRequest) -> bool:
    user = request.user
    return user.is_active and user.is_staff and user.has_perm(VIEW_RUNS)


def _duration(started_at, finished_at) -> str:
    if started_at is None or finished_at is None:
        return "-"
    seconds = (finished_at - started_at).total_seconds()
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


@admin.register(CobRun)
class CobRunAdmin(ReadOnlyAdmin):
    """The nightly runs: each run's steps and the accounts that failed in them."""

    change_form_template = "admin/cob/cobrun/change_form.html"
    list_display = ("business_date", "status", "attempts", "started_at", "finished_at", "duration",
                    "total_failures")
    list_filter = ("status",)
    ordering = ("-business_date",)
    show_full_result_count = False
    fields = ("business_date", "status", "attempts", "started_at", "finished_at", "duration", "total_failures")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(failure_count=Coalesce(Sum("steps__failures"), 0))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view_cob_runs(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        """Listed on the index and in the sidebar only with the permission: a group check here
        would cost a query on every admin page. Group members open ``/admin/accounts/cobrun/``."""
        user = request.user
        return user.is_active and user.is_staff and user.has_perm(VIEW_RUNS)

    @admin.display(description=_("failures"), ordering="failure_count")
    def total_failures(self, run: CobRunWithFailures) -> int:  # a row of get_queryset
        return run.failure_count

    @admin.display(description=_("duration"))
    def duration(self, run: CobRun) -> str:
        return _duration(run.started_at, run.finished_at)

    def render_change_form(self, request: HttpRequest, context: dict, add: bool = False, change: bool = False,
                           form_url: str = "", obj: CobRun | None = None):
        if obj is not None:
            steps = list(CobStepRun.objects.filter(run=obj).order_by("position", "id"))
            failures = list(CobFailure.objects.filter(step_run__run=obj).select_related("step_run")
                            .order_by("-id")[:COB_FAILURES_SHOWN + 1])
            context = {
                **context,
                "steps": [{"step": step, "duration": _duration(step.started_at, step.finished_at),
                           "detail": json.dumps(step.detail, sort_keys=True) if step.detail else ""}
                          for step in steps],
                "failures": [{"failure": failure, "summary": failure.error.strip().splitlines()[0]
                              if failure.error.strip() else ""} for failure in failures[:COB_FAILURES_SHOWN]],
                "failures_more": len(failures) > COB_FAILURES_SHOWN,
                "can_view_accounts": request.user.has_perm("accounts.view_creditaccount"),
            }
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
