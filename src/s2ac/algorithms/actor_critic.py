"""The maximum-entropy actor-critic shared by SAC, SAC-NF and S2AC: losses and pure update steps over an
immutable state (docs/math.md section 6). An algorithm is this plus its policy: a function that draws ``m``
actions per state with their ``log pi`` (one Gaussian sample for SAC, SVGD particles for S2AC). SQL reuses
the critic, sampler and target steps with its own soft value.

Each step is a pure function of (state, batch, key); :func:`scan_updates` runs ``K`` of them in one
jitted program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax import Array

from s2ac.batch import Batch
from s2ac.networks import TwinCritic
from s2ac.policies import AmortizedSampler, PolicySample, amortized_stein_loss
from s2ac.stein import entropy_estimate, score

Policy = Callable[[eqx.Module | None, TwinCritic, Array, Array, Array], PolicySample]
"""``(actor, critic, obs, key, alpha) -> PolicySample`` with actions ``(B, m, d)`` and ``log_pi`` ``(B, m)``."""


class AgentState(eqx.Module):
    """Everything an update changes. ``actor`` is None for S2AC(phi) and SQL; ``amortized`` is the one-pass
    sampler of amortized S2AC and SQL, None otherwise."""

    critic: TwinCritic
    target_critic: TwinCritic
    critic_opt: optax.OptState
    actor: eqx.Module | None
    actor_opt: optax.OptState | None
    log_alpha: Array
    alpha_opt: optax.OptState
    amortized: AmortizedSampler | None
    amortized_opt: optax.OptState | None

    @property
    def alpha(self) -> Array:
        return jnp.exp(self.log_alpha)


class Optimizers(NamedTuple):
    """One optimiser per trained part (``optax.identity()`` for a part an algorithm lacks)."""

    critic: optax.GradientTransformation
    actor: optax.GradientTransformation
    alpha: optax.GradientTransformation
    amortized: optax.GradientTransformation


class UpdateSettings(NamedTuple):
    """The static numbers an update needs, taken from the algorithm's config."""

    gamma: float
    polyak: float
    target_entropy: float
    autotune_alpha: bool
    amortized_kernel_variance: str | float = "half_mean"


def bellman_target(batch: Batch, next_value: Array, gamma: float) -> Array:
    """``r + gamma (1 - terminated) V(s')``: a time limit is not a terminal state, so it still bootstraps."""
    return batch.rewards + gamma * (1.0 - batch.terminated) * next_value


def soft_td_target(target_critic: TwinCritic, batch: Batch, next_sample: PolicySample, alpha: Array,
                   gamma: float) -> Array:
    """Eq. 8's ``y = r + gamma (1 - done) (mean_i min_k Q'_k(s', a'_i) - alpha mean_i log pi(a'_i|s'))``."""
    next_q = target_critic.min_q(batch.next_obs[:, None, :], next_sample.actions)
    soft_value = jnp.mean(next_q, axis=-1) - alpha * jnp.mean(next_sample.log_pi, axis=-1)
    return bellman_target(batch, soft_value, gamma)


def critic_loss(critic: TwinCritic, batch: Batch, target: Array) -> Array:
    """``sum_k E[(Q_k(s, a) - y)^2]``."""
    q = critic(batch.obs, batch.actions)
    return jnp.sum(jnp.mean((q - target) ** 2, axis=-1))


def actor_loss(actor: eqx.Module | None, critic: TwinCritic, obs: Array, key: Array, alpha: Array,
               policy: Policy) -> tuple[Array, PolicySample]:
    """Eq. 9's ``E_s 1/m sum_i [alpha log pi(a_i|s) - min_k Q_k(s, a_i)]``, with the sample it used."""
    sample = policy(actor, critic, obs, key, alpha)
    q = critic.min_q(obs[:, None, :], sample.actions)
    return jnp.mean(alpha * sample.log_pi - q), sample


def temperature_loss(log_alpha: Array, log_pi: Array, target_entropy: float) -> Array:
    """``-log alpha * E[log pi + target entropy]``: raises alpha while the entropy is below its target."""
    return -log_alpha * jnp.mean(jax.lax.stop_gradient(log_pi) + target_entropy)


def _apply(optimizer: optax.GradientTransformation, params, grads, opt_state):
    # Only floating-point arrays are trained (a flow's masks are integer arrays).
    updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(params, eqx.is_inexact_array))
    return eqx.apply_updates(params, updates), opt_state


def update_critic(state: AgentState, batch: Batch, target: Array,
                  opt: Optimizers) -> tuple[AgentState, dict[str, Array]]:
    """One gradient step on the critics toward a fixed target ``y`` (its gradient is stopped)."""
    target = jax.lax.stop_gradient(target)
    loss, grads = eqx.filter_value_and_grad(critic_loss)(state.critic, batch, target)
    critic, critic_opt = _apply(opt.critic, state.critic, grads, state.critic_opt)
    return eqx.tree_at(lambda s: (s.critic, s.critic_opt), state, (critic, critic_opt)), {"critic_loss": loss}


