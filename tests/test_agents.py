"""Tests of the agents: SAC and the three S2AC variants, their policies, losses and gradients, short training
runs, action selection and saved models (docs/math.md sections 5-7, 10, 11).

The references (the Stein policy's target, its squash correction, the first-order-only gradient) are
written here from docs/math.md, independently of the library's policy code, and compared with it.

JIT compilation dominates the run time, so agents are built and trained once per module and shared, and
XLA's persistent compilation cache (a temporary directory for this session, unless one is configured)
lets agents with the same configuration, here and in ``test_training.py``, reuse each other's programs.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import array_leaves, assert_trees_equal
from jax.flatten_util import ravel_pytree

from s2ac.algorithms import S2AC, SAC, OffPolicyAgent, S2ACConfig, SACConfig, SACNFConfig, SQLConfig
from s2ac.algorithms import actor_critic as ac
from s2ac.policies import PolicySample, select_particle, squash_log_det
from s2ac.stein import normal_log_prob, normal_sample, svgd_sample
from s2ac.training.checkpoint import CheckpointError

ENV = "Pendulum-v1"  # obs_dim 3, action_dim 1, actions in [-2, 2], 200-step episodes
OBS_DIM, ACTION_DIM, ACTION_HIGH = 3, 1, 2.0
SMALL = dict(critic_hidden=(32, 32), actor_hidden=(32, 32), random_steps=100, learning_starts=100,
             update_every=25, batch_size=32, buffer_size=5000, eval_every=125, eval_episodes=1,
             checkpoint_every=100)
S2AC_SMALL = {**SMALL, "amortized_hidden": (32, 32)}
TRAIN_STEPS = 250  # 100 random steps, updates at 100, 125, ..., 250; evaluations at 125 and 250

RUNS = {
    "sac": (SAC, {}),
    "phi": (S2AC, {"variant": "phi"}),
    "phi_theta": (S2AC, {}),
    # The amortized run also covers the authors' code's departures (docs/math.md section 10).
    "amortized_compat": (S2AC, {"variant": "amortized", "authors_compat": True}),
}


def small_agent(cls, seed: int = 0, **overrides):
    return cls(ENV, seed=seed, **(S2AC_SMALL if cls is S2AC else SMALL), **overrides)


def all_leaves_differ(a, b) -> bool:
    """Every weight array (not only some) moved: training reached every layer."""
    return all(not np.array_equal(x, y) for x, y in zip(array_leaves(a), array_leaves(b), strict=True))


def random_batch(seed: int, size: int = 32) -> ac.Batch:
    rng = np.random.default_rng(seed)
    return ac.Batch(obs=jnp.asarray(rng.normal(size=(size, OBS_DIM)), jnp.float32),
                    actions=jnp.asarray(rng.uniform(-1, 1, size=(size, ACTION_DIM)), jnp.float32),
                    rewards=jnp.asarray(rng.normal(size=size), jnp.float32),
                    next_obs=jnp.asarray(rng.normal(size=(size, OBS_DIM)), jnp.float32),
                    terminated=jnp.asarray(rng.uniform(size=size) < 0.2, jnp.float32))


def random_obs(seed: int, size: int = 16) -> jnp.ndarray:
    return jnp.asarray(np.random.default_rng(seed).normal(size=(size, OBS_DIM)), jnp.float32)


def log_one_minus_tanh2(u):
    """The squash correction written naively, as in docs/math.md section 5.3 (c = 1)."""
    return jnp.sum(jnp.log(1.0 - jnp.tanh(u) ** 2), axis=-1)


@pytest.fixture(scope="module")
def trained():
    """``trained(name) -> (agent, initial state)``: each configuration of :data:`RUNS` trained once for
    :data:`TRAIN_STEPS` steps, on first use."""
    cache = {}

    def get(name: str):
        if name not in cache:
            cls, extra = RUNS[name]
            agent = small_agent(cls, **extra)
            initial = agent.state
            agent.learn(TRAIN_STEPS, progress=False)
            cache[name] = (agent, initial)
        return cache[name]

    return get


# ---------------------------------------------------------------------------------------------------------
# 1. S2AC(phi, theta) with L = 0, m = 1 and no truncation is SAC
# ---------------------------------------------------------------------------------------------------------

# SAC's defaults for the activation and the temperature, set for both. With the same sizes as the SAC run of
# RUNS, SAC's update program here is the one that run compiles.
IDENTITY = {**SMALL, "activation": "relu", "autotune_alpha": True}


@pytest.fixture(scope="module")
def identity_pair():
    sac = SAC(ENV, seed=3, **IDENTITY)
    s2ac = S2AC(ENV, seed=3, **IDENTITY, variant="phi_theta", svgd_steps=0, num_particles=1, init_truncation=None,
                init_std_bounds=None)
    return sac, s2ac


def test_identity_initial_states_are_equal(identity_pair):
    sac, s2ac = identity_pair
    assert s2ac.state.actor is not None and s2ac.state.amortized is None
    assert_trees_equal(sac.state, s2ac.state)
    assert sac.settings == s2ac.settings


def test_identity_updates_are_equal(identity_pair):
    """The agents' own jitted update: ``update_every`` consecutive ``update`` steps (a scan) on the same
    batches and key give the same metrics and the same parameters, bitwise."""
    sac, s2ac = identity_pair
    batches = jax.tree.map(lambda *x: jnp.stack(x), *[random_batch(100 + i) for i in range(SMALL["update_every"])])
    key = jax.random.PRNGKey(10)
    sac_state, sac_metrics = sac.update_fn(sac.state, batches, key)
    s2ac_state, s2ac_metrics = s2ac.update_fn(s2ac.state, batches, key)
    assert set(sac_metrics) == set(s2ac_metrics) == {"critic_loss", "actor_loss", "entropy", "alpha",
                                                     "saturated_share", "sigma_min", "sigma_max"}
    for name in sac_metrics:
        assert np.isfinite(float(sac_metrics[name]))
        assert float(sac_metrics[name]) == float(s2ac_metrics[name]), name
    assert_trees_equal(sac_state, s2ac_state)
    # The updates did something: critic, actor and temperature moved away from the initial state.
    initial = sac.state
    assert all_leaves_differ(initial.critic, sac_state.critic)
    assert all_leaves_differ(initial.actor, sac_state.actor)
    assert float(sac_state.log_alpha) != float(initial.log_alpha)


def test_identity_actor_loss_gradients_are_equal(identity_pair):
    obs, key = random_obs(5), jax.random.PRNGKey(6)

    @eqx.filter_jit
    def gradient(actor, critic, alpha, policy):
        return eqx.filter_grad(lambda a: ac.actor_loss(a, critic, obs, key, alpha, policy)[0])(actor)

    g_sac, g_s2ac = (gradient(agent.state.actor, agent.state.critic, agent.state.alpha, agent.policy)
                     for agent in identity_pair)
    assert_trees_equal(g_sac, g_s2ac)
    assert all(np.all(np.isfinite(g)) for g in array_leaves(g_sac))
    assert all(np.abs(g).sum() > 0 for g in array_leaves(g_sac))


# ---------------------------------------------------------------------------------------------------------
# 2. log pi of the Stein policy against the Stein core with a hand-written target
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant, authors_compat", [("phi_theta", False), ("phi", False), ("phi", True)])
def test_stein_policy_log_pi_is_log_q_minus_squash(variant, authors_compat):
    agent = small_agent(S2AC, seed=2, variant=variant, authors_compat=authors_compat)
    cfg, state = agent.config, agent.state
    obs, key, alpha = random_obs(11, 8), jax.random.PRNGKey(12), jnp.asarray(0.35, jnp.float32)
    sample = agent.policy(state.actor, state.critic, obs, key, alpha)

    # Independently: q_0, then L SVGD steps toward the target of docs/math.md section 5.2 (or section 10's).
    if variant == "phi":
        mean = jnp.zeros((obs.shape[0], ACTION_DIM))
        std = jnp.full_like(mean, cfg.init_std)
    else:
        mean, std = state.actor(obs)
    u0, log_q0 = normal_sample(key, mean, std, cfg.num_particles, cfg.init_truncation)
    if authors_compat:
        # The authors score S2AC(phi)'s particles with variance sigma_0, i.e. std sqrt(sigma_0), and ignore
        # the truncation (whose box would not hold the particles under that scale).
        log_q0 = normal_log_prob(u0, mean, jnp.sqrt(std))

        def target(u):
            return state.critic.min_q(obs[:, None, :], u)
    else:
        def target(u):
            return state.critic.min_q(obs[:, None, :], jnp.tanh(u)) / alpha + log_one_minus_tanh2(u)
    assert cfg.min_kernel_variance == "step_size"  # the default: the floor is eps
    core = svgd_sample(target, u0, log_q0, num_steps=cfg.svgd_steps, step_size=cfg.svgd_step_size,
                       kernel_variance=cfg.kernel_variance, max_move=cfg.svgd_max_move,
                       min_kernel_variance=cfg.svgd_step_size)
    u_final = core.particles

    assert sample.actions.shape == (obs.shape[0], cfg.num_particles, ACTION_DIM)
    assert sample.log_pi.shape == (obs.shape[0], cfg.num_particles)
    np.testing.assert_allclose(sample.particles, u_final, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sample.actions, jnp.tanh(u_final), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sample.log_pi, core.log_q - log_one_minus_tanh2(u_final), rtol=1e-4, atol=1e-4)
    # SVGD moved the particles, so the check above is not the L = 0 case.
    assert float(jnp.max(jnp.abs(u_final - u0))) > 1e-3
    assert not np.allclose(core.log_q, log_q0, atol=1e-3)


def test_stein_target_uses_the_temperature():
    """alpha enters the SVGD target (math mode): another alpha moves the particles elsewhere."""
    agent = small_agent(S2AC, seed=2)
    state, obs, key = agent.state, random_obs(11, 8), jax.random.PRNGKey(12)
    hot = agent.policy(state.actor, state.critic, obs, key, jnp.asarray(10.0))
    cold = agent.policy(state.actor, state.critic, obs, key, jnp.asarray(0.01))
    assert not np.allclose(hot.particles, cold.particles, atol=1e-4)


def test_squash_log_det_matches_naive_form_and_is_stable():
    u = jnp.linspace(-4.0, 4.0, 40).reshape(-1, 1)
    np.testing.assert_allclose(squash_log_det(u), jnp.log(1.0 - jnp.tanh(u) ** 2)[:, 0], rtol=1e-4, atol=1e-5)
    # Sums over the last axis, and the bound c adds d log c.
    u2 = u.reshape(-1, 2)
    np.testing.assert_allclose(squash_log_det(u2), jnp.sum(jnp.log(1.0 - jnp.tanh(u2) ** 2), -1),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(squash_log_det(u2, 3.0), squash_log_det(u2) + 2 * math.log(3.0), rtol=1e-6)
    # Far in the tails the naive form gives log(0) = -inf; the stable one is 2 (log 2 - |u|) there.
    far = jnp.array([[30.0], [-30.0]])
    assert np.all(np.isinf(jnp.log(1.0 - jnp.tanh(far) ** 2)))
    value = squash_log_det(far)
    assert np.all(np.isfinite(value))
    np.testing.assert_allclose(value, 2 * (math.log(2.0) - 30.0), rtol=1e-6)
    assert np.all(np.isfinite(jax.grad(lambda x: jnp.sum(squash_log_det(x)))(far)))


# ---------------------------------------------------------------------------------------------------------
# 3. The variants and action selection
# ---------------------------------------------------------------------------------------------------------


def test_phi_variant_has_no_actor_and_reports_actor_loss(trained):
    agent, initial = trained("phi")
    for state in (initial, agent.state):
        assert state.actor is None and state.actor_opt is None and state.amortized is None
    assert len(array_leaves(agent.state)) < len(array_leaves(small_agent(S2AC).state))
    # The actor loss is still computed and reported; only the critic learned.
    assert all(math.isfinite(row["actor_loss"]) for row in agent.trainer.history)
    assert all_leaves_differ(initial.critic, agent.state.critic)


def test_phi_initial_distribution_is_the_fixed_gaussian():
    """S2AC(phi) with L = 0: particles are N(0, sigma_0^2) truncated at 3 sigma_0, scored with that density."""
    agent = small_agent(S2AC, variant="phi", svgd_steps=0, init_std=0.7, num_particles=512)
    obs = random_obs(1, 4)
    sample = agent.policy(None, agent.state.critic, obs, jax.random.PRNGKey(0), agent.state.alpha)
    u = np.asarray(sample.particles)
    assert np.abs(u).max() <= 3 * 0.7 + 1e-6
    assert abs(u.std() - 0.7 * 0.9866) < 0.05  # the 3-sigma truncated normal's std is 0.9866 sigma
    z = 0.7 * np.sqrt(2 * np.pi) * math.erf(3 / math.sqrt(2))
    expected = -u[..., 0] ** 2 / (2 * 0.7**2) - math.log(z) - np.asarray(log_one_minus_tanh2(u))
    np.testing.assert_allclose(sample.log_pi, expected, rtol=1e-4, atol=1e-4)


def test_amortized_selection_needs_the_amortized_variant():
    with pytest.raises(ValueError, match="variant='amortized'"):
        S2ACConfig(train_selection="amortized")
    with pytest.raises(ValueError, match="variant='amortized'"):
        S2ACConfig(eval_selection="amortized", variant="phi")
    agent = small_agent(S2AC)
    with pytest.raises(ValueError, match="amortized"):
        agent.predict(np.zeros(OBS_DIM), mode="amortized", key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="unknown action selection"):
        agent.predict(np.zeros(OBS_DIM), mode="greedy", key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="'train' and 'eval'"):
        small_agent(SAC).predict(np.zeros(OBS_DIM), mode="max_q", key=jax.random.PRNGKey(0))


def test_amortized_sampler_learns_and_selects(trained):
    agent, initial = trained("amortized_compat")
    assert initial.amortized is not None and agent.state.amortized is not None
    assert all_leaves_differ(initial.amortized, agent.state.amortized)
    obs = np.asarray(random_obs(3, 64))
    a1 = agent.predict(obs, mode="amortized", key=jax.random.PRNGKey(1))
    a2 = agent.predict(obs, mode="amortized", key=jax.random.PRNGKey(2))
    assert a1.shape == (64, ACTION_DIM) and np.all(np.abs(a1) <= ACTION_HIGH)
    assert not np.allclose(a1, a2)  # f_psi(s, xi) is stochastic in xi
    # It is the sampler's own output, rescaled to the environment's box.
    expected = agent.state.amortized.sample(jnp.asarray(obs), jax.random.PRNGKey(1), 1)[:, 0]
    np.testing.assert_allclose(a1, ACTION_HIGH * np.asarray(expected), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def selections(trained):
    """The selection rules applied, in one jitted program, to particles (any will do: here squashed
    Gaussian draws, 10 per state) scored by the trained S2AC(phi, theta)'s critic."""
    agent, _ = trained("phi_theta")
    obs = random_obs(9, 64)
    particles = jnp.tanh(1.5 * jax.random.normal(jax.random.PRNGKey(0), (64, agent.config.num_particles, 1)))

    @jax.jit
    def run(critic, alpha):
        q = critic.min_q(obs[:, None, :], particles)
        warm = jnp.std(q[0])

        def pick(key, mode, alpha=alpha):
            return select_particle(critic, obs, particles, key, mode, jnp.asarray(alpha))

        keys = jax.random.split(jax.random.PRNGKey(2), 400)
        many = {name: jax.vmap(lambda k, mode=mode, alpha=alpha: pick(k, mode, alpha)[0, 0])(keys)
                for name, mode, alpha in [("random", "random", 0.2), ("hot", "softmax", 1e6),
                                          ("warm", "softmax", warm)]}
        key = jax.random.PRNGKey(1)
        chosen = {mode: pick(key, mode) for mode in ("random", "max_q", "softmax")}
        return particles, q, warm, pick(key, "softmax", 1e-9), many, chosen

    return agent, jax.tree.map(np.asarray, run(agent.state.critic, agent.state.alpha))


