"""What every particle sampler here shares: the target, the input checks, the change-of-variables
bookkeeping ``log q_{l+1}(x_{l+1}) = log q_l(x_l) - log|det dT/dx|`` (docs/math.md section 3) and the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

LogProb = Callable[[Array], Array]
"""A target: maps particles ``(B, m, d)`` to ``log p`` up to a constant, one value per particle ``(B, m)``."""

Step = Callable[[Array, Array | None], tuple[Array, Array, dict[str, Array]]]
"""One move of a sampler: ``(particles, key) -> (moved particles, log|det dT/dx| per particle, diagnostics)``;
diagnostics are per-state arrays ``(B,)`` describing the move (empty for samplers that report none)."""


class SamplerResult(NamedTuple):
    """Final particles ``(B, m, d)`` and their log-density ``(B, m)``; with ``return_trajectory``, the same
    after every step, step 0 (the initial particles) included: ``(L + 1, B, m, d)`` and ``(L + 1, B, m)``.
    ``diagnostics``: the steps' per-state diagnostics, stacked ``(L, B)`` (empty when ``L = 0``)."""

    particles: Array
    log_q: Array
    particles_trajectory: Array | None = None
    log_q_trajectory: Array | None = None
    diagnostics: dict[str, Array] = {}


def score(log_prob: LogProb, particles: Array) -> Array:
    """``grad_x log p(x)`` for every particle.

    One backward pass through the summed log-density: valid because each particle's ``log p`` depends on
    that particle alone.
    """
    return jax.grad(lambda x: jnp.sum(log_prob(x)))(particles)


def is_int(value: object) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def concrete_value(value: object) -> float | None:
    """The float value of a concrete scalar (Python, NumPy or JAX), ``None`` for a traced one (checked
    only when known)."""
    try:
        return float(value)
    except (TypeError, ValueError):  # a tracer raises jax.errors.ConcretizationTypeError, a TypeError
        return None


def check_sampler_inputs(log_prob: LogProb, particles: Array, log_q0: Array, num_steps: int,
                         step_size: float | Array, min_particles: int = 1) -> None:
    """Raise a ``ValueError`` that says what is wrong with a sampler's arguments."""
    if particles.ndim != 3:
        raise ValueError(f"particles must have shape (batch, m, d), got shape {tuple(particles.shape)}")
    batch, m, d = particles.shape
    if m < min_particles:
        raise ValueError(f"this sampler needs at least {min_particles} particles per state, got m={m}")
    if tuple(log_q0.shape) != (batch, m):
        raise ValueError(f"log_q0 must have shape (batch, m) = {(batch, m)} to match the particles, "
                         f"got {tuple(log_q0.shape)}")
    if not is_int(num_steps) or num_steps < 0:
        raise ValueError(f"num_steps must be a non-negative int, got {num_steps!r}")
    value = concrete_value(step_size)
    if value is not None and not value > 0:
        raise ValueError(f"step_size must be positive, got {step_size}")
    out = jax.eval_shape(log_prob, jax.ShapeDtypeStruct(particles.shape, particles.dtype))
    if not hasattr(out, "shape") or tuple(out.shape) != (batch, m):
        got = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise ValueError(f"log_prob must return one value per particle, shape (batch, m) = {(batch, m)}, "
                         f"for particles of shape {(batch, m, d)}; got {got}")


def per_particle_jacobian(transform: Callable[[Array], Array], particles: Array) -> Array:
    """Jacobian of each particle's image with respect to that particle, ``(B, m, d, d)``.

    ``transform`` must move each particle as a function of that particle alone (others held fixed), so one
    shift shared by all particles yields every particle's own Jacobian in ``d`` forward passes.
    """
    d = particles.shape[-1]
    return jax.jacfwd(lambda shift: transform(particles + shift))(jnp.zeros(d, particles.dtype))


def log_abs_det_jacobian(transform: Callable[[Array], Array], particles: Array) -> Array:
    """``log|det dT(x_i)/dx_i|`` per particle, exactly (autograd and ``slogdet``): for small ``d``."""
    return jnp.linalg.slogdet(per_particle_jacobian(transform, particles))[1]


def run_chain(step: Step, particles: Array, log_q0: Array, num_steps: int, key: Array | None = None,
              return_trajectory: bool = False) -> SamplerResult:
    """Apply ``step`` ``num_steps`` times with ``jax.lax.scan``, tracking ``log q`` of every particle."""
    if num_steps == 0:
        # Nothing to trace: the step may not even be defined for these inputs (one particle, say).
        if not return_trajectory:
            return SamplerResult(particles, log_q0, diagnostics={})
        return SamplerResult(particles, log_q0, particles[None], log_q0[None], {})
    keys = None if key is None else jax.random.split(key, num_steps)

    def body(carry, step_key):
        x, log_q = carry
        x, log_det, diagnostics = step(x, step_key)
        log_q = log_q - log_det
        return (x, log_q), ((x, log_q) if return_trajectory else None, diagnostics)

    (x, log_q), (history, diagnostics) = jax.lax.scan(body, (particles, log_q0), keys, length=num_steps)
    if not return_trajectory:
        return SamplerResult(x, log_q, diagnostics=diagnostics)
    xs = jnp.concatenate([particles[None], history[0]], axis=0)
    log_qs = jnp.concatenate([log_q0[None], history[1]], axis=0)
    return SamplerResult(x, log_q, xs, log_qs, diagnostics)


def entropy_estimate(log_q: Array) -> Array:
    """The paper's Eq. 11: the entropy of each state's particle distribution, ``-(1/m) sum_i log q(x_i)``, from
    the particles' log-densities (``log q_L`` of Eq. 10, or S2AC's ``log pi``): ``(..., m) -> (...)``."""
    return -jnp.mean(log_q, axis=-1)
