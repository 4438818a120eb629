"""A deterministic simulation of qrun's runtime under crashes (see run.py)."""

from .run import SimFailure, Simulation, simulate

__all__ = ["SimFailure", "Simulation", "simulate"]
