"""The replay buffer: preallocated NumPy arrays, uniform sampling from a NumPy generator (whose state the
checkpoint keeps, so that a resumed run draws the same batches)."""

from __future__ import annotations

import numpy as np

from s2ac.batch import Batch

__all__ = ["FIELDS", "Batch", "ReplayBuffer"]


FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated")


class ReplayBuffer:
    """A ring buffer of transitions ``(s, a, r, s', terminated)``."""

    def __init__(self, capacity: int, obs_dim: int, action_dim: int):
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros((capacity, action_dim), np.float32)
        self.rewards = np.zeros((capacity,), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.terminated = np.zeros((capacity,), np.float32)
        self.size = 0
        self.position = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray,
            terminated: bool) -> None:
        i = self.position
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, float(terminated)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, batch_size: int, num_batches: int = 1) -> Batch:
        """``num_batches`` independent uniform batches, stacked: arrays ``(num_batches, batch_size, ...)``."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = rng.integers(0, self.size, size=(num_batches, batch_size))
        return Batch(*(getattr(self, name)[index] for name in FIELDS))

    def last_actions(self, count: int) -> np.ndarray:
        """The ``count`` most recently added actions, oldest first."""
        index = (self.position - count + np.arange(count)) % self.capacity
        return self.actions[index]

    def state_dict(self) -> dict[str, np.ndarray]:
        """The filled slots ``0 .. size - 1`` (slot order, not insertion order once the ring has wrapped)
        and the write position."""
        arrays = {f"replay/{name}": getattr(self, name)[: self.size] for name in FIELDS}
        arrays["replay/position"] = np.array(self.position)
        return arrays

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        size = arrays["replay/obs"].shape[0]
        if size > self.capacity:
            raise ValueError(f"checkpoint holds {size} transitions, more than buffer_size={self.capacity}")
        for name in FIELDS:
            getattr(self, name)[:size] = arrays[f"replay/{name}"]
        self.size = size
        self.position = int(arrays["replay/position"])
