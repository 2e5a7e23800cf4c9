"""The complaints' pages (docs/rules.md §10): the queue by next regulatory deadline with
"due soon" / "breached" badges and the filters mine / unassigned / escalated / breached /
due soon; filing a complaint; the complaint page with its state and deadlines, the
conversation, the evidence panel of its category, and the handling actions (take, assign,
start, reply, note, resolve, reopen, extend). The remedies are in ``remedies.py``, the
supervisors' pages in ``supervision.py``. Every write is one POST URL calling one service
(``page_actions.py``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts import clock
from accounts.admin.base import IndexedSearchMixin
from accounts.errors import ApplicationError
from accounts.exports import ChangeListExportMixin, Column
from accounts.search import PersonalDataSearchMixin
from accounts.selectors import audit_trail
from accounts.templatetags.deadline_clock import deadline_clock
from complaints import reply_templates, selectors
from complaints.deadlines import BREACHED
from complaints.evidence import evidence_for
from complaints.models import Complaint, ComplaintStatus, MessageKind, WaiverStatus
from complaints.services import closures, remedies
from complaints.services import complaints as complaint_services

from .forms import (
    BADGE_LABELS,
    AssignForm,
    BodyForm,
    FileComplaintForm,
    NoteForm,
    ReplyForm,
    ResolveForm,
    StartClosureForm,
    WaiverForm,
    badge_html,
    object_id_of,
)
from .remedies import ComplaintRemedies
from .supervision import ComplaintSupervision


class QueueFilter(admin.SimpleListFilter):
    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return (("mine", _("Mine")), ("unassigned", _("Unassigned")), ("escalated", _("Escalated")),
                ("breached", _("Breached")), ("due_soon", _("Due soon")))

    def queryset(self, request, queryset):
        if self.value() not in selectors.QUEUE_VIEWS:
            return queryset
        rows = selectors.complaint_queue(user=request.user, view=self.value())
        return queryset.filter(pk__in=rows.values("pk"))


class ClosedFilter(admin.SimpleListFilter):
    """Closed complaints are hidden unless asked for (or a status is chosen)."""

    title = _("closed complaints")
    parameter_name = "closed"

    def lookups(self, request, model_admin):
        return (("include", _("Show closed too")),)

    def choices(self, changelist):
        yield {"selected": self.value() is None, "display": _("Hide closed"),
               "query_string": changelist.get_query_string(remove=[self.parameter_name])}
        for lookup, title in self.lookup_choices:
            yield {"selected": self.value() == lookup, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup})}

    def queryset(self, request, queryset):
        if self.value() == "include" or request.GET.get("status__exact"):
            return queryset
        return queryset.exclude(status=ComplaintStatus.CLOSED)


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _deadline_kind(complaint: Complaint) -> str:
    if complaint.next_due_at is None:
        return ""
    return gettext("acknowledge") if complaint.acknowledged_at is None else gettext("respond")


# The complaints list as CSV (accounts.exports): deadlines and breaches; of personal data only the
# store customer id and the masked name (no description, messages, ID number or phone).
EXPORT_COLUMNS = (
    Column(_("complaint"), lambda c: c.pk),
    Column(_("received at"), lambda c: _local(c.received_at)),
    Column(_("store customer id"), lambda c: c.customer.external_id),
    Column(_("customer (masked)"), lambda c: reply_templates.mask_name(c.customer.name)),
    Column(_("credit account"), lambda c: c.account_id),
    Column(_("category"), lambda c: c.get_category_display()),
    Column(_("channel"), lambda c: c.get_channel_display()),
    Column(_("status"), lambda c: c.get_status_display()),
    Column(_("assigned to"), lambda c: c.assigned_to.get_username() if c.assigned_to else ""),
    Column(_("round"), lambda c: c.round),
    Column(_("acknowledge by"), lambda c: _local(c.acknowledge_by)),
    Column(_("acknowledged at"), lambda c: _local(c.acknowledged_at)),
    Column(_("acknowledgement deadline breached"), lambda c: c.acknowledge_breached),
    Column(_("final response by"), lambda c: _local(c.respond_by)),
    Column(_("extended"), lambda c: c.extended),
    Column(_("resolved at"), lambda c: _local(c.resolved_at)),
    Column(_("final response deadline breached"), lambda c: c.response_breached),
    Column(_("next deadline"), lambda c: _deadline_kind(c)),
    Column(_("next deadline at"), lambda c: _local(c.next_due_at)),
    Column(_("escalated"), lambda c: c.escalated),
)


@admin.register(Complaint)
class ComplaintAdmin(ChangeListExportMixin, PersonalDataSearchMixin, IndexedSearchMixin, ComplaintSupervision,
                     ComplaintRemedies):
    change_list_template = "admin/complaints/complaint/change_list.html"
    complaint_template = "admin/complaints/complaint/complaint.html"
    list_display = ("ref", "customer_ref", "category", "status", "assigned_to", "next_deadline",
                    "internal_target", "escalated")
    list_filter = (QueueFilter, ClosedFilter, "status", "category", "channel")
    list_select_related = ("customer", "assigned_to")
    search_fields = ("customer__external_id",)
    search_help_text = _("Store customer id, phone number or full ID number")
    id_number_hash_fields = ("customer__id_number_hash",)
    phone_fields = ("customer__phone",)
    # Django's admin orders by expressions too; django-stubs allows field names only.
    ordering = (F("next_due_at").asc(nulls_last=True), "id")  # type: ignore[assignment]
    actions = ["reassign_selected"]
    csv_export_name = "complaints"
    csv_columns = EXPORT_COLUMNS
    csv_permission = "complaints.export_complaints"
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # complaints are filed through "File a complaint" (complaint_file)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_csv_queryset(self, request: HttpRequest, queryset):
        return queryset.select_related("customer", "assigned_to")

    # --- columns ---

    @admin.display(description=_("complaint"), ordering="id")
    def ref(self, complaint: Complaint) -> str:
        return f"#{complaint.pk}"

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_ref(self, complaint: Complaint) -> str:
        return complaint.customer.external_id

    @admin.display(description=_("next deadline"), ordering=F("next_due_at").asc(nulls_last=True))
    def next_deadline(self, complaint: Complaint) -> str:
        """What is due next with its live clock ("2 h 14 min left"), the badge and the time."""
        if complaint.next_due_at is None:
            return "-"
        acknowledging = complaint.acknowledged_at is None
        kind = gettext("acknowledge") if acknowledging else gettext("respond")
        started = complaint.received_at if acknowledging else complaint.round_started_at
        when = timezone.localtime(complaint.next_due_at).strftime("%Y-%m-%d %H:%M")
        return format_html('{} {} {}<br><small class="deadline-at">{}</small>', kind,
                           deadline_clock(complaint.next_due_at, started),
                           badge_html(selectors.complaint_badge(complaint)), when)

    @admin.display(description=_("internal target"))
    def internal_target(self, complaint: Complaint) -> str:
        if not complaint.is_open:
            return "-"
        if complaint.paused_since is not None:
            return gettext("paused (awaiting customer)")
        return timezone.localtime(complaint.internal_target_at).strftime("%Y-%m-%d %H:%M")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}),
                         "can_file": request.user.has_perm(complaint_services.HANDLE_COMPLAINT),
                         "can_supervise": request.user.has_perm(complaint_services.REASSIGN_COMPLAINT),
                         "can_approve_waivers": request.user.has_perm(remedies.APPROVE_WAIVER)}
        return super().changelist_view(request, extra_context=extra_context)

    # --- URLs: one POST endpoint per service ---

    def get_urls(self):
        return [
            self._page("file/", "file", self.file_view),
            *self.supervision_urls(),
            *self.remedy_urls(),
            self._post("<path:object_id>/take/", "take", self.take_view),
            self._post("<path:object_id>/assign/", "assign", self.assign_view),
            self._post("<path:object_id>/start/", "start", self.start_view),
            self._post("<path:object_id>/reply/", "reply", self.reply_view),
            self._post("<path:object_id>/customer-message/", "customer_message", self.customer_message_view),
            self._post("<path:object_id>/note/", "note", self.note_view),
            self._post("<path:object_id>/resolve/", "resolve", self.resolve_view),
            self._post("<path:object_id>/reopen/", "reopen", self.reopen_view),
            self._post("<path:object_id>/extend/", "extend", self.extend_view),
            *super().get_urls(),
        ]

    def take_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        return self._run(request, complaint_id, None,
                         lambda d: complaint_services.complaint_assign(complaint_id=complaint_id, assignee=request.user,
                                                             acting_user=request.user),
                         lambda c: gettext("Complaint #%(id)s is yours.") % {"id": c.pk})

    def assign_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        return self._run(request, complaint_id, AssignForm(request.POST),
                         lambda d: complaint_services.complaint_assign(complaint_id=complaint_id, assignee=d["assignee"],
                                                             note=d["note"], acting_user=request.user),
                         lambda c: gettext("Complaint #%(id)s assigned to %(user)s.")
                         % {"id": c.pk, "user": c.assigned_to})

    def start_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        return self._run(request, complaint_id, None,
                         lambda d: complaint_services.complaint_start(complaint_id=complaint_id, acting_user=request.user),
                         lambda c: gettext("Complaint #%(id)s acknowledged; the customer was told.") % {"id": c.pk})

    def reply_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        return self._run(request, complaint_id, ReplyForm(request.POST),
                         lambda d: complaint_services.complaint_reply(complaint_id=complaint_id, body=d["body"],
                                                            await_customer=d["await_customer"],
                                                            acting_user=request.user),
                         lambda m: gettext("Reply sent to the customer."))

    def customer_message_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        return self._run(request, complaint_id, BodyForm(request.POST),
                         lambda d: complaint_services.complaint_record_customer_message(
                             complaint_id=complaint_id, body=d["body"], acting_user=request.user),
                         lambda m: gettext("The customer's message was recorded."))

    def note_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        return self._run(request, complaint_id, BodyForm(request.POST),
                         lambda d: complaint_services.complaint_add_note(complaint_id=complaint_id, body=d["body"],
                                                               acting_user=request.user),
                         lambda m: gettext("Internal note added."))

    def resolve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        return self._run(request, complaint_id, ResolveForm(request.POST),
                         lambda d: complaint_services.complaint_resolve(complaint_id=complaint_id,
                                                              resolution=d["resolution"], acting_user=request.user),
                         lambda c: gettext("Complaint #%(id)s resolved; the customer has the final response.")
                         % {"id": c.pk})

    def reopen_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        return self._run(request, complaint_id, NoteForm(request.POST),
                         lambda d: complaint_services.complaint_reopen(complaint_id=complaint_id, note=d["note"],
                                                             acting_user=request.user),
                         lambda c: gettext("Complaint #%(id)s reopened.") % {"id": c.pk})

    def extend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        return self._run(request, complaint_id, NoteForm(request.POST),
                         lambda d: complaint_services.complaint_extend_deadline(complaint_id=complaint_id,
                                                                      reason_text=d["note"],
                                                                      acting_user=request.user),
                         lambda c: gettext("Final-response deadline extended to %(when)s.")
                         % {"when": timezone.localtime(c.respond_by).strftime("%Y-%m-%d %H:%M")})

    # --- filing a complaint (an agent taking a call) ---

    def file_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(complaint_services.HANDLE_COMPLAINT):
            raise PermissionDenied
        form = FileComplaintForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                complaint = complaint_services.complaint_file(
                    customer_external_id=data["customer_external_id"], account_id=data["account_id"],
                    category=data["category"], channel=data["channel"], description=data["description"],
                    acting_user=request.user)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, gettext("Complaint #%(id)s recorded.") % {"id": complaint.pk})
                return HttpResponseRedirect(self._url("change", complaint.pk))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "form": form,
                   "title": gettext("File a complaint")}
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/complaints/complaint/file.html", context)

    # --- the complaint page ---

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        """The complaint page. It only reads; every action posts to its own URL."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        complaint = selectors.complaint_get(object_id_of(object_id))
        if complaint is None:
            # ModelAdmin._get_obj_does_not_exist_redirect is Django's; django-stubs lacks it.
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        user = request.user
        now = clock.now()
        panel = evidence_for(complaint)
        may_handle = user.has_perm(complaint_services.HANDLE_COMPLAINT)
        is_handler = may_handle and (complaint.assigned_to_id == user.pk or user.has_perm(complaint_services.REASSIGN_COMPLAINT))
        working = complaint.status in complaint_services.WORKING_STATUSES
        waivers = list(complaint.waivers.select_related("requested_by", "decided_by", "installment", "penalty"))
        waived = sum((w.amount for w in waivers if w.status == WaiverStatus.APPLIED), Decimal("0.00"))
        context = {
            **self.admin_site.each_context(request),
            **(extra_context or {}),
            "title": gettext("Complaint #%(id)s") % {"id": complaint.pk},
            "opts": self.opts,
            "complaint": complaint,
            "customer": complaint.customer,
            "badge": selectors.complaint_badge(complaint, now=now),
            "badge_label": BADGE_LABELS.get(selectors.complaint_badge(complaint, now=now) or "", ""),
            "breached": BREACHED,
            "conversation": list(complaint.messages.select_related("author")),
            "message_kinds": MessageKind,
            "waivers": waivers,
            "panel": panel,
            "audit": list(audit_trail(object_type="complaints.complaint", object_id=str(complaint.pk))[:100]),
            "closure_requests": list(selectors.closure_requests_of(complaint.account_id)[:20])
            if complaint.account_id else [],
            "customer_360_url": reverse("admin:accounts_customer_360", args=[complaint.customer_id])
            if user.has_perm("accounts.view_creditaccount") else "",
            "may_handle": may_handle,
            "is_handler": is_handler,
            "can_take": may_handle and complaint.status == ComplaintStatus.NEW,
            "can_assign": user.has_perm(complaint_services.REASSIGN_COMPLAINT) and complaint.is_open,
            "can_start": is_handler and complaint.status == ComplaintStatus.ASSIGNED,
            "can_work": is_handler and working,
            "can_record_customer": may_handle and complaint.is_open,
            "can_reopen": is_handler and complaint.status == ComplaintStatus.RESOLVED,
            "can_extend": user.has_perm(complaint_services.EXTEND_DEADLINE) and complaint.is_open and not complaint.extended
            and now <= complaint.respond_by,
            "can_approve_waiver": user.has_perm(remedies.APPROVE_WAIVER),
            "can_release_hold": is_handler and working and user.has_perm(remedies.RELEASE_HOLD),
            "can_start_closure": is_handler and working and user.has_perm(closures.HANDLE_CLOSURE)
            and complaint.account_id is not None,
            "agent_waiver_limit": remedies.AGENT_WAIVER_LIMIT,
            "assign_form": AssignForm(initial={"assignee": complaint.assigned_to_id}),
            "reply_form": ReplyForm(auto_id="id_reply_%s"),
            "reply_templates": reply_templates.templates_for(complaint, reply_templates.REPLY, waived=waived)
            if is_handler else [],
            "resolution_templates": reply_templates.templates_for(complaint, reply_templates.RESOLUTION, waived=waived)
            if is_handler else [],
            "body_form": BodyForm(),
            "resolve_form": ResolveForm(),
            "note_form": NoteForm(),
            "waiver_form": WaiverForm(items=panel.waivable),
            "start_closure_form": StartClosureForm(),
            "changelist_url": self._url("changelist"),
            "waiver_pending": WaiverStatus.PENDING,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.complaint_template, context)

