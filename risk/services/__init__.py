"""The writes of ``risk``, by concept: ``applications`` (receiving and deciding credit
applications), ``review_queue`` (the manual-review queue), ``policies`` (scoring policy
versions). Each public service checks permissions, owns its transaction
(``transaction.atomic(durable=True)``) and audits in it."""
