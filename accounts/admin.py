"""Back office for customers, credit accounts, the ledger, close-of-business runs and the
audit trail.

Nothing here edits money fields, ledger rows or audit rows: those models are read-only for
everyone, superusers included. Personal data is shown masked; the full ID number only through
``accounts.services.id_number_reveal`` (permission-checked and logged).

Dependencies point to ``accounts`` (STYLE.md), so this module imports no other app: apps that
own an account's purchases, repayments and so on add their blocks to the credit account page
and their pages under its URL with ``CreditAccountAdmin.add_page_section`` / ``add_page``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import beat_admin, dashboard, permission_admin, selectors, services  # noqa: F401 - beat_admin, dashboard, permission_admin register themselves
from .audit_filters import (
    ActionFilter,
    ActorFilter,
    CustomerFilter,
    DateRangeFilter,
    ObjectFilter,
    actor_condition,
    audit_object_types,
)
from .customer360 import VIEW_PERMISSION as VIEW_360_PERMISSION
from .customer360 import audit_url_for_customer, audit_url_for_object, customer_360_url, customer_360_view
from .errors import ApplicationError
from .models import (
    AccountStatusChange,
    ApiClient,
    AuditEvent,
    BusinessCalendar,
    CobFailure,
    CobRun,
    CobStepRun,
    CreditAccount,
    Customer,
    JournalEntry,
    JournalLine,
    LimitChange,
    Notification,
    StaffProfile,
)
from .pii import mask_phone
from .search import PersonalDataSearchMixin
from .templatetags.backoffice import audit_json


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written: no add, change or delete, every field read-only."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """History rows of an account, visible to whoever may view the account."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        return self.fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("accounts.view_creditaccount")


# --- customers ---------------------------------------------------------------------------


@admin.register(Customer)
class CustomerAdmin(PersonalDataSearchMixin, ReadOnlyAdmin):
    change_form_template = "admin/accounts/customer/change_form.html"
    list_display = ("external_id", "name", "id_number_masked", "phone_masked", "store_status", "created_at",
                    "customer_360_link")
    list_filter = ("store_status",)
    search_fields = ("external_id",)
    search_help_text = _("Store customer id, phone number or full ID number")
    id_number_hash_fields = ("id_number_hash",)
    phone_fields = ("phone",)
    show_full_result_count = False
    fields = ("external_id", "name", "id_number_masked", "phone_masked", "store_status", "store_since",
              "orders_12m", "spend_12m", "return_rate", "language", "created_at", "updated_at")
    readonly_fields = fields

    @admin.display(description=_("phone"))
    def phone_masked(self, customer: Customer) -> str:
        return mask_phone(customer.phone)

    @admin.display(description=_("360° view"))
    def customer_360_link(self, customer: Customer) -> str:
        return format_html('<a href="{}">{}</a>', customer_360_url(customer.pk), gettext("360° view"))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/reveal-id-number/",
                 self.admin_site.admin_view(never_cache(require_POST(self.reveal_id_number_view))),
                 name="{}_{}_reveal_id_number".format(*info)),
            path("<path:object_id>/360/",
                 self.admin_site.admin_view(lambda request, object_id: customer_360_view(self, request, object_id)),
                 name="{}_{}_360".format(*info)),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None):
        extra_context = {**(extra_context or {}),
                         "can_reveal_id_number": request.user.has_perm("accounts.view_full_id_number"),
                         "customer_360_url": customer_360_url(unquote(object_id))
                         if request.user.has_perm(VIEW_360_PERMISSION) else "",
                         "audit_url": audit_url_for_customer(unquote(object_id))
                         if request.user.has_perm("accounts.view_auditevent") else ""}
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def reveal_id_number_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Show the full ID number once, in this response only (it is never put in a message
        cookie or the session). ``id_number_reveal`` checks the permission and logs the view."""
        if not request.user.has_perm("accounts.view_full_id_number"):
            raise PermissionDenied
        customer = self.get_object(request, unquote(object_id))
        if customer is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, customer):
            raise PermissionDenied
        change_url = reverse("admin:accounts_customer_change", args=[customer.pk], current_app=self.admin_site.name)
        try:
            id_number = services.id_number_reveal(customer=customer, acting_user=request.user,
                                                  purpose=request.POST.get("purpose", "").strip())
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Full ID number"),
            "opts": self.opts,
            "customer": customer,
            "id_number": id_number,
            "change_url": change_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/customer/id_number_revealed.html", context)


# --- credit accounts ---------------------------------------------------------------------


class AccountStatusChangeInline(ReadOnlyInline):
    model = AccountStatusChange
    fields = ("created_at", "business_date", "from_status", "to_status", "reason_code", "note", "actor")
    verbose_name = _("status change")
    verbose_name_plural = _("status changes")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("actor")


class LimitChangeInline(ReadOnlyInline):
    model = LimitChange
    fields = ("created_at", "business_date", "old_limit", "new_limit", "reason_code", "note", "policy_version",
              "actor")
    verbose_name = _("limit change")
    verbose_name_plural = _("limit changes")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("actor", "policy_version")


def _account_link(account_id: int | None) -> str:
    """``#id`` linking to the credit account page (no query)."""
    if account_id is None:
        return "-"
    return format_html('<a href="{}">#{}</a>', reverse("admin:accounts_creditaccount_change", args=[account_id]),
                       account_id)


