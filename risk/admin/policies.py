"""The scoring policies' pages (docs/rules.md §3): versions, a draft's parameters (JSON,
validated, within ``risk.policy.BOUNDS``), a new draft from any version, its authors, and
activation (audited; never offered to an author of the draft — four eyes)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.admin.base import form_errors_text
from accounts.errors import ApplicationError
from accounts.ids import parse_id
from risk.models import PolicyStatus, ScoringPolicy
from risk.policy import PolicyParams
from risk.selectors import is_policy_author, policy_authors
from risk.services import policies


class PolicyDraftForm(forms.ModelForm):
    """A draft's parameters as JSON text; saved through ``policies.policy_draft_update``."""

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
    readonly_fields = ("version", "status", "params_pretty", "created_by", "authors_list", "created_at",
                       "activated_by", "activated_at")

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
            return ["version", "status", "params_text", "notes", "created_by", "authors_list", "created_at"]
        return ["version", "status", "params_pretty", "notes", "created_by", "authors_list", "created_at",
                "activated_by", "activated_at"]

    @admin.display(description=_("authors (created or edited; may not activate)"))
    def authors_list(self, policy: ScoringPolicy) -> str:
        return ", ".join(user.get_username() for user in policy_authors(policy)) or "-"

    @admin.display(description=_("parameters"))
    def params_pretty(self, policy: ScoringPolicy) -> str:
        return format_html("<pre>{}</pre>", json.dumps(policy.params, indent=2, sort_keys=True))

    # --- saving a draft: one service call; a refusal is an error message, nothing saved ---

    def changeform_view(self, request: HttpRequest, object_id: str | None = None, form_url: str = "",
                        extra_context: dict | None = None) -> HttpResponse:
        """Without the admin's own transaction: the service saving a draft owns its transaction."""
        # ModelAdmin._changeform_view is Django's; django-stubs lacks it.
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: ScoringPolicy, form: PolicyDraftForm, change: bool) -> None:
        try:
            policies.policy_draft_update(policy_id=obj.pk, params=form.cleaned_data["params_text"],
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
        may_activate = (obj is not None and obj.status == PolicyStatus.DRAFT
                        and request.user.has_perm("risk.activate_policy"))
        author = obj is not None and is_policy_author(obj, request.user.pk)
        if may_activate and author and request.method == "GET":
            messages.warning(request, gettext(
                "You created or edited this draft: another risk manager must activate it."))
        extra_context = {
            **(extra_context or {}),
            "can_activate": may_activate and not author,
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
            messages.error(request, form_errors_text(form))
            return HttpResponseRedirect(changelist)
        based_on = None
        if form.cleaned_data["based_on"]:
            based_on = ScoringPolicy.objects.filter(pk=form.cleaned_data["based_on"]).first()
            if based_on is None:
                messages.error(request, gettext("No such policy version."))
                return HttpResponseRedirect(changelist)
        try:
            draft = policies.policy_draft_create(acting_user=request.user, based_on=based_on,
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
        policy_id = parse_id(unquote(object_id))
        if policy_id is None:
            raise PermissionDenied
        if not ScoringPolicy.objects.filter(pk=policy_id).exists():
            # ModelAdmin._get_obj_does_not_exist_redirect is Django's; django-stubs lacks it.
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]
                request, self.opts, str(policy_id))
        form = ActivatePolicyForm(request.POST)
        form.is_valid()
        try:
            policy = policies.policy_activate(policy_id=policy_id, acting_user=request.user,
                                              reason_text=form.cleaned_data.get("reason", ""))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._change_url(policy_id))
        messages.success(request, gettext("Policy v%(version)s is now active.") % {"version": policy.version})
        return HttpResponseRedirect(self._change_url(policy.pk))
