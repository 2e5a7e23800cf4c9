"""Collections in the back office: the collections desk (the queue of overdue accounts with
their collector, latest contact and promise to pay; filters "mine", by collector, unassigned,
by promise; assignment by holders of ``installments.assign_collections``; CSV export), and the
collection block of the credit account page: the repayment card (changed by an agent holding
``accounts.change_repayment_card``, with a reason; audited), what a write-off left recoverable,
the credit balance's payouts, the contacts and promises to pay with their forms (holders of
``installments.work_collections``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin.base import LargeListPaginator
from accounts.business_day import business_date_get
from accounts.errors import ApplicationError, PermissionRefused
from accounts.exports import EXPORT_DATA, Column, export_csv, request_filters
from accounts.ids import parse_id
from accounts.models import CreditAccount
from accounts.pii import mask_phone
from installments.models import (
    CollectionContact,
    ContactChannel,
    ContactOutcome,
    CreditBalancePayout,
    PromiseStatus,
    PromiseToPay,
)
from installments.selectors import COLLECTION_BUCKETS, collections_bucket_counts, collections_queue
from installments.services.collections import (
    ASSIGN_COLLECTIONS,
    WORK_COLLECTIONS,
    collection_assign,
    collection_contact_log,
    collector_users,
    promise_to_pay_record,
)
from installments.services.repayment_cards import CHANGE_REPAYMENT_CARD, mask_card_token, repayment_card_change

PAYOUTS_SHOWN = 10
CONTACTS_SHOWN = 10
PROMISES_SHOWN = 10
DESK_PER_PAGE = 50
PROMISE_FILTERS = [PromiseStatus.OPEN, PromiseStatus.KEPT, PromiseStatus.BROKEN]


def collection_context(request: HttpRequest, account: CreditAccount, today: date) -> dict[str, Any]:
    payouts = list(CreditBalancePayout.objects.filter(account=account).order_by("-id")[:PAYOUTS_SHOWN])
    contacts = list(CollectionContact.objects.filter(account=account).select_related("collector")
                    .order_by("-contacted_at", "-id")[:CONTACTS_SHOWN])
    promises = list(PromiseToPay.objects.filter(account=account).select_related("collector")
                    .order_by("-id")[:PROMISES_SHOWN])
    assignment = getattr(account, "collection_assignment", None) if account.days_past_due or promises else None
    return {
        "account": account,
        "card": mask_card_token(account.repayment_card_token),
        "can_change_card": request.user.has_perm(CHANGE_REPAYMENT_CARD),
        "written_off": account.written_off_on is not None,
        "payouts": payouts,
        "in_collections": account.days_past_due > 0 or any(p.status == PromiseStatus.OPEN for p in promises),
        "collector": assignment.collector if assignment is not None else None,
        "contacts": contacts,
        "promises": promises,
        "can_work": request.user.has_perm(WORK_COLLECTIONS),
        "channels": ContactChannel.choices,
        "outcomes": [c for c in ContactOutcome.choices if c[0] != ContactOutcome.PROMISED],
        "today": today,
    }


# --- the collections desk ------------------------------------------------------------------------


def desk_queue(*, business_date: date, bucket: str | None, collector_id: int | None = None,
               unassigned: bool = False, promise: str | None = None) -> QuerySet[CreditAccount]:
    """The collections queue with each account's collector, latest contact and latest promise
    to pay (one query whatever the rows), filtered by collector, unassignment or promise."""
    last_contact = CollectionContact.objects.filter(account=OuterRef("pk")).order_by("-contacted_at", "-id")
    last_promise = PromiseToPay.objects.filter(account=OuterRef("pk")).order_by("-id")
    queryset = (collections_queue(business_date=business_date, bucket=bucket)
                .select_related("collection_assignment__collector")
                .annotate(last_contact_at=Subquery(last_contact.values("contacted_at")[:1]),
                          last_contact_outcome=Subquery(last_contact.values("outcome")[:1]),
                          promise_status=Subquery(last_promise.values("status")[:1]),
                          promise_amount=Subquery(last_promise.values("amount")[:1]),
                          promise_for=Subquery(last_promise.values("promised_for")[:1])))
    if collector_id is not None:
        queryset = queryset.filter(collection_assignment__collector_id=collector_id)
    if unassigned:
        queryset = queryset.filter(collection_assignment__isnull=True)
    if promise in PROMISE_FILTERS:
        queryset = queryset.filter(promise_status=promise)
    return queryset


def _desk_filters(request: HttpRequest) -> dict[str, Any]:
    bucket = request.GET.get("bucket") or ""
    promise = request.GET.get("promise") or ""
    collector = parse_id(request.GET.get("collector")) if request.GET.get("collector") else None
    if request.GET.get("mine"):
        collector = request.user.pk
    return {"bucket": bucket if bucket in COLLECTION_BUCKETS else "",
            "promise": promise if promise in PROMISE_FILTERS else "",
            "collector": collector, "unassigned": bool(request.GET.get("unassigned")) and collector is None,
            "mine": bool(request.GET.get("mine"))}


def _queue_for(request: HttpRequest, today: date) -> tuple[dict[str, Any], QuerySet[CreditAccount]]:
    chosen = _desk_filters(request)
    return chosen, desk_queue(business_date=today, bucket=chosen["bucket"] or None, collector_id=chosen["collector"],
                              unassigned=chosen["unassigned"], promise=chosen["promise"] or None)


def _desk_url(base: str, chosen: dict[str, Any], **changes: Any) -> str:
    params = {"bucket": chosen["bucket"], "promise": chosen["promise"],
              "mine": "1" if chosen["mine"] else "", "unassigned": "1" if chosen["unassigned"] else "",
              "collector": chosen["collector"] if chosen["collector"] and not chosen["mine"] else ""}
    params.update(changes)
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{base}?{query}" if query else base


def collections_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The collections desk, served under the credit accounts' admin URL to staff who may view
    credit accounts (the accounts admin checks that before calling this)."""
    today = business_date_get()
    chosen, queue = _queue_for(request, today)
    # deep pages read the queue's keys first (decision 0036)
    page = LargeListPaginator(queue, DESK_PER_PAGE).get_page(request.GET.get("p"))
    outcomes = dict(ContactOutcome.choices)
    for account in page.object_list:
        account.last_contact_label = outcomes.get(account.last_contact_outcome, "")
    counts = collections_bucket_counts()
    base = reverse("admin:accounts_creditaccount_collections", current_app=model_admin.admin_site.name)
    export = reverse("admin:accounts_creditaccount_collections_export", current_app=model_admin.admin_site.name)
    user = request.user
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Collections queue"),
        "opts": model_admin.opts,
        "business_date": today,
        "page": page,
        "chosen": chosen,
        "buckets": [{"name": name or gettext("All"), "selected": name == chosen["bucket"], "count": counts[name],
                     "url": _desk_url(base, chosen, bucket=name)} for name in ["", *COLLECTION_BUCKETS]],
        "workload": [
            {"name": gettext("Everyone's"), "selected": not (chosen["mine"] or chosen["unassigned"] or chosen["collector"]),
             "url": _desk_url(base, chosen, mine="", unassigned="", collector="")},
            {"name": gettext("Mine"), "selected": chosen["mine"], "url": _desk_url(base, chosen, mine="1", unassigned="")},
            {"name": gettext("Unassigned"), "selected": chosen["unassigned"],
             "url": _desk_url(base, chosen, unassigned="1", mine="", collector="")},
        ],
        "promises": [{"name": gettext("Any"), "selected": not chosen["promise"], "url": _desk_url(base, chosen, promise="")},
                     *({"name": label, "selected": chosen["promise"] == value,
                        "url": _desk_url(base, chosen, promise=value)}
                       for value, label in PromiseStatus.choices)],
        "page_url_prefix": _desk_url(base, chosen) + ("&p=" if "?" in _desk_url(base, chosen) else "?p="),
        "can_assign": user.has_perm(ASSIGN_COLLECTIONS),
        "collectors": list(collector_users()) if user.has_perm(ASSIGN_COLLECTIONS) else [],
        "export_url": f"{export}?{request.GET.urlencode()}" if user.has_perm(EXPORT_DATA) else "",
        "assign_url": reverse("admin:accounts_creditaccount_collections_assign", current_app=model_admin.admin_site.name),
        "back": request.get_full_path(),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/installments/collections.html", context)


