"""What every back-office page of Tally shares: read-only admins and inlines, and the search
of a credit account by its id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from accounts.errors import ApplicationError
from accounts.ids import parse_id


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written: no add, change or delete, every field read-only."""

    actions: Sequence[Any] | None = None  # a subclass may offer its own

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


def account_link(account_id: int | None) -> str:
    """``#id`` linking to the credit account page (no query)."""
    if account_id is None:
        return "-"
    return format_html('<a href="{}">#{}</a>', reverse("admin:accounts_creditaccount_change", args=[account_id]),
                       account_id)


if TYPE_CHECKING:
    _ModelAdminMixin = admin.ModelAdmin
else:
    _ModelAdminMixin = object


class AccountIdSearchMixin(_ModelAdminMixin):
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
            elif (account_id := parse_id(term)) is not None:
                condition |= Q(**{field: account_id})
        return (queryset.filter(condition) if condition else queryset.none()), False


def run_service_action(request: HttpRequest, *, back: str, call: Callable[[dict[str, Any]], Any],
                       success: Callable[[Any], str], form: forms.Form | None = None) -> HttpResponse:
    """What every action button of the back office does: validate the form, call one service,
    report its refusal (an ``ApplicationError``, which changed nothing) or its success as a
    message, and go back to ``back``."""
    if form is not None and not form.is_valid():
        messages.error(request, form_errors_text(form))
        return HttpResponseRedirect(back)
    try:
        result = call(form.cleaned_data if form is not None else {})
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(back)
    messages.success(request, success(result))
    return HttpResponseRedirect(back)


def form_errors_text(form: forms.Form) -> str:
    """A form's errors as one line, field label first."""
    return "; ".join(f"{form.fields[name].label if name in form.fields else name}: {' '.join(map(str, errors))}"
                     for name, errors in form.errors.items())
