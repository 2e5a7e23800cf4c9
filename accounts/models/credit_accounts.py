"""Credit accounts and the history of their status and limit (docs/rules.md §4, §7, §8).

Only ``accounts.lifecycle.credit_line`` changes a credit account's status, limit, pause and
freeze flags and available limit; the ledger (``accounts.ledger``) moves its balances."""

from __future__ import annotations

from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField

from accounts.lifecycle.states import AccountStatus, CreditLineStateMachine
from accounts.money import MONEY, money_field

from .customers import Customer

__all__ = ["DELINQUENCY_BUCKETS", "AccountStatus", "AccountStatusChange", "CreditAccount", "LimitChange",
           "delinquency_bucket", "delinquency_bucket_q"]


class CreditAccount(CreditLineStateMachine, models.Model):
    """A customer's revolving credit line."""

    customer = models.OneToOneField(Customer, on_delete=models.PROTECT, related_name="credit_account", verbose_name=_("customer"))
    status = FSMField(_("status"), max_length=16, choices=AccountStatus.choices,
                      default=AccountStatus.ACTIVE, protected=True, db_index=True)
    credit_limit = money_field(verbose_name=_("credit limit"))
    available_limit = money_field(verbose_name=_("available limit"))
    held_amount = money_field(verbose_name=_("restoration held"))
    principal_outstanding = money_field(verbose_name=_("outstanding principal"))
    fees_outstanding = money_field(verbose_name=_("outstanding fees"))
    penalties_outstanding = money_field(verbose_name=_("outstanding penalties"))
    credit_balance = money_field(verbose_name=_("credit balance"))
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    billing_day = models.PositiveSmallIntegerField(_("billing day"))
    repayment_card_token = models.CharField(_("repayment card token"), max_length=64, blank=True)
    auto_debit = models.BooleanField(_("auto-debit"), default=True)
    paused_by_customer = models.BooleanField(_("paused at customer's request"), default=False)
    opened_on = models.DateField(_("opened on (business date)"))
    reopened_on = models.DateField(_("reopened on"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    closed_reason = models.CharField(_("closure reason"), max_length=32, blank=True)
    written_off_on = models.DateField(_("written off on"), null=True, blank=True)
    # What the write-off moved to expense, and what repayments recovered of it since; the rest
    # is still recoverable (docs/rules.md §7).
    written_off_amount = money_field(verbose_name=_("amount written off"))
    recovered_amount = money_field(verbose_name=_("recovered after write-off"))
    last_limit_increase_on = models.DateField(null=True, blank=True, verbose_name=_("last limit increase on"))
    last_overdue_on = models.DateField(_("last day overdue"), null=True, blank=True)
    policy_version = models.ForeignKey("risk.ScoringPolicy", on_delete=models.PROTECT,
                                       related_name="+", verbose_name=_("policy version"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("credit account")
        verbose_name_plural = _("credit accounts")
        permissions = [
            ("freeze_account", _("Can freeze and unfreeze credit accounts")),
            ("write_off_account", _("Can write off credit accounts")),
            ("close_account", _("Can close credit accounts for fraud or breach of terms")),
            ("change_repayment_card", _("Can change a credit account's repayment card")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(available_limit__gte=0), name="available_limit_not_negative"),
            models.CheckConstraint(condition=Q(credit_limit__gte=0), name="credit_limit_not_negative"),
            models.CheckConstraint(condition=Q(held_amount__gte=0), name="held_amount_not_negative"),
            models.CheckConstraint(condition=Q(available_limit__lte=models.F("credit_limit")),
                                   name="available_within_limit"),
            models.CheckConstraint(condition=Q(billing_day__gte=1, billing_day__lte=28),
                                   name="billing_day_1_to_28"),
            models.CheckConstraint(condition=Q(recovered_amount__gte=0, recovered_amount__lte=models.F("written_off_amount")),
                                   name="recovered_within_written_off"),
        ]
        indexes = [models.Index(fields=["-days_past_due", "id"], condition=Q(days_past_due__gt=0),
                                name="collections_queue"),
                   # the charts' roll rates: the book by opening and closing dates (index-only), and
                   # the accounts written off by a date
                   models.Index(fields=["opened_on", "closed_on"], name="credit_account_on_book"),
                   models.Index(fields=["written_off_on"], condition=Q(written_off_on__isnull=False),
                                name="credit_account_written_off")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer.external_id}"

    @property
    def outstanding_total(self) -> Decimal:
        return self.principal_outstanding + self.fees_outstanding + self.penalties_outstanding

    @property
    def recoverable(self) -> Decimal:
        """What is still owed of the amount written off (0 when never written off)."""
        return self.written_off_amount - self.recovered_amount

    @property
    def bucket(self) -> str:
        return delinquency_bucket(self.days_past_due)


# Delinquency buckets (docs/rules.md §7): name → (fewest, most days past due); None: no upper bound.
DELINQUENCY_BUCKETS: dict[str, tuple[int, int | None]] = {
    "current": (0, 0), "1-30": (1, 30), "31-60": (31, 60), "61-90": (61, 90), "91-180": (91, 180),
    ">180": (181, None),
}


def delinquency_bucket(days_past_due: int) -> str:
    """The bucket of ``days_past_due``."""
    for name, (_low, high) in DELINQUENCY_BUCKETS.items():
        if high is None or days_past_due <= high:
            return name
    raise AssertionError("the last bucket has no upper bound")


def delinquency_bucket_q(name: str) -> models.Q:
    """The accounts whose days past due fall in bucket ``name``."""
    low, high = DELINQUENCY_BUCKETS[name]
    return models.Q(days_past_due__gte=low) if high is None else models.Q(days_past_due__gte=low,
                                                                          days_past_due__lte=high)


class AccountStatusChange(models.Model):
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="status_changes", verbose_name=_("account"))
    from_status = models.CharField(max_length=16, blank=True, choices=AccountStatus.choices,
                                   verbose_name=_("from status"))
    to_status = models.CharField(max_length=16, choices=AccountStatus.choices, verbose_name=_("to status"))
    reason_code = models.CharField(max_length=40, verbose_name=_("reason code"))
    note = models.TextField(blank=True, verbose_name=_("note"))
    business_date = models.DateField(verbose_name=_("business date"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("actor"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("account status change")
        verbose_name_plural = _("account status changes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["to_status", "business_date"], name="status_change_to_status_day")]
        triggers = [pgtrigger.Protect(name="status_change_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.get_from_status_display() or '-'} → {self.get_to_status_display()} ({self.reason_code})"


class LimitChange(models.Model):
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="limit_changes", verbose_name=_("account"))
    old_limit = models.DecimalField(**MONEY, verbose_name=_("old limit"))
    new_limit = models.DecimalField(**MONEY, verbose_name=_("new limit"))
    reason_code = models.CharField(max_length=40, verbose_name=_("reason code"))
    note = models.TextField(blank=True, verbose_name=_("note"))
    policy_version = models.ForeignKey("risk.ScoringPolicy", on_delete=models.PROTECT, related_name="+", verbose_name=_("policy version"))
    business_date = models.DateField(verbose_name=_("business date"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("actor"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("limit change")
        verbose_name_plural = _("limit changes")
        ordering = ["-created_at", "-id"]
        triggers = [pgtrigger.Protect(name="limit_change_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.old_limit} → {self.new_limit} ({self.reason_code})"
