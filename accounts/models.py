"""Customers, credit accounts, the business date, audit trail, notification outbox and the
API's service clients and idempotency records."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from . import pii

MONEY = {"max_digits": 14, "decimal_places": 2}


def money_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(default=0, **MONEY, **kwargs)


class BusinessCalendar(models.Model):
    """The single row holding the business date (DOMAIN.md §2)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    current_date = models.DateField(_("business date"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("business calendar")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="business_calendar_single_row")]

    def __str__(self) -> str:
        return str(self.current_date)


class Customer(models.Model):
    """A store customer. The ID number is never stored in clear text."""

    external_id = models.CharField(_("store customer id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    id_number_encrypted = models.TextField(_("ID number (encrypted)"))
    id_number_hash = models.CharField(max_length=64, db_index=True)
    id_number_masked = models.CharField(_("ID number"), max_length=18)
    phone = models.CharField(_("phone"), max_length=20, db_index=True)
    store_status = models.CharField(_("store account status"), max_length=16)
    store_since = models.DateField(_("store customer since"))
    orders_12m = models.PositiveIntegerField(_("orders in 12 months"), default=0)
    spend_12m = money_field(verbose_name=_("spend in 12 months"))
    return_rate = models.DecimalField(_("return rate"), max_digits=5, decimal_places=4, default=0)
    language = models.CharField(max_length=10, default="zh-hans")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer")
        permissions = [("view_full_id_number", _("Can view full ID numbers (logged)"))]

    def __str__(self) -> str:
        return f"{self.external_id} {self.name}"

    def set_id_number(self, raw: str) -> None:
        value = pii.normalize_id_number(raw)
        self.id_number_encrypted = pii.encrypt(value)
        self.id_number_hash = pii.keyed_hash(value)
        self.id_number_masked = pii.mask_id_number(value)

    def reveal_id_number(self) -> str:
        """Clear text. Callers must check the permission and log the view (accounts.services)."""
        return pii.decrypt(self.id_number_encrypted)

    @property
    def phone_masked(self) -> str:
        return pii.mask_phone(self.phone)


class AccountStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    SUSPENDED = "suspended", _("suspended")
    FROZEN = "frozen", _("frozen")
    CLOSED = "closed", _("closed")


class CreditAccount(FSMModelMixin, models.Model):
    """A customer's revolving credit line (DOMAIN.md §4)."""

    customer = models.OneToOneField(Customer, on_delete=models.PROTECT, related_name="credit_account")
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
    last_limit_increase_on = models.DateField(null=True, blank=True)
    last_overdue_on = models.DateField(_("last day overdue"), null=True, blank=True)
    policy_version = models.ForeignKey("risk.ScoringPolicy", on_delete=models.PROTECT,
                                       related_name="+", verbose_name=_("policy version"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("credit account")
        permissions = [
            ("freeze_account", _("Can freeze and unfreeze credit accounts")),
            ("write_off_account", _("Can write off credit accounts")),
            ("close_account", _("Can close credit accounts for fraud or breach of terms")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(available_limit__gte=0), name="available_limit_not_negative"),
            models.CheckConstraint(condition=Q(credit_limit__gte=0), name="credit_limit_not_negative"),
            models.CheckConstraint(condition=Q(held_amount__gte=0), name="held_amount_not_negative"),
            models.CheckConstraint(condition=Q(available_limit__lte=models.F("credit_limit")),
                                   name="available_within_limit"),
            models.CheckConstraint(condition=Q(billing_day__gte=1, billing_day__lte=28),
                                   name="billing_day_1_to_28"),
        ]
        indexes = [models.Index(fields=["-days_past_due", "id"], condition=Q(days_past_due__gt=0),
                                name="collections_queue")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer.external_id}"

    # Transitions change state only; services save, audit and schedule side effects.
    @transition(field=status, source=AccountStatus.ACTIVE, target=AccountStatus.SUSPENDED)
    def suspend(self) -> None:
        """Overdue beyond grace, or paused at the customer's request."""

    @transition(field=status, source=AccountStatus.SUSPENDED, target=AccountStatus.ACTIVE)
    def reactivate(self) -> None:
        """Nothing overdue any more (and not paused)."""

    @transition(field=status, source=[AccountStatus.ACTIVE, AccountStatus.SUSPENDED], target=AccountStatus.FROZEN)
    def freeze(self) -> None:
        """Suspected fraud; risk manager only."""

    @transition(field=status, source=AccountStatus.FROZEN, target=AccountStatus.ACTIVE)
    def unfreeze(self) -> None:
        pass

    @transition(field=status, source=[AccountStatus.ACTIVE, AccountStatus.SUSPENDED, AccountStatus.FROZEN],
                target=AccountStatus.CLOSED)
    def close(self) -> None:
        pass

    @transition(field=status, source=AccountStatus.CLOSED, target=AccountStatus.ACTIVE)
    def reopen(self) -> None:
        pass

    @property
    def outstanding_total(self):
        return self.principal_outstanding + self.fees_outstanding + self.penalties_outstanding

    @property
    def bucket(self) -> str:
        return delinquency_bucket(self.days_past_due)


def delinquency_bucket(days_past_due: int) -> str:
    """DOMAIN.md §7 buckets."""
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    if days_past_due <= 90:
        return "61-90"
    if days_past_due <= 180:
        return "91-180"
    return ">180"


class AccountStatusChange(models.Model):
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    reason_code = models.CharField(max_length=40)
    note = models.TextField(blank=True)
    business_date = models.DateField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        triggers = [pgtrigger.Protect(name="status_change_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} → {self.to_status} ({self.reason_code})"


class LimitChange(models.Model):
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="limit_changes")
    old_limit = models.DecimalField(**MONEY)
    new_limit = models.DecimalField(**MONEY)
    reason_code = models.CharField(max_length=40)
    note = models.TextField(blank=True)
    policy_version = models.ForeignKey("risk.ScoringPolicy", on_delete=models.PROTECT, related_name="+")
    business_date = models.DateField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        triggers = [pgtrigger.Protect(name="limit_change_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.old_limit} → {self.new_limit} ({self.reason_code})"


class AuditEvent(models.Model):
    """Who did what, when, to which object, before/after and why — written in the same
    transaction as the change. Append-only (the database refuses UPDATE and DELETE)."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "created_at"])]
        triggers = [pgtrigger.Protect(name="audit_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}#{self.object_id}"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


class Notification(models.Model):
    """Outbox row: written in the business transaction, delivered after commit by a Celery
    task at most once per ``event_key``."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="notifications")
    account = models.ForeignKey(CreditAccount, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="notifications")
    kind = models.CharField(max_length=48, db_index=True)
    event_key = models.CharField(max_length=160, unique=True)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices,
                              default=NotificationStatus.PENDING, db_index=True)
    channel = models.CharField(max_length=32, blank=True)
    rendered = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} → {self.customer.external_id}"


class ApiClient(models.Model):
    """A service client of the HTTP API (the storefront). Only a hash of its token is kept."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=8)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("API client")

    def __str__(self) -> str:
        return self.name

    # DRF treats request.user as the principal.
    is_authenticated = True
    is_anonymous = False


class IdempotencyRecord(models.Model):
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    completed = models.BooleanField(default=False)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    locked_until = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_per_client")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key}"


class StaffProfile(models.Model):
    """Per-staff preferences: the language the back office is shown in."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="zh-hans")

    class Meta:
        verbose_name = _("staff profile")

    def __str__(self) -> str:
        return f"{self.user} ({self.language})"


# --- double-entry ledger (DOMAIN.md §11) -------------------------------------------------------


class Book(models.TextChoices):
    """Ledger accounts. The first four exist per credit account; the rest are the company's."""

    PRINCIPAL_RECEIVABLE = "principal_receivable", _("principal receivable")
    FEE_RECEIVABLE = "fee_receivable", _("fee receivable")
    PENALTY_RECEIVABLE = "penalty_receivable", _("penalty receivable")
    CUSTOMER_CREDIT = "customer_credit", _("customer credit balance")
    MERCHANT_SETTLEMENT = "merchant_settlement", _("merchant settlement")
    REPAYMENTS_CLEARING = "repayments_clearing", _("repayments clearing")
    FEE_INCOME = "fee_income", _("fee income")
    PENALTY_INCOME = "penalty_income", _("penalty income")
    WRITE_OFF_EXPENSE = "write_off_expense", _("write-off expense")
    WAIVER_EXPENSE = "waiver_expense", _("waivers")


CUSTOMER_BOOKS = (Book.PRINCIPAL_RECEIVABLE, Book.FEE_RECEIVABLE, Book.PENALTY_RECEIVABLE, Book.CUSTOMER_CREDIT)


class JournalEntry(models.Model):
    """One money event. Its lines sum to zero (checked by a deferred constraint trigger at
    commit); entries and lines are append-only; corrections are reversing entries."""

    idempotency_key = models.CharField(max_length=160, unique=True)
    kind = models.CharField(max_length=40, db_index=True)
    business_date = models.DateField(db_index=True)
    credit_account = models.ForeignKey(CreditAccount, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="journal_entries")
    description = models.CharField(max_length=255, blank=True)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="reversed_by")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["-id"]
        triggers = [pgtrigger.Protect(name="journal_entry_append_only",
                                      operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key}"


class JournalLine(models.Model):
    """A leg of an entry: ``amount`` > 0 is a debit, < 0 a credit."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    book = models.CharField(max_length=24, choices=Book.choices)
    credit_account = models.ForeignKey(CreditAccount, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="journal_lines")
    amount = models.DecimalField(**MONEY)
    installment_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    business_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("journal line")
        ordering = ["id"]
        indexes = [models.Index(fields=["credit_account", "book"])]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="journal_line_not_zero"),
            models.CheckConstraint(
                condition=Q(book__in=[b.value for b in CUSTOMER_BOOKS], credit_account__isnull=False)
                | (~Q(book__in=[b.value for b in CUSTOMER_BOOKS]) & Q(credit_account__isnull=True)),
                name="journal_line_customer_books_have_account"),
        ]
        triggers = [
            pgtrigger.Protect(name="journal_line_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            pgtrigger.Trigger(
                name="journal_entry_balances",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func="""
                    IF (SELECT COALESCE(SUM(amount), 0) FROM accounts_journalline WHERE entry_id = NEW.entry_id) <> 0
                    THEN
                        RAISE EXCEPTION 'journal entry % does not balance', NEW.entry_id
                            USING ERRCODE = 'check_violation';
                    END IF;
                    RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.book} {self.amount}"


# --- nightly close of business runs (DOMAIN.md §2) ----------------------------------------------


class CobRun(models.Model):
    business_date = models.DateField(_("business date"), unique=True)
    status = models.CharField(_("status"), max_length=12, default="running")  # running | completed
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)

    class Meta:
        verbose_name = _("close of business run")
        ordering = ["-business_date"]

    def __str__(self) -> str:
        return f"{self.business_date} {self.status}"


class CobStepRun(models.Model):
    run = models.ForeignKey(CobRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    step = models.CharField(max_length=40)
    status = models.CharField(max_length=12, default="running")
    accounts = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    detail = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position", "id"]

    def __str__(self) -> str:
        return f"{self.run.business_date} {self.position}. {self.step}"


class CobFailure(models.Model):
    step_run = models.ForeignKey(CobStepRun, on_delete=models.CASCADE, related_name="failure_rows")
    account = models.ForeignKey(CreditAccount, null=True, on_delete=models.SET_NULL, related_name="cob_failures")
    error = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.step_run}: {self.account_id}"
