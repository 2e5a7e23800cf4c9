"""The back office of ``accounts``: customers, credit accounts, the ledger, the audit trail,
the outbox, the business calendar and staff preferences (one module each). Nothing here edits
money fields, ledger rows or audit rows: those models are read-only for everyone."""

from . import audit, credit_accounts, customers, ledger, outbox, permissions, staff, staff_inbox

__all__ = ["audit", "credit_accounts", "customers", "ledger", "outbox", "permissions", "staff", "staff_inbox"]