@pytest.mark.parametrize("mode", ["random", "max_q", "softmax"])
def test_selection_modes_stay_in_the_action_box(selections, mode):
    agent, (particles, *_, chosen) = selections
    actions = agent.scaler.to_env(chosen[mode])  # what predict() does with the selected particle
    assert actions.shape == (64, ACTION_DIM) and actions.dtype == np.float32
    assert np.all(np.abs(actions) <= ACTION_HIGH)
    assert np.abs(actions).max() > 1.0  # rescaled from [-1, 1] to [-2, 2], not just clipped to it
    # One of each state's particles.
    assert all(chosen[mode][b, 0] in particles[b, :, 0] for b in range(64))


def test_predict_acts_in_the_action_box(trained):
    """``predict`` for single observations, in the training ("train": random particle) and evaluation
    ("eval": max_q) modes of the trained S2AC(phi, theta), deterministic given the key. (Batches of
    observations go through the same code; single ones reuse what the training loop compiled.)"""
    agent, _ = trained("phi_theta")
    obs = np.asarray(random_obs(12, 24))
    for deterministic in (True, False):
        actions = np.stack([agent.predict(o, deterministic=deterministic, key=jax.random.PRNGKey(i))
                            for i, o in enumerate(obs)])
        assert actions.shape == (24, ACTION_DIM) and np.all(np.abs(actions) <= ACTION_HIGH)
        assert np.abs(actions).max() > 1.0 and len(np.unique(actions)) == 24
        again = agent.predict(obs[3], deterministic=deterministic, key=jax.random.PRNGKey(3))
        np.testing.assert_array_equal(again, actions[3])


