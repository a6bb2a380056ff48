"""Soft Q-Learning (Haarnoja et al. 2017; docs/math.md section 8) in the shared loop.

The soft value is estimated by importance sampling with a uniform proposal on ``[-1, 1]^d``,
``V(s') = alpha [logsumexp_k(Q'(s', a_k) / alpha) - log M + d log 2]``, the critic regresses on
``r + gamma (1 - done) V(s')``, and the policy is an amortized sampler ``a = f(s, xi)`` moved along the
Stein direction toward ``exp(Q / alpha)``, with its own samples as the particles. The entropy is implicit:
SQL reports none. SQL has no actor: the ``actor_loss`` column of its ``metrics.csv`` holds the amortized
sampler's loss (its Stein surrogate, whose gradient, not value, is meaningful), under that name so that every
algorithm writes the same columns.
"""

from __future__ import annotations

import math
from typing import ClassVar

import equinox as eqx
import jax
from jax import Array

from s2ac.algorithms.actor_critic import (
    AgentState,
    Batch,
    bellman_target,
    update_amortized,
    update_critic,
    update_targets,
)
from s2ac.algorithms.base import OffPolicyAgent
from s2ac.algorithms.config import SQLConfig
from s2ac.networks import TwinCritic
from s2ac.policies import AmortizedSampler, select_particle


def soft_value(critic: TwinCritic, obs: Array, uniform_actions: Array, alpha: Array) -> Array:
    """``alpha [logsumexp_k(Q(s, a_k) / alpha) - log M + d log 2]`` for ``a_k ~ U[-1, 1]^d`` ``(B, M, d)``:
    the importance-sampling estimate of ``alpha log int exp(Q(s, a) / alpha) da``."""
    num, dim = uniform_actions.shape[-2:]
    q = critic.min_q(obs[:, None, :], uniform_actions)
    return alpha * (jax.scipy.special.logsumexp(q / alpha, axis=-1) - math.log(num) + dim * math.log(2.0))


class SQL(OffPolicyAgent):
    """Soft Q-Learning. Modes of :meth:`predict`: ``"train"`` (one sample of the sampler), ``"eval"`` (the
    highest-Q of ``num_particles`` samples)."""

    name: ClassVar[str] = "sql"
    config_class: ClassVar[type[SQLConfig]] = SQLConfig
    # Its actor_loss is the sampler's Stein surrogate, in units of grad Q / alpha, not of Q.
    divergence_losses: ClassVar[tuple[str, ...]] = ("critic_loss",)
    config: SQLConfig

    def init_networks(self, actor_key: Array, sampler_key: Array) -> tuple[eqx.Module | None, eqx.Module | None]:
        cfg = self.config
        return None, AmortizedSampler(self.obs_dim, self.action_dim, cfg.amortized_hidden, key=sampler_key,
                                      activation=cfg.activation)

    def update_step(self, state: AgentState, batch: Batch, key: Array) -> tuple[AgentState, dict[str, Array]]:
        cfg = self.config
        k_value, k_sampler = jax.random.split(key)
        shape = (batch.obs.shape[0], cfg.value_samples, self.action_dim)
        uniform = jax.random.uniform(k_value, shape, minval=-1.0, maxval=1.0)
        next_value = soft_value(state.target_critic, batch.next_obs, uniform, state.alpha)
        target = bellman_target(batch, next_value, cfg.gamma)
        state, critic_metrics = update_critic(state, batch, target, self.optimizers)
        state, sampler_metrics = update_amortized(state, batch.obs, k_sampler, cfg.num_particles, self.optimizers,
                                                  self.settings)
        metrics = {**critic_metrics, "actor_loss": sampler_metrics["amortized_loss"], "alpha": state.alpha}
        return update_targets(state, cfg.polyak), metrics

    @property
    def samples_per_draw(self) -> int:
        return self.config.num_particles

    def draw_policy(self, state: AgentState, obs: Array, key: Array) -> tuple[Array, None]:
        return state.amortized.sample(obs, key, self.config.num_particles), None  # an implicit density

    def select_actions(self, state: AgentState, obs: Array, key: Array, mode: str) -> Array:
        if mode == "train":
            return state.amortized.sample(obs, key, 1)[:, 0]
        if mode == "eval":
            samples = state.amortized.sample(obs, key, self.config.num_particles)
            return select_particle(state.critic, obs, samples, key, "max_q", state.alpha)
        raise ValueError(f"SQL has action selection modes 'train' and 'eval', got {mode!r}")
