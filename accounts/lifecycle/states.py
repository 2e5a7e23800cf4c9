"""The credit account's statuses and the transitions between them (docs/rules.md §4).

Transitions change the status only; ``accounts.lifecycle.credit_line`` is the one caller: it
saves, records the history and audit rows and notifies. The admin asks this state machine
which actions to offer (``django_fsm.can_proceed``) instead of repeating source states.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMModelMixin, transition


class AccountStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    SUSPENDED = "suspended", _("suspended")
    FROZEN = "frozen", _("frozen")
    CLOSED = "closed", _("closed")


OPEN_STATUSES = (AccountStatus.ACTIVE, AccountStatus.SUSPENDED, AccountStatus.FROZEN)


class CreditLineStateMachine(FSMModelMixin):
    """Mixed into ``CreditAccount`` (whose ``status`` is a protected ``FSMField``)."""

    @transition(field="status", source=AccountStatus.ACTIVE, target=AccountStatus.SUSPENDED)
    def suspend(self) -> None:
        """Overdue beyond grace, or paused at the customer's request."""

    @transition(field="status", source=AccountStatus.SUSPENDED, target=AccountStatus.ACTIVE)
    def reactivate(self) -> None:
        """Nothing overdue any more (and not paused)."""

    @transition(field="status", source=[AccountStatus.ACTIVE, AccountStatus.SUSPENDED], target=AccountStatus.FROZEN)
    def freeze(self) -> None:
        """Suspected fraud; risk manager only."""

    @transition(field="status", source=AccountStatus.FROZEN, target=AccountStatus.ACTIVE)
    def unfreeze(self) -> None:
        """The freeze is lifted (``credit_line`` may suspend at once when overdue or paused)."""

    @transition(field="status", source=list(OPEN_STATUSES), target=AccountStatus.CLOSED)
    def close(self) -> None:
        """Closure approved, closed for cause, or written off."""

    @transition(field="status", source=AccountStatus.CLOSED, target=AccountStatus.ACTIVE)
    def reopen(self) -> None:
        """A reopen application approved."""
