"""The credit line's lifecycle: the one owner of a credit account's status, limit, pause and
freeze flags and available limit (docs/rules.md §4, §8, §9).

- ``states``: the statuses and the state machine (django-fsm transitions); the model mixes
  it in, and nothing but ``credit_line`` calls a transition.
- ``credit_line``: every change — open and reopen, suspend and reactivate (delinquency),
  freeze and unfreeze, pause and resume, close (by request, for cause, by write-off), set a
  limit, and ``set_limits`` for the nightly recalculation. Each writes the status or limit
  history, the audit row and the outbox notification in the caller's transaction.
"""
