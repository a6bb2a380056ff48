"""Stein Soft Actor-Critic (Messaoud et al., ICLR 2024; docs/math.md sections 5-7): the actor-critic whose policy
is SVGD toward ``exp(Q / alpha)`` from an initial Gaussian, with the closed-form ``log pi`` in both the
critic target and the actor loss. Variants:

* ``phi``: ``q_0 = N(0, sigma_0^2 I)`` fixed (truncated like ``phi_theta``'s unless ``init_truncation``
  is null); only the critic learns.
* ``phi_theta``: ``q_0 = N(mu_theta(s), sigma_theta(s)^2)`` truncated to 3 standard deviations, learned end
  to end through the SVGD steps. With ``svgd_steps=0`` (one particle, no
  truncation, ``init_std_bounds=None``) it is SAC.
* ``amortized``: ``phi_theta`` plus ``f_psi(s, xi)``, an amortized SVGD sampler of ``exp(Q / alpha)`` on
  the same critic (Appendix K), for one-pass action selection. Training is ``phi_theta``'s (the entropy needs
  the unrolled SVGD), so with the same seed its critic and actor follow ``phi_theta``'s exactly.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from s2ac.algorithms.actor_critic import AgentState
from s2ac.algorithms.base import OffPolicyAgent
from s2ac.algorithms.config import S2ACConfig
from s2ac.networks import TwinCritic
from s2ac.policies import (
    SELECTIONS,
    AmortizedSampler,
    GaussianActor,
    PolicySample,
    SVGDSettings,
    select_particle,
    stein_policy,
)


class S2AC(OffPolicyAgent):
    """S2AC. Modes of :meth:`predict`: ``"train"`` and ``"eval"`` (the config's ``train_selection`` and
    ``eval_selection``), or a rule by name: ``"random"``, ``"max_q"``, ``"softmax"``, ``"amortized"``."""

    name: ClassVar[str] = "s2ac"
    config_class: ClassVar[type[S2ACConfig]] = S2ACConfig
    config: S2ACConfig

    @property
    def svgd_settings(self) -> SVGDSettings:
        return self.config.svgd_settings()

    sampler = svgd_settings  # the former name

    def init_networks(self, actor_key: Array, sampler_key: Array) -> tuple[eqx.Module | None, eqx.Module | None]:
        cfg = self.config
        actor = None if cfg.variant == "phi" else GaussianActor(
            self.obs_dim, self.action_dim, cfg.actor_hidden, key=actor_key, activation=cfg.activation,
            std_bounds=cfg.init_std_bounds)
        amortized = None if cfg.variant != "amortized" else AmortizedSampler(
            self.obs_dim, self.action_dim, cfg.amortized_hidden, key=sampler_key, activation=cfg.activation)
        return actor, amortized

    def policy(self, actor: GaussianActor | None, critic: TwinCritic, obs: Array, key: Array,
               alpha: Array) -> PolicySample:
        return stein_policy(actor, critic, obs, key, alpha, self.svgd_settings, self.action_dim,
                            self.config.init_std)

    @property
    def samples_per_draw(self) -> int:
        return self.config.num_particles

    @property
    def stochastic_mode(self) -> str:
        # The authors' test actions: a particle drawn with probability softmax(Q / alpha) (docs/math.md
        # section 11); the amortized variant's one-pass sampler f_psi (Fig. 17).
        return "amortized" if self.config.variant == "amortized" else "softmax"

    def draw_policy(self, state: AgentState, obs: Array, key: Array) -> tuple[Array, Array | None]:
        if self.config.variant == "amortized":
            # The policy it acts with is f_psi (its stochastic mode), whose density is implicit, as SQL's.
            return state.amortized.sample(obs, key, self.config.num_particles), None
        return super().draw_policy(state, obs, key)

    def initial_distribution(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        if self.state.actor is None:
            return None
        mean, std = self.state.actor(jnp.asarray(np.atleast_2d(self._observations(obs))))
        return np.asarray(mean), np.asarray(std)

    def select_actions(self, state: AgentState, obs: Array, key: Array, mode: str) -> Array:
        mode = {"train": self.config.train_selection, "eval": self.config.eval_selection}.get(mode, mode)
        if mode not in SELECTIONS:
            raise ValueError(f"unknown action selection {mode!r}; expected 'train', 'eval' or one of {SELECTIONS}")
        if mode == "amortized":
            if state.amortized is None:
                raise ValueError("'amortized' action selection needs variant='amortized'")
            return state.amortized.sample(obs, key, 1)[:, 0]
        k_policy, k_select = jax.random.split(key)
        sample = self.policy(state.actor, state.critic, obs, k_policy, state.alpha)
        return select_particle(state.critic, obs, sample.actions, k_select, mode, state.alpha)
