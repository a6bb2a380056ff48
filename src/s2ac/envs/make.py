"""Creating and checking environments: any Gymnasium environment with a bounded continuous action space."""

from __future__ import annotations

import copy
import difflib

import gymnasium as gym
import numpy as np


def make_env(env: str | gym.Env, render_mode: str | None = None) -> gym.Env:
    """A Gymnasium environment from an id (or the given instance), checked for what the agents need.

    Raises ``ValueError`` for an unknown id (with close matches), a non-continuous action space, unbounded
    actions or a non-vector observation space.
    """
    if isinstance(env, str):
        try:
            env = gym.make(env, render_mode=render_mode)
        except gym.error.DependencyNotInstalled as err:
            raise ValueError(f"{env} needs a package that is not installed: {err}") from err
        except gym.error.Error as err:
            if env in gym.registry:
                raise
            close = difflib.get_close_matches(env, list(gym.registry), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown environment {env!r}{hint}") from err
    if not isinstance(env, gym.Env):
        raise ValueError(f"expected a Gymnasium environment or an environment id, got {type(env).__name__}")
    check_spaces(env)
    return env


def separate_instance(env: gym.Env) -> gym.Env:
    """Another instance of ``env`` (for evaluation, so that it never disturbs training episodes): rebuilt from
    its spec, wrappers included, where Gymnasium can, else a deep copy."""
    if env.spec is not None:
        try:
            return gym.make(env.spec)
        except (gym.error.Error, ValueError, TypeError):
            pass  # e.g. a custom wrapper that Gymnasium cannot recreate
    return copy.deepcopy(env)


def env_name(env: gym.Env) -> str:
    """The registered id of ``env`` (what ``load`` and ``resume`` rebuild it from), else its class name."""
    return env.spec.id if env.spec is not None else type(env.unwrapped).__name__


def check_spaces(env: gym.Env) -> None:
    """Raise a ``ValueError`` unless the action space is a bounded vector box and observations are vectors."""
    action_space, obs_space = env.action_space, env.observation_space
    name = env_name(env)
    if not isinstance(action_space, gym.spaces.Box):
        raise ValueError(f"{name} has action space {action_space}: these agents need a continuous (Box) "
                         "action space")
    if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
        raise ValueError(f"{name} has unbounded actions {action_space}: the policy's tanh squash needs finite "
                         "bounds")
    if len(action_space.shape) != 1:
        raise ValueError(f"{name} has action shape {action_space.shape}: expected a vector of actions")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(f"{name} has observation space {obs_space}: expected a vector (1-D Box); flatten it "
                         "with gymnasium.wrappers.FlattenObservation")


class ActionScaler:
    """Maps the policy's actions in ``[-1, 1]^d`` to the environment's box ``[low, high]`` and back."""

    def __init__(self, space: gym.spaces.Box):
        self.low = space.low.astype(np.float64)
        self.high = space.high.astype(np.float64)
        self.dtype = space.dtype

    def to_env(self, action: np.ndarray) -> np.ndarray:
        """Clip to ``[-1, 1]`` and map affinely onto ``[low, high]``, in the space's dtype."""
        clipped = np.clip(action, -1.0, 1.0)
        return (self.low + 0.5 * (clipped + 1.0) * (self.high - self.low)).astype(self.dtype)
