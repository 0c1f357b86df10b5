"""Pallet: a container engine."""
