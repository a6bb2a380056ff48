"""What the training layer needs of an agent: the :class:`Trainable` protocol. The loop, the evaluation and
the health guard see an agent only through it, so they know no algorithm (docs/architecture.md);
:class:`s2ac.algorithms.OffPolicyAgent` satisfies it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Trainable(Protocol):
    """An off-policy agent the :class:`s2ac.training.Trainer` can train, evaluate, log and checkpoint.

    ``update_fn(state, batches, key) -> (state, metrics)`` runs ``K`` updates on stacked batches
    (:class:`s2ac.batch.Batch`);
    ``act_fn(state, obs, key, mode=...)`` selects actions in ``[-1, 1]``, which ``scaler.to_env`` maps to the
    environment's box; ``describe()`` is the run's identity (``algo``, ``env``, ``seed``, ``config``), written
    to ``config.json``; ``save(path)`` writes the networks; ``trainer`` is the agent's training progress
    (None until its first ``learn``)."""

    name: str
    config: Any  # an OffPolicyConfig: the loop reads its schedule, buffer and health settings
    env: Any  # a gymnasium.Env
    env_id: str
    seed: int
    obs_dim: int
    action_dim: int
    state: Any
    update_fn: Callable[..., Any]
    act_fn: Callable[..., Any]
    scaler: Any  # an s2ac.envs.ActionScaler
    divergence_losses: tuple[str, ...]
    trainer: Any

    def describe(self) -> dict[str, Any]: ...

    def save(self, path: str | Path) -> Path: ...

    def predict(self, obs: Any, deterministic: bool = True, mode: str | None = None, key: Any = None) -> Any: ...