def _cell_time(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


COLLECTIONS_COLUMNS = (
    Column(_("credit account"), lambda a: a.pk),
    Column(_("customer"), lambda a: a.customer.external_id),
    Column(_("phone"), lambda a: mask_phone(a.customer.phone)),
    Column(_("days past due"), lambda a: a.days_past_due),
    Column(_("bucket"), lambda a: a.bucket),
    Column(_("overdue amount"), lambda a: a.overdue_amount),
    Column(_("outstanding total"), lambda a: a.outstanding_total),
    Column(_("status"), lambda a: a.get_status_display()),
    Column(_("collector"), lambda a: a.collection_assignment.collector.get_username()
           if getattr(a, "collection_assignment", None) else ""),
    Column(_("latest contact"), lambda a: _cell_time(a.last_contact_at)),
    Column(_("latest contact outcome"), lambda a: ContactOutcome(a.last_contact_outcome).label
           if a.last_contact_outcome else ""),
    Column(_("promise to pay"), lambda a: PromiseStatus(a.promise_status).label if a.promise_status else ""),
    Column(_("promised amount"), lambda a: a.promise_amount),
    Column(_("promised for"), lambda a: a.promise_for),
    Column(_("last payment attempt"), lambda a: f"{a.last_attempt_on} {a.last_attempt_status}"
           if a.last_attempt_on else ""),
)


def collections_export_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The desk's rows under its filters (every page) as CSV, phones masked; for holders of
    ``installments.export_data`` (audited)."""
    _chosen, queue = _queue_for(request, business_date_get())
    try:
        response = export_csv(acting_user=request.user, export="collections-queue", queryset=queue,
                              columns=COLLECTIONS_COLUMNS, filters=request_filters(request))
        return cast(HttpResponse, response)  # a streamed response where account pages expect HttpResponse
    except PermissionRefused as exc:
        raise PermissionDenied(exc.message) from exc


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    back = request.POST.get("back") or ""
    return HttpResponseRedirect(back if back.startswith("/") and not back.startswith("//") else default)


def collections_assign_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    desk = reverse("admin:accounts_creditaccount_collections", current_app=model_admin.admin_site.name)
    account_ids = [pk for pk in (parse_id(v) for v in request.POST.getlist("account")) if pk is not None]
    raw = request.POST.get("collector") or ""
    collector_id = parse_id(raw) if raw else None
    if raw and collector_id is None:
        messages.error(request, gettext("Choose a collector from the list."))
        return _back(request, desk)
    try:
        changed = collection_assign(account_ids=account_ids, collector_id=collector_id, acting_user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _back(request, desk)
    messages.success(request, gettext("%(count)s account(s) assigned.") % {"count": changed})
    return _back(request, desk)


def _account_url(model_admin: admin.ModelAdmin, account_id: int) -> str:
    return reverse("admin:accounts_creditaccount_collections_account", args=[account_id],
                   current_app=model_admin.admin_site.name)


def collections_account_view(model_admin: admin.ModelAdmin, request: HttpRequest, account_id: int) -> HttpResponse:
    """One account's collections page: its collector, promises and contacts, and the forms to
    log a contact and record a promise (a page of its own: forms cannot nest in the account
    page's form)."""
    account = CreditAccount.objects.filter(pk=account_id).select_related("collection_assignment__collector").first()
    if account is None:
        messages.error(request, gettext("No such credit account."))
        return HttpResponseRedirect(reverse("admin:accounts_creditaccount_collections",
                                            current_app=model_admin.admin_site.name))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Collections: account #%(id)s") % {"id": account.pk},
        "opts": model_admin.opts,
        "section": collection_context(request, account, business_date_get()),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/installments/creditaccount/collections_account.html", context)


def contact_log_view(model_admin: admin.ModelAdmin, request: HttpRequest, account_id: int) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        collection_contact_log(account_id=account_id, channel=request.POST.get("channel", ""),
                               outcome=request.POST.get("outcome", ""), note=request.POST.get("note", ""),
                               acting_user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(_account_url(model_admin, account_id))
    messages.success(request, gettext("Contact logged."))
    return HttpResponseRedirect(_account_url(model_admin, account_id))


def promise_view(model_admin: admin.ModelAdmin, request: HttpRequest, account_id: int) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        promised_for = date.fromisoformat(request.POST.get("promised_for", "").strip())
    except ValueError:
        messages.error(request, gettext("Give the promised date as YYYY-MM-DD."))
        return HttpResponseRedirect(_account_url(model_admin, account_id))
    try:
        promise = promise_to_pay_record(account_id=account_id, amount=request.POST.get("amount", ""),
                                        promised_for=promised_for, channel=request.POST.get("channel", ""),
                                        note=request.POST.get("note", ""), acting_user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(_account_url(model_admin, account_id))
    messages.success(request, gettext("Promise to pay %(amount)s by %(date)s recorded.")
                     % {"amount": promise.amount, "date": promise.promised_for.isoformat()})
    return HttpResponseRedirect(_account_url(model_admin, account_id))


def repayment_card_view(model_admin: admin.ModelAdmin, request: HttpRequest, account_id: int) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    back = HttpResponseRedirect(reverse("admin:accounts_creditaccount_change", args=[account_id],
                                        current_app=model_admin.admin_site.name))
    try:
        account = repayment_card_change(account_id=account_id, card_token=request.POST.get("card_token", ""),
                                        reason=request.POST.get("reason", ""), acting_user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return back
    messages.success(request, gettext("Repayment card changed to %(card)s: the next close of business charges it.")
                     % {"card": mask_card_token(account.repayment_card_token)})
    return back