def update_actor(state: AgentState, batch: Batch, key: Array, policy: Policy,
                 opt: Optimizers) -> tuple[AgentState, dict[str, Array], PolicySample]:
    """One gradient step on the actor's parameters, critic frozen, through every SVGD step; for S2AC(phi),
    which has no actor parameters, only the loss and the sample (for the temperature and the metrics)."""
    if state.actor is None:
        loss, sample = actor_loss(None, state.critic, batch.obs, key, state.alpha, policy)
        return state, {"actor_loss": loss}, jax.lax.stop_gradient(sample)
    (loss, sample), grads = eqx.filter_value_and_grad(actor_loss, has_aux=True)(
        state.actor, state.critic, batch.obs, key, state.alpha, policy)
    actor, actor_opt = _apply(opt.actor, state.actor, grads, state.actor_opt)
    state = eqx.tree_at(lambda s: (s.actor, s.actor_opt), state, (actor, actor_opt))
    return state, {"actor_loss": loss}, jax.lax.stop_gradient(sample)


def update_temperature(state: AgentState, log_pi: Array, opt: Optimizers,
                       settings: UpdateSettings) -> tuple[AgentState, dict[str, Array]]:
    """One step on ``log alpha`` when it is tuned; the policy entropy estimate either way."""
    metrics = {"entropy": jnp.mean(entropy_estimate(log_pi)), "alpha": state.alpha}
    if not settings.autotune_alpha:
        return state, metrics
    grad = jax.grad(temperature_loss)(state.log_alpha, log_pi, settings.target_entropy)
    log_alpha, alpha_opt = _apply(opt.alpha, state.log_alpha, grad, state.alpha_opt)
    return eqx.tree_at(lambda s: (s.log_alpha, s.alpha_opt), state, (log_alpha, alpha_opt)), metrics


def update_amortized(state: AgentState, obs: Array, key: Array, num_particles: int, opt: Optimizers,
                     settings: UpdateSettings) -> tuple[AgentState, dict[str, Array]]:
    """One amortized SVGD step (Wang & Liu 2016; SQL; paper Appendix K, Eq. 24-25): ``num_particles`` samples
    of ``f_psi`` per state form the kernel's particle set, fresh samples are moved along the Stein direction
    they define toward ``exp(min_k Q / alpha)``.

    The particle set is the sampler's own: measured on a Gaussian target, moving ``f_psi``'s samples along the
    direction of the S2AC particles instead (docs/math.md section 7's reading) shrinks them to a point (std 0.03
    against the target's 0.22), while the sampler's own set recovers the target (0.20)."""
    k_particles, k_query = jax.random.split(key)
    particles = jax.lax.stop_gradient(state.amortized.sample(obs, k_particles, num_particles))
    scores = score(lambda a: state.critic.min_q(obs[:, None, :], a) / state.alpha, particles)
    noise = jax.random.normal(k_query, particles.shape, particles.dtype)
    loss, grads = eqx.filter_value_and_grad(amortized_stein_loss)(
        state.amortized, obs, noise, particles, scores, settings.amortized_kernel_variance)
    amortized, amortized_opt = _apply(opt.amortized, state.amortized, grads, state.amortized_opt)
    state = eqx.tree_at(lambda s: (s.amortized, s.amortized_opt), state, (amortized, amortized_opt))
    return state, {"amortized_loss": loss}


def update_targets(state: AgentState, polyak: float) -> AgentState:
    """Polyak averaging ``Q' <- polyak Q' + (1 - polyak) Q``."""
    target = jax.tree.map(lambda t, o: polyak * t + (1.0 - polyak) * o,
                          eqx.filter(state.target_critic, eqx.is_array), eqx.filter(state.critic, eqx.is_array))
    return eqx.tree_at(lambda s: s.target_critic, state, eqx.combine(target, state.target_critic))


def update(state: AgentState, batch: Batch, key: Array, policy: Policy, opt: Optimizers,
           settings: UpdateSettings) -> tuple[AgentState, dict[str, Array]]:
    """One full update: critics toward the soft TD target (actions at ``s'`` from the policy), actor,
    temperature, amortized sampler (if any), targets."""
    k_target, k_actor, k_amortized = jax.random.split(key, 3)
    next_sample = policy(state.actor, state.critic, batch.next_obs, k_target, state.alpha)
    target = soft_td_target(state.target_critic, batch, next_sample, state.alpha, settings.gamma)
    state, critic_metrics = update_critic(state, batch, target, opt)
    state, actor_metrics, sample = update_actor(state, batch, k_actor, policy, opt)
    state, temperature_metrics = update_temperature(state, sample.log_pi, opt, settings)
    metrics = {**critic_metrics, **actor_metrics, **temperature_metrics, **sample.diagnostics}
    if state.amortized is not None:
        state, amortized_metrics = update_amortized(state, batch.obs, k_amortized, sample.actions.shape[-2], opt,
                                                     settings)
        metrics.update(amortized_metrics)
    return update_targets(state, settings.polyak), metrics


UpdateStep = Callable[[AgentState, Batch, Array], tuple[AgentState, dict[str, Array]]]


def scan_updates(step: UpdateStep, state: AgentState, batches: Batch,
                 key: Array) -> tuple[AgentState, dict[str, Array]]:
    """``K`` consecutive updates over stacked batches ``(K, batch, ...)`` in one ``lax.scan``; metrics are
    averaged over the ``K`` updates."""
    # The scan carries the state's arrays only: networks may hold Python callables (flowjax's flows).
    arrays, static = eqx.partition(state, eqx.is_array)

    def body(arrays, inputs):
        new_state, metrics = step(eqx.combine(arrays, static), *inputs)
        return eqx.filter(new_state, eqx.is_array), metrics

    keys = jax.random.split(key, batches.obs.shape[0])
    arrays, metrics = jax.lax.scan(body, arrays, (batches, keys))
    return eqx.combine(arrays, static), jax.tree.map(jnp.mean, metrics)
