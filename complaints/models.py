"""Complaints with their regulatory deadlines, remedies (waivers), and closure requests
(docs/rules.md §9–10). State machines change state only; ``complaints.services`` saves, audits
and schedules side effects."""

from __future__ import annotations

from datetime import timedelta

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from accounts.models import MONEY


class Channel(models.TextChoices):
    PHONE = "phone", _("phone")
    APP = "app", _("app")
    EMAIL = "email", _("email")
    WEB = "web", _("web")


# --- complaints -----------------------------------------------------------------------------


class Category(models.TextChoices):
    LIMIT_NOT_RESTORED = "limit_not_restored", _("limit not restored after repayment")
    ACTIVATION_FAILED = "activation_failed", _("activation failed")
    AUTO_DEBIT_FAILED = "auto_debit_failed", _("auto-debit failed")
    BILLING_DISPUTE = "billing_dispute", _("billing dispute")
    FEE_DISPUTE = "fee_dispute", _("fee dispute")
    UNAUTHORIZED_TRANSACTION = "unauthorized_transaction", _("unauthorized transaction")
    CLOSURE = "closure", _("closure")
    DATA_PRIVACY = "data_privacy", _("personal data (access or deletion)")
    OTHER = "other", _("other")


# An open complaint of these categories blocks a closure (docs/rules.md §9 "no open dispute").
DISPUTE_CATEGORIES = (Category.BILLING_DISPUTE, Category.FEE_DISPUTE, Category.UNAUTHORIZED_TRANSACTION)


class ComplaintStatus(models.TextChoices):
    NEW = "new", _("new")
    ASSIGNED = "assigned", _("assigned")
    IN_PROGRESS = "in_progress", _("in progress")
    AWAITING_CUSTOMER = "awaiting_customer", _("awaiting customer")
    RESOLVED = "resolved", _("resolved")
    CLOSED = "closed", _("closed")


OPEN_COMPLAINT_STATUSES = (ComplaintStatus.NEW, ComplaintStatus.ASSIGNED, ComplaintStatus.IN_PROGRESS,
                           ComplaintStatus.AWAITING_CUSTOMER)


