"""The back office of ``complaints``: the complaints' pages and the closure requests' pages."""

from . import closures, complaints

__all__ = ["closures", "complaints"]
