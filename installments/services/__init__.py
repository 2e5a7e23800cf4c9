"""The writes of ``installments``, one module per business concept (docs/architecture.md):

- ``purchases``, ``refunds``, ``statements`` (and bill installment), ``fees``: booking what is
  bought, returned, billed and charged;
- ``repayments`` (allocation and booking, the credit balance), ``holds`` (restoration holds),
  ``auto_debit``, ``reconciliation`` (unknown gateway outcomes): money coming in;
- ``delinquency`` (penalties, days past due, suspension), ``write_off``: money not coming in;
- ``risk_actions``: a risk manager's freeze and unfreeze.

Public services own their transaction (``transaction.atomic(durable=True)``); the helpers
other modules call inside a transaction say so and assert it. Every money movement goes
through ``accounts.ledger``; every status or limit change through
``accounts.lifecycle.credit_line``. The nightly close's steps are functions of a chunk of
accounts; one account is a chunk of one.
"""
