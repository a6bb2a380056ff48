"""s2ac: Stein Soft Actor-Critic and its baselines, in JAX."""

from __future__ import annotations

from typing import Any

from s2ac.envs.multigoal import register_envs

__version__ = "0.1.0"

# `gymnasium.make("s2ac/MultiGoal-v0")` works after `import s2ac` (Gymnasium and NumPy only, no JAX).
register_envs()

_ALGORITHM_NAMES = ("S2AC", "SAC", "SQL", "SACNF", "S2ACConfig", "SACConfig", "SQLConfig", "SACNFConfig",
                    "OffPolicyAgent")
_EXPORTS = {**{name: "s2ac.algorithms" for name in _ALGORITHM_NAMES}, "resume": "s2ac.training.loop"}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `import s2ac` (and the CLI's start) stays light.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 's2ac' has no attribute {name!r}")
