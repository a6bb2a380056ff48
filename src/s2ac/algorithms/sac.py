"""Soft Actor-Critic (Haarnoja et al. 2018): the tanh-squashed Gaussian policy in the shared actor-critic."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jax import Array

from s2ac.algorithms.actor_critic import AgentState
from s2ac.algorithms.base import OffPolicyAgent
from s2ac.algorithms.config import SACConfig
from s2ac.networks import TwinCritic
from s2ac.policies import GaussianActor, PolicySample, sample_squashed_gaussian, sampler_health


class SAC(OffPolicyAgent):
    """SAC. Modes of :meth:`predict`: ``"train"`` samples, ``"eval"`` takes ``tanh(mu(s))``."""

    name: ClassVar[str] = "sac"
    config_class: ClassVar[type[SACConfig]] = SACConfig
    config: SACConfig

    def init_networks(self, actor_key: Array, sampler_key: Array) -> tuple[eqx.Module | None, eqx.Module | None]:
        cfg = self.config
        return GaussianActor(self.obs_dim, self.action_dim, cfg.actor_hidden, key=actor_key,
                             activation=cfg.activation), None

    def policy(self, actor: GaussianActor, critic: TwinCritic, obs: Array, key: Array,
               alpha: Array) -> PolicySample:
        mean, std = actor(obs)
        actions, log_pi, u = sample_squashed_gaussian(mean, std, key, num_samples=1)
        return PolicySample(actions, log_pi, u, sampler_health(u, std, {}))

    def select_actions(self, state: AgentState, obs: Array, key: Array, mode: str) -> Array:
        if mode == "train":
            return self.policy(state.actor, state.critic, obs, key, state.alpha).actions[:, 0]
        if mode == "eval":
            return jnp.tanh(state.actor(obs)[0])
        raise ValueError(f"SAC has action selection modes 'train' and 'eval', got {mode!r}")


__all__ = ["SAC", "SACConfig"]
