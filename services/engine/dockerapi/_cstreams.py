"""(filled in below)"""

from __future__ import annotations

from typing import Any

from pallet.engine.dockerapi._http import Router


def routes(r: Router, s: Any) -> None:
    pass
