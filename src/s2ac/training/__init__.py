"""The shared off-policy training machinery: replay buffer, loop, evaluation, logs and checkpoints."""

from __future__ import annotations

from typing import Any

from s2ac.training.trainable import Trainable

__all__ = ["DivergenceError", "NonFiniteLossError", "Trainable", "Trainer", "TrainingStopped", "learn", "resume"]


def __getattr__(name: str) -> Any:
    # Imported on first use, as in s2ac/__init__.py: light modules (files: the run-directory names and the
    # output-folder check) serve commands that must not import JAX (report, sweep, runtime).
    if name in __all__:
        from s2ac.training import loop  # imports JAX: only when a loop name is asked for

        return getattr(loop, name)
    raise AttributeError(f"module 's2ac.training' has no attribute {name!r}")
