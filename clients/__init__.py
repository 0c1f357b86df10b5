"""Pallet's clients: palletctl (cli) and the Python SDK (sdk) they share."""

from __future__ import annotations

import os

DEFAULT_HOST = "unix:///run/pallet/pallet.sock"


def default_host() -> str:
    """The daemon address: $PALLET_HOST, else the default unix socket."""
    return os.environ.get("PALLET_HOST") or DEFAULT_HOST
