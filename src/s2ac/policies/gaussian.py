"""The state-conditioned diagonal Gaussian: SAC's policy before the squash, and the learned initial
distribution ``q_0 = N(mu_theta(s), diag sigma_theta(s)^2)`` of S2AC(phi, theta) (docs/math.md section 5.1)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
from jax import Array

from s2ac.networks import MLP
from s2ac.policies.squash import squash, squash_log_det
from s2ac.stein import normal_sample

# The usual SAC range for log sigma: wide enough for any task, narrow enough to keep exp() finite.
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


class GaussianActor(eqx.Module):
    """``s -> (mu(s), sigma(s))`` from one MLP with ``2 d`` outputs.

    ``std_bounds=(lo, hi)`` keeps ``sigma`` in ``[lo, hi]`` smoothly, ``log sigma = log lo + (log hi - log lo)
    (tanh(x) + 1) / 2`` (CleanRL's SAC form: the gradient never vanishes at a bound, unlike a clamp); None clips
    ``log sigma`` to SAC's usual ``[-20, 2]``."""

    net: MLP
    std_bounds: tuple[float, float] | None = eqx.field(static=True)

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int], *, key: Array,
                 activation: str = "relu", std_bounds: tuple[float, float] | None = None):
        if std_bounds is not None and not 0 < std_bounds[0] < std_bounds[1]:
            raise ValueError(f"std_bounds must be (lo, hi) with 0 < lo < hi, got {std_bounds}")
        self.net = MLP(obs_dim, 2 * action_dim, hidden, key=key, activation=activation)
        self.std_bounds = None if std_bounds is None else (float(std_bounds[0]), float(std_bounds[1]))

    def __call__(self, obs: Array) -> tuple[Array, Array]:
        """``(mu(s), sigma(s))``, each ``(..., d)``."""
        mean, raw = jnp.split(self.net(obs), 2, axis=-1)
        if self.std_bounds is None:
            return mean, jnp.exp(jnp.clip(raw, LOG_STD_MIN, LOG_STD_MAX))
        log_lo, log_hi = math.log(self.std_bounds[0]), math.log(self.std_bounds[1])
        return mean, jnp.exp(log_lo + 0.5 * (log_hi - log_lo) * (jnp.tanh(raw) + 1.0))


def sample_squashed_gaussian(mean: Array, std: Array, key: Array, num_samples: int, bound: float = 1.0,
                             truncation: float | None = None) -> tuple[Array, Array, Array]:
    """Actions ``c tanh(u)``, ``u ~ N(mean, std^2)`` (optionally truncated), ``log pi(a|s)`` and ``u``.

    ``mean``, ``std``: ``(B, d)``; returns ``(B, n, d)``, ``(B, n)`` and ``(B, n, d)``.
    """
    u, log_q = normal_sample(key, mean, std, num_samples, truncation)
    return squash(u, bound), log_q - squash_log_det(u, bound), u
