"""Back office for the risk domain: the manual review queue, applications (read-only) and
scoring-policy versions. Thin edges (STYLE.md): every write goes through one service in
``risk.services``; refusals (``ApplicationError``) become admin error messages."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.errors import ApplicationError
from accounts.pii import mask_phone
from accounts.search import PersonalDataSearchMixin

from . import services
from .models import Application, PolicyStatus, ReviewCase, ReviewStatus, ScoringPolicy
from .policy import PolicyParams
from .reasons import REVIEW_REJECT_CODES, customer_message
from .selectors import customer_applications, review_queue

DECIDE = "risk.decide_application"
DUE_SOON = timedelta(hours=4)  # the queue's "due soon" window (risk.selectors.review_queue)

FEATURE_LABELS = {
    "base": _("Base score"),
    "months_since_customer": _("Months since store customer"),
    "orders_12m": _("Orders in 12 months"),
    "spend_12m": _("Spend in 12 months"),
    "return_rate": _("Return rate"),
    "repayment_history": _("Repayment history with Tally"),
}


def _form_errors_text(form: forms.Form) -> str:
    return "; ".join(f"{form.fields[name].label if name in form.fields else name}: {' '.join(errors)}"
                     for name, errors in form.errors.items())


def _breakdown_rows(breakdown: dict[str, dict]) -> list[dict[str, Any]]:
    """Rows in scorecard order (jsonb does not keep key order); unknown features last."""
    known = [key for key in FEATURE_LABELS if key in breakdown]
    keys = known + sorted(key for key in breakdown if key not in FEATURE_LABELS)
    return [{"feature": FEATURE_LABELS.get(key, key), "value": breakdown[key].get("value", ""),
             "points": breakdown[key].get("points")} for key in keys]


def _reasons_rows(reasons: list[dict]) -> list[dict[str, str]]:
    return [{"code": r.get("code", ""), "message": customer_message(r), "detail": r.get("detail", "")}
            for r in reasons]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written: no add, change or delete, every field read-only."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- the manual review queue --------------------------------------------------------------


class QueueFilter(admin.SimpleListFilter):
    """The queue views of ``risk.selectors.review_queue``."""

    title = _("queue")
    parameter_name = "queue"

    def __init__(self, request, params, model, model_admin):
        self.request = request
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return (
            ("unclaimed", _("Unclaimed")),
            ("mine", _("Claimed by me")),
            ("due_soon", _("Due soon (< 4 h)")),
            ("overdue", _("Overdue")),
        )

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


class ApproveForm(forms.Form):
    credit_limit = forms.DecimalField(label=_("Credit limit (CNY)"), max_digits=14, decimal_places=2,
                                      min_value=0)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class RejectForm(forms.Form):
    reason_code = forms.ChoiceField(label=_("Reason"), choices=REVIEW_REJECT_CODES)
    # Required by the service (one source of truth for the rule); the widget asks for it too.
    note = forms.CharField(label=_("Note"), required=False, strip=False,
                           widget=forms.Textarea(attrs={"rows": 2, "required": True}))


class EscalateForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, strip=False,
                           widget=forms.Textarea(attrs={"rows": 2, "required": True}))


@admin.register(ReviewCase)
class ReviewCaseAdmin(admin.ModelAdmin):
    """The manual review queue (DOMAIN.md §3). Cases are read here and decided through the
    claim / approve / reject / escalate / release services, each behind its own POST URL."""

    change_list_template = "admin/risk/reviewcase/change_list.html"
    case_template = "admin/risk/reviewcase/case.html"
    list_display = ("case_id", "applicant", "score", "flags", "status", "due", "claimed_by")
    list_filter = (QueueFilter, DecidedFilter, "status")
    list_select_related = ("application", "claimed_by")
    ordering = ("due_at", "id")
    actions = None
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
        badge = self._due_badge(case)
        if badge is None:
            return due_text
        return format_html('{} <span class="due-badge due-{}">{}</span>', due_text, badge[0], badge[1])

    @staticmethod
    def _due_badge(case: ReviewCase) -> tuple[str, str] | None:
        if case.status == ReviewStatus.DECIDED:
            return None
        now = timezone.now()
        if case.due_at < now:
            return "overdue", gettext("overdue")
        if case.due_at < now + DUE_SOON:
            return "soon", gettext("due soon")
        return None

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "can_decide": request.user.has_perm(DECIDE)}
        return super().changelist_view(request, extra_context=extra_context)

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
            case = services.review_case_claim_next(acting_user=request.user)
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
            messages.error(request, _form_errors_text(form))
            return HttpResponseRedirect(self._case_url(case_id))
        try:
            case = services.review_case_approve(case_id=case_id, credit_limit=form.cleaned_data["credit_limit"],
                                                note=form.cleaned_data["note"], acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._case_url(case_id))
        if case.status == ReviewStatus.AWAITING_CONFIRMATION:
            messages.success(request, gettext(
                "Case #%(case)s: limit %(limit)s proposed; a risk manager must confirm it.")
                % {"case": case.pk, "limit": case.proposed_limit})
        else:
            messages.success(request, gettext(
                "Case #%(case)s approved with a limit of %(limit)s; the credit account is open.")
                % {"case": case.pk, "limit": form.cleaned_data["credit_limit"]})
        return HttpResponseRedirect(self._changelist_url())

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        self._require_decide(request)
        case_id = self._case_id(object_id)
        form = RejectForm(request.POST)
        if not form.is_valid():
            messages.error(request, _form_errors_text(form))
            return HttpResponseRedirect(self._case_url(case_id))
        try:
            case = services.review_case_reject(case_id=case_id, reason_code=form.cleaned_data["reason_code"],
                                               note=form.cleaned_data["note"], acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._case_url(case_id))
        messages.success(request, gettext("Case #%(case)s rejected.") % {"case": case.pk})
        return HttpResponseRedirect(self._changelist_url())

    def escalate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        self._require_decide(request)
        case_id = self._case_id(object_id)
        form = EscalateForm(request.POST)
        if not form.is_valid():
            messages.error(request, _form_errors_text(form))
            return HttpResponseRedirect(self._case_url(case_id))
        try:
            case = services.review_case_escalate(case_id=case_id, note=form.cleaned_data["note"],
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
            case = services.review_case_release(case_id=case_id, acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._case_url(case_id))
        messages.success(request, gettext("Case #%(case)s released to the queue.") % {"case": case.pk})
        return HttpResponseRedirect(self._changelist_url())

    @staticmethod
    def _case_id(object_id: str) -> int:
        try:
            return int(unquote(object_id))
        except ValueError as exc:
            raise PermissionDenied from exc

    # --- the case page ---

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        """The case page. It only reads; decisions post to their own URLs."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        case = self.get_object(request, unquote(object_id))
        if case is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, case):
            raise PermissionDenied
        application = case.application
        idle_minutes = application.policy.parsed.review_claim_idle_minutes
        now = timezone.now()
        claim_live = (case.status == ReviewStatus.CLAIMED and case.last_activity_at is not None
                      and case.last_activity_at >= now - timedelta(minutes=idle_minutes))
        held_by_me = case.status == ReviewStatus.CLAIMED and case.claimed_by_id == request.user.pk
        can_decide = request.user.has_perm(DECIDE)
        if held_by_me and claim_live and can_decide:
            # Opening the page keeps a live claim alive; an expired one stays expired.
            services.review_case_touch(case_id=case.pk, acting_user=request.user)
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
            "breakdown": _breakdown_rows(application.score_breakdown or {}),
            "reasons": _reasons_rows(application.reasons or []),
            "due_badge": self._due_badge(case),
            "claim_live": claim_live,
            "held_by_me": held_by_me,
            "idle_minutes": idle_minutes,
            "earlier_applications": [
                {"application": a, "reasons": _reasons_rows(a.reasons or []),
                 "case": getattr(a, "review_case", None)} for a in earlier],
            "show_decision_forms": held_by_me and claim_live and can_decide,
            "approve_form": ApproveForm(initial={"credit_limit": proposed}),
            "reject_form": RejectForm(),
            "escalate_form": EscalateForm(),
            "changelist_url": self._changelist_url(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.case_template, context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        queryset = self.get_queryset(request).select_related(
            "application__policy", "application__customer", "proposed_by", "decided_by")
        try:
            return queryset.get(pk=int(object_id))
        except (ReviewCase.DoesNotExist, ValueError):
            return None


# --- applications (read-only) -------------------------------------------------------------


@admin.register(Application)
class ApplicationAdmin(PersonalDataSearchMixin, ReadOnlyAdmin):
    list_display = ("id", "external_id", "kind", "status", "score", "policy_version", "created_at")
    list_filter = ("status", "kind")
    list_select_related = ("customer", "policy")
    search_fields = ("customer__external_id",)
    search_help_text = _("Store customer id, phone number or full ID number")
    id_number_hash_fields = ("id_number_hash", "customer__id_number_hash")
    phone_fields = ("phone", "customer__phone")
    show_full_result_count = False
    ordering = ("-id",)  # newest first through the primary key (created_at has no index)
    fieldsets = (
        (_("Applicant"), {"fields": ("customer", "kind", "name", "id_number_masked", "phone_masked",
                                     "store_status", "store_since", "orders_12m", "spend_12m", "return_rate",
                                     "repayment_card_token")}),
        (_("Decision"), {"fields": ("status", "score", "breakdown_table", "flags_display", "reasons_display",
                                    "proposed_limit", "credit_limit", "policy", "account", "decided_by",
                                    "decided_at", "business_date", "created_at")}),
    )
    readonly_fields = ("customer", "kind", "name", "id_number_masked", "phone_masked", "store_status",
                       "store_since", "orders_12m", "spend_12m", "return_rate", "repayment_card_token", "status",
                       "score", "breakdown_table", "flags_display", "reasons_display", "proposed_limit",
                       "credit_limit", "policy", "account", "decided_by", "decided_at", "business_date",
                       "created_at")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("customer", "policy", "decided_by",
                                                            "account__customer")

    @admin.display(description=_("store customer id"), ordering="customer__external_id")
    def external_id(self, application: Application) -> str:
        return application.customer.external_id

    @admin.display(description=_("policy version"), ordering="policy__version")
    def policy_version(self, application: Application) -> str:
        return f"v{application.policy.version}"

    @admin.display(description=_("phone"))
    def phone_masked(self, application: Application) -> str:
        return mask_phone(application.phone)

    @admin.display(description=_("score breakdown"))
    def breakdown_table(self, application: Application) -> str:
        rows = _breakdown_rows(application.score_breakdown or {})
        if not rows:
            return "-"
        return format_html("<table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
                           gettext("feature"), gettext("value"), gettext("points"),
                           format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                                            ((r["feature"], r["value"], r["points"]) for r in rows)))

    @admin.display(description=_("review flags"))
    def flags_display(self, application: Application) -> str:
        return ", ".join(application.flags) or "-"

    @admin.display(description=_("reasons"))
    def reasons_display(self, application: Application) -> str:
        rows = _reasons_rows(application.reasons or [])
        if not rows:
            return "-"
        return format_html("<ul>{}</ul>", format_html_join(
            "", "<li><code>{}</code> {} <em>{}</em></li>", ((r["code"], r["message"], r["detail"]) for r in rows)))


