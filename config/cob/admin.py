"""The nightly runs' pages: each run's steps and the accounts that failed in them; the failures'
list (open or resolved, by step and day; retried by hand; exported as CSV)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin.base import ReadOnlyAdmin
from accounts.errors import ApplicationError
from accounts.exports import ChangeListExportMixin, Column

from .failures import RETRY_FAILURES, cob_failures_retry
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


class OpenFailureFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [("open", _("open")), ("resolved", _("resolved"))]

    def queryset(self, request: HttpRequest, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


def _error_summary(failure: CobFailure) -> str:
    return failure.error.strip().splitlines()[0] if failure.error.strip() else ""


@admin.register(CobFailure)
class CobFailureAdmin(ChangeListExportMixin, ReadOnlyAdmin):
    """The accounts (or attempts) a close's step failed for: open ones are retried by the next
    close for their own business date; operations may retry selected ones now (audited)."""

    list_display = ("id", "business_date", "step", "account_link", "item_id", "error_summary", "retries",
                    "resolved_at", "created_at")
    list_filter = (OpenFailureFilter, "step_run__step", "step_run__run__business_date")
    list_select_related = ("step_run__run",)
    search_fields = ("=item_id", "=account__id")
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["retry_failures"]
    fields = ("business_date", "step", "account", "item_id", "error", "retries", "resolved_at", "created_at")
    readonly_fields = fields
    csv_export_name = "close-failures"
    csv_columns = (
        Column(_("failure"), lambda f: f.pk),
        Column(_("business date"), lambda f: f.step_run.run.business_date),
        Column(_("step"), lambda f: f.step_run.step),
        Column(_("account"), lambda f: f.account_id),
        Column(_("item id"), lambda f: f.item_id),
        Column(_("error"), _error_summary),
        Column(_("retries"), lambda f: f.retries),
        Column(_("resolved at"), lambda f: f.resolved_at),
        Column(_("created at"), lambda f: f.created_at),
    )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view_cob_runs(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _may_view_cob_runs(request)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RETRY_FAILURES)

    @admin.display(description=_("business date"), ordering="step_run__run__business_date")
    def business_date(self, failure: CobFailure):
        return failure.step_run.run.business_date

    @admin.display(description=_("step"), ordering="step_run__step")
    def step(self, failure: CobFailure) -> str:
        return failure.step_run.step

    @admin.display(description=_("account"), ordering="account_id")
    def account_link(self, failure: CobFailure) -> str:
        if failure.account_id is None:
            return "-"
        return format_html('<a href="{}">#{}</a>', reverse("admin:accounts_creditaccount_change",
                                                          args=[failure.account_id]), failure.account_id)

    @admin.display(description=_("error"))
    def error_summary(self, failure: CobFailure) -> str:
        return _error_summary(failure)

    @admin.action(description=_("Retry the failed accounts (for their own business date)"),
                  permissions=["retry"])
    def retry_failures(self, request: HttpRequest, queryset) -> None:
        try:
            outcome = cob_failures_retry(failure_ids=list(queryset.values_list("pk", flat=True)),
                                         acting_user=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, gettext("%(resolved)s resolved, %(open)s failed again and stay open, "
                                           "%(skipped)s already resolved or not retryable.")
                          % {"resolved": len(outcome.resolved), "open": len(outcome.still_open),
                             "skipped": len(outcome.skipped)},
                          messages.WARNING if outcome.still_open else messages.SUCCESS)
