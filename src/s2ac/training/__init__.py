"""The shared off-policy training machinery: replay buffer, loop, evaluation, logs and checkpoints."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # `resume` lives in the loop, which imports the algorithms, which import this package's checkpoints:
    # importing it lazily keeps that cycle from forming.
    if name in ("resume", "Trainer", "NonFiniteLossError"):
        from s2ac.training import loop

        return getattr(loop, name)
    raise AttributeError(f"module 's2ac.training' has no attribute {name!r}")