class AccountIdSearchMixin:
    """Search: the entry of ``search_fields`` equal to ``account_id_lookup`` finds, for a
    term of digits, the rows of the credit account with that id (an indexed equality, never
    a text match on the id); every other entry is matched case-insensitively as text."""

    account_id_lookup = "account_id"

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q()
        for field in self.get_search_fields(request):
            if field != self.account_id_lookup:
                condition |= Q(**{f"{field}__icontains": term})
            elif term.isdigit() and len(term) <= 18:
                condition |= Q(**{field: int(term)})
        return (queryset.filter(condition) if condition else queryset.none()), False


LEDGER_LINES_SHOWN = 200  # the account page shows the latest lines; the ledger list has them all
AUDIT_EVENTS_SHOWN = 20


@dataclass(frozen=True)
class AccountPageSection:
    """A block another app adds to the credit account page: ``template`` is rendered with
    ``section`` = ``context(request, account, business_date)``. Its queries must not grow
    with the account's rows (prefetch), so the page's query count stays pinned."""

    template: str
    context: Callable[[HttpRequest, CreditAccount, date], dict[str, Any]]


@dataclass(frozen=True)
class AccountPage:
    """A page another app serves under the credit accounts' admin URL, to staff who may view
    credit accounts: ``view(model_admin, request)``. With a ``title`` it is linked from the
    account list."""

    route: str
    name: str
    view: Callable[..., HttpResponse]
    title: Any = ""