def test_select_particle_rules(selections):
    agent, (actions, q, warm, cold, many, chosen) = selections
    rows, m, best = np.arange(actions.shape[0]), agent.config.num_particles, chosen["max_q"]
    np.testing.assert_array_equal(best, actions[rows, q.argmax(-1)])
    assert len(set(q.argmax(-1).tolist())) > 1  # not always the same index
    np.testing.assert_array_equal(cold, best)  # softmax over Q / alpha tends to the max as alpha -> 0

    def counts(chosen):
        index = [np.flatnonzero(actions[0, :, 0] == c)[0] for c in chosen]
        return np.bincount(index, minlength=m)

    assert len(np.unique(actions[0, :, 0])) == m
    assert 15 < counts(many["random"]).min() and counts(many["random"]).max() < 70  # 40 expected each
    assert counts(many["hot"]).min() > 15  # alpha -> infinity: uniform
    expected = np.exp((q[0] - q[0].max()) / warm)
    expected = 400 * expected / expected.sum()
    assert np.abs(counts(many["warm"]) - expected).max() < 4 * np.sqrt(expected.max()) + 5
    assert counts(many["warm"])[q[0].argmax()] > counts(many["warm"])[q[0].argmin()]


# ---------------------------------------------------------------------------------------------------------
# 4. The actor gradient goes through the SVGD steps, second order included
# ---------------------------------------------------------------------------------------------------------


