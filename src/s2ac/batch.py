"""A batch of transitions: what the replay buffer (training layer) hands to the update steps (algorithms
layer). Here, below both, so that every layer can import it (``s2ac.training.replay.Batch`` is the same)."""

from __future__ import annotations

from typing import NamedTuple

from jax import Array


class Batch(NamedTuple):
    """Transitions, stacked: ``(..., batch, dim)`` arrays (NumPy from the buffer, JAX inside updates)."""

    obs: Array
    actions: Array
    rewards: Array
    next_obs: Array
    terminated: Array  # 1.0 where the episode ended in a terminal state (no bootstrap), not a time limit
