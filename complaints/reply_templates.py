"""Reply templates (docs/rules.md §10 "Reply templates", decision 0033): ready texts an agent
picks in the reply or final-response form of a complaint page, per category, filled on the
server with the complaint's facts and then edited freely before sending.

They are code, not rows: each text is a catalogue string (``gettext_lazy``), translated and
reviewed like every other customer-facing text, and rendered in the **customer's** language
(``Customer.language``) because the customer reads it. Placeholders are ``%(name)s`` keys of
``PLACEHOLDERS``; a template may only use those (``tests`` check every template renders in
every shipped language). Personal data is masked: the name keeps its first letter per word,
the account number its last 4 digits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .models import Category, Complaint

REPLY = "reply"
RESOLUTION = "resolution"

PLACEHOLDERS = ("customer_name", "complaint", "account", "respond_by", "credit_limit", "available_limit",
                "held_amount", "principal_outstanding", "fees_outstanding", "penalties_outstanding",
                "outstanding_total", "waived")


@dataclass(frozen=True)
class ReplyTemplate:
    key: str
    title: str | Promise
    body: str | Promise
    form: str  # REPLY or RESOLUTION
    categories: tuple[str, ...] = ()  # empty: every category

    def fits(self, category: str, form: str) -> bool:
        return self.form == form and (not self.categories or category in self.categories)


TEMPLATES: tuple[ReplyTemplate, ...] = (
    # --- every category ---
    ReplyTemplate("ask_details", _("Ask for details"), form=REPLY, body=_(
        "Dear %(customer_name)s, thank you for contacting us about complaint %(complaint)s. To look into it we need "
        "a few more details: the date, the amount and what you saw in the app. We will answer by %(respond_by)s.")),
    ReplyTemplate("still_working", _("Still working on it"), form=REPLY, body=_(
        "Dear %(customer_name)s, we are still looking into complaint %(complaint)s and will give you our answer by "
        "%(respond_by)s at the latest.")),
    ReplyTemplate("resolved_generic", _("Resolved (general)"), form=RESOLUTION, body=_(
        "Dear %(customer_name)s, we have looked into complaint %(complaint)s. [What we found and what we did.] "
        "If you disagree with this answer, reply within 7 days and we will look at it again.")),
    # --- per category ---
    ReplyTemplate("limit_restored", _("Limit restored"), form=RESOLUTION,
                  categories=(Category.LIMIT_NOT_RESTORED,), body=_(
        "Dear %(customer_name)s, your repayments on credit account %(account)s have been applied and your limit is "
        "restored: your available limit is now %(available_limit)s of %(credit_limit)s.")),
    ReplyTemplate("limit_held", _("Limit held for a while"), form=REPLY,
                  categories=(Category.LIMIT_NOT_RESTORED,), body=_(
        "Dear %(customer_name)s, your repayment on credit account %(account)s was received. %(held_amount)s of your "
        "limit is held for a short time after a repayment, as our terms say, and comes back automatically; your "
        "available limit is %(available_limit)s now.")),
    ReplyTemplate("activation_explained", _("Application decision explained"), form=RESOLUTION,
                  categories=(Category.ACTIVATION_FAILED,), body=_(
        "Dear %(customer_name)s, we checked your application again. [The reason for the decision.] You may apply "
        "again later; the app shows when.")),
    ReplyTemplate("auto_debit_card", _("Auto-debit failed: update the card"), form=REPLY,
                  categories=(Category.AUTO_DEBIT_FAILED,), body=_(
        "Dear %(customer_name)s, the automatic payment on credit account %(account)s could not be collected from "
        "your card. Please check the card or add a new one in the app; we will try again. Amount still due: "
        "%(outstanding_total)s.")),
    ReplyTemplate("fee_waived", _("Fee or penalty waived"), form=RESOLUTION,
                  categories=(Category.FEE_DISPUTE, Category.BILLING_DISPUTE, Category.AUTO_DEBIT_FAILED), body=_(
        "Dear %(customer_name)s, we have reviewed the charges on credit account %(account)s and waived "
        "%(waived)s. Fees still outstanding: %(fees_outstanding)s; penalties still outstanding: "
        "%(penalties_outstanding)s.")),
    ReplyTemplate("charges_correct", _("Charges are correct"), form=RESOLUTION,
                  categories=(Category.FEE_DISPUTE, Category.BILLING_DISPUTE), body=_(
        "Dear %(customer_name)s, we have checked every charge on credit account %(account)s and they are correct "
        "under your plan's terms. [Explain the charge.] Outstanding now: %(outstanding_total)s.")),
    ReplyTemplate("unauthorized_investigating", _("Unauthorized transaction under investigation"), form=REPLY,
                  categories=(Category.UNAUTHORIZED_TRANSACTION,), body=_(
        "Dear %(customer_name)s, we are investigating the transaction you did not recognise on credit account "
        "%(account)s. Please do not share verification codes with anyone. We will answer by %(respond_by)s.")),
    ReplyTemplate("closure_next_steps", _("Closing the account: next steps"), form=REPLY,
                  categories=(Category.CLOSURE,), body=_(
        "Dear %(customer_name)s, we can close credit account %(account)s once nothing is owed on it. Outstanding "
        "now: %(outstanding_total)s. You may also pause the credit line or lower its limit instead.")),
    ReplyTemplate("data_export_sent", _("Personal data export"), form=RESOLUTION,
                  categories=(Category.DATA_PRIVACY,), body=_(
        "Dear %(customer_name)s, as you asked in complaint %(complaint)s, we have prepared a copy of the personal "
        "data we hold about you. [How it is delivered.]")),
)


def mask_name(name: str) -> str:
    """The first character of each word, the rest starred: ``Li Lei`` → ``L* L**``,
    ``王小明`` → ``王**``."""
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split()) or "*"


def mask_account_number(account_id: int | None) -> str:
    """The last 4 digits of the account number: ``****0012``."""
    if account_id is None:
        return "-"
    return "****" + f"{account_id:04d}"[-4:]


def _money(value: Decimal | None) -> str:
    return f"{value:,.2f}" if value is not None else "-"


def _when(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def placeholder_values(complaint: Complaint, *, waived: Decimal | None = None) -> dict[str, str]:
    """The facts a template may quote, masked where personal (no query: the complaint comes
    with its customer and account, ``complaints.selectors.complaint_get``)."""
    account = complaint.account
    values = {"customer_name": mask_name(complaint.customer.name), "complaint": f"#{complaint.pk}",
              "account": mask_account_number(complaint.account_id), "respond_by": _when(complaint.respond_by),
              "waived": _money(waived)}
    for name in ("credit_limit", "available_limit", "held_amount", "principal_outstanding", "fees_outstanding",
                 "penalties_outstanding"):
        values[name] = _money(getattr(account, name)) if account is not None else "-"
    values["outstanding_total"] = _money(
        account.principal_outstanding + account.fees_outstanding + account.penalties_outstanding) \
        if account is not None else "-"
    return values


def render(template: ReplyTemplate, values: Mapping[str, Any], language: str) -> str:
    with translation.override(language):
        return str(template.body) % values


@dataclass(frozen=True)
class FilledTemplate:
    key: str
    title: str
    text: str


def templates_for(complaint: Complaint, form: str, *, waived: Decimal | None = None) -> list[FilledTemplate]:
    """The templates of the complaint's category for ``form``, filled and in the customer's
    language (titles in the reader's)."""
    values = placeholder_values(complaint, waived=waived)
    language = complaint.customer.language or "zh-hans"
    return [FilledTemplate(t.key, str(t.title), render(t, values, language))
            for t in TEMPLATES if t.fits(complaint.category, form)]