def test_actor_gradient_through_svgd_matches_finite_differences():
    """The library's reverse-mode actor gradient of S2AC(phi, theta), L = 3, against central finite
    differences in float64 along a random direction. The kernel variance is fixed: a heuristic one depends on
    the particles with its gradient stopped by design, which finite differences would not see. As a power
    check, the same loss with the SVGD scores' dependence on the particles cut (first-order only: what one
    gets without keeping the graph of grad_a Q) gives a clearly different directional derivative."""
    agent = small_agent(S2AC, seed=1, svgd_steps=3, kernel_variance=0.5)
    cfg = agent.config
    with jax.enable_x64(True):
        state = jax.tree.map(lambda x: x.astype(jnp.float64) if eqx.is_inexact_array(x) else x, agent.state)
        obs = jnp.asarray(np.random.default_rng(0).normal(size=(8, OBS_DIM)))
        key, alpha = jax.random.PRNGKey(7), state.alpha
        params, static = eqx.partition(state.actor, eqx.is_array)
        flat, unravel = ravel_pytree(params)
        assert flat.dtype == jnp.float64

        def first_order_policy(actor, critic, obs, key, alpha):
            mean, std = actor(obs)
            u0, log_q0 = normal_sample(key, mean, std, cfg.num_particles, cfg.init_truncation)

            def log_p(u):
                return critic.min_q(obs[:, None, :], jnp.tanh(u)) / alpha + log_one_minus_tanh2(u)

            def cut(u):  # same scores, but their derivative in u is zero
                grad = jax.grad(lambda x: jnp.sum(log_p(x)))(u)
                return jnp.sum(jax.lax.stop_gradient(grad) * u, axis=-1)

            result = svgd_sample(cut, u0, log_q0, num_steps=cfg.svgd_steps, step_size=cfg.svgd_step_size,
                                 kernel_variance=cfg.kernel_variance)
            u = result.particles
            return PolicySample(jnp.tanh(u), result.log_q - log_one_minus_tanh2(u), u)

        def loss(flat_params, policy):
            actor = eqx.combine(unravel(flat_params), static)
            return ac.actor_loss(actor, state.critic, obs, key, alpha, policy)[0]

        @jax.jit
        def evaluate(flat_params, direction, h):
            full = functools.partial(loss, policy=agent.policy)
            value, grad = jax.value_and_grad(full)(flat_params)
            grad_cut = jax.grad(functools.partial(loss, policy=first_order_policy))(flat_params)
            plus, minus = full(flat_params + h * direction), full(flat_params - h * direction)
            return value, grad, grad_cut, (plus - minus) / (2 * h)

        direction = jax.random.normal(jax.random.PRNGKey(3), flat.shape, flat.dtype)
        direction = direction / jnp.linalg.norm(direction)
        value, grad, grad_cut, finite_difference = evaluate(flat, direction, 1e-4)
        directional = float(grad @ direction)
        assert np.all(np.isfinite(grad)) and float(jnp.linalg.norm(grad)) > 0
        assert abs(directional) > 1e-6
        np.testing.assert_allclose(directional, float(finite_difference), rtol=1e-6)
        # The first-order gradient is wrong by far more than the tolerance above.
        assert abs(float(grad_cut @ direction) - directional) > 0.05 * abs(directional)
        assert float(jnp.linalg.norm(grad - grad_cut)) > 0.05 * float(jnp.linalg.norm(grad))


