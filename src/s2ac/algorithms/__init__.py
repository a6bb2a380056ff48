"""Algorithms: S2AC, SAC, SQL and SAC-NF over one actor-critic core and one training loop.

The names are imported on first use, so that :mod:`s2ac.algorithms.presets` (read by the command line and
by the sweep's worker processes, which must set XLA's flags before JAX starts) imports no JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "OffPolicyAgent": "s2ac.algorithms.base",
    **{name: "s2ac.algorithms.config" for name in ("OffPolicyConfig", "S2ACConfig", "SACConfig", "SACNFConfig",
                                                   "SQLConfig")},
    "S2AC": "s2ac.algorithms.s2ac",
    "SAC": "s2ac.algorithms.sac",
    "SACNF": "s2ac.algorithms.sacnf",
    "SQL": "s2ac.algorithms.sql",
}

__all__ = ["ALGORITHMS", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name == "ALGORITHMS":
        from s2ac.algorithms.s2ac import S2AC
        from s2ac.algorithms.sac import SAC
        from s2ac.algorithms.sacnf import SACNF
        from s2ac.algorithms.sql import SQL

        return {"s2ac": S2AC, "sac": SAC, "sql": SQL, "sacnf": SACNF}
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 's2ac.algorithms' has no attribute {name!r}")
