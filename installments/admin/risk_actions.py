"""Risk-manager actions on the credit account page: freeze, unfreeze and manual write-off.

Each action is one POST URL calling one service, which checks the permission itself; a
refusal becomes an error message and changes nothing. The state machine says which actions
the account's status allows (``django_fsm.can_proceed``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from django_fsm import can_proceed

from accounts.errors import ApplicationError
from accounts.models import CreditAccount
from installments.services.risk_actions import FREEZE_ACCOUNT, account_freeze, account_unfreeze
from installments.services.write_off import WRITE_OFF_ACCOUNT, account_write_off


def section_context(request: HttpRequest, account: CreditAccount, today: date) -> dict[str, Any]:
    user = request.user
    may_freeze = user.has_perm(FREEZE_ACCOUNT)
    return {
        "account": account,
        "can_freeze": may_freeze and can_proceed(account.freeze),
        "can_unfreeze": may_freeze and can_proceed(account.unfreeze),
        "can_write_off": user.has_perm(WRITE_OFF_ACCOUNT) and account.written_off_on is None
        and account.outstanding_total > 0,
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


freeze_view = _action_view(account_freeze, lambda a: gettext("Account #%(id)s frozen.") % {"id": a.pk})
unfreeze_view = _action_view(account_unfreeze,
                             lambda a: gettext("Account #%(id)s unfrozen; it is now %(status)s.")
                             % {"id": a.pk, "status": a.get_status_display()})
write_off_view = _action_view(account_write_off,
                              lambda total: gettext("Account written off: %(amount)s moved to write-off expense.")
                              % {"amount": total})
