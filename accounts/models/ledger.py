"""The double-entry ledger (docs/rules.md §11): entries, their lines and the books they post to."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.money import MONEY

from .credit_accounts import CreditAccount


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
    WRITE_OFF_RECOVERY = "write_off_recovery", _("recoveries after write-off")
    PAYOUTS_PENDING = "payouts_pending", _("credit balance payouts in flight")
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
    # no index of its own: (credit_account, book) leads with it
    credit_account = models.ForeignKey(CreditAccount, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="journal_lines", verbose_name=_("credit account"), db_index=False)
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
