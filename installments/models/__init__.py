"""Purchases, installment plans and their schedules, statements and refunds (docs/rules.md §5)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import MONEY, CreditAccount


def _money(**kwargs):
    return models.DecimalField(default=0, **MONEY, **kwargs)


class Purchase(models.Model):
    # no index of its own: the merchant order constraint (account, merchant_order_id) leads with it
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="purchases", verbose_name=_("account"),
                                db_index=False)
    merchant_order_id = models.CharField(_("merchant order id"), max_length=64)
    amount = models.DecimalField(_("amount"), **MONEY)
    periods = models.PositiveSmallIntegerField(_("installments"))
    refunded_amount = _money(verbose_name=_("refunded"))
    business_date = models.DateField(_("business date"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        ordering = ["-id"]
        # the purchases list finds a merchant order id whole (docs/decisions/0036)
        indexes = [models.Index(fields=["merchant_order_id"], name="purchase_merchant_order_id")]
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
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="plans", verbose_name=_("account"))
    kind = models.CharField(max_length=10, choices=PlanKind.choices, verbose_name=_("kind"))
    purchase = models.OneToOneField(Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="plan", verbose_name=_("purchase"))
    statement = models.ForeignKey("Statement", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="bill_plans", verbose_name=_("statement"))
    principal = models.DecimalField(_("principal"), **MONEY)
    periods = models.PositiveSmallIntegerField(_("installments"))
    fee_rate = models.DecimalField(_("fee rate per period"), max_digits=7, decimal_places=5)
    fee_per_period = models.DecimalField(_("fee per period"), **MONEY)
    start_date = models.DateField(_("start date"))
    policy_version = models.ForeignKey("risk.ScoringPolicy", on_delete=models.PROTECT, related_name="+", verbose_name=_("policy version"))
    # The loan's terms, kept from the policy version it was booked under (docs/rules.md §5, §7):
    # a later policy applies to later plans only.
    grace_days = models.PositiveSmallIntegerField(_("grace days"), default=3)
    penalty_daily_rate = models.DecimalField(_("penalty rate per day"), max_digits=7, decimal_places=5,
                                             default=Decimal("0.0005"))
    debit_retry_offsets_days = models.JSONField(_("auto-debit retry days"), default=list)
    debit_recovery_interval_days = models.PositiveSmallIntegerField(_("auto-debit retry interval after the ladder"),
                                                                    default=7)
    write_off_days = models.PositiveSmallIntegerField(_("write-off age (days)"), default=180)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("installment plan")
        verbose_name_plural = _("installment plans")
        ordering = ["-id"]

    def __str__(self) -> str:
        return _("%(kind)s %(principal)s in %(periods)s") % {
            "kind": self.get_kind_display(), "principal": self.principal, "periods": self.periods}


class InstallmentState(models.TextChoices):
    OPEN = "open", pgettext_lazy("installment state", "open")
    PAID = "paid", _("paid")
    CANCELLED = "cancelled", _("cancelled")  # fully refunded or converted to a bill plan
    WRITTEN_OFF = "written_off", _("written off")  # unpaid at write-off: a missed payment, not a cancellation


class Installment(models.Model):
    """One scheduled installment. Unpaid principal = principal − paid − cancelled; a fee is
    owed only once posted on its due date (``fee_posted``) and never after its principal is
    fully paid early."""

    # no indexes of their own: (plan, seq) and (account, state, due_date) lead with them
    plan = models.ForeignKey(InstallmentPlan, on_delete=models.PROTECT, related_name="installments", verbose_name=_("plan"),
                             db_index=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="installments", verbose_name=_("account"),
                                db_index=False)
    purchase = models.ForeignKey(Purchase, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="installments", verbose_name=_("purchase"))
    seq = models.PositiveSmallIntegerField(verbose_name=_("seq"))
    due_date = models.DateField(_("due date"), db_index=True)
    principal = models.DecimalField(_("principal"), **MONEY)
    fee = models.DecimalField(_("fee"), **MONEY)
    principal_paid = _money(verbose_name=_("principal paid"))
    principal_cancelled = _money(verbose_name=_("principal refunded or converted"))
    fee_paid = _money(verbose_name=_("fee paid"))
    fee_waived = _money(verbose_name=_("fee waived"))
    fee_posted = models.BooleanField(default=False, verbose_name=_("fee posted"))
    state = models.CharField(max_length=12, choices=InstallmentState.choices, default=InstallmentState.OPEN, verbose_name=_("state"))
    paid_on = models.DateField(null=True, blank=True, verbose_name=_("paid on"))

    class Meta:
        verbose_name = _("installment")
        verbose_name_plural = _("installments")
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
        return _("#%(seq)s due %(date)s") % {"seq": self.seq, "date": self.due_date}

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
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("purchase"))
    merchant_refund_id = models.CharField(_("merchant refund id"), max_length=64)
    amount = models.DecimalField(_("amount"), **MONEY)
    principal_reduced = models.DecimalField(**MONEY, verbose_name=_("principal reduced"))
    credit_balance_added = models.DecimalField(**MONEY, verbose_name=_("credit balance added"))
    fees_waived = models.DecimalField(**MONEY, verbose_name=_("fees waived"))
    business_date = models.DateField(verbose_name=_("business date"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["purchase", "merchant_refund_id"], name="merchant_refund_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_refund_id} {self.amount}"


class Statement(models.Model):
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="statements", verbose_name=_("account"))
    statement_date = models.DateField(_("statement date"))
    earliest_due_date = models.DateField(_("earliest due date"), null=True, blank=True)
    principal_due = models.DecimalField(**MONEY, verbose_name=_("principal due"))
    fees_due = models.DecimalField(**MONEY, verbose_name=_("fees due"))
    overdue_amount = models.DecimalField(**MONEY, verbose_name=_("overdue amount"))
    penalties = models.DecimalField(**MONEY, verbose_name=_("penalties"))
    total_due = models.DecimalField(_("total due"), **MONEY)
    installments = models.ManyToManyField(Installment, related_name="statements", blank=True, verbose_name=_("installments"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("statement")
        verbose_name_plural = _("statements")
        ordering = ["-statement_date"]
        constraints = [
            models.UniqueConstraint(fields=["account", "statement_date"], name="one_statement_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.statement_date} {self.total_due}"


class Penalty(models.Model):
    """A late-payment penalty posted for one business day (docs/rules.md §7)."""

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="penalties", verbose_name=_("account"))
    business_date = models.DateField(verbose_name=_("business date"))
    overdue_principal = models.DecimalField(**MONEY, verbose_name=_("overdue principal"))
    rate = models.DecimalField(max_digits=7, decimal_places=5, verbose_name=_("rate"))
    amount = models.DecimalField(**MONEY, verbose_name=_("amount"))
    amount_paid = _money(verbose_name=_("amount paid"))
    amount_waived = _money(verbose_name=_("amount waived"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("penalty")
        verbose_name_plural = _("penalties")
        ordering = ["business_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "business_date"], name="one_penalty_per_account_day"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="penalty_positive"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0, amount_waived__gte=0)
                                   & Q(amount_paid__lte=F("amount") - F("amount_waived")),
                                   name="penalty_not_overpaid"),
        ]

    def __str__(self) -> str:
        return f"{self.business_date} {self.amount}"

    @property
    def unpaid(self):
        return self.amount - self.amount_paid - self.amount_waived


class RepaymentSource(models.TextChoices):
    MANUAL = "manual", _("paid by the customer")
    AUTO_DEBIT = "auto_debit", _("auto-debit")
    CREDIT_BALANCE = "credit_balance", _("credit balance")


class Repayment(models.Model):
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="repayments", verbose_name=_("account"))
    reference = models.CharField(_("reference"), max_length=100)
    source = models.CharField(max_length=16, choices=RepaymentSource.choices, verbose_name=_("source"))
    amount = models.DecimalField(_("amount"), **MONEY)
    penalty_paid = models.DecimalField(**MONEY, verbose_name=_("penalty paid"))
    fee_paid = models.DecimalField(**MONEY, verbose_name=_("fee paid"))
    principal_paid = models.DecimalField(**MONEY, verbose_name=_("principal paid"))
    # after a write-off: what this repayment recovered of the amount written off
    recovered = _money(verbose_name=_("recovered after write-off"))
    limit_restored = models.DecimalField(_("limit restored"), **MONEY)
    held_amount = models.DecimalField(_("held"), **MONEY)
    hold_release_at = models.DateTimeField(_("hold released at"), null=True, blank=True)
    available_limit_after = models.DecimalField(_("available limit after"), **MONEY)
    payment_attempt = models.OneToOneField("PaymentAttempt", null=True, blank=True, on_delete=models.PROTECT,
                                           related_name="repayment", verbose_name=_("payment attempt"))
    business_date = models.DateField(verbose_name=_("business date"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("repayment")
        verbose_name_plural = _("repayments")
        ordering = ["-id"]
        indexes = [models.Index(fields=["business_date"], name="repayment_business_date"),  # charts by day
                   # the repayments, holds and alerts lists find a reference whole (decision 0036)
                   models.Index(fields=["reference"], name="repayment_reference")]
        constraints = [
            # The storefront's references and the system's own (auto-debit, credit balance) are
            # separate namespaces: a reference is unique per account and source.
            models.UniqueConstraint(fields=["account", "source", "reference"],
                                    name="repayment_reference_unique_per_account_source"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="repayment_positive"),
            models.CheckConstraint(condition=Q(amount=F("penalty_paid") + F("fee_paid") + F("principal_paid")
                                               + F("recovered")),
                                   name="repayment_fully_allocated"),
            models.CheckConstraint(condition=Q(principal_paid=F("limit_restored") + F("held_amount")),
                                   name="repayment_principal_restored_or_held"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount}"


class RepaymentAllocation(models.Model):
    repayment = models.ForeignKey(Repayment, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("repayment"))
    installment = models.ForeignKey(Installment, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="allocations", verbose_name=_("installment"))
    penalty = models.ForeignKey(Penalty, null=True, blank=True, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("penalty"))
    penalty_amount = _money(verbose_name=_("penalty amount"))
    fee_amount = _money(verbose_name=_("fee amount"))
    principal_amount = _money(verbose_name=_("principal amount"))

    class Meta:
        verbose_name = _("repayment allocation")
        verbose_name_plural = _("repayment allocations")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.installment_id or self.penalty_id}: {self.penalty_amount}/{self.fee_amount}/{self.principal_amount}"


class RestorationHold(models.Model):
    """Principal repaid but not yet given back as available limit (policy hold)."""

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="restoration_holds", verbose_name=_("account"))
    repayment = models.OneToOneField(Repayment, on_delete=models.PROTECT, related_name="hold", verbose_name=_("repayment"))
    amount = models.DecimalField(**MONEY, verbose_name=_("amount"))
    reason_code = models.CharField(max_length=40, verbose_name=_("reason code"))
    release_at = models.DateTimeField(verbose_name=_("release at"))
    released_at = models.DateTimeField(null=True, blank=True, verbose_name=_("released at"))
    released_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("released by"))

    class Meta:
        verbose_name = _("restoration hold")
        verbose_name_plural = _("restoration holds")
        ordering = ["release_at", "id"]
        # the holds list's order, walked in the index (decision 0036); serves release_at ranges too
        indexes = [models.Index(fields=["release_at", "id"], name="hold_release_at_id")]
        permissions = [("release_restorationhold", _("Can release a restoration hold early"))]

    def __str__(self) -> str:
        return _("%(amount)s until %(release_at)s") % {"amount": self.amount, "release_at": self.release_at}


class RestorationAlert(models.Model):
    """A successful repayment that neither restored nor held its principal — must never happen."""

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="+", verbose_name=_("account"))
    repayment = models.ForeignKey(Repayment, null=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("repayment"))
    detail = models.TextField(verbose_name=_("detail"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    resolved = models.BooleanField(default=False, verbose_name=_("resolved"))
    # who looked into it and what they found (installments/alerts.py; audit_ledger stops
    # reporting a resolved alert)
    resolved_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("resolved by"))
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))
    resolution_note = models.TextField(blank=True, verbose_name=_("resolution note"))

    class Meta:
        verbose_name = _("restoration alert")
        verbose_name_plural = _("restoration alerts")
        permissions = [("resolve_restorationalert", _("Can resolve a restoration alert"))]

    def __str__(self) -> str:
        return self.detail[:60]


class AttemptStatus(models.TextChoices):
    SUBMITTED = "submitted", _("submitted")
    SUCCEEDED = "succeeded", _("succeeded")
    DECLINED = "declined", _("declined")
    HARD_DECLINED = "hard_declined", _("hard declined")
    UNKNOWN = "unknown", _("unknown")
    NOT_CHARGED = "not_charged", _("not charged")


class PaymentAttempt(models.Model):
    """An auto-debit attempt, committed before the gateway is called (Kill Bill style)."""

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="payment_attempts", verbose_name=_("account"))
    business_date = models.DateField(db_index=True, verbose_name=_("business date"))
    idempotency_key = models.CharField(max_length=100, unique=True, verbose_name=_("idempotency key"))
    card_token = models.CharField(max_length=64, verbose_name=_("card token"))
    amount = models.DecimalField(**MONEY, verbose_name=_("amount"))
    status = models.CharField(max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.SUBMITTED,
                              db_index=True, verbose_name=_("status"))
    decline_code = models.CharField(max_length=40, blank=True, verbose_name=_("decline code"))
    gateway_reference = models.CharField(max_length=100, blank=True, verbose_name=_("gateway reference"))
    series_start = models.DateField(verbose_name=_("series start"))
    retry_number = models.PositiveSmallIntegerField(default=0, verbose_name=_("retry number"))
    retry_on = models.DateField(null=True, blank=True, db_index=True, verbose_name=_("retry on"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("payment attempt")
        verbose_name_plural = _("payment attempts")
        ordering = ["-business_date", "-id"]
        # the attempts list finds a gateway reference whole (docs/decisions/0036)
        indexes = [models.Index(fields=["gateway_reference"], name="attempt_gateway_reference")]
        constraints = [
            models.UniqueConstraint(fields=["account", "business_date"], name="one_attempt_per_account_day"),
            models.UniqueConstraint(fields=["account"], condition=Q(status__in=["submitted", "unknown"]),
                                    name="one_unresolved_attempt_per_account"),
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} {self.status}"


class SandboxGatewayRecord(models.Model):
    """One line of the sandbox gateway's own books ("the bank"), by the caller's key."""

    idempotency_key = models.CharField(max_length=100, unique=True, verbose_name=_("idempotency key"))
    card_token = models.CharField(max_length=64, verbose_name=_("card token"))
    amount = models.DecimalField(**MONEY, verbose_name=_("amount"))
    outcome = models.CharField(max_length=16, verbose_name=_("outcome"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.idempotency_key} {self.outcome}"


class SandboxGatewayCharge(SandboxGatewayRecord):
    """What the sandbox gateway really charged."""

    class Meta:
        verbose_name = _("sandbox gateway charge")
        verbose_name_plural = _("sandbox gateway charges")


class BillConversion(models.Model):
    """How much of a purchase's principal a statement's conversion moved into a bill plan, and
    how much of it refunds have taken back since (docs/rules.md §5)."""

    plan = models.ForeignKey(InstallmentPlan, on_delete=models.PROTECT, related_name="conversions",
                             verbose_name=_("bill plan"))
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="conversions",
                                 verbose_name=_("purchase"))
    principal = models.DecimalField(_("principal converted"), **MONEY)
    principal_refunded = _money(verbose_name=_("principal refunded"))

    class Meta:
        verbose_name = _("bill conversion")
        verbose_name_plural = _("bill conversions")
        constraints = [
            models.UniqueConstraint(fields=["plan", "purchase"], name="one_conversion_per_plan_and_purchase"),
            models.CheckConstraint(condition=Q(principal_refunded__gte=0, principal_refunded__lte=F("principal")),
                                   name="conversion_refunds_within_principal"),
        ]

    def __str__(self) -> str:
        return f"{self.purchase_id} → {self.plan_id}: {self.principal}"


class PayoutStatus(models.TextChoices):
    SUBMITTED = "submitted", _("submitted")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    UNKNOWN = "unknown", _("unknown")
    NOT_PAID = "not_paid", _("not paid")


class CreditBalancePayout(models.Model):
    """A credit balance paid out to the customer's card: written (and the money reserved) before
    the gateway is called; an unknown outcome is reconciled (docs/rules.md §6)."""

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="payouts",
                                verbose_name=_("account"))
    amount = models.DecimalField(_("amount"), **MONEY)
    business_date = models.DateField(_("business date"))
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, unique=True)
    card_token = models.CharField(_("card token"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=PayoutStatus.choices,
                              default=PayoutStatus.SUBMITTED, db_index=True)
    reason = models.CharField(_("reason"), max_length=32, default="request")  # request | closure
    decline_code = models.CharField(_("decline code"), max_length=40, blank=True)
    gateway_reference = models.CharField(_("gateway reference"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("credit balance payout")
        verbose_name_plural = _("credit balance payouts")
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive")]

    def __str__(self) -> str:
        return f"{self.idempotency_key} {self.status}"


class SandboxGatewayPayout(SandboxGatewayRecord):
    """What the sandbox gateway really paid out."""

    class Meta:
        verbose_name = _("sandbox gateway payout")
        verbose_name_plural = _("sandbox gateway payouts")


# the collections desk (decision 0034): its own module, re-exported here
from .collections import (  # noqa: E402, F401
    CollectionAssignment,
    CollectionContact,
    ContactChannel,
    ContactOutcome,
    PromiseStatus,
    PromiseToPay,
)
