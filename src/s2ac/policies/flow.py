"""A normalizing-flow policy (SAC-NF): ``u_0 ~ N(mu(s), sigma(s)^2)``, ``u = T(u_0; s)`` with ``T`` a
state-conditioned masked autoregressive flow (flowjax), ``a = c tanh(u)``; exact
``log pi = log N(u_0) - log|det dT/du_0| - log|det da/du|`` and one-pass sampling."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import paramax
from flowjax.distributions import StandardNormal
from flowjax.flows import masked_autoregressive_flow
from jax import Array

from s2ac.policies.gaussian import GaussianActor
from s2ac.policies.squash import squash, squash_log_det
from s2ac.stein import normal_sample


class FlowActor(eqx.Module):
    """The Gaussian actor followed by a flow conditioned on the state."""

    base: GaussianActor
    flow: eqx.Module

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int], *, key: Array,
                 activation: str = "relu", flow_layers: int = 2, flow_width: int = 64, flow_depth: int = 1):
        k_base, k_flow = jax.random.split(key)
        self.base = GaussianActor(obs_dim, action_dim, hidden, key=k_base, activation=activation)
        self.flow = masked_autoregressive_flow(k_flow, base_dist=StandardNormal((action_dim,)), cond_dim=obs_dim,
                                               flow_layers=flow_layers, nn_width=flow_width,
                                               nn_depth=flow_depth).bijection

    def transform(self, u0: Array, obs: Array) -> tuple[Array, Array]:
        """``T(u_0; s)`` and ``log|det dT/du_0|`` for ``u_0`` ``(B, n, d)`` and states ``(B, obs_dim)``."""
        flow = paramax.unwrap(self.flow)
        one = jax.vmap(flow.transform_and_log_det, in_axes=(0, None))
        return jax.vmap(one)(u0, obs)

    def sample(self, obs: Array, key: Array, num_samples: int, bound: float = 1.0) -> tuple[Array, Array, Array]:
        """Actions ``(B, n, d)``, ``log pi`` ``(B, n)`` and the pre-squash ``u``."""
        mean, std = self.base(obs)
        u0, log_q0 = normal_sample(key, mean, std, num_samples)
        u, log_det = self.transform(u0, obs)
        return squash(u, bound), log_q0 - log_det - squash_log_det(u, bound), u

    def mode(self, obs: Array, bound: float = 1.0) -> Array:
        """The deterministic action: the base mean pushed through the flow and squashed, ``(B, d)``."""
        mean, _ = self.base(obs)
        u, _ = self.transform(mean[:, None, :], obs)
        return squash(u[:, 0], bound)