# ---------------------------------------------------------------------------------------------------------
# 5. Short training runs
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(RUNS))
def test_short_training_run(trained, name):
    agent, initial = trained(name)
    trainer = agent.trainer
    assert trainer.step == TRAIN_STEPS and trainer.episode == 1
    # The buffer holds every transition, consecutive within an episode (Pendulum resets at step 200).
    buffer = trainer.buffer
    assert len(buffer) == TRAIN_STEPS and buffer.position == TRAIN_STEPS
    np.testing.assert_array_equal(buffer.next_obs[:199], buffer.obs[1:200])
    np.testing.assert_array_equal(buffer.next_obs[200:TRAIN_STEPS - 1], buffer.obs[201:TRAIN_STEPS])
    assert not np.array_equal(buffer.next_obs[199], buffer.obs[200])
    assert np.all(np.abs(buffer.actions[:TRAIN_STEPS]) <= 1.0) and not np.any(buffer.terminated[:TRAIN_STEPS])
    rows = trainer.history
    assert [row["step"] for row in rows] == [125, 250]
    for row in rows:
        for column in ("eval_return_mean", "eval_return_std", "critic_loss", "actor_loss", "entropy", "alpha"):
            assert math.isfinite(row[column]), (column, row)
        assert -200 * 16.3 <= row["eval_return_mean"] <= 0.0  # Pendulum's reward lies in [-16.3, 0]
    assert math.isfinite(rows[-1]["train_return"])  # one full training episode by step 250
    # Every network that learns has moved, in every layer.
    assert all_leaves_differ(initial.critic, agent.state.critic)
    assert not all(np.array_equal(x, y) for x, y in zip(array_leaves(initial.target_critic),
                                                         array_leaves(agent.state.target_critic), strict=True))
    if agent.state.actor is not None:
        assert all_leaves_differ(initial.actor, agent.state.actor)
    else:
        assert name == "phi"
    assert rows[-1]["alpha"] != pytest.approx(0.2, abs=1e-4)  # tuned by default, SAC's and S2AC's alike
    assert all(np.all(np.isfinite(x)) for x in array_leaves(agent.state))


