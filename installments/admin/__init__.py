"""The back office of ``installments``: the money records' pages (``records``), and this app's
part of the credit account pages (``account_page``, ``risk_actions``; registered in
``installments.backoffice``)."""

from . import account_page, records, risk_actions

__all__ = ["account_page", "records", "risk_actions"]
