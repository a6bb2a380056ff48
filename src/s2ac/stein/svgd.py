"""SVGD with an RBF kernel and its closed-form log-density (docs/math.md sections 2-4; paper Eq. 1, Eq. 10 by
Thm 3.1, Thm 3.3).

Read top to bottom: the field that moves the particles, the closed-form trace of its Jacobian, one step,
and the sampler that runs ``L`` steps while accumulating ``log q_L``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from s2ac.stein import kernels
from s2ac.stein.kernels import KernelVariance, check_kernel_variance, rbf_kernel
from s2ac.stein.sampling import (
    LogProb,
    SamplerResult,
    check_sampler_inputs,
    is_int,
    log_abs_det_jacobian,
    run_chain,
    score,
)

LogDetMethod = Literal["trace", "exact"]


def svgd_field(kernel: Array, diff: Array, scores: Array, sigma2: Array) -> Array:
    """The Stein direction of the SVGD update ``a <- a + eps phi(a)`` (Eq. 1):
    ``phi(a_i) = 1/m sum_j [k(a_j, a_i) grad log p(a_j) + grad_{a_j} k(a_j, a_i)]``.

    ``kernel[b, i, j] = k(a_i, a_j)`` and ``diff[b, i, j] = a_i - a_j``, so that
    ``grad_{a_j} k(a_j, a_i) = k(a_j, a_i) (a_i - a_j) / sigma^2``. Shape ``(B, m, d)``.
    """
    m = scores.shape[1]
    attraction = kernel @ scores
    repulsion = jnp.einsum("bij,bijd->bid", kernel, diff) / sigma2[:, None, None]
    return (attraction + repulsion) / m


def svgd_trace(kernel: Array, diff: Array, sq_dist: Array, scores: Array, sigma2: Array) -> Array:
    """Closed-form ``Tr grad phi(a_i)`` of Theorem 3.3, shape ``(B, m)``.

    ``1/(m-1) sum_{j != i} k_ij [(a_j - a_i)^T grad log p(a_j) / s2 + d / s2 - ||a_i - a_j||^2 / s2^2]``
    with ``s2 = sigma^2``; the ``j = i`` term, which would need the Hessian of ``log p``, is left out.
    """
    _, m, d = scores.shape
    s2 = sigma2[:, None, None]
    along_score = -jnp.einsum("bijd,bjd->bij", diff, scores)
    terms = kernel * (along_score / s2 + d / s2 - sq_dist / s2**2)
    others = 1.0 - jnp.eye(m, dtype=terms.dtype)
    return jnp.sum(terms * others, axis=-1) / (m - 1)


def svgd_exact_log_det(log_prob: LogProb, particles: Array, scores: Array, sigma2: Array,
                       step_size: float | Array) -> Array:
    """``log|det(I + eps grad phi(a_i))|`` by ``jax.jacfwd``, each particle moved with the others fixed.

    Unlike the closed form this keeps the ``j = i`` term (``1/m`` times the Hessian of ``log p``) and the
    higher orders in ``eps``: the exact volume change of the step that was applied. ``O(d)`` passes, for
    validation and small ``d``.
    """
    m = particles.shape[1]
    others = 1.0 - jnp.eye(m, dtype=particles.dtype)

    def move_alone(x: Array) -> Array:
        kernel, diff, _ = rbf_kernel(x, particles, sigma2)
        # The others' terms at x, plus the j = i term k(x, x) grad log p(x) = grad log p(x).
        return x + step_size * (svgd_field(kernel * others, diff, scores, sigma2) + score(log_prob, x) / m)

    return log_abs_det_jacobian(move_alone, particles)


class SVGDStep(NamedTuple):
    """Moved particles ``(B, m, d)``, the closed-form ``Tr grad phi`` ``(B, m)``, the log-volume change
    ``log|det(I + eps grad phi)|`` used for ``log q`` ``(B, m)`` (``eps * trace``, or the exact value), and
    per-state diagnostics ``(B,)``: ``kernel_variance`` (``sigma^2``), ``step_size`` (the ``eps`` applied),
    ``move`` (the particles' mean displacement in kernel widths, ``eps ||phi|| / sigma``)."""

    particles: Array
    trace: Array
    log_det: Array
    diagnostics: dict[str, Array]


def limited_step_size(phi_norms: Array, sigma2: Array, step_size: float | Array, max_move: float | None) -> Array:
    """The step of each state ``(B,)`` from the field's norms ``||phi_i||`` ``(B, m)``: ``eps``, reduced where it
    would move a particle further than ``max_move`` kernel widths, ``eps_b = min(eps, max_move * sigma_b / max_i
    ||phi_i||)``.

    Proposition 3.2 needs ``eps ||grad phi|| << 1`` for the step to be invertible and for its first-order
    log-determinant ``eps Tr grad phi`` to hold. The field varies on the kernel's scale ``sigma``, so a move
    of a fraction of ``sigma`` keeps both, whatever the scale of ``grad log p = grad Q / alpha`` (which spans
    orders of magnitude across tasks, temperatures and training). Where the field is gentle the step is the
    paper's ``eps``. Like a heuristic kernel variance, ``eps_b`` is a choice of the sampler: its gradient is
    stopped and the change of variables treats it as a constant.
    """
    eps = jnp.broadcast_to(jnp.asarray(step_size, phi_norms.dtype), sigma2.shape)
    if max_move is None:
        return eps
    largest = jnp.max(jax.lax.stop_gradient(phi_norms), axis=-1)
    limit = max_move * jnp.sqrt(sigma2) / jnp.maximum(largest, jnp.finfo(phi_norms.dtype).tiny)
    return jax.lax.stop_gradient(jnp.minimum(eps, limit))


def svgd_step(log_prob: LogProb, particles: Array, *, step_size: float | Array,
              kernel_variance: KernelVariance = "half_mean", log_det: LogDetMethod = "trace",
              max_move: float | None = None, min_kernel_variance: float | None = None) -> SVGDStep:
    """One SVGD step ``a <- a + eps * phi(a)`` toward ``p ∝ exp(log_prob)`` (Eq. 1), with its log-volume change.

    ``max_move``: at most this many kernel widths per particle and step (:func:`limited_step_size`); None
    applies ``eps`` as it is. ``min_kernel_variance``: a floor under a heuristic kernel variance.
    """
    if log_det not in ("trace", "exact"):
        raise ValueError(f"log_det must be 'trace' or 'exact', got {log_det!r}")
    scores = score(log_prob, particles)
    sigma2 = kernels.kernel_variance(particles, kernel_variance, floor=min_kernel_variance)
    kernel, diff, sq_dist = rbf_kernel(particles, particles, sigma2)
    phi = svgd_field(kernel, diff, scores, sigma2)
    trace = svgd_trace(kernel, diff, sq_dist, scores, sigma2)
    # One norm per particle serves the step's limit and the reported move (neither is differentiated).
    phi_norms = jnp.linalg.norm(jax.lax.stop_gradient(phi), axis=-1)
    eps = limited_step_size(phi_norms, sigma2, step_size, max_move)
    if log_det == "trace":
        volume = eps[:, None] * trace
    else:
        volume = svgd_exact_log_det(log_prob, particles, scores, sigma2, eps[:, None, None])
    reported_sigma2 = jax.lax.stop_gradient(sigma2)
    move = eps * jnp.mean(phi_norms, axis=-1) / jnp.sqrt(reported_sigma2)
    diagnostics = {"kernel_variance": reported_sigma2, "step_size": eps, "move": move}
    return SVGDStep(particles + eps[:, None, None] * phi, trace, volume, diagnostics)


def svgd_sample(log_prob: LogProb, particles: Array, log_q0: Array, *, num_steps: int,
                step_size: float | Array, kernel_variance: KernelVariance = "half_mean",
                log_det: LogDetMethod = "trace", max_move: float | None = None,
                min_kernel_variance: float | None = None, return_trajectory: bool = False) -> SamplerResult:
    """Run ``num_steps`` SVGD steps from ``particles ~ q_0`` and return them with ``log q_L``.

    ``log q_L(a_L) = log q_0(a_0) - sum_l log|det(I + eps grad phi(a_l))|`` (Theorem 3.1, the paper's
    Eq. 10), the log-det by the closed-form trace (``"trace"``, Theorem 3.3, default) or exactly by autograd
    (``"exact"``). Pure and differentiable: a loss on the result can be differentiated through every step,
    second order included. The result's ``diagnostics`` are :class:`SVGDStep`'s, stacked ``(L, B)``.

    Args:
        log_prob: ``(B, m, d) -> (B, m)``, ``log p`` up to a constant (a density, or ``Q(s, .) / alpha``).
        particles: initial particles ``(B, m, d)``, ``m >= 2`` when ``num_steps > 0``.
        log_q0: their log-density under the initial distribution, ``(B, m)``.
        num_steps: ``L >= 0``; with ``L = 0`` the inputs come back unchanged.
        step_size: ``eps > 0``.
        kernel_variance: ``sigma^2 > 0`` (a variance, not a width) or the heuristic that computes it from the
            particles: ``"median"``, ``"mean"``, ``"half_mean"``.
        log_det: ``"trace"`` or ``"exact"``.
        max_move: limit each step to this many kernel widths per particle (None: no limit).
        min_kernel_variance: floor under a heuristic kernel variance (None: none beyond 1e-8).
        return_trajectory: also return the particles and ``log q`` after every step.
    """
    # A step needs another particle to interact with; zero steps return q_0 for any m.
    moves = is_int(num_steps) and num_steps > 0
    check_sampler_inputs(log_prob, particles, log_q0, num_steps, step_size, min_particles=2 if moves else 1)
    check_kernel_variance(kernel_variance)
    if log_det not in ("trace", "exact"):
        raise ValueError(f"log_det must be 'trace' or 'exact', got {log_det!r}")
    if max_move is not None and not max_move > 0:
        raise ValueError(f"max_move must be a positive number of kernel widths or None, got {max_move}")
    if min_kernel_variance is not None and not min_kernel_variance > 0:
        raise ValueError(f"min_kernel_variance must be positive or None, got {min_kernel_variance}")

    def step(x: Array, _key: Array | None) -> tuple[Array, Array, dict[str, Array]]:
        moved = svgd_step(log_prob, x, step_size=step_size, kernel_variance=kernel_variance, log_det=log_det,
                          max_move=max_move, min_kernel_variance=min_kernel_variance)
        return moved.particles, moved.log_det, moved.diagnostics

    return run_chain(step, particles, log_q0, num_steps, return_trajectory=return_trajectory)
