"""Pallet: a container engine."""

__version__ = "0.1.0"