# ---------------------------------------------------------------------------------------------------------
# 6. Saved models
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sac", "phi_theta", "amortized_compat"])
def test_save_load_round_trip(trained, tmp_path, name):
    agent, _ = trained(name)
    path = agent.save(tmp_path / "model.npz")
    cls = type(agent)
    for loaded in (cls.load(path), OffPolicyAgent.load(path)):
        assert type(loaded) is cls
        assert loaded.config == agent.config and loaded.seed == agent.seed and loaded.env_id == ENV
        assert_trees_equal(loaded.state, agent.state)
    # Single observations: the shapes that the training loop has compiled already.
    for i, obs in enumerate(np.asarray(random_obs(10, 3))):
        key = jax.random.PRNGKey(i)
        for deterministic in (True, False):
            np.testing.assert_array_equal(loaded.predict(obs, deterministic=deterministic, key=key),
                                          agent.predict(obs, deterministic=deterministic, key=key))


def test_load_checks_the_algorithm(trained, tmp_path):
    sac_path = trained("sac")[0].save(tmp_path / "sac.npz")
    s2ac_path = trained("phi")[0].save(tmp_path / "s2ac.npz")
    with pytest.raises(CheckpointError, match="'s2ac' agent, not 'sac'"):
        SAC.load(s2ac_path)
    with pytest.raises(CheckpointError, match="'sac' agent, not 's2ac'"):
        S2AC.load(sac_path)
    assert isinstance(OffPolicyAgent.load(sac_path), SAC)
    loaded = OffPolicyAgent.load(s2ac_path)
    assert isinstance(loaded, S2AC) and loaded.config.variant == "phi" and loaded.state.actor is None
    with pytest.raises(CheckpointError, match="no checkpoint or model file"):
        SAC.load(tmp_path / "missing.npz")


# ---------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, overrides, message", [
    (SAC, {"critic_lr": -1e-3}, "critic_lr"),
    (SAC, {"actor_lr": 0}, "actor_lr"),
    (SAC, {"gamma": 1.5}, "gamma"),
    (SAC, {"polyak": 1.0}, "polyak"),
    (SAC, {"batch_size": 0}, "batch_size"),
    (SAC, {"buffer_size": 10, "batch_size": 32}, "buffer_size"),
    (SAC, {"critic_hidden": ()}, "critic_hidden"),
    (SAC, {"activation": "swish"}, "activation"),
    (SAC, {"learing_rate": 1e-3}, "unknown config key"),
    (SAC, {"svgd_steps": 3}, "unknown config key"),  # an S2AC key given to SAC
    (S2AC, {"variant": "psi"}, "variant"),
    (S2AC, {"num_particles": 1, "svgd_steps": 3}, "at least 2 particles"),
    (S2AC, {"num_particles": 0, "svgd_steps": 0}, "num_particles"),
    (S2AC, {"kernel_variance": "foo"}, "kernel_variance='foo': unknown kernel variance heuristic"),
    (S2AC, {"kernel_variance": -1.0}, "kernel_variance"),
    (S2AC, {"svgd_step_size": 0.0}, "svgd_step_size"),
    (S2AC, {"init_truncation": 0.0}, "init_truncation"),
    (S2AC, {"log_det": "logdet"}, "log_det"),
    (S2AC, {"batch_size": 1.5}, "batch_size"),
    (S2AC, {"autotune_alpha": "yes"}, "autotune_alpha"),
])
def test_invalid_config_values_raise(cls, overrides, message):
    with pytest.raises(ValueError, match=message):
        cls(ENV, **overrides)


def test_config_checks_types_and_seed():
    with pytest.raises(ValueError, match="needs a SACConfig"):
        SAC(ENV, config=S2ACConfig())
    with pytest.raises(ValueError, match="seed"):
        SAC(ENV, seed=-1)
    config = SACConfig.from_dict({"alpha": 1, "critic_hidden": [64, 64], "target_entropy": None})
    assert config.alpha == 1.0 and isinstance(config.alpha, float)
    assert config.critic_hidden == (64, 64)
    assert SACConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("cls, field, value, message", [
    (SACConfig, "critic_lr", math.inf, "must be a finite number"),
    (SACConfig, "alpha", math.nan, "must be a finite number"),
    (SACConfig, "target_entropy", -math.inf, "must be a finite number"),
    (SACConfig, "gamma", True, "must be a number, not true/false"),
    (SACConfig, "batch_size", True, "must be a number, not true/false"),
    (SACConfig, "random_steps", False, "must be a number, not true/false"),
    (SACConfig, "critic_hidden", (64, True), "must hold numbers, not true/false"),
    (SACConfig, "autotune_alpha", 1, "must be true or false"),
    (S2ACConfig, "svgd_step_size", math.inf, "must be a finite number"),
    (S2ACConfig, "kernel_variance", math.nan, "must be a finite number"),
    (S2ACConfig, "init_truncation", math.inf, "must be a finite number"),
    (S2ACConfig, "num_particles", True, "must be a number, not true/false"),
    (SQLConfig, "value_samples", True, "must be a number, not true/false"),
    (SACNFConfig, "flow_width", True, "must be a number, not true/false"),
])
def test_configs_built_directly_reject_non_finite_numbers_and_booleans(cls, field, value, message):
    # from_dict coerced JSON types already; a config built in Python went unchecked (SACConfig(critic_lr=inf)).
    with pytest.raises(ValueError, match=f"invalid config value {field}=.*: {message}"):
        cls(**{field: value})
    with pytest.raises(ValueError, match="critic_lr=inf: must be a finite number"):
        SACConfig().with_overrides(["critic_lr=Infinity"])  # JSON's spelling, as --set takes it


