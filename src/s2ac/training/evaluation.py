"""The one evaluation routine: full episodes with the agent's evaluation action selection, each episode's
reset seeded so that every evaluation of a run faces the same initial states."""

from __future__ import annotations

from typing import NamedTuple

import gymnasium as gym
import jax
import numpy as np

from s2ac.training.trainable import Trainable


class EvalResult(NamedTuple):
    returns: np.ndarray
    lengths: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))


# The purposes of the random streams derived from a run's seed, all in one place.
STREAM_RESET, STREAM_EVAL_RESET, STREAM_EVAL_KEY, STREAM_BATCHES, STREAM_KEY = 0, 1, 2, 3, 4


def episode_seed(*entropy: int) -> int:
    """A reset seed derived from integers (run seed, purpose, index): independent streams, reproducible."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def evaluate(agent: Trainable, env: gym.Env, episodes: int, seed: int, mode: str = "eval") -> EvalResult:
    """Run ``episodes`` episodes of ``env`` acting with ``agent``'s selection ``mode``."""
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    key = jax.random.PRNGKey(episode_seed(seed, STREAM_EVAL_KEY))
    returns, lengths = [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode_seed(seed, STREAM_EVAL_RESET, episode))
        total, length, done = 0.0, 0, False
        while not done:
            key, step_key = jax.random.split(key)
            action = agent.predict(obs, mode=mode, key=step_key)
            obs, reward, terminated, truncated, _ = env.step(action)
            total, length, done = total + float(reward), length + 1, terminated or truncated
        returns.append(total)
        lengths.append(length)
    return EvalResult(np.array(returns), np.array(lengths))