class Complaint(FSMModelMixin, models.Model):
    """A customer complaint (docs/rules.md §10).

    The regulatory clock starts at ``received_at`` and never pauses: acknowledge by
    ``acknowledge_by``, final response by ``respond_by`` (15 days from the start of the
    current round, 30 once extended). The internal target pauses while awaiting the
    customer (``paused_since`` / ``internal_paused``). ``next_due_at`` is the next regulatory
    deadline still to meet (the queue is ordered by it)."""

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="complaints",
                                 verbose_name=_("customer"))
    account = models.ForeignKey("accounts.CreditAccount", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="complaints", verbose_name=_("credit account"))
    category = models.CharField(_("category"), max_length=32, choices=Category.choices, db_index=True)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    description = models.TextField(_("description"))
    status = FSMField(_("status"), max_length=20, choices=ComplaintStatus.choices, default=ComplaintStatus.NEW,
                      protected=True, db_index=True)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("assigned to"))
    assigned_at = models.DateTimeField(null=True, blank=True, verbose_name=_("assigned at"))
    # the regulatory clock
    received_at = models.DateTimeField(_("received at"))
    acknowledge_by = models.DateTimeField(_("acknowledge by"))
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    round = models.PositiveSmallIntegerField(_("round"), default=1)
    round_started_at = models.DateTimeField(_("round started at"))
    respond_by = models.DateTimeField(_("final response by"))
    extended_at = models.DateTimeField(_("extended at"), null=True, blank=True)
    extended_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("extension approved by"))
    extension_reason = models.TextField(_("extension reason"), blank=True)
    # the internal target (may pause while awaiting the customer)
    internal_target_at = models.DateTimeField(_("internal target"))
    internal_paused = models.DurationField(default=timedelta(0), verbose_name=_("internal paused"))
    paused_since = models.DateTimeField(_("paused since"), null=True, blank=True)
    # outcome
    resolution = models.TextField(_("final response"), blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("resolved by"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    reopened_count = models.PositiveSmallIntegerField(default=0, verbose_name=_("reopened count"))
    # breaches and escalation
    acknowledge_breached = models.BooleanField(_("acknowledgement deadline breached"), default=False)
    response_breached = models.BooleanField(_("final response deadline breached"), default=False)
    escalated = models.BooleanField(_("escalated"), default=False, db_index=True)
    escalated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("escalated at"))
    next_due_at = models.DateTimeField(_("next deadline"), null=True, blank=True, db_index=True)
    # The deadline (a value of ``next_due_at``) staff were last warned is about to pass: each
    # deadline is warned about once (docs/rules.md §10 "Staff notifications").
    due_warned_for = models.DateTimeField(_("deadline warned about"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")
        ordering = ["-id"]
        permissions = [
            ("handle_complaint", _("Can handle complaints (notes, replies, resolution, remedies)")),
            ("reassign_complaint", _("Can assign and reassign complaints to any agent")),
            ("extend_deadline", _("Can extend a complaint's final-response deadline")),
            ("approve_waiver", _("Can approve fee and penalty waivers above the agent limit")),
            ("export_complaints", _("Can export the complaints list as CSV")),
        ]
        indexes = [models.Index(fields=["status", "next_due_at"]), models.Index(fields=["assigned_to", "status"]),
                   models.Index(fields=["received_at"], name="complaint_received_at")]  # charts by day

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_category_display()} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_COMPLAINT_STATUSES

    @property
    def extended(self) -> bool:
        return self.extended_at is not None

    # Transitions change state only; services save, audit and notify.
    @transition(field=status, source=ComplaintStatus.NEW, target=ComplaintStatus.ASSIGNED)
    def assign(self) -> None:
        pass

    @transition(field=status, source=ComplaintStatus.ASSIGNED, target=ComplaintStatus.NEW)
    def unassign(self) -> None:
        """A supervisor takes a complaint nobody started back to the queue of new ones."""

    @transition(field=status, source=ComplaintStatus.ASSIGNED, target=ComplaintStatus.IN_PROGRESS)
    def start(self) -> None:
        """The assignee starts work: the complaint is acknowledged."""

    @transition(field=status, source=ComplaintStatus.IN_PROGRESS, target=ComplaintStatus.AWAITING_CUSTOMER)
    def await_customer(self) -> None:
        pass

    @transition(field=status, source=ComplaintStatus.AWAITING_CUSTOMER, target=ComplaintStatus.IN_PROGRESS)
    def resume(self) -> None:
        pass

    @transition(field=status, source=[ComplaintStatus.IN_PROGRESS, ComplaintStatus.AWAITING_CUSTOMER],
                target=ComplaintStatus.RESOLVED)
    def resolve(self) -> None:
        pass

    @transition(field=status, source=ComplaintStatus.RESOLVED, target=ComplaintStatus.CLOSED)
    def close(self) -> None:
        pass

    @transition(field=status, source=ComplaintStatus.RESOLVED, target=ComplaintStatus.IN_PROGRESS)
    def reopen(self) -> None:
        pass


class MessageKind(models.TextChoices):
    NOTE = "note", _("internal note")
    REPLY = "reply", _("reply to the customer")
    CUSTOMER = "customer", _("message from the customer")


class ComplaintMessage(models.Model):
    """Internal notes, replies to the customer and the customer's messages. Append-only."""

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="messages", verbose_name=_("complaint"))
    kind = models.CharField(_("kind"), max_length=10, choices=MessageKind.choices)
    body = models.TextField(_("text"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+", verbose_name=_("author"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("complaint message")
        verbose_name_plural = _("complaint messages")
        ordering = ["created_at", "id"]
        triggers = [pgtrigger.Protect(name="complaint_message_append_only",
                                      operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return _("%(kind)s on #%(complaint)s") % {"kind": self.get_kind_display(), "complaint": self.complaint_id}


# --- remedies: waivers ------------------------------------------------------------------------


class WaiverKind(models.TextChoices):
    FEE = "fee", _("installment fee")
    PENALTY = "penalty", _("late-payment penalty")


class WaiverStatus(models.TextChoices):
    PENDING = "pending", _("awaiting supervisor approval")
    APPLIED = "applied", _("applied")
    REJECTED = "rejected", _("rejected")


class Waiver(FSMModelMixin, models.Model):
    """A fee or penalty waiver granted on a complaint; applied as a ledger reversal
    (Dr waivers / Cr fee or penalty receivable). Above the agent limit a supervisor approves."""

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="waivers", verbose_name=_("complaint"))
    account = models.ForeignKey("accounts.CreditAccount", on_delete=models.PROTECT, related_name="+", verbose_name=_("account"))
    kind = models.CharField(_("kind"), max_length=8, choices=WaiverKind.choices)
    installment = models.ForeignKey("installments.Installment", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("installment"))
    penalty = models.ForeignKey("installments.Penalty", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", verbose_name=_("penalty"))
    amount = models.DecimalField(_("amount"), **MONEY)
    reason = models.TextField(_("reason"))
    status = FSMField(_("status"), max_length=10, choices=WaiverStatus.choices, default=WaiverStatus.PENDING,
                      protected=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("requested by"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("approved by"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decision_note = models.TextField(blank=True, verbose_name=_("decision note"))
    journal_entry = models.OneToOneField("accounts.JournalEntry", null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="+", verbose_name=_("journal entry"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("waiver")
        verbose_name_plural = _("waivers")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="waiver_amount_positive"),
            models.CheckConstraint(condition=(Q(kind="fee", installment__isnull=False, penalty__isnull=True)
                                              | Q(kind="penalty", penalty__isnull=False, installment__isnull=True)),
                                   name="waiver_targets_one_item"),
        ]
        # the supervisors' queue of waivers awaiting approval, oldest first
        indexes = [models.Index(fields=["created_at", "id"], condition=Q(status="pending"),
                                name="waiver_awaiting_approval")]

    def __str__(self) -> str:
        return _("%(kind)s waiver %(amount)s (%(status)s)") % {
            "kind": self.get_kind_display(), "amount": self.amount, "status": self.get_status_display()}

    @transition(field=status, source=WaiverStatus.PENDING, target=WaiverStatus.APPLIED)
    def apply(self) -> None:
        pass

    @transition(field=status, source=WaiverStatus.PENDING, target=WaiverStatus.REJECTED)
    def reject(self) -> None:
        pass


# --- closure requests -------------------------------------------------------------------------


class ClosureStatus(models.TextChoices):
    AWAITING_PAYOFF = "awaiting_payoff", _("awaiting payoff")
    UNDER_REVIEW = "under_review", _("under review")
    APPROVED = "approved", _("approved (account closed)")
    REJECTED = "rejected", _("rejected")
    WITHDRAWN = "withdrawn", _("withdrawn")
    EXPIRED = "expired", _("expired")


OPEN_CLOSURE_STATUSES = (ClosureStatus.AWAITING_PAYOFF, ClosureStatus.UNDER_REVIEW)


class ClosureOrigin(models.TextChoices):
    CUSTOMER = "customer", _("customer's request")
    SYSTEM = "system", _("system closure (risk manager)")


class Alternative(models.TextChoices):
    LOWER_LIMIT = "lower_limit", _("lower limit")
    PAUSE = "pause", _("pause the credit line")


class ClosureRequest(FSMModelMixin, models.Model):
    """A request to close a credit account (docs/rules.md §9). At most one is open per account."""

    account = models.ForeignKey("accounts.CreditAccount", on_delete=models.PROTECT, related_name="closure_requests",
                                verbose_name=_("credit account"))
    origin = models.CharField(_("origin"), max_length=10, choices=ClosureOrigin.choices,
                              default=ClosureOrigin.CUSTOMER)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    status = FSMField(_("status"), max_length=16, choices=ClosureStatus.choices,
                      default=ClosureStatus.UNDER_REVIEW, protected=True, db_index=True)
    complaint = models.ForeignKey(Complaint, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="closure_requests", verbose_name=_("complaint"))
    identity_verified_at = models.DateTimeField(_("identity verified at"), null=True, blank=True)
    identity_verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                             on_delete=models.PROTECT, related_name="+",
                                             verbose_name=_("identity verified by"))
    identity_method = models.CharField(_("how the identity was verified"), max_length=200, blank=True)
    payoff_expires_at = models.DateTimeField(_("expires (if not paid off) at"), null=True, blank=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    alternative = models.CharField(_("alternative accepted"), max_length=12, choices=Alternative.choices,
                                   blank=True)
    alternative_detail = models.JSONField(default=dict, blank=True, verbose_name=_("alternative detail"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("decided by"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("closure request")
        verbose_name_plural = _("closure requests")
        ordering = ["-id"]
        permissions = [("handle_closure", _("Can handle closure requests, pauses and lower limits"))]
        constraints = [
            models.UniqueConstraint(fields=["account"], condition=Q(status__in=["awaiting_payoff", "under_review"]),
                                    name="one_open_closure_request_per_account"),
        ]

    def __str__(self) -> str:
        return _("Closure #%(id)s (%(status)s)") % {"id": self.pk, "status": self.get_status_display()}

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_CLOSURE_STATUSES

    @transition(field=status, source=ClosureStatus.UNDER_REVIEW, target=ClosureStatus.AWAITING_PAYOFF)
    def wait_for_payoff(self) -> None:
        pass

    @transition(field=status, source=ClosureStatus.AWAITING_PAYOFF, target=ClosureStatus.UNDER_REVIEW)
    def payoff_complete(self) -> None:
        pass

    @transition(field=status, source=ClosureStatus.UNDER_REVIEW, target=ClosureStatus.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=status, source=ClosureStatus.UNDER_REVIEW, target=ClosureStatus.REJECTED)
    def reject(self) -> None:
        pass

    @transition(field=status, source=[ClosureStatus.AWAITING_PAYOFF, ClosureStatus.UNDER_REVIEW],
                target=ClosureStatus.WITHDRAWN)
    def withdraw(self) -> None:
        pass

    @transition(field=status, source=ClosureStatus.AWAITING_PAYOFF, target=ClosureStatus.EXPIRED)
    def expire(self) -> None:
        pass
