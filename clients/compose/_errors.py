"""The one error the compose model raises: a bad compose file, environment or command line."""

from __future__ import annotations

from pallet.errors import InvalidArgument


class ComposeFileError(InvalidArgument):
    """A compose project that cannot be loaded; the message says where and why, as compose does."""
