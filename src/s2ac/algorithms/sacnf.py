"""SAC-NF (Mazoure et al. 2019): SAC with a normalizing-flow policy, in the shared actor-critic."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
from jax import Array

from s2ac.algorithms.actor_critic import AgentState
from s2ac.algorithms.config import SACNFConfig
from s2ac.algorithms.sac import SAC
from s2ac.networks import TwinCritic
from s2ac.policies import PolicySample
from s2ac.policies.flow import FlowActor


class SACNF(SAC):
    """SAC-NF. Modes of :meth:`predict`: ``"train"`` samples, ``"eval"`` pushes the base mean through the
    flow."""

    name: ClassVar[str] = "sacnf"
    config_class: ClassVar[type[SACNFConfig]] = SACNFConfig
    config: SACNFConfig

    def init_networks(self, actor_key: Array, sampler_key: Array) -> tuple[eqx.Module | None, eqx.Module | None]:
        cfg = self.config
        return FlowActor(self.obs_dim, self.action_dim, cfg.actor_hidden, key=actor_key, activation=cfg.activation,
                         flow_layers=cfg.flow_layers, flow_width=cfg.flow_width, flow_depth=cfg.flow_depth), None

    def policy(self, actor: FlowActor, critic: TwinCritic, obs: Array, key: Array, alpha: Array) -> PolicySample:
        actions, log_pi, u = actor.sample(obs, key, num_samples=1)
        return PolicySample(actions, log_pi, u)

    def select_actions(self, state: AgentState, obs: Array, key: Array, mode: str) -> Array:
        if mode == "eval":
            return state.actor.mode(obs)
        return super().select_actions(state, obs, key, mode)
