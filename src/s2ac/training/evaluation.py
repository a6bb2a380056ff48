"""The one evaluation routine: full episodes with the agent's evaluation action selection, each episode's
reset seeded so that every evaluation of a run faces the same initial states."""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
import jax
import numpy as np

from s2ac.training.trainable import Trainable


class EvalResult(NamedTuple):
    returns: np.ndarray
    lengths: np.ndarray
    # With ``record_infos``: per episode, the ``info`` of its reset then of each step (what a study reads off
    # an episode: positions, the goal reached); otherwise None.
    infos: list[list[dict[str, Any]]] | None = None

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


def evaluate(agent: Trainable, env: gym.Env, episodes: int, seed: int, mode: str = "eval",
             record_infos: bool = False) -> EvalResult:
    """Run ``episodes`` episodes of ``env`` acting with ``agent``'s selection ``mode``; with ``record_infos``
    keep every ``info`` the environment returned."""
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    key = jax.random.PRNGKey(episode_seed(seed, STREAM_EVAL_KEY))
    returns, lengths, infos = [], [], []
    for episode in range(episodes):
        obs, info = env.reset(seed=episode_seed(seed, STREAM_EVAL_RESET, episode))
        episode_infos = [info]
        total, length, done = 0.0, 0, False
        while not done:
            key, step_key = jax.random.split(key)
            action = agent.predict(obs, mode=mode, key=step_key)
            obs, reward, terminated, truncated, info = env.step(action)
            total, length, done = total + float(reward), length + 1, terminated or truncated
            if record_infos:
                episode_infos.append(info)
        returns.append(total)
        lengths.append(length)
        if record_infos:
            infos.append(episode_infos)
    return EvalResult(np.array(returns), np.array(lengths), infos if record_infos else None)
