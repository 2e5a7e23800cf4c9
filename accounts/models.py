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
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="business_calendar_single_row")]

    def __str__(self) -> str:
        return str(self.current_date)


class Customer(models.Model):
    """A store customer. The ID number is never stored in clear text."""

    external_id = models.CharField(_("store customer id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    id_number_encrypted = models.TextField(_("ID number (encrypted)"))
    id_number_hash = models.CharField(max_length=64, db_index=True, verbose_name=_("id number hash"))
    id_number_masked = models.CharField(_("ID number"), max_length=18)
    phone = models.CharField(_("phone"), max_length=20, db_index=True)
    store_status = models.CharField(_("store account status"), max_length=16)
    store_since = models.DateField(_("store customer since"))
    orders_12m = models.PositiveIntegerField(_("orders in 12 months"), default=0)
    spend_12m = money_field(verbose_name=_("spend in 12 months"))
    return_rate = models.DecimalField(_("return rate"), max_digits=5, decimal_places=4, default=0)
    language = models.CharField(max_length=10, default="zh-hans", verbose_name=_("language"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
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


# DOMAIN.md §7: bucket name → (fewest, most days past due); None: no upper bound.
DELINQUENCY_BUCKETS: dict[str, tuple[int, int | None]] = {
    "current": (0, 0), "1-30": (1, 30), "31-60": (31, 60), "61-90": (61, 90), "91-180": (91, 180),
    ">180": (181, None),
}


def delinquency_bucket(days_past_due: int) -> str:
    """DOMAIN.md §7 buckets."""
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


class AuditEvent(models.Model):
    """Who did what, when, to which object, before/after and why — written in the same
    transaction as the change. Append-only (the database refuses UPDATE and DELETE)."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("actor"))
    actor_label = models.CharField(max_length=150, blank=True, verbose_name=_("actor label"))
    action = models.CharField(max_length=64, db_index=True, verbose_name=_("action"))
    object_type = models.CharField(max_length=64, verbose_name=_("object type"))
    object_id = models.CharField(max_length=64, verbose_name=_("object id"))
    before = models.JSONField(default=dict, blank=True, verbose_name=_("before"))
    after = models.JSONField(default=dict, blank=True, verbose_name=_("after"))
    reason = models.TextField(blank=True, verbose_name=_("reason"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
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

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="notifications", verbose_name=_("customer"))
    account = models.ForeignKey(CreditAccount, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="notifications", verbose_name=_("account"))
    kind = models.CharField(max_length=48, db_index=True, verbose_name=_("kind"))
    event_key = models.CharField(max_length=160, unique=True, verbose_name=_("event key"))
    params = models.JSONField(default=dict, verbose_name=_("params"))
    status = models.CharField(max_length=16, choices=NotificationStatus.choices,
                              default=NotificationStatus.PENDING, db_index=True, verbose_name=_("status"))
    channel = models.CharField(max_length=32, blank=True, verbose_name=_("channel"))
    rendered = models.TextField(blank=True, verbose_name=_("rendered"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} → {self.customer.external_id}"


class ApiClient(models.Model):
    """A service client of the HTTP API (the storefront). Only a hash of its token is kept."""

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    token_hash = models.CharField(max_length=64, unique=True, verbose_name=_("token hash"))
    token_prefix = models.CharField(max_length=8, verbose_name=_("token prefix"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    rotated_at = models.DateTimeField(auto_now=True, verbose_name=_("rotated at"))

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")

    def __str__(self) -> str:
        return self.name

    # DRF treats request.user as the principal.
    is_authenticated = True
    is_anonymous = False


class IdempotencyRecord(models.Model):
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+", verbose_name=_("client"))
    key = models.CharField(max_length=255, verbose_name=_("key"))
    method = models.CharField(max_length=8, verbose_name=_("method"))
    path = models.CharField(max_length=255, verbose_name=_("path"))
    request_hash = models.CharField(max_length=64, verbose_name=_("request hash"))
    completed = models.BooleanField(default=False, verbose_name=_("completed"))
    response_status = models.PositiveSmallIntegerField(null=True, verbose_name=_("response status"))
    response_body = models.JSONField(null=True, verbose_name=_("response body"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))
    locked_until = models.DateTimeField(verbose_name=_("locked until"))

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_per_client")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key}"


class StaffProfile(models.Model):
    """Per-staff preferences: the language the back office is shown in."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile", verbose_name=_("user"))
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="zh-hans")

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

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

    idempotency_key = models.CharField(max_length=160, unique=True, verbose_name=_("idempotency key"))
    kind = models.CharField(max_length=40, db_index=True, verbose_name=_("kind"))
    business_date = models.DateField(db_index=True, verbose_name=_("business date"))
    credit_account = models.ForeignKey(CreditAccount, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="journal_entries", verbose_name=_("credit account"))
    description = models.CharField(max_length=255, blank=True, verbose_name=_("description"))
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="reversed_by", verbose_name=_("reverses"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("actor"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

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

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines", verbose_name=_("entry"))
    book = models.CharField(max_length=24, choices=Book.choices, verbose_name=_("book"))
    credit_account = models.ForeignKey(CreditAccount, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="journal_lines", verbose_name=_("credit account"))
    amount = models.DecimalField(**MONEY, verbose_name=_("amount"))
    installment_id = models.BigIntegerField(null=True, blank=True, db_index=True, verbose_name=_("installment id"))
    business_date = models.DateField(verbose_name=_("business date"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")
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
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    attempts = models.PositiveSmallIntegerField(default=1, verbose_name=_("attempts"))

    class Meta:
        verbose_name = _("close of business run")
        verbose_name_plural = _("close of business runs")
        ordering = ["-business_date"]

    def __str__(self) -> str:
        return f"{self.business_date} {self.status}"


class CobStepRun(models.Model):
    run = models.ForeignKey(CobRun, on_delete=models.CASCADE, related_name="steps", verbose_name=_("run"))
    position = models.PositiveSmallIntegerField(verbose_name=_("position"))
    step = models.CharField(max_length=40, verbose_name=_("step"))
    status = models.CharField(max_length=12, default="running", verbose_name=_("status"))
    accounts = models.PositiveIntegerField(default=0, verbose_name=_("accounts"))
    processed = models.PositiveIntegerField(default=0, verbose_name=_("processed"))
    failures = models.PositiveIntegerField(default=0, verbose_name=_("failures"))
    detail = models.JSONField(default=dict, blank=True, verbose_name=_("detail"))
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("close of business step")
        verbose_name_plural = _("close of business steps")
        ordering = ["run", "position", "id"]

    def __str__(self) -> str:
        return f"{self.run.business_date} {self.position}. {self.step}"


class CobFailure(models.Model):
    step_run = models.ForeignKey(CobStepRun, on_delete=models.CASCADE, related_name="failure_rows", verbose_name=_("step run"))
    account = models.ForeignKey(CreditAccount, null=True, on_delete=models.SET_NULL, related_name="cob_failures", verbose_name=_("account"))
    error = models.TextField(verbose_name=_("error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("close of business failure")
        verbose_name_plural = _("close of business failures")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.step_run}: {self.account_id}"