@pytest.mark.parametrize("assignment, key, value", [
    ("critic_hidden=[64, 64]", "critic_hidden", (64, 64)),
    ("target_entropy=null", "target_entropy", None),
    ("target_entropy=-2", "target_entropy", -2.0),
    ("init_truncation=null", "init_truncation", None),
    ("kernel_variance=median", "kernel_variance", "median"),
    ("kernel_variance=0.5", "kernel_variance", 0.5),
    ("variant=phi", "variant", "phi"),
    ("activation=tanh", "activation", "tanh"),
    ("autotune_alpha=true", "autotune_alpha", True),
    ("svgd_steps=5", "svgd_steps", 5),
    ("alpha=1", "alpha", 1.0),
    ("eval_selection=softmax", "eval_selection", "softmax"),
])
def test_set_overrides_parse_json_values(assignment, key, value):
    config = S2ACConfig().with_overrides([assignment])
    assert getattr(config, key) == value
    assert type(getattr(config, key)) is type(value)


@pytest.mark.parametrize("assignment, message", [
    ("svgd_steps", "key=value"),
    ("svgd_steps=3.5", "svgd_steps"),
    ('svgd_steps="3"', "svgd_steps"),
    ("critic_hidden=64", "critic_hidden"),
    ("critic_hidden=[64, -1]", "critic_hidden"),
    ("gamma=true", "gamma"),
    ("nonsense=1", "unknown config key"),
    ("variant=psi", "variant"),
])
def test_set_overrides_reject_bad_values(assignment, message):
    with pytest.raises(ValueError, match=message):
        S2ACConfig().with_overrides([assignment])


# --- `bandwidth`, the former name of `kernel_variance`, is still read wherever a config is --------------------

@pytest.mark.parametrize("cls", [S2ACConfig, SQLConfig])
def test_a_config_saved_with_bandwidth_loads_as_kernel_variance(cls):
    values = {**cls().to_dict(), "num_particles": 12}
    del values["kernel_variance"]
    for value in (1.0, 3, "mean"):
        old = cls.from_dict({**values, "bandwidth": value})
        assert old == cls.from_dict({**values, "kernel_variance": value})
        assert old.kernel_variance == value and "bandwidth" not in old.to_dict()
    with pytest.raises(ValueError, match="'bandwidth' and 'kernel_variance' both given"):
        cls.from_dict({"bandwidth": 1.0, "kernel_variance": 1.0})
    with pytest.raises(ValueError, match="kernel_variance=-1.0"):  # checked as the field it names
        cls.from_dict({"bandwidth": -1.0})
    # Only where the field is: SAC never had a kernel.
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['bandwidth'\]"):
        SACConfig.from_dict({"bandwidth": 1.0})


def test_set_bandwidth_sets_kernel_variance():
    from s2ac.algorithms.presets import make_agent

    assert S2ACConfig().with_overrides(["bandwidth=1.0"]) == S2ACConfig(kernel_variance=1.0)
    assert S2ACConfig().with_overrides(["bandwidth=median"]).kernel_variance == "median"
    # In order, like any key given twice.
    assert S2ACConfig().with_overrides(["bandwidth=1.0", "kernel_variance=2.0"]).kernel_variance == 2.0
    assert S2ACConfig().with_overrides(["kernel_variance=2.0", "bandwidth=1.0"]).kernel_variance == 1.0
    agent = make_agent("s2ac_phi_theta", ENV, assignments=["bandwidth=1.0"], **S2AC_SMALL)
    assert agent.config.kernel_variance == 1.0 and agent.settings.amortized_kernel_variance == 1.0
    assert make_agent("sql", ENV, assignments=["bandwidth=mean"], **SMALL).config.kernel_variance == "mean"
    # Keyword overrides of an agent too.
    assert small_agent(S2AC, bandwidth=0.5).config == small_agent(S2AC, kernel_variance=0.5).config
    with pytest.raises(ValueError, match="'bandwidth' and 'kernel_variance' both given"):
        small_agent(S2AC, config=S2ACConfig(), bandwidth=0.5, kernel_variance=0.5)


def test_a_model_saved_with_bandwidth_loads(tmp_path):
    from s2ac import checkpoint

    agent = small_agent(S2AC, kernel_variance=0.5)
    path = agent.save(tmp_path / "model.npz")
    arrays, meta = checkpoint.read(path)
    meta["config"]["bandwidth"] = meta["config"].pop("kernel_variance")
    checkpoint.write_atomically(path, arrays, meta)
    loaded = OffPolicyAgent.load(path)
    assert loaded.config == agent.config and loaded.config.kernel_variance == 0.5
    assert_trees_equal(loaded.state, agent.state)