# --- scoring policies ---------------------------------------------------------------------


class PolicyDraftForm(forms.ModelForm):
    """A draft's parameters as JSON text; saved through ``services.policy_draft_update``."""

    params_text = forms.CharField(label=_("parameters (JSON)"),
                                  widget=forms.Textarea(attrs={"rows": 30, "cols": 100,
                                                               "class": "vLargeTextField",
                                                               "spellcheck": "false"}))

    class Meta:
        model = ScoringPolicy
        fields = ["notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["params_text"].initial = json.dumps(self.instance.params, indent=2, sort_keys=True)

    def clean_params_text(self) -> dict[str, Any]:
        try:
            data = json.loads(self.cleaned_data["params_text"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(gettext("Not valid JSON: %(error)s") % {"error": exc}) from exc
        if not isinstance(data, dict):
            raise forms.ValidationError(gettext("The parameters must be a JSON object."))
        try:
            PolicyParams.from_json(data)
        except (ValueError, TypeError, KeyError, ArithmeticError, AttributeError) as exc:
            raise forms.ValidationError(gettext("Invalid policy parameters: %(error)s") % {"error": exc}) from exc
        return data


class ActivatePolicyForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class NewDraftForm(forms.Form):
    notes = forms.CharField(label=_("Notes"), required=False)
    based_on = forms.IntegerField(required=False, widget=forms.HiddenInput)


@admin.register(ScoringPolicy)
class ScoringPolicyAdmin(admin.ModelAdmin):
    """Policy versions. Only a draft is editable, only by ``risk.edit_policy``; the status is
    never a form field — it moves through ``policy_activate``."""

    form = PolicyDraftForm
    change_list_template = "admin/risk/scoringpolicy/change_list.html"
    change_form_template = "admin/risk/scoringpolicy/change_form.html"
    list_display = ("version", "status", "created_by", "created_at", "activated_by", "activated_at")
    list_filter = ("status",)
    list_select_related = ("created_by", "activated_by")
    actions = None
    readonly_fields = ("version", "status", "params_pretty", "created_by", "created_at", "activated_by",
                       "activated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # new versions come from "New draft from active" (policy_draft_create)

    def has_change_permission(self, request: HttpRequest, obj: ScoringPolicy | None = None) -> bool:
        if not request.user.has_perm("risk.edit_policy"):
            return False
        return obj is None or obj.status == PolicyStatus.DRAFT

    def has_delete_permission(self, request: HttpRequest, obj: ScoringPolicy | None = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: ScoringPolicy | None = None):
        if obj is not None and self.has_change_permission(request, obj):
            return ["version", "status", "params_text", "notes", "created_by", "created_at"]
        return ["version", "status", "params_pretty", "notes", "created_by", "created_at", "activated_by",
                "activated_at"]

    @admin.display(description=_("parameters"))
    def params_pretty(self, policy: ScoringPolicy) -> str:
        return format_html("<pre>{}</pre>", json.dumps(policy.params, indent=2, sort_keys=True))

    # --- saving a draft: one service call; a refusal is an error message, nothing saved ---

    def save_model(self, request: HttpRequest, obj: ScoringPolicy, form: PolicyDraftForm, change: bool) -> None:
        try:
            services.policy_draft_update(policy_id=obj.pk, params=form.cleaned_data["params_text"],
                                         notes=form.cleaned_data.get("notes", ""), acting_user=request.user)
        except ApplicationError as exc:
            request._policy_refusal = exc  # type: ignore[attr-defined]

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        pass  # no related rows are edited here

    def log_change(self, request: HttpRequest, obj: ScoringPolicy, message: Any):
        if getattr(request, "_policy_refusal", None) is not None:
            return None
        return super().log_change(request, obj, message)

    def response_change(self, request: HttpRequest, obj: ScoringPolicy) -> HttpResponse:
        refusal = getattr(request, "_policy_refusal", None)
        if refusal is not None:
            messages.error(request, refusal.message)
            return HttpResponseRedirect(self._change_url(obj.pk))
        return super().response_change(request, obj)

    # --- buttons: new draft, activate ---

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(require_POST(view))

        info = self.opts.app_label, self.opts.model_name
        return [
            path("new-draft/", wrap(self.new_draft_view), name="{}_{}_new_draft".format(*info)),
            path("<path:object_id>/activate/", wrap(self.activate_view), name="{}_{}_activate".format(*info)),
            *super().get_urls(),
        ]

    def _change_url(self, policy_id: Any) -> str:
        return reverse("admin:risk_scoringpolicy_change", args=[policy_id], current_app=self.admin_site.name)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "can_edit_policy": request.user.has_perm("risk.edit_policy")}
        return super().changelist_view(request, extra_context=extra_context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None):
        obj = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "can_activate": (obj is not None and obj.status == PolicyStatus.DRAFT
                             and request.user.has_perm("risk.activate_policy")),
            "can_edit_policy": request.user.has_perm("risk.edit_policy"),
            "activate_form": ActivatePolicyForm(),
        }
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def new_draft_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("risk.edit_policy"):
            raise PermissionDenied
        form = NewDraftForm(request.POST)
        changelist = reverse("admin:risk_scoringpolicy_changelist", current_app=self.admin_site.name)
        if not form.is_valid():
            messages.error(request, _form_errors_text(form))
            return HttpResponseRedirect(changelist)
        based_on = None
        if form.cleaned_data["based_on"]:
            based_on = ScoringPolicy.objects.filter(pk=form.cleaned_data["based_on"]).first()
            if based_on is None:
                messages.error(request, gettext("No such policy version."))
                return HttpResponseRedirect(changelist)
        try:
            draft = services.policy_draft_create(acting_user=request.user, based_on=based_on,
                                                 notes=form.cleaned_data["notes"])
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(changelist)
        messages.success(request, gettext("Draft v%(version)s created; edit its parameters below.")
                         % {"version": draft.version})
        return HttpResponseRedirect(self._change_url(draft.pk))

    def activate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm("risk.activate_policy"):
            raise PermissionDenied
        try:
            policy_id = int(unquote(object_id))
        except ValueError as exc:
            raise PermissionDenied from exc
        if not ScoringPolicy.objects.filter(pk=policy_id).exists():
            return self._get_obj_does_not_exist_redirect(request, self.opts, str(policy_id))
        form = ActivatePolicyForm(request.POST)
        form.is_valid()
        try:
            policy = services.policy_activate(policy_id=policy_id, acting_user=request.user,
                                              reason_text=form.cleaned_data.get("reason", ""))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._change_url(policy_id))
        messages.success(request, gettext("Policy v%(version)s is now active.") % {"version": policy.version})
        return HttpResponseRedirect(self._change_url(policy.pk))


from . import backoffice  # noqa: E402,F401 - this app's customer 360° blocks and dashboard widget
