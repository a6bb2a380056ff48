"""The amortized network f_psi, ``a = c tanh(f_psi(s, xi))``: one forward pass per action, trained so that its
samples move along the Stein direction defined by a set of particles of the same state and their scores
(docs/math.md sections 7-8; amortized S2AC, Appendix K, and the SQL policy)."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from s2ac.networks import MLP
from s2ac.policies.squash import squash
from s2ac.stein import KernelVariance, kernels, rbf_kernel, svgd_field


class AmortizedSampler(eqx.Module):
    """The amortized network ``f_psi(s, xi)``, ``xi ~ N(0, I)`` of the action's dimension, squashed to the action
    box: it draws actions in one pass. (Elsewhere "sampler" names other things: the SVGD settings
    :class:`s2ac.policies.SVGDSettings`, once ``SteinSampler``, and the particle dynamics of :mod:`s2ac.stein`.)"""

    net: MLP
    action_dim: int = eqx.field(static=True)
    bound: float = eqx.field(static=True)

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int], *, key: Array,
                 activation: str = "relu", bound: float = 1.0):
        self.net = MLP(obs_dim + action_dim, action_dim, hidden, key=key, activation=activation)
        self.action_dim = action_dim
        self.bound = bound

    def __call__(self, obs: Array, noise: Array) -> Array:
        """Actions for states ``(B, obs_dim)`` and noise ``(B, n, d)``: ``(B, n, d)``."""
        return squash(self.net(obs[:, None, :], noise), self.bound)

    def sample(self, obs: Array, key: Array, num_samples: int) -> Array:
        """``num_samples`` actions per state, ``(B, n, d)``, for fresh noise drawn from ``key``."""
        noise = jax.random.normal(key, (obs.shape[0], num_samples, self.action_dim), obs.dtype)
        return self(obs, noise)


def stein_direction(query: Array, particles: Array, particle_scores: Array,
                    kernel_variance: KernelVariance) -> Array:
    """``Delta(a) = 1/m sum_j [k(a_j, a) grad log p(a_j) + grad_{a_j} k(a_j, a)]`` at query points
    ``(B, n, d)``, from particles ``(B, m, d)`` and their scores; a heuristic kernel variance is the particles'."""
    sigma2 = kernels.kernel_variance(particles, kernel_variance)
    kernel, diff, _ = rbf_kernel(query, particles, sigma2)
    return svgd_field(kernel, diff, particle_scores, sigma2)


def amortized_stein_loss(sampler: AmortizedSampler, obs: Array, noise: Array, particles: Array,
                         particle_scores: Array, kernel_variance: KernelVariance) -> Array:
    """A surrogate whose gradient in ``psi`` is ``-E[Delta(f_psi(s, xi))^T d f_psi / d psi]`` (Eq. 24-25)."""
    actions = sampler(obs, noise)
    direction = jax.lax.stop_gradient(stein_direction(actions, particles, particle_scores, kernel_variance))
    return -jnp.mean(jnp.sum(direction * actions, axis=-1))
