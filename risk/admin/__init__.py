"""The back office of ``risk``: the review queue and its cases, the applications, the scoring
policies."""

from . import applications, policies, review_cases

__all__ = ["applications", "policies", "review_cases"]
