"""Risk-manager actions on the credit account page: freeze, unfreeze and manual write-off.

Added to the accounts admin through its page hooks (accounts imports nothing of this app).
Each action is one POST URL calling one service of ``installments.services``, which checks
the permission itself; a refusal becomes an error message and changes nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext

from accounts.errors import ApplicationError
from accounts.models import AccountStatus, CreditAccount

from . import services


def section_context(request: HttpRequest, account: CreditAccount, today: date) -> dict[str, Any]:
    user = request.user
    may_freeze = user.has_perm(services.FREEZE_ACCOUNT)
    may_write_off = user.has_perm(services.WRITE_OFF_ACCOUNT)
    return {
        "account": account,
        "can_freeze": may_freeze and account.status in (AccountStatus.ACTIVE, AccountStatus.SUSPENDED),
        "can_unfreeze": may_freeze and account.status == AccountStatus.FROZEN,
        "can_write_off": may_write_off and account.status != AccountStatus.CLOSED and account.outstanding_total > 0,
    }


def _action_view(call, success):
    def view(model_admin: admin.ModelAdmin, request: HttpRequest, account_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        back = HttpResponseRedirect(reverse("admin:accounts_creditaccount_change", args=[account_id],
                                            current_app=model_admin.admin_site.name))
        try:
            result = call(account_id=account_id, reason_text=request.POST.get("reason", ""),
                          acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return back
        messages.success(request, success(result))
        return back

    return view


freeze_view = _action_view(services.account_freeze, lambda a: gettext("Account #%(id)s frozen.") % {"id": a.pk})
unfreeze_view = _action_view(services.account_unfreeze,
                             lambda a: gettext("Account #%(id)s unfrozen; it is now %(status)s.")
                             % {"id": a.pk, "status": a.get_status_display()})
write_off_view = _action_view(services.account_write_off,
                              lambda total: gettext("Account written off: %(amount)s moved to write-off expense.")
                              % {"amount": total})

_account_admin = admin.site.get_model_admin(CreditAccount)
_account_admin.add_page_section(template="admin/installments/creditaccount/_risk_actions.html",
                                context=section_context)
_account_admin.add_page(route="<int:account_id>/freeze/", name="freeze", view=freeze_view)
_account_admin.add_page(route="<int:account_id>/unfreeze/", name="unfreeze", view=unfreeze_view)
_account_admin.add_page(route="<int:account_id>/write-off/", name="write_off", view=write_off_view)