@admin.register(CreditAccount)
class CreditAccountAdmin(PersonalDataSearchMixin, AccountIdSearchMixin, ReadOnlyAdmin):
    """The credit account page: balances; the blocks the owning apps add (plans and their
    schedules, statements, repayments, holds, payment attempts, penalties); the status and
    limit history; the latest ledger lines. Read-only for everyone: no field is a form field."""

    change_form_template = "admin/accounts/creditaccount/change_form.html"
    change_list_template = "admin/accounts/creditaccount/change_list.html"
    account_id_lookup = "pk"
    list_display = ("id", "customer_external_id", "status", "credit_limit", "available_limit",
                    "principal_outstanding", "days_past_due", "opened_on")
    list_filter = ("status",)
    list_select_related = ("customer",)
    search_fields = ("pk", "customer__external_id")
    search_help_text = _("Credit account id, store customer id, phone number or full ID number")
    id_number_hash_fields = ("customer__id_number_hash",)
    phone_fields = ("customer__phone",)
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("customer", "status", "policy_version", "opened_on", "reopened_on", "closed_on",
                           "closed_reason", "written_off_on", "paused_by_customer")}),
        (_("Limit and balances"), {"fields": ("credit_limit", "available_limit", "held_amount",
                                              "principal_outstanding", "fees_outstanding",
                                              "penalties_outstanding", "outstanding_total", "credit_balance",
                                              "days_past_due", "bucket", "last_limit_increase_on")}),
        (_("Repayment"), {"fields": ("billing_day", "repayment_card_token", "auto_debit")}),
    )
    readonly_fields = ("customer", "status", "policy_version", "opened_on", "reopened_on", "closed_on",
                       "closed_reason", "written_off_on", "paused_by_customer", "credit_limit", "available_limit",
                       "held_amount", "principal_outstanding", "fees_outstanding", "penalties_outstanding",
                       "outstanding_total", "credit_balance", "days_past_due", "bucket", "last_limit_increase_on",
                       "billing_day", "repayment_card_token", "auto_debit")
    inlines = (AccountStatusChangeInline, LimitChangeInline)

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        self.page_sections: list[AccountPageSection] = []
        self.pages: list[AccountPage] = []

    # --- what other apps contribute (they depend on accounts, never the reverse) ---

    def add_page_section(self, *, template: str,
                         context: Callable[[HttpRequest, CreditAccount, date], dict[str, Any]]) -> None:
        self.page_sections.append(AccountPageSection(template=template, context=context))

    def add_page(self, *, route: str, name: str, view: Callable[..., HttpResponse], title: Any = "") -> None:
        self.pages.append(AccountPage(route=route, name=name, view=view, title=title))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            *(path(page.route, self.admin_site.admin_view(self._page_view(page)),
                   name="{}_{}_{}".format(*info, page.name)) for page in self.pages),
            *super().get_urls(),
        ]

    def _page_view(self, page: AccountPage) -> Callable[..., HttpResponse]:
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not self.has_view_permission(request):
                raise PermissionDenied
            return page.view(self, request, *args, **kwargs)

        return view

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        info = self.opts.app_label, self.opts.model_name
        extra_context = {**(extra_context or {}), "account_pages": [
            {"title": page.title, "url": reverse("admin:{}_{}_{}".format(*info, page.name),
                                                 current_app=self.admin_site.name)}
            for page in self.pages if page.title]}
        return super().changelist_view(request, extra_context=extra_context)

    # --- the account page ---

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("customer", "policy_version")

    def render_change_form(self, request: HttpRequest, context: dict, add: bool = False, change: bool = False,
                           form_url: str = "", obj: CreditAccount | None = None):
        if obj is not None:
            today = services.business_date_get()
            lines = list(JournalLine.objects.filter(credit_account=obj).select_related("entry")
                         .order_by("-id")[:LEDGER_LINES_SHOWN + 1])
            context = {
                **context,
                "business_date": today,
                "account_sections": [{"template": section.template, "section": section.context(request, obj, today)}
                                     for section in self.page_sections],
                "ledger_lines": lines[:LEDGER_LINES_SHOWN],
                "ledger_more": len(lines) > LEDGER_LINES_SHOWN,
                "ledger_lines_shown": LEDGER_LINES_SHOWN,
                "ledger_url": "{}?{}".format(
                    reverse("admin:accounts_journalline_changelist", current_app=self.admin_site.name),
                    urlencode({"credit_account__id__exact": obj.pk})),
                "customer_360_url": customer_360_url(obj.customer_id),
                **self._audit_context(request, obj),
            }
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _audit_context(self, request: HttpRequest, account: CreditAccount) -> dict[str, Any]:
        """The account's latest audit events, for those who may view the audit trail (one query)."""
        if not request.user.has_perm("accounts.view_auditevent"):
            return {}
        events = list(selectors.audit_trail(object_type="accounts.creditaccount", object_id=str(account.pk))
                      .order_by("-created_at", "-id")[:AUDIT_EVENTS_SHOWN + 1])
        return {"audit_events": events[:AUDIT_EVENTS_SHOWN], "audit_more": len(events) > AUDIT_EVENTS_SHOWN,
                "audit_url": audit_url_for_object("accounts.creditaccount", account.pk)}

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_external_id(self, account: CreditAccount) -> str:
        return account.customer.external_id

    @admin.display(description=_("delinquency bucket"))
    def bucket(self, account: CreditAccount) -> str:
        return account.bucket

    @admin.display(description=_("outstanding total"))
    def outstanding_total(self, account: CreditAccount):
        return account.outstanding_total


