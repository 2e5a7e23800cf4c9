"""What the money records' pages share: read-only for everyone (superusers included), visible
to whoever may view the model or credit accounts (the account page shows them), searchable
by credit account id."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.admin.base import AccountIdSearchMixin, ReadOnlyAdmin, ReadOnlyInline, account_link

VIEW_ACCOUNTS = "accounts.view_creditaccount"


def may_view(request: HttpRequest, model_name: str | None) -> bool:
    user = request.user
    return user.has_perm(f"installments.view_{model_name}") or user.has_perm(VIEW_ACCOUNTS)


class MoneyRecordAdmin(AccountIdSearchMixin, ReadOnlyAdmin):
    """A read-only list of one kind of money record. Search: the entry of ``search_fields``
    equal to ``account_id_lookup`` finds, for a term of digits, the records of the credit
    account with that id (an indexed equality); the other entries match as text."""

    account_id_lookup = "account_id"
    show_full_result_count = False
    list_per_page = 50

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_view(request, self.opts.model_name)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        return self.fields or ()

    @admin.display(description=_("credit account"), ordering="account_id")
    def account_link(self, obj: Any) -> str:
        return account_link(obj.account_id)


class MoneyRecordInline(ReadOnlyInline):
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_view(request, self.opts.model_name)
