"""s2ac: Stein Soft Actor-Critic and its baselines, in JAX."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {"S2AC": "s2ac.algorithms", "SAC": "s2ac.algorithms", "S2ACConfig": "s2ac.algorithms",
            "SACConfig": "s2ac.algorithms", "SQL": "s2ac.algorithms", "SACNF": "s2ac.algorithms",
            "OffPolicyAgent": "s2ac.algorithms", "resume": "s2ac.training.loop"}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `import s2ac` (and the CLI's start) stays light.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 's2ac' has no attribute {name!r}")
