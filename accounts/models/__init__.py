"""The models of ``accounts``, one module per concept; imported from here."""

from accounts.money import MONEY, money_field

from .audit import AuditEvent
from .business_day import BusinessCalendar
from .credit_accounts import (
    DELINQUENCY_BUCKETS,
    AccountStatus,
    AccountStatusChange,
    CreditAccount,
    LimitChange,
    delinquency_bucket,
    delinquency_bucket_q,
)
from .customers import Customer
from .ledger import CUSTOMER_BOOKS, Book, JournalEntry, JournalLine
from .outbox import Notification, NotificationStatus
from .staff import StaffProfile
from .staff_inbox import StaffNotification

__all__ = [
    "CUSTOMER_BOOKS",
    "DELINQUENCY_BUCKETS",
    "MONEY",
    "AccountStatus",
    "AccountStatusChange",
    "AuditEvent",
    "Book",
    "BusinessCalendar",
    "CreditAccount",
    "Customer",
    "JournalEntry",
    "JournalLine",
    "LimitChange",
    "Notification",
    "NotificationStatus",
    "StaffNotification",
    "StaffProfile",
    "delinquency_bucket",
    "delinquency_bucket_q",
    "money_field",
]
