"""The RBF kernel of SVGD and its variance ``sigma^2`` (docs/math.md section 2).

Particles are batched over states: arrays of shape ``(batch, m, d)``. A kernel variance is either a fixed
``sigma^2 > 0`` (a variance, not a width) or the name of a heuristic computed from one state's particles.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from jax import Array

from s2ac.stein.sampling import concrete_value

KernelVarianceRule = Literal["median", "mean", "half_mean"]
KernelVariance = KernelVarianceRule | float | Array
KERNEL_VARIANCE_RULES: tuple[str, ...] = ("median", "mean", "half_mean")
# The former names (the kernel variance was once called a bandwidth).
BandwidthRule, Bandwidth, BANDWIDTH_RULES = KernelVarianceRule, KernelVariance, KERNEL_VARIANCE_RULES

# Floor on sigma^2 so that identical particles (zero pairwise distance) do not divide by zero.
_MIN_KERNEL_VARIANCE = 1e-8


def pairwise_differences(x: Array, y: Array) -> Array:
    """``x_i - y_j`` for all pairs: ``(B, n, d), (B, m, d) -> (B, n, m, d)``."""
    return x[:, :, None, :] - y[:, None, :, :]


def check_kernel_variance(kernel_variance: KernelVariance) -> None:
    """Raise a ``ValueError`` for an unknown heuristic or a non-positive fixed kernel variance."""
    if isinstance(kernel_variance, str):
        if kernel_variance not in KERNEL_VARIANCE_RULES:
            raise ValueError(f"unknown kernel variance heuristic {kernel_variance!r}; expected one of "
                             f"{KERNEL_VARIANCE_RULES} or a positive kernel variance sigma^2")
    else:
        value = concrete_value(kernel_variance) if jnp.ndim(kernel_variance) == 0 else None
        if value is not None and not value > 0:
            raise ValueError(f"kernel variance sigma^2 must be positive, got {kernel_variance}")


def kernel_variance(particles: Array, kernel_variance: KernelVariance, floor: float | None = None) -> Array:
    """The kernel variance ``sigma^2`` for each state, shape ``(B,)``: ``kernel_variance`` itself when it is a
    number, else the value of the heuristic it names.

    A heuristic uses ``base / (2 log(m + 1))`` where ``base`` is the median, the mean or half the mean
    of the squared distances between distinct particles of one state; its gradient is stopped, as the
    kernel variance is a choice of the sampler, not a function to differentiate. ``floor`` bounds a
    heuristic's value from below: as particles gather, a heuristic follows their spread toward zero and the
    closed-form trace (up to ``d / sigma^2``) grows without bound (see :func:`s2ac.stein.svgd.svgd_step`).
    """
    check_kernel_variance(kernel_variance)
    if floor is not None and not floor > 0:
        raise ValueError(f"the kernel variance floor must be positive or None, got {floor}")
    batch, m, _ = particles.shape
    if not isinstance(kernel_variance, str):
        return jnp.broadcast_to(jnp.asarray(kernel_variance, particles.dtype), (batch,))
    if m < 2:
        raise ValueError(f"the {kernel_variance!r} kernel variance heuristic needs at least 2 particles per state, "
                         f"got m={m}")
    x = jax.lax.stop_gradient(particles)
    sq = jnp.sum(pairwise_differences(x, x) ** 2, axis=-1)
    rows, cols = jnp.triu_indices(m, k=1)
    distinct = sq[:, rows, cols]
    if kernel_variance == "median":
        base = jnp.median(distinct, axis=-1)
    else:
        base = jnp.mean(distinct, axis=-1)
        if kernel_variance == "half_mean":
            base = 0.5 * base
    return jnp.maximum(base / (2.0 * jnp.log(m + 1.0)), _MIN_KERNEL_VARIANCE if floor is None else floor)


def rbf_kernel(x: Array, y: Array, sigma2: Array) -> tuple[Array, Array, Array]:
    """``k(x_i, y_j) = exp(-||x_i - y_j||^2 / (2 sigma^2))``.

    Returns the kernel matrix ``(B, n, m)`` with the differences ``x_i - y_j`` ``(B, n, m, d)`` and the
    squared distances ``(B, n, m)`` it was built from, which the SVGD field and its trace reuse.
    """
    diff = pairwise_differences(x, y)
    sq = jnp.sum(diff**2, axis=-1)
    return jnp.exp(-sq / (2.0 * sigma2[:, None, None])), diff, sq
