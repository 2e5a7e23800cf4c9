"""The nightly close of business (docs/rules.md §2): ``pipeline`` says which steps run in which
order; ``runner`` runs a business day (one close at a time, chunks of accounts in this process
or fanned out to Celery workers); ``tasks`` are the Celery side; ``models`` the run records."""
