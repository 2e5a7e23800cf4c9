"""The ledger's pages: journal entries with their lines, and every line (read-only for
everyone, superusers included)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import JournalEntry, JournalLine

from .base import AccountIdSearchMixin, IndexedValuesFieldListFilter, ReadOnlyAdmin, ReadOnlyInline, account_link


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
        return account_link(line.credit_account_id)


@admin.register(JournalEntry)
class JournalEntryAdmin(AccountIdSearchMixin, ReadOnlyAdmin):
    account_id_lookup = "credit_account_id"
    list_display = ("id", "business_date", "kind", "idempotency_key", "account", "description", "reverses_id",
                    "created_at")
    # a date range filter, not DISTINCT business_date over the whole ledger (bench/admin_lists.py)
    list_filter = (("kind", IndexedValuesFieldListFilter), ("business_date", admin.DateFieldListFilter))
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
        return account_link(entry.credit_account_id)


@admin.register(JournalLine)
class JournalLineAdmin(AccountIdSearchMixin, ReadOnlyAdmin):
    account_id_lookup = "credit_account_id"
    list_display = ("id", "business_date", "entry_kind", "entry_key", "book", "account", "amount",
                    "installment_id")
    list_filter = ("book", ("entry__kind", IndexedValuesFieldListFilter), ("business_date", admin.DateFieldListFilter))
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
        return account_link(line.credit_account_id)
