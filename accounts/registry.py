"""The one extension mechanism of Tally: where a lower layer needs something that a higher
layer owns (the back office's widgets and blocks, audit scopes, notification texts, ledger
invariants, the scorecard's repayment history), the lower layer declares a ``Registry`` and
the higher layer registers into it in its ``AppConfig.ready()``. Imports keep pointing down
(docs/architecture.md); nothing registers at import time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class NotRegistered(LookupError):
    pass


class Registry(Generic[T]):
    """Named items of one kind, in the order they were registered. Registering a name again
    replaces its item (``ready()`` may run again in tests)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise NotRegistered(f"no {self.what} registered as {name!r} (is the app that provides it installed?)") \
                from None

    def only(self) -> T:
        """The single item of a registry that holds one provider."""
        if len(self._items) != 1:
            raise NotRegistered(f"expected one {self.what}, found {len(self._items)}")
        return next(iter(self._items.values()))

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)
