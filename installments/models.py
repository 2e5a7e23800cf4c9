"""Purchases, installment plans and their schedules, statements and refunds (DOMAIN.md §5)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import MONEY, CreditAccount


def _money(**kwargs):
    return models.DecimalField(default=0, **MONEY, **kwargs)


class Purchase(models.Model):
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="purchases")
    merchant_order_id = models.CharField(_("merchant order id"), max_length=64)
    amount = models.DecimalField(_("amount"), **MONEY)
    periods = models.PositiveSmallIntegerField(_("installments"))
    refunded_amount = _money(verbose_name=_("refunded"))
    business_date = models.DateField(_("business date"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("purchase")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "merchant_order_id"], name="merchant_order_unique_per_account"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="purchase_amount_positive"),
            models.CheckConstraint(condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("amount")),
                                   name="refunds_within_purchase"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_order_id} {self.amount}"


class PlanKind(models.TextChoices):
    PURCHASE = "purchase", _("purchase")
    BILL = "bill", _("bill installment")


class InstallmentPlan(models.Model):
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="plans")
    kind = models.CharField(max_length=10, choices=PlanKind.choices)
    purchase = models.OneToOneField(Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="plan")
    statement = models.ForeignKey("Statement", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="bill_plans")
    principal = models.DecimalField(_("principal"), **MONEY)
    periods = models.PositiveSmallIntegerField(_("installments"))
    fee_rate = models.DecimalField(_("fee rate per period"), max_digits=7, decimal_places=5)
    fee_per_period = models.DecimalField(_("fee per period"), **MONEY)
    start_date = models.DateField(_("start date"))
    policy_version = models.ForeignKey("risk.ScoringPolicy", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("installment plan")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.principal} in {self.periods}"


class InstallmentState(models.TextChoices):
    OPEN = "open", _("open")
    PAID = "paid", _("paid")
    CANCELLED = "cancelled", _("cancelled")  # fully refunded or converted to a bill plan


class Installment(models.Model):
    """One scheduled installment. Unpaid principal = principal − paid − cancelled; a fee is
    owed only once posted on its due date (``fee_posted``) and never after its principal is
    fully paid early."""

    plan = models.ForeignKey(InstallmentPlan, on_delete=models.PROTECT, related_name="installments")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="installments")
    purchase = models.ForeignKey(Purchase, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="installments")
    seq = models.PositiveSmallIntegerField()
    due_date = models.DateField(_("due date"), db_index=True)
    principal = models.DecimalField(_("principal"), **MONEY)
    fee = models.DecimalField(_("fee"), **MONEY)
    principal_paid = _money(verbose_name=_("principal paid"))
    principal_cancelled = _money(verbose_name=_("principal refunded or converted"))
    fee_paid = _money(verbose_name=_("fee paid"))
    fee_waived = _money(verbose_name=_("fee waived"))
    fee_posted = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=InstallmentState.choices, default=InstallmentState.OPEN)
    paid_on = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = _("installment")
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["account", "state", "due_date"])]
        constraints = [
            models.UniqueConstraint(fields=["plan", "seq"], name="installment_seq_unique"),
            models.CheckConstraint(condition=Q(principal__gte=0, fee__gte=0, principal_paid__gte=0,
                                               principal_cancelled__gte=0, fee_paid__gte=0, fee_waived__gte=0),
                                   name="installment_amounts_not_negative"),
            models.CheckConstraint(condition=Q(principal_paid__lte=F("principal") - F("principal_cancelled")),
                                   name="installment_principal_not_overpaid"),
            models.CheckConstraint(condition=Q(fee_paid__lte=F("fee") - F("fee_waived")),
                                   name="installment_fee_not_overpaid"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} due {self.due_date}"

    @property
    def principal_unpaid(self):
        return self.principal - self.principal_paid - self.principal_cancelled

    @property
    def fee_unpaid(self):
        """Fee still owed — only a posted fee is owed."""
        return self.fee - self.fee_paid - self.fee_waived if self.fee_posted else self.fee * 0

    def status_on(self, business_date) -> str:
        if self.state != InstallmentState.OPEN:
            return self.state
        if self.due_date < business_date:
            return "overdue"
        if self.due_date == business_date:
            return "due"
        return "open"


class Refund(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refunds")
    merchant_refund_id = models.CharField(_("merchant refund id"), max_length=64)
    amount = models.DecimalField(_("amount"), **MONEY)
    principal_reduced = models.DecimalField(**MONEY)
    credit_balance_added = models.DecimalField(**MONEY)
    fees_waived = models.DecimalField(**MONEY)
    business_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("refund")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["purchase", "merchant_refund_id"], name="merchant_refund_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_refund_id} {self.amount}"


class Statement(models.Model):
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="statements")
    statement_date = models.DateField(_("statement date"))
    earliest_due_date = models.DateField(_("earliest due date"), null=True, blank=True)
    principal_due = models.DecimalField(**MONEY)
    fees_due = models.DecimalField(**MONEY)
    overdue_amount = models.DecimalField(**MONEY)
    penalties = models.DecimalField(**MONEY)
    total_due = models.DecimalField(_("total due"), **MONEY)
    installments = models.ManyToManyField(Installment, related_name="statements", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("statement")
        ordering = ["-statement_date"]
        constraints = [
            models.UniqueConstraint(fields=["account", "statement_date"], name="one_statement_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.statement_date} {self.total_due}"
