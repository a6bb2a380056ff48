"""Initial particle distributions ``q_0``: a diagonal Gaussian, optionally truncated to ``t`` standard
deviations around its mean (docs/math.md section 5.1).

Truncation is by inverse-CDF sampling: ``z = Phi^{-1}(U(Phi(-t), Phi(t)))``, ``x = mu + sigma z``. It is
exact, reparameterised (differentiable in ``mu`` and ``sigma``), needs no rejection loop and is invertible,
unlike clipping. ``log q_0`` is the truncated density, normaliser included.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import erf, ndtr, ndtri

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _check_truncation(truncation: float | None) -> None:
    if truncation is not None and not truncation > 0:
        raise ValueError(f"truncation must be a positive number of standard deviations or None, got {truncation}")


def _log_density(z: Array, std: Array, truncation: float | None) -> Array:
    """``log q_0`` of ``x = mean + std * z``, from the standardised ``z`` ``(B, m, d)``; ``(B, m)``."""
    per_dim = -0.5 * z**2 - _HALF_LOG_2PI - jnp.log(std)[:, None, :]
    if truncation is not None:
        per_dim = per_dim - jnp.log(erf(truncation / math.sqrt(2.0)))
    return jnp.sum(per_dim, axis=-1)


def normal_log_prob(x: Array, mean: Array, std: Array, truncation: float | None = None) -> Array:
    """Log-density of ``N(mean, diag(std^2))``, truncated to ``|x - mean| <= truncation * std`` per
    coordinate when ``truncation`` is set. ``x``: ``(B, m, d)``; ``mean``, ``std``: ``(B, d)``. Returns
    ``(B, m)``; ``-inf`` outside the truncation box."""
    _check_truncation(truncation)
    z = (x - mean[:, None, :]) / std[:, None, :]
    log_q = _log_density(z, std, truncation)
    if truncation is None:
        return log_q
    # Inside the box up to the rounding of ``mean + std * z``, so that every sample of :func:`normal_sample`
    # (an edge one included) is inside.
    centre, scale = mean[:, None, :], std[:, None, :]
    slack = 4.0 * jnp.finfo(x.dtype).eps * (jnp.abs(centre) + truncation * scale)
    inside = jnp.all(jnp.abs(x - centre) <= truncation * scale + slack, axis=-1)
    return jnp.where(inside, log_q, -jnp.inf)


def normal_sample(key: Array, mean: Array, std: Array, num_particles: int,
                  truncation: float | None = None) -> tuple[Array, Array]:
    """Draw ``num_particles`` reparameterised particles per state and their ``log q_0``.

    ``mean``, ``std``: ``(B, d)``. Returns particles ``(B, m, d)`` and ``log q_0`` ``(B, m)``. The density is
    computed from the standardised draw itself, so a particle at the edge of the truncation box never gets
    ``-inf`` from rounding in ``mean + std * z``.
    """
    _check_truncation(truncation)
    if mean.shape != std.shape or mean.ndim != 2:
        raise ValueError(f"mean and std must both have shape (batch, d), got {mean.shape} and {std.shape}")
    shape = (mean.shape[0], num_particles, mean.shape[1])
    if truncation is None:
        z = jax.random.normal(key, shape, mean.dtype)
    else:
        lo = ndtr(-truncation)
        u = jax.random.uniform(key, shape, mean.dtype, minval=lo, maxval=1.0 - lo)
        # Rounding in ndtri can land a hair outside [-t, t]; the clip only touches those ulps.
        z = jnp.clip(ndtri(u), -truncation, truncation)
    return mean[:, None, :] + std[:, None, :] * z, _log_density(z, std, truncation)
