"""The manual-review queue's pages (docs/rules.md §3): the queue with its views (unclaimed,
mine, due soon, overdue, decided), "Claim next case", and the case page with the application,
the score breakdown, the flags, the customer's history and the decisions. Every decision is
one POST calling one service; a refusal becomes an error message and changes nothing.
"Approve & next" / "Reject & next" decide and claim the next case; keyboard shortcuts on the
case page (risk/static/risk/review_shortcuts.js); the reviewer's own figures of the day on the
queue; risk managers see what waits for them and release or reassign claimed cases in bulk
(decision 0032)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts import clock
from accounts.admin.base import form_errors_text
from accounts.errors import ApplicationError
from accounts.ids import parse_id
from accounts.pii import mask_phone
from accounts.staff_inbox import staff_holding
from accounts.templatetags.deadline_clock import deadline_clock
from risk.decision_display import breakdown_rows, reason_rows
from risk.models import ReviewCase, ReviewStatus
from risk.reasons import REVIEW_REJECT_CODES
from risk.selectors import customer_applications, review_queue, reviewer_day_figures
from risk.services import review_queue as queue_services

DECIDE = "risk.decide_application"
CONFIRM_HIGH_LIMIT = "risk.confirm_high_limit"


class QueueFilter(admin.SimpleListFilter):
    """The queue views of ``risk.selectors.review_queue``."""

    title = _("queue")
    parameter_name = "queue"

    def __init__(self, request, params, model, model_admin):
        self.request = request
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        views = [
            ("unclaimed", _("Unclaimed")),
            ("mine", _("Claimed by me")),
            ("due_soon", _("Due soon (< 4 h)")),
            ("overdue", _("Overdue")),
        ]
        if request.user.has_perm(CONFIRM_HIGH_LIMIT):
            views.append(("awaiting_manager", _("Waiting for a risk manager (not my proposals)")))
        return views

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        view_rows = review_queue(user=request.user, view=self.value())
        return queryset.filter(pk__in=view_rows.values("pk"))


class DecidedFilter(admin.SimpleListFilter):
    """Decided cases are hidden unless asked for."""

    title = _("decided cases")
    parameter_name = "decided"

    def lookups(self, request, model_admin):
        return (("include", _("Show decided too")), ("only", _("Decided only")))

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("Hide decided"),
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() == "include" or request.GET.get("status__exact"):
            return queryset  # an explicit status choice wins over the default
        if self.value() == "only":
            return queryset.filter(status=ReviewStatus.DECIDED)
        return queryset.exclude(status=ReviewStatus.DECIDED)


class AssignActionForm(ActionForm):
    """The action bar of the queue, for risk managers: whom to assign the selected cases to."""

    # every active member of staff who may decide cases (read when the form is shown)
    assignee = forms.ModelChoiceField(label=_("Assign to"), required=False, queryset=staff_holding(DECIDE))


class ApproveForm(forms.Form):
    credit_limit = forms.DecimalField(label=_("Credit limit (CNY)"), max_digits=14, decimal_places=2,
                                      min_value=0, widget=forms.NumberInput(attrs={"data-shortcut": "a"}))
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class RejectForm(forms.Form):
    reason_code = forms.ChoiceField(label=_("Reason"), choices=REVIEW_REJECT_CODES,
                                    widget=forms.Select(attrs={"data-shortcut": "r"}))
    # Required by the service (one source of truth for the rule); the widget asks for it too.
    note = forms.CharField(label=_("Note"), required=False, strip=False,
                           widget=forms.Textarea(attrs={"rows": 2, "required": True}))


class EscalateForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, strip=False,
                           widget=forms.Textarea(attrs={"rows": 2, "required": True, "data-shortcut": "e"}))


@admin.register(ReviewCase)
class ReviewCaseAdmin(admin.ModelAdmin):
    """The manual review queue (docs/rules.md §3). Cases are read here and decided through the
    claim / approve / reject / escalate / release services, each behind its own POST URL."""

    change_list_template = "admin/risk/reviewcase/change_list.html"
    case_template = "admin/risk/reviewcase/case.html"
    list_display = ("case_id", "applicant", "score", "flags", "status", "due", "claimed_by")
    list_filter = (QueueFilter, DecidedFilter, "status")
    list_select_related = ("application", "claimed_by")
    ordering = ("due_at", "id")
    actions = ["release_claims", "assign_claims"]
    action_form = AssignActionForm
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    # --- permissions: the queue is read here; nothing is edited through a model form ---

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("application", "claimed_by")

    # --- bulk release and reassignment (risk managers) ---

    def get_actions(self, request: HttpRequest):
        if not request.user.has_perm(CONFIRM_HIGH_LIMIT):
            return {}
        return super().get_actions(request)

    def get_action_choices(self, request: HttpRequest, default_choices=None):
        return super().get_action_choices(request, default_choices=[])  # no "---------" placeholder row

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        can_decide = request.user.has_perm(DECIDE)
        extra_context = {**(extra_context or {}), "can_decide": can_decide,
                         "my_day": self._my_day(request) if can_decide else None}
        return super().changelist_view(request, extra_context=extra_context)

    @staticmethod
    def _my_day(request: HttpRequest) -> dict[str, Any]:
        figures = reviewer_day_figures(request.user)
        return {"decided": figures["decided"], "median": _duration_text(figures["median"]),
                "average": _duration_text(figures["average"])}

    def _reassign(self, request: HttpRequest, queryset, assignee) -> None:
        try:
            result = queue_services.review_cases_reassign(case_ids=list(queryset.values_list("pk", flat=True)),
                                                          assignee=assignee, acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return
        if result.changed:
            changed = ", ".join(f"#{pk}" for pk in result.changed)
            if assignee is None:
                messages.success(request, gettext("Released to the queue: %(cases)s.") % {"cases": changed})
            else:
                messages.success(request, gettext("Assigned to %(user)s: %(cases)s.") % {
                    "user": assignee.get_username(), "cases": changed})
        for why in result.refused.values():
            messages.warning(request, gettext("Refused, nothing changed: %(why)s") % {"why": why})

    @admin.action(description=_("Release the selected claimed cases to the queue"))
    def release_claims(self, request: HttpRequest, queryset) -> None:
        self._reassign(request, queryset, None)

    @admin.action(description=_("Assign the selected claimed cases to…"))
    def assign_claims(self, request: HttpRequest, queryset) -> None:
        assignee_id = parse_id(request.POST.get("assignee", ""))
        assignee = staff_holding(DECIDE).filter(pk=assignee_id).first() if assignee_id is not None else None
        if assignee is None:
            messages.error(request, gettext("Choose whom to assign the cases to."))
            return
        self._reassign(request, queryset, assignee)

    # --- changelist columns ---

    @admin.display(description=_("case"), ordering="id")
    def case_id(self, case: ReviewCase) -> str:
        return f"#{case.pk}"

    @admin.display(description=_("applicant"))
    def applicant(self, case: ReviewCase) -> str:
        return f"{case.application.name} ({case.application.id_number_masked})"

    @admin.display(description=_("score"), ordering="application__score")
    def score(self, case: ReviewCase) -> int | None:
        return case.application.score

    @admin.display(description=_("flags"))
    def flags(self, case: ReviewCase) -> str:
        return ", ".join(case.application.flags) or "-"

    @admin.display(description=_("due"), ordering="due_at")
    def due(self, case: ReviewCase) -> str:
        due_text = timezone.localtime(case.due_at).strftime("%Y-%m-%d %H:%M")
        if case.status == ReviewStatus.DECIDED:
            return due_text
        return format_html("{} {}", due_text, deadline_clock(case.due_at, case.created_at))

    # --- URLs: one POST endpoint per service ---

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(require_POST(view))

        info = self.opts.app_label, self.opts.model_name
        return [
            path("claim-next/", wrap(self.claim_next_view), name="{}_{}_claim_next".format(*info)),
            path("<path:object_id>/approve/", wrap(self.approve_view), name="{}_{}_approve".format(*info)),
            path("<path:object_id>/reject/", wrap(self.reject_view), name="{}_{}_reject".format(*info)),
            path("<path:object_id>/escalate/", wrap(self.escalate_view), name="{}_{}_escalate".format(*info)),
            path("<path:object_id>/release/", wrap(self.release_view), name="{}_{}_release".format(*info)),
            *super().get_urls(),
        ]

    def _changelist_url(self) -> str:
        return reverse("admin:risk_reviewcase_changelist", current_app=self.admin_site.name)

    def _case_url(self, case_id: Any) -> str:
        return reverse("admin:risk_reviewcase_change", args=[case_id], current_app=self.admin_site.name)

    @staticmethod
    def _require_decide(request: HttpRequest) -> None:
        if not request.user.has_perm(DECIDE):
            raise PermissionDenied

    def claim_next_view(self, request: HttpRequest) -> HttpResponse:
        self._require_decide(request)
        try:
            case = queue_services.review_case_claim_next(acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._changelist_url())
        if case is None:
            messages.info(request, gettext("Queue is empty"))
            return HttpResponseRedirect(self._changelist_url())
        return HttpResponseRedirect(self._case_url(case.pk))

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        self._require_decide(request)
        case_id = self._case_id(object_id)
        form = ApproveForm(request.POST)
        if not form.is_valid():
            messages.error(request, form_errors_text(form))
            return HttpResponseRedirect(self._case_url(case_id))
        and_next = "and_next" in request.POST
        next_case: ReviewCase | None = None
        try:
            if and_next:
                case, next_case = queue_services.review_case_approve_and_claim_next(
                    case_id=case_id, credit_limit=form.cleaned_data["credit_limit"], note=form.cleaned_data["note"],
                    acting_user=request.user)
            else:
                case = queue_services.review_case_approve(
                    case_id=case_id, credit_limit=form.cleaned_data["credit_limit"], note=form.cleaned_data["note"],
                    acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._case_url(case_id))
        if case.status == ReviewStatus.AWAITING_CONFIRMATION and request.user.has_perm(CONFIRM_HIGH_LIMIT):
            messages.success(request, gettext(
                "Case #%(case)s: limit %(limit)s proposed; another risk manager must confirm it.")
                % {"case": case.pk, "limit": case.proposed_limit})
        elif case.status == ReviewStatus.AWAITING_CONFIRMATION:
            messages.success(request, gettext(
                "Case #%(case)s: limit %(limit)s proposed; a risk manager must confirm it.")
                % {"case": case.pk, "limit": case.proposed_limit})
        else:
            messages.success(request, gettext(
                "Case #%(case)s approved with a limit of %(limit)s; the credit account is open.")
                % {"case": case.pk, "limit": form.cleaned_data["credit_limit"]})
        return self._after_decision(request, and_next, next_case)

    def _after_decision(self, request: HttpRequest, and_next: bool, next_case: ReviewCase | None) -> HttpResponse:
        """The queue after a decision; with "& next", the next case claimed (or the queue, saying
        it is empty)."""
        if not and_next:
            return HttpResponseRedirect(self._changelist_url())
        if next_case is None:
            messages.info(request, gettext("No more cases for you in the queue."))
            return HttpResponseRedirect(self._changelist_url())
        return HttpResponseRedirect(self._case_url(next_case.pk))

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        self._require_decide(request)
        case_id = self._case_id(object_id)
        form = RejectForm(request.POST)
        if not form.is_valid():
            messages.error(request, form_errors_text(form))
            return HttpResponseRedirect(self._case_url(case_id))
        and_next = "and_next" in request.POST
        next_case: ReviewCase | None = None
        try:
            if and_next:
                case, next_case = queue_services.review_case_reject_and_claim_next(
                    case_id=case_id, reason_code=form.cleaned_data["reason_code"], note=form.cleaned_data["note"],
                    acting_user=request.user)
            else:
                case = queue_services.review_case_reject(
                    case_id=case_id, reason_code=form.cleaned_data["reason_code"], note=form.cleaned_data["note"],
                    acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._case_url(case_id))
        messages.success(request, gettext("Case #%(case)s rejected.") % {"case": case.pk})
        return self._after_decision(request, and_next, next_case)

    def escalate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        self._require_decide(request)
        case_id = self._case_id(object_id)
        form = EscalateForm(request.POST)
        if not form.is_valid():
            messages.error(request, form_errors_text(form))
            return HttpResponseRedirect(self._case_url(case_id))
        try:
            case = queue_services.review_case_escalate(case_id=case_id, note=form.cleaned_data["note"],
                                                 acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._case_url(case_id))
        messages.success(request, gettext("Case #%(case)s escalated to a risk manager.") % {"case": case.pk})
        return HttpResponseRedirect(self._changelist_url())

    def release_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        self._require_decide(request)
        case_id = self._case_id(object_id)
        try:
            case = queue_services.review_case_release(case_id=case_id, acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._case_url(case_id))
        messages.success(request, gettext("Case #%(case)s released to the queue.") % {"case": case.pk})
        return HttpResponseRedirect(self._changelist_url())

    @staticmethod
    def _case_id(object_id: str) -> int:
        case_id = parse_id(unquote(object_id))
        if case_id is None:
            raise PermissionDenied
        return case_id

    # --- the case page ---

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        """The case page. It only reads; decisions post to their own URLs."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        case = self.get_object(request, unquote(object_id))
        if case is None:
            # ModelAdmin._get_obj_does_not_exist_redirect is Django's; django-stubs lacks it.
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        if not self.has_view_or_change_permission(request, case):
            raise PermissionDenied
        application = case.application
        idle_minutes = application.policy.parsed.review_claim_idle_minutes
        now = clock.now()
        claim_live = (case.status == ReviewStatus.CLAIMED and case.last_activity_at is not None
                      and case.last_activity_at >= now - timedelta(minutes=idle_minutes))
        held_by_me = case.status == ReviewStatus.CLAIMED and case.claimed_by_id == request.user.pk
        can_decide = request.user.has_perm(DECIDE)
        if held_by_me and claim_live and can_decide:
            # Opening the page keeps a live claim alive; an expired one stays expired.
            queue_services.review_case_touch(case_id=case.pk, acting_user=request.user)
        earlier = (customer_applications(application.customer_id).exclude(pk=application.pk)
                   .select_related("review_case", "review_case__decided_by"))
        proposed = case.proposed_limit if case.proposed_limit is not None else application.proposed_limit
        context = {
            **self.admin_site.each_context(request),
            **(extra_context or {}),
            "title": gettext("Review case #%(case)s") % {"case": case.pk},
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "case": case,
            "application": application,
            "phone_masked": mask_phone(application.phone),
            "breakdown": breakdown_rows(application.score_breakdown or {}),
            "reasons": reason_rows(application.reasons or []),
            "claim_live": claim_live,
            "held_by_me": held_by_me,
            "idle_minutes": idle_minutes,
            "earlier_applications": [
                {"application": a, "reasons": reason_rows(a.reasons or []),
                 "case": getattr(a, "review_case", None)} for a in earlier],
            "show_decision_forms": held_by_me and claim_live and can_decide,
            "approve_form": ApproveForm(initial={"credit_limit": proposed}),
            "reject_form": RejectForm(),
            "escalate_form": EscalateForm(),
            "changelist_url": self._changelist_url(),
            "can_decide": can_decide,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.case_template, context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        queryset = self.get_queryset(request).select_related(
            "application__policy", "application__customer", "proposed_by", "decided_by")
        case_id = parse_id(unquote(object_id))
        try:
            return queryset.get(pk=case_id) if case_id is not None else None
        except ReviewCase.DoesNotExist:
            return None


def _duration_text(value: timedelta | None) -> str:
    """"4 min 10 s" (a reviewer's time per case); "-" when there is none."""
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return gettext("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    return gettext("%(minutes)s min %(seconds)s s") % {"minutes": minutes, "seconds": seconds}
