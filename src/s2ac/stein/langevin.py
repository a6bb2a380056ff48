"""SGLD, DLD and HMC with the same change-of-variables bookkeeping as SVGD (docs/math.md section 9).

These exist for the entropy study: applied to them, the bookkeeping gives wrong entropies. SGLD adds
fresh noise every step (the map from ``x_l`` to ``x_{l+1}`` is not injective, and the noise's entropy is
never counted); DLD is invertible but sends every particle toward the mode; HMC is invertible only jointly
with its momentum. The log-det of each step is the exact one of its map in ``x`` with the noise (or the
momentum) held fixed, by autograd, which needs the Hessian of ``log p``: fine for small ``d``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from s2ac.stein.sampling import (
    LogProb,
    SamplerResult,
    check_sampler_inputs,
    log_abs_det_jacobian,
    run_chain,
    score,
)


def langevin_sample(log_prob: LogProb, particles: Array, log_q0: Array, *, key: Array, num_steps: int,
                    step_size: float | Array, noise: bool = True,
                    return_trajectory: bool = False) -> SamplerResult:
    """SGLD ``x <- x + eps grad log p(x) + sqrt(2 eps) xi`` (``noise=True``), or DLD without the noise.

    ``log q`` is updated by ``log|det(I + eps Hess log p(x))|``, the Jacobian of the drift.
    """
    check_sampler_inputs(log_prob, particles, log_q0, num_steps, step_size)

    def drift(x: Array) -> Array:
        return x + step_size * score(log_prob, x)

    def step(x: Array, step_key: Array) -> tuple[Array, Array, dict[str, Array]]:
        moved = drift(x)
        if noise:
            moved = moved + jnp.sqrt(2.0 * step_size) * jax.random.normal(step_key, x.shape, x.dtype)
        return moved, log_abs_det_jacobian(drift, x), {}

    return run_chain(step, particles, log_q0, num_steps, key, return_trajectory)


def sgld_sample(log_prob: LogProb, particles: Array, log_q0: Array, *, key: Array, num_steps: int,
                step_size: float | Array, return_trajectory: bool = False) -> SamplerResult:
    """Stochastic gradient Langevin dynamics: see :func:`langevin_sample`."""
    return langevin_sample(log_prob, particles, log_q0, key=key, num_steps=num_steps, step_size=step_size,
                           noise=True, return_trajectory=return_trajectory)


def dld_sample(log_prob: LogProb, particles: Array, log_q0: Array, *, key: Array, num_steps: int,
               step_size: float | Array, return_trajectory: bool = False) -> SamplerResult:
    """Deterministic Langevin dynamics (SGLD without noise): see :func:`langevin_sample`."""
    return langevin_sample(log_prob, particles, log_q0, key=key, num_steps=num_steps, step_size=step_size,
                           noise=False, return_trajectory=return_trajectory)


def leapfrog(log_prob: LogProb, x: Array, v: Array, step_size: float | Array,
             num_leapfrog: int) -> tuple[Array, Array]:
    """``num_leapfrog`` leapfrog steps of Hamiltonian dynamics with unit mass (paper Eq. 14)."""

    def one(carry, _):
        x, v = carry
        v = v + 0.5 * step_size * score(log_prob, x)
        x = x + step_size * v
        v = v + 0.5 * step_size * score(log_prob, x)
        return (x, v), None

    (x, v), _ = jax.lax.scan(one, (x, v), None, length=num_leapfrog)
    return x, v


def hmc_sample(log_prob: LogProb, particles: Array, log_q0: Array, *, key: Array, num_steps: int,
               step_size: float | Array, num_leapfrog: int = 5,
               return_trajectory: bool = False) -> SamplerResult:
    """HMC without accept-reject: each step draws a momentum ``v ~ N(0, I)`` and runs ``num_leapfrog``
    leapfrog steps. ``log q`` is updated by the log-det of the map ``x -> x'`` with ``v`` held fixed."""
    check_sampler_inputs(log_prob, particles, log_q0, num_steps, step_size)
    if not isinstance(num_leapfrog, int) or num_leapfrog < 1:
        raise ValueError(f"num_leapfrog must be a positive int, got {num_leapfrog!r}")

    def step(x: Array, step_key: Array) -> tuple[Array, Array, dict[str, Array]]:
        v = jax.random.normal(step_key, x.shape, x.dtype)

        def position_map(y: Array) -> Array:
            return leapfrog(log_prob, y, v, step_size, num_leapfrog)[0]

        return position_map(x), log_abs_det_jacobian(position_map, x), {}

    return run_chain(step, particles, log_q0, num_steps, key, return_trajectory)
