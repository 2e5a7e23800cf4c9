"""``manage.py simulate``: a seeded population living through the real services and the real
nightly close (see ``engine``)."""

from .engine import SimulationResult, simulate
from .environment import SimulationRefused

__all__ = ["SimulationRefused", "SimulationResult", "simulate"]
