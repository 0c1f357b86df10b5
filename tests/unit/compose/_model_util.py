"""Writing compose projects into a temporary directory and loading them."""

from __future__ import annotations

import os
import textwrap
from typing import Any

from pallet.client.compose import model


def write(directory: Any, name: str, text: str) -> str:
    path = os.path.join(str(directory), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(textwrap.dedent(text).lstrip("\n"))
    return path


def load(directory: Any, text: str | None = None, **kwargs: Any) -> model.Project:
    """Load the project of directory (its compose.yaml written from text first, if given)."""
    if text is not None:
        write(directory, "compose.yaml", text)
    kwargs.setdefault("environ", {})
    kwargs.setdefault("cwd", str(directory))
    return model.load(**kwargs)
