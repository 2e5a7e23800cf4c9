"""What every back-office page of Tally shares: read-only admins and inlines, and the search
of a credit account by its id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connection, models
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext

from accounts.errors import ApplicationError
from accounts.ids import parse_id
from accounts.search import exact_match


class LargeListPaginator(Paginator):
    """The pages of a list of a large table (docs/decisions/0036).

    - **Deep pages** read the primary keys of the page first — a walk of the ordering's index
      that reads no joined row — then the page's rows by those keys, instead of joining and
      discarding every row before the page (``OFFSET``).
    - **The count**: of the rows matched when the list is filtered or searched; of an
      unfiltered list of more than ``ESTIMATE_ABOVE`` rows, PostgreSQL's estimate
      (``pg_class.reltuples``, kept by autovacuum), rounded — the list says "about". Any page
      number within the estimate answers; one past the last row shows an empty page."""

    ESTIMATE_ABOVE = 50_000
    DEEP_FROM = 1_000  # rows before the page from which the keys are read first

    estimated = False

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        if not queryset.query.where and not queryset.query.distinct:
            estimate, exact = table_count(queryset.model, self.ESTIMATE_ABOVE)
            if exact is None:
                self.estimated = True
                return estimate
            return exact
        return queryset.count()

    def validate_number(self, number: Any) -> int:
        if not self.estimated:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError) as exc:
            raise PageNotAnInteger(gettext("That page number is not an integer")) from exc
        if number < 1:
            raise EmptyPage(gettext("That page number is less than 1"))
        return number

    def page(self, number: Any):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if not self.estimated and top + self.orphans >= self.count:
            top = self.count
        queryset: Any = self.object_list
        if bottom >= self.DEEP_FROM:
            rows = queryset.filter(pk__in=queryset.values("pk")[bottom:top])
        else:
            rows = queryset[bottom:top]
        return self._get_page(rows, number, self)  # type: ignore[attr-defined]


def table_count(model: type[models.Model], estimate_above: int) -> tuple[int, int | None]:
    """PostgreSQL's estimate of the rows of ``model``'s table, rounded to three significant
    figures, and — only when that estimate is at most ``estimate_above`` (or the table was
    never analysed) — the exact count, else None. One query either way."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        # the model's own table name, quoted
        sql = ("SELECT c.reltuples::bigint, CASE WHEN c.reltuples <= %s THEN (SELECT COUNT(*) FROM " + table  # noqa: S608
               + ") END FROM pg_class c WHERE c.oid = %s::regclass")
        cursor.execute(sql, [estimate_above, model._meta.db_table])
        estimate, exact = cursor.fetchone()
    estimate = int(estimate)
    if estimate >= 1000:
        estimate = round(estimate, 3 - len(str(estimate)))
    return estimate, exact


class IndexedValuesFieldListFilter(admin.AllValuesFieldListFilter):
    """Django's "by value" filter of a column that has a b-tree index, listing the distinct
    values by walking the index from one value to the next (a recursive query: one index
    probe per distinct value) instead of ``SELECT DISTINCT`` over every row of the table
    (docs/decisions/0036). Same choices, same links."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = distinct_indexed_values(field.model, field.column)


def distinct_indexed_values(model: type[models.Model], column: str) -> list[Any]:
    """The distinct non-null values of an indexed ``column`` of ``model``'s table, in order."""
    table, col = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(column)
    # the model's own table and column names, quoted
    sql = (f"WITH RECURSIVE v(x) AS ((SELECT {col} FROM {table} WHERE {col} IS NOT NULL ORDER BY {col} LIMIT 1) "  # noqa: S608
           f"UNION ALL SELECT (SELECT {col} FROM {table} WHERE {col} > v.x ORDER BY {col} LIMIT 1) FROM v "
           f"WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL")
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written: no add, change or delete, every field read-only. Paged by
    ``LargeListPaginator``."""

    actions: Sequence[Any] | None = None  # a subclass may offer its own
    paginator = LargeListPaginator

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


class IndexedSearchMixin(_ModelAdminMixin):
    """The search of the back office's lists (docs/decisions/0036): only searches an index
    answers, so a search costs the same on a table of any size. The entry of ``search_fields``
    equal to ``account_id_lookup`` finds, for a term of digits, the rows of the credit account
    with that id; every other entry (an id, key or reference) is matched whole and exactly —
    never as a part of the text. A term no entry can take (letters on a list searched by
    account id only) is refused with a message saying what the list is searched by; the list
    then shows nothing."""

    account_id_lookup: str | None = None

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        if "\x00" in term:  # no stored text holds NUL, and PostgreSQL refuses it in a query
            search_refused(request, self.search_help_text)
            return queryset.none(), False
        condition = Q()
        for field in self.get_search_fields(request):
            field = field.lstrip("=")
            if field != self.account_id_lookup:
                condition |= exact_match(queryset.model, field, term)
            elif (account_id := parse_id(term)) is not None:
                condition |= Q(**{field: account_id})
        if not condition:
            search_refused(request, self.search_help_text)
            return queryset.none(), False
        return queryset.filter(condition), False


class AccountIdSearchMixin(IndexedSearchMixin):
    """``IndexedSearchMixin`` on a list of one credit account's records (``account_id``)."""

    account_id_lookup: str | None = "account_id"


def search_refused(request: HttpRequest, searched_by: Any) -> None:
    """Tell whoever searched that the term was not searched, and what the list is searched by."""
    if searched_by:
        messages.warning(request, gettext("Not searched: this list is searched by %(fields)s, written whole.")
                         % {"fields": str(searched_by)[:1].lower() + str(searched_by)[1:]})
    else:
        messages.warning(request, gettext("Not searched: this list is searched by whole ids only."))




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