# --- the ledger (read-only for everyone, superusers included) ----------------------------------


def _may_view_ledger(request: HttpRequest, model_name: str) -> bool:
    """The model's own view permission, or the credit accounts' (the account page shows its
    ledger lines)."""
    user = request.user
    return user.has_perm(f"accounts.view_{model_name}") or user.has_perm("accounts.view_creditaccount")


class JournalLineInline(ReadOnlyInline):
    model = JournalLine
    fields = ("id", "book", "account", "amount", "installment_id", "business_date")
    verbose_name = _("line")
    verbose_name_plural = _("lines")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        return self.fields

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view_ledger(request, "journalline")

    @admin.display(description=_("credit account"))
    def account(self, line: JournalLine) -> str:
        return _account_link(line.credit_account_id)


@admin.register(JournalEntry)
class JournalEntryAdmin(AccountIdSearchMixin, ReadOnlyAdmin):
    account_id_lookup = "credit_account_id"
    list_display = ("id", "business_date", "kind", "idempotency_key", "account", "description", "reverses_id",
                    "created_at")
    # a date range filter, not DISTINCT business_date over the whole ledger (bench/admin_lists.py)
    list_filter = ("kind", ("business_date", admin.DateFieldListFilter))
    search_fields = ("credit_account_id", "idempotency_key")
    search_help_text = _("Credit account id or idempotency key")
    ordering = ("-id",)
    show_full_result_count = False
    fields = ("idempotency_key", "kind", "business_date", "account", "description", "reverses", "actor",
              "created_at")
    readonly_fields = fields
    inlines = (JournalLineInline,)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("reverses", "actor")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view_ledger(request, "journalentry")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.display(description=_("credit account"), ordering="credit_account_id")
    def account(self, entry: JournalEntry) -> str:
        return _account_link(entry.credit_account_id)


