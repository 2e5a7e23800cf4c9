"""Back office for complaints and closure requests (DOMAIN.md §9–10).

- The complaint queue: by next regulatory deadline with "due soon" / "breached" badges,
  filters mine / unassigned / escalated / breached / due soon; a supervisor view of breaches
  and workload per agent.
- The complaint page: the state and deadlines, the conversation, the evidence panel of the
  complaint's category, and the remedies (waiver, hold release, closure).
- Closure requests by status, each with identity verification, risk check, alternatives
  (lower limit, pause / resume) and withdrawal; system closure by a risk manager.

Thin edges (STYLE.md): every write is one POST URL calling one service of
``complaints.services``; a refusal (``ApplicationError``) becomes an error message and
changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.errors import ApplicationError
from accounts.search import PersonalDataSearchMixin
from accounts.selectors import audit_trail

from . import selectors, services
from .deadlines import BREACHED
from .evidence import evidence_for
from .models import (
    Alternative,
    Category,
    Channel,
    ClosureRequest,
    ClosureStatus,
    Complaint,
    ComplaintStatus,
    MessageKind,
    WaiverKind,
    WaiverStatus,
)
from .reasons import SYSTEM_CLOSURE_CODES, customer_message

BADGE_LABELS = {"breached": _("breached"), "due_soon": _("due soon")}


def _form_errors_text(form: forms.Form) -> str:
    return "; ".join(f"{form.fields[name].label if name in form.fields else name}: {' '.join(errors)}"
                     for name, errors in form.errors.items())


def _object_id(object_id: str) -> int:
    try:
        return int(unquote(object_id))
    except ValueError as exc:
        raise PermissionDenied from exc


def _badge_html(badge: str | None) -> str:
    if badge is None:
        return ""
    return format_html('<span class="due-badge due-{}">{}</span>', badge, BADGE_LABELS[badge])


def _agents():
    """Active staff who may handle complaints (through a group or directly)."""
    perm = Q(groups__permissions__codename="handle_complaint",
             groups__permissions__content_type__app_label="complaints") | Q(
        user_permissions__codename="handle_complaint", user_permissions__content_type__app_label="complaints")
    return get_user_model().objects.filter(perm, is_active=True, is_staff=True).distinct().order_by("username")


# --- forms ---------------------------------------------------------------------------------------


def _text(label, rows: int = 3, required: bool = True) -> forms.CharField:
    return forms.CharField(label=label, required=required, widget=forms.Textarea(attrs={"rows": rows}))


class FileComplaintForm(forms.Form):
    customer_external_id = forms.CharField(label=_("Store customer id"), max_length=64)
    account_id = forms.IntegerField(label=_("Credit account id (optional)"), required=False, min_value=1)
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices, initial=Channel.PHONE)
    description = _text(_("What the customer says"), rows=5)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Agent"), queryset=get_user_model().objects.none())
    note = forms.CharField(label=_("Note"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = _agents()


class ReplyForm(forms.Form):
    body = _text(_("Reply to the customer"))
    await_customer = forms.BooleanField(label=_("Ask the customer and wait for the answer"), required=False)


class BodyForm(forms.Form):
    body = _text(_("Text"))


class ResolveForm(forms.Form):
    resolution = _text(_("Final response to the customer"), rows=5)


class NoteForm(forms.Form):
    note = _text(_("Reason"), rows=2)


class WaiverForm(forms.Form):
    item = forms.ChoiceField(label=_("Fee or penalty"), choices=())
    amount = forms.DecimalField(label=_("Amount (CNY)"), max_digits=14, decimal_places=2, min_value=0)
    reason = _text(_("Reason"), rows=2)

    def __init__(self, *args, items=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["item"].choices = [(f"{i.kind}:{i.item_id}", f"{i.label} — {i.owed}") for i in items]

    def clean_item(self) -> tuple[str, int]:
        kind, _sep, item_id = self.cleaned_data["item"].partition(":")
        if kind not in WaiverKind.values or not item_id.isdigit():
            raise forms.ValidationError(gettext("Choose a fee or a penalty."))
        return kind, int(item_id)


class ReleaseHoldForm(forms.Form):
    hold_id = forms.IntegerField(widget=forms.HiddenInput)
    reason = _text(_("Reason"), rows=2)


class StartClosureForm(forms.Form):
    note = _text(_("What the customer asked"), rows=2, required=False)
    identity_method = forms.CharField(label=_("Identity verified by (leave empty if not yet verified)"),
                                      max_length=200, required=False)


class VerifyIdentityForm(forms.Form):
    method = forms.CharField(label=_("How the identity was verified"), max_length=200)


class AlternativeForm(forms.Form):
    alternative = forms.ChoiceField(label=_("Alternative the customer accepts"), choices=Alternative.choices)
    new_limit = forms.DecimalField(label=_("New limit (for a lower limit)"), max_digits=14, decimal_places=2,
                                   required=False, min_value=0)
    note = forms.CharField(label=_("Note"), required=False)


class SystemClosureForm(forms.Form):
    account_id = forms.IntegerField(label=_("Credit account id"), min_value=1)
    reason_code = forms.ChoiceField(label=_("Reason"), choices=SYSTEM_CLOSURE_CODES)
    note = _text(_("Note (required)"), rows=3, required=False)


# --- the complaint queue --------------------------------------------------------------------------


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


@admin.register(Complaint)
class ComplaintAdmin(PersonalDataSearchMixin, admin.ModelAdmin):
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
    ordering = (F("next_due_at").asc(nulls_last=True), "id")
    actions = None
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # complaints are filed through "File a complaint" (complaint_file)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- columns ---

    @admin.display(description=_("complaint"), ordering="id")
    def ref(self, complaint: Complaint) -> str:
        return f"#{complaint.pk}"

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_ref(self, complaint: Complaint) -> str:
        return complaint.customer.external_id

    @admin.display(description=_("next deadline"), ordering=F("next_due_at").asc(nulls_last=True))
    def next_deadline(self, complaint: Complaint) -> str:
        if complaint.next_due_at is None:
            return "-"
        kind = gettext("acknowledge") if complaint.acknowledged_at is None else gettext("respond")
        when = timezone.localtime(complaint.next_due_at).strftime("%Y-%m-%d %H:%M")
        return format_html("{} {} {}", kind, when, _badge_html(selectors.complaint_badge(complaint)))

    @admin.display(description=_("internal target"))
    def internal_target(self, complaint: Complaint) -> str:
        if not complaint.is_open:
            return "-"
        if complaint.paused_since is not None:
            return gettext("paused (awaiting customer)")
        return timezone.localtime(complaint.internal_target_at).strftime("%Y-%m-%d %H:%M")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}),
                         "can_file": request.user.has_perm(services.HANDLE_COMPLAINT),
                         "can_supervise": request.user.has_perm(services.REASSIGN_COMPLAINT)}
        return super().changelist_view(request, extra_context=extra_context)

    # --- URLs: one POST endpoint per service ---

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name

        def post(route: str, name: str, view: Callable) -> Any:
            return path(route, self.admin_site.admin_view(require_POST(view)), name="{}_{}_{}".format(*info, name))

        return [
            path("file/", self.admin_site.admin_view(self.file_view), name="{}_{}_file".format(*info)),
            path("supervisor/", self.admin_site.admin_view(self.supervisor_view),
                 name="{}_{}_supervisor".format(*info)),
            post("waivers/<int:waiver_id>/approve/", "waiver_approve", self.waiver_approve_view),
            post("waivers/<int:waiver_id>/reject/", "waiver_reject", self.waiver_reject_view),
            post("<path:object_id>/take/", "take", self.take_view),
            post("<path:object_id>/assign/", "assign", self.assign_view),
            post("<path:object_id>/start/", "start", self.start_view),
            post("<path:object_id>/reply/", "reply", self.reply_view),
            post("<path:object_id>/customer-message/", "customer_message", self.customer_message_view),
            post("<path:object_id>/note/", "note", self.note_view),
            post("<path:object_id>/resolve/", "resolve", self.resolve_view),
            post("<path:object_id>/reopen/", "reopen", self.reopen_view),
            post("<path:object_id>/extend/", "extend", self.extend_view),
            post("<path:object_id>/waiver/", "waiver", self.waiver_view),
            post("<path:object_id>/release-hold/", "release_hold", self.release_hold_view),
            post("<path:object_id>/start-closure/", "start_closure", self.start_closure_view),
            post("<path:object_id>/data-export/", "data_export", self.data_export_view),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args: Any) -> str:
        return reverse(f"admin:complaints_complaint_{name}", args=args, current_app=self.admin_site.name)

    def _run(self, request: HttpRequest, complaint_id: int, form: forms.Form | None,
             call: Callable[[dict], Any], success: Callable[[Any], str]) -> HttpResponse:
        """Validate the form, call one service, report; back to the complaint page."""
        back = HttpResponseRedirect(self._url("change", complaint_id))
        if form is not None and not form.is_valid():
            messages.error(request, _form_errors_text(form))
            return back
        try:
            result = call(form.cleaned_data if form is not None else {})
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return back
        messages.success(request, success(result))
        return back

    def take_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        return self._run(request, complaint_id, None,
                         lambda d: services.complaint_assign(complaint_id=complaint_id, assignee=request.user,
                                                             acting_user=request.user),
                         lambda c: gettext("Complaint #%(id)s is yours.") % {"id": c.pk})

    def assign_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        return self._run(request, complaint_id, AssignForm(request.POST),
                         lambda d: services.complaint_assign(complaint_id=complaint_id, assignee=d["assignee"],
                                                             note=d["note"], acting_user=request.user),
                         lambda c: gettext("Complaint #%(id)s assigned to %(user)s.")
                         % {"id": c.pk, "user": c.assigned_to})

    def start_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        return self._run(request, complaint_id, None,
                         lambda d: services.complaint_start(complaint_id=complaint_id, acting_user=request.user),
                         lambda c: gettext("Complaint #%(id)s acknowledged; the customer was told.") % {"id": c.pk})

    def reply_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        return self._run(request, complaint_id, ReplyForm(request.POST),
                         lambda d: services.complaint_reply(complaint_id=complaint_id, body=d["body"],
                                                            await_customer=d["await_customer"],
                                                            acting_user=request.user),
                         lambda m: gettext("Reply sent to the customer."))

    def customer_message_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        return self._run(request, complaint_id, BodyForm(request.POST),
                         lambda d: services.complaint_record_customer_message(
                             complaint_id=complaint_id, body=d["body"], acting_user=request.user),
                         lambda m: gettext("The customer's message was recorded."))

    def note_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        return self._run(request, complaint_id, BodyForm(request.POST),
                         lambda d: services.complaint_add_note(complaint_id=complaint_id, body=d["body"],
                                                               acting_user=request.user),
                         lambda m: gettext("Internal note added."))

    def resolve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        return self._run(request, complaint_id, ResolveForm(request.POST),
                         lambda d: services.complaint_resolve(complaint_id=complaint_id,
                                                              resolution=d["resolution"], acting_user=request.user),
                         lambda c: gettext("Complaint #%(id)s resolved; the customer has the final response.")
                         % {"id": c.pk})

    def reopen_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        return self._run(request, complaint_id, NoteForm(request.POST),
                         lambda d: services.complaint_reopen(complaint_id=complaint_id, note=d["note"],
                                                             acting_user=request.user),
                         lambda c: gettext("Complaint #%(id)s reopened.") % {"id": c.pk})

    def extend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        return self._run(request, complaint_id, NoteForm(request.POST),
                         lambda d: services.complaint_extend_deadline(complaint_id=complaint_id,
                                                                      reason_text=d["note"],
                                                                      acting_user=request.user),
                         lambda c: gettext("Final-response deadline extended to %(when)s.")
                         % {"when": timezone.localtime(c.respond_by).strftime("%Y-%m-%d %H:%M")})

    def waiver_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        form = WaiverForm(request.POST)
        form.fields["item"].choices = [(request.POST.get("item", ""), "")]
        return self._run(request, complaint_id, form,
                         lambda d: services.complaint_waiver_request(
                             complaint_id=complaint_id, kind=d["item"][0], item_id=d["item"][1], amount=d["amount"],
                             reason_text=d["reason"], acting_user=request.user),
                         lambda w: (gettext("Waiver of %(amount)s applied.") if w.status == WaiverStatus.APPLIED
                                    else gettext("Waiver of %(amount)s waits for a supervisor's approval."))
                         % {"amount": w.amount})

    def _waiver_decision(self, request: HttpRequest, waiver_id: int, approve: bool) -> HttpResponse:
        from .models import Waiver

        complaint_id = Waiver.objects.filter(pk=waiver_id).values_list("complaint_id", flat=True).first()
        if complaint_id is None:
            messages.error(request, gettext("No such waiver."))
            return HttpResponseRedirect(self._url("changelist"))
        form = NoteForm(request.POST)
        if approve:
            form.fields["note"].required = False
            return self._run(request, complaint_id, form,
                             lambda d: services.waiver_approve(waiver_id=waiver_id, note=d["note"],
                                                               acting_user=request.user),
                             lambda w: gettext("Waiver of %(amount)s approved and applied.") % {"amount": w.amount})
        return self._run(request, complaint_id, form,
                         lambda d: services.waiver_reject(waiver_id=waiver_id, note=d["note"],
                                                          acting_user=request.user),
                         lambda w: gettext("Waiver rejected."))

    def waiver_approve_view(self, request: HttpRequest, waiver_id: int) -> HttpResponse:
        return self._waiver_decision(request, waiver_id, approve=True)

    def waiver_reject_view(self, request: HttpRequest, waiver_id: int) -> HttpResponse:
        return self._waiver_decision(request, waiver_id, approve=False)

    def release_hold_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        return self._run(request, complaint_id, ReleaseHoldForm(request.POST),
                         lambda d: services.complaint_release_hold(complaint_id=complaint_id, hold_id=d["hold_id"],
                                                                   reason_text=d["reason"], acting_user=request.user),
                         lambda amount: gettext("%(amount)s of limit released to the customer.") % {"amount": amount})

    def start_closure_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = _object_id(object_id)
        return self._run(request, complaint_id, StartClosureForm(request.POST),
                         lambda d: services.complaint_start_closure(
                             complaint_id=complaint_id, note=d["note"], identity_method=d["identity_method"],
                             acting_user=request.user),
                         lambda r: gettext("Closure request #%(id)s is %(status)s.")
                         % {"id": r.pk, "status": r.get_status_display()})

    def data_export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The customer's data as a JSON download (``data_privacy`` complaints; audited)."""
        from .data_export import customer_data_export, export_json

        complaint_id = _object_id(object_id)
        try:
            data = customer_data_export(complaint_id=complaint_id, acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._url("change", complaint_id))
        response = HttpResponse(export_json(data), content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = (f'attachment; filename="tally-customer-data-'
                                           f'{data["customer"]["external_id"]}-complaint-{complaint_id}.json"')
        response["Cache-Control"] = "no-store"
        return response

    # --- filing a complaint (an agent taking a call) ---

    def file_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(services.HANDLE_COMPLAINT):
            raise PermissionDenied
        form = FileComplaintForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                complaint = services.complaint_file(
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

    # --- the supervisor view ---

    def supervisor_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(services.REASSIGN_COMPLAINT):
            raise PermissionDenied
        now = timezone.now()
        breached = [{"complaint": c, "badge": selectors.complaint_badge(c, now=now)}
                    for c in selectors.breached_complaints(now=now)[:200]]
        context = {**self.admin_site.each_context(request), "opts": self.opts,
                   "title": gettext("Complaints: breaches and workload"), "breached": breached,
                   "workload": selectors.workload_per_agent(now=now), "changelist_url": self._url("changelist")}
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/complaints/complaint/supervisor.html", context)

    # --- the complaint page ---

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        """The complaint page. It only reads; every action posts to its own URL."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        complaint = selectors.complaint_get(_object_id(object_id))
        if complaint is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        user = request.user
        now = timezone.now()
        panel = evidence_for(complaint)
        may_handle = user.has_perm(services.HANDLE_COMPLAINT)
        is_handler = may_handle and (complaint.assigned_to_id == user.pk or user.has_perm(services.REASSIGN_COMPLAINT))
        working = complaint.status in services.WORKING_STATUSES
        waivers = list(complaint.waivers.select_related("requested_by", "decided_by", "installment", "penalty"))
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
            "can_assign": user.has_perm(services.REASSIGN_COMPLAINT) and complaint.is_open,
            "can_start": is_handler and complaint.status == ComplaintStatus.ASSIGNED,
            "can_work": is_handler and working,
            "can_record_customer": may_handle and complaint.is_open,
            "can_reopen": is_handler and complaint.status == ComplaintStatus.RESOLVED,
            "can_extend": user.has_perm(services.EXTEND_DEADLINE) and complaint.is_open and not complaint.extended
            and now <= complaint.respond_by,
            "can_approve_waiver": user.has_perm(services.APPROVE_WAIVER),
            "can_release_hold": is_handler and working and user.has_perm(services.RELEASE_HOLD),
            "can_start_closure": is_handler and working and user.has_perm(services.HANDLE_CLOSURE)
            and complaint.account_id is not None,
            "agent_waiver_limit": services.AGENT_WAIVER_LIMIT,
            "assign_form": AssignForm(initial={"assignee": complaint.assigned_to_id}),
            "reply_form": ReplyForm(),
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


# --- closure requests ----------------------------------------------------------------------------


@admin.register(ClosureRequest)
class ClosureRequestAdmin(admin.ModelAdmin):
    change_list_template = "admin/complaints/closurerequest/change_list.html"
    request_template = "admin/complaints/closurerequest/request.html"
    list_display = ("ref", "account_ref", "customer_ref", "status", "origin", "channel", "identity",
                    "payoff_expires_at", "created_at")
    list_filter = ("status", "origin")
    list_select_related = ("account", "account__customer")
    search_fields = ("account__customer__external_id",)
    search_help_text = _("Store customer id")
    ordering = ("status", "created_at", "id")
    actions = None
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the page reads; its actions post to the services

    @admin.display(description=_("request"), ordering="id")
    def ref(self, request_row: ClosureRequest) -> str:
        return f"#{request_row.pk}"

    @admin.display(description=_("credit account"), ordering="account_id")
    def account_ref(self, request_row: ClosureRequest) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("admin:accounts_creditaccount_change",
                                                           args=[request_row.account_id]), request_row.account_id)

    @admin.display(description=_("customer"))
    def customer_ref(self, request_row: ClosureRequest) -> str:
        return request_row.account.customer.external_id

    @admin.display(description=_("identity verified"), boolean=True)
    def identity(self, request_row: ClosureRequest) -> bool:
        return request_row.identity_verified_at is not None

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}),
                         "can_close_for_cause": request.user.has_perm(services.CLOSE_FOR_CAUSE)}
        return super().changelist_view(request, extra_context=extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name

        def post(route: str, name: str, view: Callable) -> Any:
            return path(route, self.admin_site.admin_view(require_POST(view)), name="{}_{}_{}".format(*info, name))

        return [
            path("system-closure/", self.admin_site.admin_view(self.system_closure_view),
                 name="{}_{}_system_closure".format(*info)),
            post("<path:object_id>/verify-identity/", "verify_identity", self.verify_identity_view),
            post("<path:object_id>/decide/", "decide", self.decide_view),
            post("<path:object_id>/alternative/", "alternative", self.alternative_view),
            post("<path:object_id>/withdraw/", "withdraw", self.withdraw_view),
            post("<path:object_id>/resume/", "resume", self.resume_view),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args: Any) -> str:
        return reverse(f"admin:complaints_closurerequest_{name}", args=args, current_app=self.admin_site.name)

    def _run(self, request: HttpRequest, request_id: int, form: forms.Form | None, call: Callable[[dict], Any],
             success: Callable[[Any], str]) -> HttpResponse:
        back = HttpResponseRedirect(self._url("change", request_id))
        if form is not None and not form.is_valid():
            messages.error(request, _form_errors_text(form))
            return back
        try:
            result = call(form.cleaned_data if form is not None else {})
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return back
        messages.success(request, success(result))
        return back

    @staticmethod
    def _status_text(closure: ClosureRequest) -> str:
        return gettext("Closure request #%(id)s is %(status)s.") % {"id": closure.pk,
                                                                     "status": closure.get_status_display()}

    def verify_identity_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        request_id = _object_id(object_id)
        return self._run(request, request_id, VerifyIdentityForm(request.POST),
                         lambda d: services.closure_request_verify_identity(request_id=request_id, method=d["method"],
                                                                            acting_user=request.user),
                         self._status_text)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        request_id = _object_id(object_id)
        return self._run(request, request_id, None,
                         lambda d: services.closure_request_decide(request_id=request_id, acting_user=request.user),
                         self._status_text)

    def alternative_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        request_id = _object_id(object_id)
        return self._run(request, request_id, AlternativeForm(request.POST),
                         lambda d: services.closure_request_accept_alternative(
                             request_id=request_id, alternative=d["alternative"], new_limit=d["new_limit"],
                             note=d["note"], acting_user=request.user),
                         lambda r: gettext("The customer keeps the credit line (%(alternative)s).")
                         % {"alternative": r.get_alternative_display()})

    def withdraw_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        request_id = _object_id(object_id)
        return self._run(request, request_id, NoteForm(request.POST),
                         lambda d: services.closure_request_withdraw(request_id=request_id, note=d["note"],
                                                                     acting_user=request.user),
                         self._status_text)

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        request_id = _object_id(object_id)
        account_id = ClosureRequest.objects.filter(pk=request_id).values_list("account_id", flat=True).first()
        if account_id is None:
            raise PermissionDenied
        return self._run(request, request_id, NoteForm(request.POST),
                         lambda d: services.account_resume(account_id=account_id, note=d["note"],
                                                           acting_user=request.user),
                         lambda a: gettext("Credit account #%(id)s is %(status)s again.")
                         % {"id": a.pk, "status": a.get_status_display()})

    def system_closure_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(services.CLOSE_FOR_CAUSE):
            raise PermissionDenied
        form = SystemClosureForm(request.POST or None, initial={"account_id": request.GET.get("account")})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                closure = services.account_close_for_cause(account_id=data["account_id"],
                                                           reason_code=data["reason_code"], note=data["note"],
                                                           acting_user=request.user)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, gettext("Credit account #%(id)s is closed.") % {"id": closure.account_id})
                return HttpResponseRedirect(self._url("change", closure.pk))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "form": form,
                   "title": gettext("System closure of a credit account")}
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/complaints/closurerequest/system_closure.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        closure = selectors.closure_request_get(_object_id(object_id))
        if closure is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        user = request.user
        may_handle = user.has_perm(services.HANDLE_CLOSURE)
        account = closure.account
        context = {
            **self.admin_site.each_context(request),
            **(extra_context or {}),
            "title": gettext("Closure request #%(id)s") % {"id": closure.pk},
            "opts": self.opts,
            "closure": closure,
            "account": account,
            "reasons": [{"code": r.get("code", ""), "message": customer_message(r), "detail": r.get("detail", "")}
                        for r in closure.reasons or []],
            "audit": list(audit_trail(object_type="complaints.closurerequest", object_id=str(closure.pk))[:100]),
            "can_verify": may_handle and closure.is_open and closure.identity_verified_at is None,
            "can_decide": may_handle and closure.status == ClosureStatus.UNDER_REVIEW
            and closure.identity_verified_at is not None,
            "can_alternative": may_handle and closure.is_open,
            "can_withdraw": may_handle and closure.is_open,
            "can_resume": may_handle and account.paused_by_customer,
            "can_close_for_cause": user.has_perm(services.CLOSE_FOR_CAUSE) and account.status != "closed",
            "verify_form": VerifyIdentityForm(),
            "alternative_form": AlternativeForm(),
            "note_form": NoteForm(),
            "changelist_url": self._url("changelist"),
            "system_closure_url": self._url("system_closure"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.request_template, context)


from . import backoffice  # noqa: E402,F401 - this app's customer 360° blocks and dashboard widget
