"""The tanh squash from unbounded particles ``u`` to actions ``a = c * tanh(u)`` in ``[-c, c]^d`` and its
log-Jacobian (docs/math.md section 5.3)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import Array

_LOG_2 = math.log(2.0)


def squash(u: Array, bound: float = 1.0) -> Array:
    """``c * tanh(u)``."""
    return bound * jnp.tanh(u)


def squash_log_det(u: Array, bound: float = 1.0) -> Array:
    """``sum_k log(c * (1 - tanh(u_k)^2))`` over the last axis, in the stable form
    ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))``."""
    return jnp.sum(math.log(bound) + 2.0 * (_LOG_2 - u - jax.nn.softplus(-2.0 * u)), axis=-1)
