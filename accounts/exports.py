"""CSV exports of back-office lists (docs/rules.md §11, decision 0034): streamed row by row
from a server-side cursor (``QuerySet.iterator``), so a list of a million rows costs the memory
of one chunk; UTF-8 with a byte-order mark (spreadsheet programs then read Chinese correctly);
text cells that a spreadsheet would run as a formula (``= + - @``, tab, carriage return)
prefixed with ``'``; personal data masked by the columns themselves (``accounts.pii``).

Every export is audited before its first byte (who, which list, the filters, how many rows)
and needs the list's own view permission plus ``installments.export_data`` (or the permission the
list names). ``ChangeListExportMixin`` gives an admin changelist an "Export CSV" button that
exports exactly the rows the user is looking at: the same filters, search and ordering
(every page, not only the selected rows)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .audit_trail import Actor, audit_record
from .errors import Message, PermissionRefused, require_permission

if TYPE_CHECKING:
    from django.contrib.admin.views.main import ChangeList
    from django.urls import URLPattern

EXPORT_DATA = "installments.export_data"  # declared with the collections desk (installments 0007)
EXPORT_ACTION = "export_csv"
CHUNK_ROWS = 2000  # rows fetched from the cursor at a time (and written to the response at a time)
BYTE_ORDER_MARK = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One column of an export: its header (translated when the export starts) and the
    function that gives a row's cell — masking personal data is the function's job."""

    header: Message
    value: Callable[[Any], Any]


def spreadsheet_cell(value: Any) -> str:
    """A cell's text: numbers and dates as written (``12.50``, ``2025-03-01``), None empty,
    and text that a spreadsheet would evaluate (``=HYPERLINK(…)``, ``+1``, ``-2+3``, ``@SUM``)
    made inert by a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, (int, Decimal, float)):
        return str(value)
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if timezone.is_aware(value) \
            else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def export_filename(export: str, *, now: datetime | None = None) -> str:
    """``tally-<export>-<YYYYMMDD-HHMM>.csv``: ASCII letters, digits and dashes only, so no
    header injection and no surprise in any browser or operating system."""
    stamp = timezone.localtime(now or timezone.now()).strftime("%Y%m%d-%H%M")
    return f"tally-{slugify(export) or 'export'}-{stamp}.csv"


def _csv_chunks(rows: Iterable[Any], columns: Sequence[Column], chunk_rows: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([spreadsheet_cell(str(column.header)) for column in columns])
    yield BYTE_ORDER_MARK + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    for row in rows:
        writer.writerow([spreadsheet_cell(column.value(row)) for column in columns])
        pending += 1
        if pending >= chunk_rows:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue()


def export_csv(*, acting_user: Actor, export: str, queryset: QuerySet, columns: Sequence[Column],
               filters: dict[str, Any] | None = None, permission: str = EXPORT_DATA,
               chunk_rows: int = CHUNK_ROWS) -> StreamingHttpResponse:
    """Stream ``queryset`` as CSV in ``columns``. Refuses (``PermissionRefused``, nothing
    written) unless ``acting_user`` holds ``permission``; otherwise records one audit row
    (``export_csv``: the export's name, the filters, the number of rows, the columns) and
    returns a response that reads the rows ``chunk_rows`` at a time from a server-side cursor.
    The rows are those of ``queryset`` when the export starts; the audit row's count is taken
    in the same moment (two statements: a row committed between them may differ by one)."""
    require_permission(acting_user, permission, _("You may not export this list."))
    rows = queryset.count()
    with transaction.atomic(durable=True):
        audit_record(acting_user=acting_user, action=EXPORT_ACTION, object_type="export", object_id=export[:64],
                     after={"rows": rows, "filters": filters or {},
                            "columns": [str(column.header) for column in columns]})
    # Translations are resolved now, in the requester's language, not while streaming.
    columns = [Column(str(column.header), column.value) for column in columns]
    response = StreamingHttpResponse(_csv_chunks(queryset.iterator(chunk_size=chunk_rows), columns, chunk_rows),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(export)}"'
    response["X-Export-Rows"] = str(rows)
    response["Cache-Control"] = "no-store"
    return response


def request_filters(request: HttpRequest) -> dict[str, Any]:
    """The query string of an export as the audit trail keeps it: each parameter's values."""
    return {key: values if len(values) > 1 else values[0] for key, values in request.GET.lists()}


def _without_results(changelist_class: type[ChangeList]) -> type[ChangeList]:
    """A ChangeList that builds its filtered, searched and ordered queryset but fetches no
    page and counts nothing (the export reads every row itself)."""

    class ExportChangeList(changelist_class):  # type: ignore[misc, valid-type]
        def get_results(self, request: HttpRequest) -> None:
            self.result_list: list[Any] = []
            self.result_count = self.full_result_count = 0
            self.show_full_result_count = self.show_admin_actions = self.can_show_all = self.multi_page = False

    return ExportChangeList


class ChangeListExportMixin(admin.ModelAdmin):
    """An "Export CSV" button on an admin changelist and the view behind it,
    ``<changelist>/export.csv?<the changelist's query string>``: the rows of every page of
    the list as filtered, searched and ordered, in ``csv_columns``. Offered to users who may
    view the list and hold ``csv_permission``."""

    csv_export_name: str = ""
    csv_columns: Sequence[Column] = ()
    csv_permission: str = EXPORT_DATA

    def get_csv_columns(self, request: HttpRequest) -> Sequence[Column]:
        return self.csv_columns

    def get_csv_queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The changelist's queryset as exported: override to add ``select_related`` or
        ``prefetch_related`` for the columns (a query per row is a bug)."""
        return queryset

    def may_export_csv(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(self.csv_permission)

    def _csv_url_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_export_csv"

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = [
            path("export.csv", self.admin_site.admin_view(self.export_csv_view), name=self._csv_url_name()),
        ]
        return urls + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = dict(extra_context or {})
        if self.may_export_csv(request):
            url = reverse(f"admin:{self._csv_url_name()}", current_app=self.admin_site.name)
            query = request.GET.urlencode()
            extra_context["csv_export_url"] = f"{url}?{query}" if query else url
        return super().changelist_view(request, extra_context)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        changelist_class = super().get_changelist(request, **kwargs)
        return _without_results(changelist_class) if getattr(request, "_tally_csv_export", False) \
            else changelist_class

    def export_csv_view(self, request: HttpRequest) -> HttpResponseBase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist",
                                 current_app=self.admin_site.name)
        request._tally_csv_export = True  # type: ignore[attr-defined]
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            messages.error(request, gettext("The list's filters are not valid; nothing was exported."))
            return HttpResponseRedirect(changelist_url)
        queryset = self.get_csv_queryset(request, changelist.queryset)
        try:
            return export_csv(acting_user=request.user, export=self.csv_export_name or self.opts.label_lower,
                              queryset=queryset, columns=self.get_csv_columns(request),
                              filters=request_filters(request), permission=self.csv_permission)
        except PermissionRefused as exc:
            raise PermissionDenied(exc.message) from exc
