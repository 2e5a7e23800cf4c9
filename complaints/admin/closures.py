"""The closure requests' pages (docs/rules.md §9): by status, each with identity
verification, risk check, alternatives (lower limit, pause / resume) and withdrawal; closure
for cause by a risk manager. Every write is one POST URL calling one service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from django_fsm import can_proceed

from accounts.admin.base import IndexedSearchMixin, run_service_action
from accounts.errors import ApplicationError
from accounts.selectors import audit_trail
from complaints import selectors
from complaints.models import ClosureRequest, ClosureStatus
from complaints.reasons import customer_message
from complaints.services import closures

from .forms import AlternativeForm, NoteForm, SystemClosureForm, VerifyIdentityForm, object_id_of


@admin.register(ClosureRequest)
class ClosureRequestAdmin(IndexedSearchMixin, admin.ModelAdmin):
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
                         "can_close_for_cause": request.user.has_perm(closures.CLOSE_FOR_CAUSE)}
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
        return run_service_action(request, back=self._url("change", request_id), form=form, call=call, success=success)

    @staticmethod
    def _status_text(closure: ClosureRequest) -> str:
        return gettext("Closure request #%(id)s is %(status)s.") % {"id": closure.pk,
                                                                     "status": closure.get_status_display()}

    def verify_identity_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        request_id = object_id_of(object_id)
        return self._run(request, request_id, VerifyIdentityForm(request.POST),
                         lambda d: closures.closure_request_verify_identity(request_id=request_id, method=d["method"],
                                                                            acting_user=request.user),
                         self._status_text)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        request_id = object_id_of(object_id)
        return self._run(request, request_id, None,
                         lambda d: closures.closure_request_decide(request_id=request_id, acting_user=request.user),
                         self._status_text)

    def alternative_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        request_id = object_id_of(object_id)
        return self._run(request, request_id, AlternativeForm(request.POST),
                         lambda d: closures.closure_request_accept_alternative(
                             request_id=request_id, alternative=d["alternative"], new_limit=d["new_limit"],
                             note=d["note"], acting_user=request.user),
                         lambda r: gettext("The customer keeps the credit line (%(alternative)s).")
                         % {"alternative": r.get_alternative_display()})

    def withdraw_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        request_id = object_id_of(object_id)
        return self._run(request, request_id, NoteForm(request.POST),
                         lambda d: closures.closure_request_withdraw(request_id=request_id, note=d["note"],
                                                                     acting_user=request.user),
                         self._status_text)

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        request_id = object_id_of(object_id)
        account_id = ClosureRequest.objects.filter(pk=request_id).values_list("account_id", flat=True).first()
        if account_id is None:
            raise PermissionDenied
        return self._run(request, request_id, NoteForm(request.POST),
                         lambda d: closures.account_resume(account_id=account_id, note=d["note"],
                                                           acting_user=request.user),
                         lambda a: gettext("Credit account #%(id)s is %(status)s again.")
                         % {"id": a.pk, "status": a.get_status_display()})

    def system_closure_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(closures.CLOSE_FOR_CAUSE):
            raise PermissionDenied
        form = SystemClosureForm(request.POST or None, initial={"account_id": request.GET.get("account")})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                closure = closures.account_close_for_cause(account_id=data["account_id"],
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
        closure = selectors.closure_request_get(object_id_of(object_id))
        if closure is None:
            # ModelAdmin._get_obj_does_not_exist_redirect is Django's; django-stubs lacks it.
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        user = request.user
        may_handle = user.has_perm(closures.HANDLE_CLOSURE)
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
            "can_close_for_cause": user.has_perm(closures.CLOSE_FOR_CAUSE) and can_proceed(account.close),
            "verify_form": VerifyIdentityForm(),
            "alternative_form": AlternativeForm(),
            "note_form": NoteForm(),
            "changelist_url": self._url("changelist"),
            "system_closure_url": self._url("system_closure"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.request_template, context)
