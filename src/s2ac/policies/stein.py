"""The S2AC policy (docs/math.md section 5, paper Section 3.1 and Algorithm 1), read top to bottom:

1. :func:`draw_initial_particles`: ``u_0 ~ q_0(.|s)``, a (truncated) Gaussian, fixed for S2AC(phi) and the
   actor's ``N(mu_theta(s), sigma_theta(s)^2)`` for S2AC(phi, theta) (section 5.1), with ``log q_0(u_0)``;
2. :func:`stein_log_target`: the log-density SVGD moves them toward, ``min_k Q_k(s, c tanh u) / alpha`` plus
   the squash's log-Jacobian (section 5.2);
3. :func:`sample_stein_policy`: ``L`` SVGD steps (paper Eq. 1, :func:`s2ac.stein.svgd_step`) with
   ``log q_L`` by the change of variables (Eq. 10, Thm 3.1) and its closed-form trace (Thm 3.3), both in
   :func:`s2ac.stein.svgd_sample`; then the squash ``a = c tanh(u_L)`` and ``log pi(a|s) = log q_L(u_L) -
   sum_k log(c (1 - tanh(u_L,k)^2))`` (section 5.3);
4. :func:`stein_policy`: the three in one call (what ``S2AC.policy`` is). The entropy of the policy at ``s``
   is Eq. 11's ``-(1/m) sum_i log pi(a_i|s)`` (:func:`s2ac.stein.entropy_estimate`), which the losses use.

Also how one action is picked from a state's particles (:func:`select_particle`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from s2ac.networks import TwinCritic
from s2ac.policies.gaussian import GaussianActor
from s2ac.policies.squash import squash, squash_log_det
from s2ac.stein import KernelVariance, LogProb, normal_log_prob, normal_sample, svgd_sample

Selection = Literal["random", "max_q", "softmax", "amortized"]
SELECTIONS: tuple[str, ...] = ("random", "max_q", "softmax", "amortized")


@dataclass(frozen=True)
class SVGDSettings:
    """The static settings of the Stein policy's sampling, named as in :class:`s2ac.S2ACConfig` (which builds
    them with ``svgd_settings()``): ``num_particles`` m per state, ``svgd_steps`` L, ``svgd_step_size`` eps,
    ``kernel_variance`` (``sigma^2`` or the name of the heuristic computing it, docs/math.md section 2),
    ``svgd_max_move`` (kernel widths a particle may move per step; None: eps as it is), ``min_kernel_variance``
    (a floor under a heuristic's ``sigma^2``, resolved to a number or None), ``init_truncation`` (q_0 truncated
    to this many standard deviations; None: not truncated), ``log_det`` (``"trace"``: Thm 3.3's closed form,
    ``"exact"``: autograd), ``bound`` c of the squash and ``authors_compat`` (docs/math.md section 10)."""

    num_particles: int = 10
    svgd_steps: int = 3
    svgd_step_size: float = 0.1
    kernel_variance: KernelVariance = "half_mean"
    svgd_max_move: float | None = None
    min_kernel_variance: float | None = None
    init_truncation: float | None = 3.0
    log_det: Literal["trace", "exact"] = "trace"
    bound: float = 1.0
    authors_compat: bool = False


SteinSampler = SVGDSettings
"""Deprecated name of :class:`SVGDSettings` (its fields now carry the config's names)."""


class PolicySample(NamedTuple):
    """Actions ``(B, m, d)``, their ``log pi(a|s)`` ``(B, m)``, the unsquashed particles ``u_L`` and scalar
    diagnostics of how they were drawn (the sampler's health, see :func:`sampler_health`)."""

    actions: Array
    log_pi: Array
    particles: Array
    diagnostics: dict[str, Array] = {}


SATURATION = 5.0  # |u| beyond which tanh's slope 1 - tanh(u)^2 is below 2e-4: the squash has flattened


def sampler_health(particles: Array, std: Array | None, svgd: dict[str, Array]) -> dict[str, Array]:
    """Scalar health of a policy sample: the share of saturated particles (``|u| > 5``), the range of the
    initial distribution's ``sigma`` and, with SVGD steps, the mean kernel variance, the mean move per step
    in kernel widths, and the mean step size applied (below ``eps`` where the move was limited)."""
    health = {"saturated_share": jnp.mean(jnp.any(jnp.abs(particles) > SATURATION, axis=-1))}
    if std is not None:
        health.update(sigma_min=jnp.min(std), sigma_max=jnp.max(std))
    if svgd:
        health.update(kernel_variance=jnp.mean(svgd["kernel_variance"]), svgd_move=jnp.mean(svgd["move"]),
                      svgd_step_size=jnp.mean(svgd["step_size"]))
    return jax.lax.stop_gradient(health)


def draw_initial_particles(actor: GaussianActor | None, obs: Array, key: Array, settings: SVGDSettings,
                           action_dim: int, init_std: float) -> tuple[Array, Array, Array]:
    """Step 1 (docs/math.md section 5.1): ``m`` particles ``u_0 ~ q_0(.|s)`` per state ``(B, m, d)``, their
    ``log q_0(u_0)`` ``(B, m)`` and ``q_0``'s standard deviations ``(B, d)``.

    ``q_0`` is ``N(0, init_std^2 I)`` without an actor (S2AC(phi)), else the actor's ``N(mu_theta(s),
    diag sigma_theta(s)^2)`` (S2AC(phi, theta)), drawn by reparameterisation so that gradients reach
    ``theta``; truncated to ``init_truncation`` standard deviations unless that is None.
    """
    if actor is None:
        mean = jnp.zeros((obs.shape[0], action_dim), obs.dtype)
        std = jnp.full_like(mean, init_std)
    else:
        mean, std = actor(obs)
    u0, log_q0 = normal_sample(key, mean, std, settings.num_particles, settings.init_truncation)
    if settings.authors_compat and actor is None:
        # The authors draw S2AC(phi)'s particles with std sigma_0 but score them with variance sigma_0,
        # and ignore the truncation (its box would not contain the particles under the other scale).
        log_q0 = normal_log_prob(u0, mean, jnp.sqrt(std))
    return u0, log_q0, std


def stein_log_target(critic: TwinCritic, obs: Array, alpha: Array, settings: SVGDSettings) -> LogProb:
    """Step 2 (docs/math.md section 5.2): ``log p(u|s) = min_k Q_k(s, c tanh u) / alpha + sum_k log(c (1 -
    tanh(u_k)^2))``, the density whose
    push-forward through ``c tanh`` is ``exp(Q(s, a) / alpha)``.

    With ``authors_compat`` it is the authors' code's ``Q(s, u)``: no temperature, no squash (docs/math.md 10).
    """
    states = obs[:, None, :]
    if settings.authors_compat:
        return lambda u: critic.min_q(states, u)
    return lambda u: critic.min_q(states, squash(u, settings.bound)) / alpha + squash_log_det(u, settings.bound)


def sample_stein_policy(critic: TwinCritic, obs: Array, initial: Array, log_q0: Array, alpha: Array,
                        settings: SVGDSettings, init_std: Array | None = None) -> PolicySample:
    """Step 3: move initial particles ``u_0 ~ q_0`` ``(B, m, d)`` with log-density ``log_q0`` ``(B, m)`` by
    ``L`` SVGD steps (Eq. 1) toward :func:`stein_log_target`, tracking ``log q_L`` (Eq. 10, Thm 3.1, by Thm 3.3's
    closed-form trace unless ``log_det="exact"``), and squash them: actions with ``log pi = log q_L(u_L)`` minus
    the squash's log-Jacobian (docs/math.md section 5.3).

    Differentiable through every SVGD step and into ``q_0``'s parameters (if ``initial`` was drawn by
    reparameterisation); gradients also reach the critic's parameters, which callers freeze as needed.
    ``init_std``: ``q_0``'s standard deviations ``(B, d)``, reported in the sample's health.
    """
    result = svgd_sample(stein_log_target(critic, obs, alpha, settings), initial, log_q0,
                         num_steps=settings.svgd_steps, step_size=settings.svgd_step_size,
                         kernel_variance=settings.kernel_variance, log_det=settings.log_det,
                         max_move=settings.svgd_max_move, min_kernel_variance=settings.min_kernel_variance)
    u = result.particles
    return PolicySample(squash(u, settings.bound), result.log_q - squash_log_det(u, settings.bound), u,
                        sampler_health(u, init_std, result.diagnostics))


def stein_policy(actor: GaussianActor | None, critic: TwinCritic, obs: Array, key: Array, alpha: Array,
                 settings: SVGDSettings, action_dim: int, init_std: float) -> PolicySample:
    """The S2AC policy at states ``obs`` ``(B, obs_dim)``: ``m`` actions per state ``(B, m, d)`` with their
    ``log pi`` ``(B, m)``: :func:`draw_initial_particles`, then :func:`sample_stein_policy`."""
    u0, log_q0, std = draw_initial_particles(actor, obs, key, settings, action_dim, init_std)
    return sample_stein_policy(critic, obs, u0, log_q0, alpha, settings, init_std=std)


def select_particle(critic: TwinCritic, obs: Array, actions: Array, key: Array, mode: Selection,
                    alpha: Array) -> Array:
    """One action per state from its particles ``(B, m, d)``: a uniformly random particle, the one of
    highest ``min_k Q``, or one drawn with probabilities ``softmax(min_k Q / alpha)``."""
    batch, m, _ = actions.shape
    if mode == "random":
        index = jax.random.randint(key, (batch,), 0, m)
    elif mode in ("max_q", "softmax"):
        q = critic.min_q(obs[:, None, :], actions)
        index = jnp.argmax(q, axis=-1) if mode == "max_q" else jax.random.categorical(key, q / alpha, axis=-1)
    else:
        raise ValueError(f"select_particle picks by 'random', 'max_q' or 'softmax', got {mode!r}")
    return jnp.take_along_axis(actions, index[:, None, None], axis=1)[:, 0]
