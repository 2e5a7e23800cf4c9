"""The collections desk (docs/rules.md §7, decision 0034): who works an account, each contact
with the customer, and promises to pay that the close checks."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import MONEY, CreditAccount


class CollectionAssignment(models.Model):
    """Who works an account in collections: one collector at a time (reassigning replaces the
    row; the audit trail keeps the history)."""

    account = models.OneToOneField(CreditAccount, on_delete=models.PROTECT, related_name="collection_assignment",
                                   verbose_name=_("account"))
    collector = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="collection_assignments",
                                  verbose_name=_("collector"))
    assigned_by = models.ForeignKey("auth.User", null=True, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("assigned by"))
    assigned_at = models.DateTimeField(verbose_name=_("assigned at"))

    class Meta:
        verbose_name = _("collection assignment")
        verbose_name_plural = _("collection assignments")
        permissions = [
            ("work_collections", _("Can work accounts in collections (contacts, promises to pay)")),
            ("assign_collections", _("Can assign accounts in collections to collectors")),
            ("export_data", _("Can export back-office lists as CSV")),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} → {self.collector_id}"


class ContactChannel(models.TextChoices):
    PHONE = "phone", _("phone call")
    SMS = "sms", _("text message")
    EMAIL = "email", _("email")
    LETTER = "letter", _("letter")
    VISIT = "visit", _("visit")


class ContactOutcome(models.TextChoices):
    REACHED = "reached", _("reached the customer")
    PROMISED = "promised", _("promise to pay")
    REFUSED = "refused", _("refused to pay")
    DISPUTED = "disputed", _("disputes the debt")
    NO_ANSWER = "no_answer", _("no answer")
    LEFT_MESSAGE = "left_message", _("left a message")
    WRONG_NUMBER = "wrong_number", _("wrong number")


class CollectionContact(models.Model):
    """One contact (or attempt) with a customer in collections, logged by the collector."""

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="collection_contacts",
                                verbose_name=_("account"))
    collector = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("collector"))
    channel = models.CharField(_("channel"), max_length=12, choices=ContactChannel.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=ContactOutcome.choices)
    note = models.TextField(_("note"), blank=True)
    contacted_at = models.DateTimeField(_("contacted at"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("collection contact")
        verbose_name_plural = _("collection contacts")
        ordering = ["-contacted_at", "-id"]
        indexes = [models.Index(fields=["account", "-contacted_at"], name="collection_contact_account")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.channel} {self.outcome}"


class PromiseStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("promise to pay", "open")
    KEPT = "kept", pgettext_lazy("promise to pay", "kept")
    BROKEN = "broken", pgettext_lazy("promise to pay", "broken")


class PromiseToPay(models.Model):
    """A customer's promise to repay ``amount`` by ``promised_for``. Kept when the repayments
    booked after it (any source: repayment ids above ``after_repayment_id``) reach the amount;
    broken when the date has passed short of it — both decided by the close's
    ``check_promises`` step."""

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="promises_to_pay",
                                verbose_name=_("account"))
    collector = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("collector"))
    contact = models.ForeignKey(CollectionContact, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="promises", verbose_name=_("contact"))
    amount = models.DecimalField(_("amount"), **MONEY)
    promised_for = models.DateField(_("promised for"))
    made_on = models.DateField(_("made on (business date)"))
    after_repayment_id = models.BigIntegerField(_("repayments counted after id"), default=0)
    status = models.CharField(_("status"), max_length=8, choices=PromiseStatus.choices, default=PromiseStatus.OPEN)
    paid = models.DecimalField(default=0, **MONEY, verbose_name=_("paid towards it"))
    settled_on = models.DateField(_("settled on (business date)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("promise to pay")
        verbose_name_plural = _("promises to pay")
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "promised_for"], name="promise_status_date")]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="promise_amount_positive")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount} {self.promised_for} {self.status}"