@admin.register(JournalLine)
class JournalLineAdmin(AccountIdSearchMixin, ReadOnlyAdmin):
    account_id_lookup = "credit_account_id"
    list_display = ("id", "business_date", "entry_kind", "entry_key", "book", "account", "amount",
                    "installment_id")
    list_filter = ("book", "entry__kind", ("business_date", admin.DateFieldListFilter))
    list_select_related = ("entry",)
    search_fields = ("credit_account_id", "entry__idempotency_key")
    search_help_text = _("Credit account id or idempotency key of the entry")
    ordering = ("-id",)
    show_full_result_count = False
    fields = ("entry", "entry_kind", "book", "account", "amount", "installment_id", "business_date", "created_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("entry")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_view_ledger(request, "journalline")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.display(description=_("entry kind"), ordering="entry__kind")
    def entry_kind(self, line: JournalLine) -> str:
        return line.entry.kind

    @admin.display(description=_("idempotency key"), ordering="entry__idempotency_key")
    def entry_key(self, line: JournalLine) -> str:
        return line.entry.idempotency_key

    @admin.display(description=_("credit account"), ordering="credit_account_id")
    def account(self, line: JournalLine) -> str:
        return _account_link(line.credit_account_id)


# --- close-of-business runs ------------------------------------------------------------------

COB_FAILURES_SHOWN = 200


def _may_view_cob_runs(request: HttpRequest) -> bool:
    user = request.user
    return user.is_active and user.is_staff and user.has_perm("accounts.view_cobrun")


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

    change_form_template = "admin/accounts/cobrun/change_form.html"
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
        return user.is_active and user.is_staff and user.has_perm("accounts.view_cobrun")

    @admin.display(description=_("failures"), ordering="failure_count")
    def total_failures(self, run: CobRun) -> int:
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


# --- audit trail, outbox, service clients, calendar ------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail, for holders of ``accounts.view_auditevent``: filter by customer (all
    that belongs to them), who, action, object and dates; search a customer's store id, an
    object id (an account or complaint number…), a user name or an action."""

    list_display = ("created_at", "actor_display", "action", "object_display", "change_display", "reason")
    list_filter = (CustomerFilter, ActorFilter, ActionFilter, ObjectFilter, DateRangeFilter)
    search_fields = ("action", "object_id", "actor_label")
    search_help_text = _("Store customer id (all of the customer's events), object id, user name or action")
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    fields = ("created_at", "actor", "actor_label", "action", "object_type", "object_id", "object_display",
              "before", "after", "reason")
    readonly_fields = fields

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        """Indexed equalities only: a store customer id finds the customer's whole trail, a
        number finds the events of objects with that id, a word the user or the action."""
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(action=term) | Q(object_type__in=audit_object_types(), object_id=term)
        condition |= actor_condition(term)
        customer = selectors.customer_by_external_id(term)
        if customer is not None:
            condition |= selectors.customer_audit_q(customer.pk)
        return queryset.filter(condition), False

    @admin.display(description=_("who"), ordering="actor_label")
    def actor_display(self, event: AuditEvent) -> str:
        return event.actor_label or gettext("system")

    @admin.display(description=_("object"), ordering="object_type")
    def object_display(self, event: AuditEvent) -> str:
        url = audit_url_for_object(event.object_type, event.object_id)
        return format_html('<a href="{}" title="{}">{} #{}</a>', url, gettext("All events of this object"),
                           event.object_type, event.object_id)

    @admin.display(description=_("before → after"))
    def change_display(self, event: AuditEvent) -> str:
        before, after = audit_json(event.before), audit_json(event.after)
        if before and after:
            return f"{before} → {after}"
        return after or before or "-"


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "customer_external_id", "customer_phone", "status", "channel",
                    "sent_at")
    list_filter = ("status", "kind")
    list_select_related = ("customer",)
    search_fields = ("customer__external_id", "event_key")
    show_full_result_count = False
    ordering = ("-id",)  # newest first through the primary key (created_at has no index)
    fields = ("customer_external_id", "customer_phone", "account", "kind", "event_key", "status", "channel",
              "params", "rendered", "error", "created_at", "sent_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("customer", "account__customer")

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_external_id(self, notification: Notification) -> str:
        return notification.customer.external_id

    @admin.display(description=_("phone"))
    def customer_phone(self, notification: Notification) -> str:
        return mask_phone(notification.customer.phone)


@admin.register(ApiClient)
class ApiClientAdmin(ReadOnlyAdmin):
    """Service clients; tokens are created and rotated by ``manage.py create_api_client``."""

    list_display = ("name", "is_active", "created_at", "rotated_at")
    fields = ("name", "is_active", "created_at", "rotated_at")
    readonly_fields = fields


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ReadOnlyAdmin):
    list_display = ("current_date", "updated_at")
    fields = ("current_date", "updated_at")
    readonly_fields = fields


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    """Each staff member chooses the language of their own back office; a superuser may
    change anyone's."""

    list_display = ("user", "language")
    actions = None

    def _own(self, request: HttpRequest, obj: StaffProfile | None) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return user.is_superuser or obj is None or obj.user_id == user.pk

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request).select_related("user")
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: StaffProfile | None = None) -> bool:
        return self._own(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: StaffProfile | None = None) -> bool:
        return self._own(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return True
        # the language middleware has already loaded (and cached) the user's profile, or its absence
        return (request.user.is_active and request.user.is_staff
                and getattr(request.user, "staff_profile", None) is None)

    def has_delete_permission(self, request: HttpRequest, obj: StaffProfile | None = None) -> bool:
        return request.user.is_superuser

    def get_fields(self, request: HttpRequest, obj: StaffProfile | None = None):
        if request.user.is_superuser:
            return ("user", "language")
        return ("language",) if obj is None else ("user", "language")

    def get_readonly_fields(self, request: HttpRequest, obj: StaffProfile | None = None):
        if request.user.is_superuser:
            return ()
        return () if obj is None else ("user",)

    def save_model(self, request: HttpRequest, obj: StaffProfile, form, change: bool) -> None:
        if not request.user.is_superuser:
            obj.user = request.user
        before = (StaffProfile.objects.filter(pk=obj.pk).values("language").first() or {}) if change else {}
        super().save_model(request, obj, form, change)
        if before.get("language") != obj.language:
            services.audit_record(acting_user=request.user, action="staff_profile.language_set", obj=obj,
                                  before=before, after={"user": obj.user.username, "language": obj.language})
