"""The collection block of the credit account page: the repayment card (changed by an agent
holding ``accounts.change_repayment_card``, with a reason; audited), what a write-off left
recoverable, and the credit balance's payouts."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext

from accounts.errors import ApplicationError
from accounts.models import CreditAccount
from installments.models import CreditBalancePayout
from installments.services.repayment_cards import CHANGE_REPAYMENT_CARD, mask_card_token, repayment_card_change

PAYOUTS_SHOWN = 10


def collection_context(request: HttpRequest, account: CreditAccount, today: date) -> dict[str, Any]:
    payouts = list(CreditBalancePayout.objects.filter(account=account).order_by("-id")[:PAYOUTS_SHOWN])
    return {
        "account": account,
        "card": mask_card_token(account.repayment_card_token),
        "can_change_card": request.user.has_perm(CHANGE_REPAYMENT_CARD),
        "written_off": account.written_off_on is not None,
        "payouts": payouts,
    }


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