def test_a_run_directory_written_with_bandwidth_is_the_same_run(tmp_path):
    """A run stopped before its first checkpoint, its config.json written under the former name, is started
    again rather than refused as another run."""
    import json

    from s2ac.training.files import CONFIG_FILE
    from s2ac.training.loop import Trainer

    agent = small_agent(S2AC)
    description = agent.describe()
    description["config"]["bandwidth"] = description["config"].pop("kernel_variance")
    (tmp_path / CONFIG_FILE).write_text(json.dumps({**description, "total_steps": 10}))
    assert Trainer(agent, tmp_path).restarting
    other = small_agent(S2AC, kernel_variance=0.5)
    with pytest.raises(ValueError, match="config values kernel_variance differ"):
        Trainer(other, tmp_path)




def test_authors_compat_phi_scores_every_particle_for_wide_initial_gaussians():
    """Regression: the compat log q_0 once kept the truncation box at the wrong scale, so with sigma_0 > 1
    edge particles got log q_0 = -inf."""
    agent = small_agent(S2AC, variant="phi", authors_compat=True, init_std=2.0, svgd_steps=1)
    obs = jnp.zeros((64, OBS_DIM))
    sample = agent.policy(None, agent.state.critic, obs, jax.random.PRNGKey(0), agent.state.alpha)
    assert bool(jnp.all(jnp.isfinite(sample.log_pi)))


def test_review_regressions_in_config_and_selection():
    from s2ac import SQLConfig
    from s2ac.policies import select_particle

    with pytest.raises(ValueError, match="num_particles"):
        S2ACConfig(variant="amortized", num_particles=1, svgd_steps=0)
    with pytest.raises(ValueError, match="autotune_alpha"):
        SQLConfig(autotune_alpha=True)
    critic = small_agent(SAC).state.critic
    with pytest.raises(ValueError, match="select_particle"):
        select_particle(critic, jnp.zeros((2, OBS_DIM)), jnp.zeros((2, 3, ACTION_DIM)), jax.random.PRNGKey(0),
                        "amortized", jnp.asarray(1.0))


@pytest.mark.parametrize("name", ["s2ac_phi", "s2ac_phi_theta", "s2ac_amortized", "sac", "sql", "sacnf"])
def test_sample_gives_policy_draws_with_their_log_density_whatever_the_algorithm(name):
    from s2ac.algorithms.presets import make_agent

    agent = make_agent(name, "s2ac/MultiGoalMaxEnt-v0", 0, critic_hidden=(8, 8), actor_hidden=(8, 8),
                       **({"amortized_hidden": (8, 8)} if name in ("s2ac_amortized", "sql") else {}))
    obs = np.array([[0.0, 0.0], [1.0, -2.0], [3.0, 3.0]], np.float32)
    actions, log_pi = agent.sample(obs, 25, jax.random.PRNGKey(0))
    assert actions.shape == (3, 25, 2) and np.all(np.abs(actions) <= 1.0) and np.all(np.isfinite(actions))
    # Draws differ from one another (a policy, not a point), and the same key gives the same draws.
    assert np.unique(actions.reshape(-1, 2), axis=0).shape[0] > 25
    np.testing.assert_array_equal(agent.sample(obs, 25, jax.random.PRNGKey(0))[0], actions)
    if name in ("sql", "s2ac_amortized"):
        assert log_pi is None  # f_psi, the policy they act with, has an implicit density
    else:
        assert log_pi.shape == (3, 25) and np.all(np.isfinite(log_pi))
    expected_mode = {"s2ac_amortized": "amortized", "s2ac_phi": "softmax", "s2ac_phi_theta": "softmax"}
    assert agent.stochastic_mode == expected_mode.get(name, "train")
    q0 = agent.initial_distribution(obs)
    if name in ("s2ac_phi_theta", "s2ac_amortized"):
        assert q0[0].shape == (3, 2) and np.all((q0[1] >= 0.1 - 1e-6) & (q0[1] <= 0.5 + 1e-6))
    else:
        assert q0 is None
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        agent.sample(obs, 0, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="observation has shape"):
        agent.sample(np.zeros((3, 5)), 2, jax.random.PRNGKey(0))


def test_evaluate_can_keep_every_info():
    from s2ac.training.evaluation import evaluate

    agent = SAC("s2ac/MultiGoalMaxEnt-v0", seed=0, critic_hidden=(8, 8), actor_hidden=(8, 8))
    env = gym.make("s2ac/MultiGoalMaxEnt-v0")
    result = evaluate(agent, env, 3, seed=1, mode="train", record_infos=True)
    assert [len(infos) for infos in result.infos] == [n + 1 for n in result.lengths]  # the reset's, then each step's
    assert all("position" in info for infos in result.infos for info in infos)
    assert evaluate(agent, env, 2, seed=1).infos is None
