"""Tests of SGLD, DLD and HMC with the change-of-variables bookkeeping (docs/math.md section 9), and of the
shared chain machinery (``run_chain``, ``per_particle_jacobian``, ``score``, ``entropy_estimate``).

References are written independently of the library: for a Gaussian target the Langevin drift is affine
with Jacobian ``I - eps cov^{-1}``, and HMC's position map is rebuilt with a leapfrog of our own.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_trajectory_consistent

from s2ac.stein import (
    Gaussian,
    dld_sample,
    entropy_estimate,
    hmc_sample,
    langevin_sample,
    leapfrog,
    log_abs_det_jacobian,
    per_particle_jacobian,
    run_chain,
    score,
    sgld_sample,
)

# Compile-time dominates these small tests on CPU: skip XLA's backend optimisations, per function (no global
# flag), which about halves compilation and hardly changes the run time at these sizes.
cjit = partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})

SAMPLERS = {"sgld": sgld_sample, "dld": dld_sample, "hmc": hmc_sample}


def jit(fn, *args, **static):
    """``fn`` with leading arguments and keyword arguments fixed, jitted: one compilation per test rather
    than the many eager ones that dominate small tests on CPU."""
    return cjit(partial(fn, *args, **static))


def _gaussian(d=2):
    cov = jnp.array([[1.0, 0.4, 0.0], [0.4, 0.8, 0.1], [0.0, 0.1, 0.5]])[:d, :d]
    return Gaussian(jnp.array([0.5, -1.0, 0.2])[:d], cov)


def _quartic(x):
    """A non-Gaussian target, (..., d) -> (...): its Hessian varies with ``x``."""
    return -0.5 * jnp.sum(x**2, axis=-1) - 0.1 * jnp.sum(x**4, axis=-1) + jnp.sum(jnp.sin(x), axis=-1)


def _start(key, batch=2, m=3, d=2):
    particles = jax.random.normal(key, (batch, m, d))
    return particles, jnp.linspace(-2.0, -1.0, batch * m).reshape(batch, m)


# ---------------------------------------------------------------------------------------------------------
# Shapes, determinism, L = 0
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SAMPLERS))
def test_shapes_and_trajectory(name):
    particles, log_q0 = _start(jax.random.PRNGKey(0))
    num_steps = 3
    run = jit(SAMPLERS[name], _quartic, num_steps=num_steps, step_size=0.1, return_trajectory=True)
    result = run(particles, log_q0, key=jax.random.PRNGKey(1))
    assert_trajectory_consistent(result, particles, log_q0, num_steps)
    assert np.all(np.isfinite(np.asarray(result.log_q)))
    assert not np.allclose(np.asarray(result.particles), np.asarray(particles))


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_zero_steps_return_inputs_bitwise(name):
    particles, log_q0 = _start(jax.random.PRNGKey(2))
    for trajectory in (False, True):
        result = SAMPLERS[name](_quartic, particles, log_q0, key=jax.random.PRNGKey(3), num_steps=0,
                                step_size=0.1, return_trajectory=trajectory)
        np.testing.assert_array_equal(np.asarray(result.particles), np.asarray(particles))
        np.testing.assert_array_equal(np.asarray(result.log_q), np.asarray(log_q0))
        if trajectory:
            assert result.particles_trajectory.shape == (1, *particles.shape)
            np.testing.assert_array_equal(np.asarray(result.particles_trajectory[0]), np.asarray(particles))
            np.testing.assert_array_equal(np.asarray(result.log_q_trajectory[0]), np.asarray(log_q0))


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_a_single_particle_is_enough(name):
    """Unlike SVGD, these samplers move each particle on its own: ``m = 1`` is valid."""
    particles, log_q0 = _start(jax.random.PRNGKey(4), m=1)
    result = jit(SAMPLERS[name], _quartic, num_steps=2, step_size=0.1)(particles, log_q0,
                                                                      key=jax.random.PRNGKey(5))
    assert result.particles.shape == (2, 1, 2) and np.all(np.isfinite(np.asarray(result.log_q)))


def test_dld_is_deterministic_and_sgld_is_not():
    particles, log_q0 = _start(jax.random.PRNGKey(6))
    dld = jit(dld_sample, _quartic, num_steps=4, step_size=0.1)
    sgld = jit(sgld_sample, _quartic, num_steps=4, step_size=0.1)
    key_a, key_b = jax.random.PRNGKey(7), jax.random.PRNGKey(8)

    dld_a, dld_b = dld(particles, log_q0, key=key_a), dld(particles, log_q0, key=key_b)
    np.testing.assert_array_equal(np.asarray(dld_a.particles), np.asarray(dld_b.particles))
    np.testing.assert_array_equal(np.asarray(dld_a.log_q), np.asarray(dld_b.log_q))

    sgld_a, sgld_b = sgld(particles, log_q0, key=key_a), sgld(particles, log_q0, key=key_b)
    assert np.min(np.abs(np.asarray(sgld_a.particles - sgld_b.particles))) > 0
    # ... but reproducible for a fixed key.
    np.testing.assert_array_equal(np.asarray(sgld(particles, log_q0, key=key_a).particles),
                                  np.asarray(sgld_a.particles))
    # sgld / dld are langevin_sample with and without noise.
    lang = jit(langevin_sample, _quartic, num_steps=4, step_size=0.1, noise=False)
    np.testing.assert_allclose(np.asarray(lang(particles, log_q0, key=key_b).particles),
                               np.asarray(dld_a.particles), rtol=1e-6)


def test_hmc_depends_on_key():
    particles, log_q0 = _start(jax.random.PRNGKey(9))
    hmc = jit(hmc_sample, _quartic, num_steps=2, step_size=0.1)
    a, b = hmc(particles, log_q0, key=jax.random.PRNGKey(10)), hmc(particles, log_q0, key=jax.random.PRNGKey(11))
    assert np.min(np.abs(np.asarray(a.particles - b.particles))) > 0


# ---------------------------------------------------------------------------------------------------------
# Langevin bookkeeping against a Gaussian target
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("noise", [False, True], ids=["dld", "sgld"])
def test_langevin_log_det_for_gaussian_target(noise):
    """For ``N(mu, C)`` the drift ``x + eps grad log p`` has Jacobian ``I - eps C^{-1}`` everywhere, so each
    step's log-det is ``log|det(I - eps C^{-1})|`` and ``log q_L = log q_0 - L * that`` (noise or not)."""
    eps, num_steps, d = 0.15, 5, 3
    with jax.enable_x64(True):
        target = _gaussian(d)
        particles, log_q0 = _start(jax.random.PRNGKey(12), batch=2, m=4, d=d)
        run = jit(langevin_sample, target.log_prob, num_steps=num_steps, step_size=eps, noise=noise,
                  return_trajectory=True)
        result = run(particles, log_q0, key=jax.random.PRNGKey(13))
        step_matrix = np.eye(d) - eps * np.linalg.inv(np.asarray(target.cov))
        per_step = np.linalg.slogdet(step_matrix)[1]
        assert abs(per_step) > 0.1
        np.testing.assert_allclose(np.asarray(result.log_q), np.asarray(log_q0) - num_steps * per_step,
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.diff(np.asarray(result.log_q_trajectory), axis=0), -per_step, rtol=1e-12)
        if not noise:
            # DLD's particles follow the affine recursion x - mu <- (I - eps C^{-1}) (x - mu).
            mu = np.asarray(target.mean)
            want = (np.asarray(particles) - mu) @ np.linalg.matrix_power(step_matrix, num_steps).T + mu
            np.testing.assert_allclose(np.asarray(result.particles), want, rtol=1e-12, atol=1e-12)


def test_sgld_noise_scale_gives_the_discretised_stationary_variance():
    """``x <- (1 - eps / s^2) x + sqrt(2 eps) xi`` for ``N(0, s^2)`` has stationary variance
    ``s^2 / (1 - eps / (2 s^2))``: checks the ``sqrt(2 eps)`` noise scale."""
    eps, s, num_steps = 1.0, 1.5, 15  # the start's excess variance decays as (1 - eps / s^2)^(2 L) ~ 2e-8
    target = Gaussian(jnp.zeros(1), jnp.array([[s**2]]))
    particles = s * jax.random.normal(jax.random.PRNGKey(14), (4, 2000, 1))
    log_q0 = jnp.zeros((4, 2000))
    result = jit(sgld_sample, target.log_prob, num_steps=num_steps, step_size=eps)(particles, log_q0,
                                                                                  key=jax.random.PRNGKey(15))
    want = s**2 / (1.0 - eps / (2.0 * s**2))  # 29% above s^2: the test sees the discretisation
    assert float(jnp.var(result.particles)) == pytest.approx(want, rel=0.04)
    assert abs(float(jnp.mean(result.particles))) < 0.06
    # Without the noise, the variance collapses toward the mode.
    dld = jit(dld_sample, target.log_prob, num_steps=num_steps, step_size=eps)(particles, log_q0,
                                                                              key=jax.random.PRNGKey(15))
    assert float(jnp.var(dld.particles)) < 1e-3 * s**2


# ---------------------------------------------------------------------------------------------------------
# HMC
# ---------------------------------------------------------------------------------------------------------

def _my_leapfrog(log_p_one, x, v, eps, num_leapfrog):
    """Leapfrog for one particle ``x`` (d,) with unit mass, written out independently."""
    grad = jax.grad(log_p_one)
    for _ in range(num_leapfrog):
        v = v + 0.5 * eps * grad(x)
        x = x + eps * v
        v = v + 0.5 * eps * grad(x)
    return x, v


def test_hmc_log_det_for_gaussian_target():
    """For a Gaussian target the leapfrog position map is affine in ``x`` for fixed ``v``, with a Jacobian
    that does not depend on ``v``: each step's log-det is a constant we compute with our own leapfrog."""
    eps, num_leapfrog, num_steps, d = 0.2, 4, 3, 3
    with jax.enable_x64(True):
        target = _gaussian(d)
        particles, log_q0 = _start(jax.random.PRNGKey(16), batch=2, m=3, d=d)
        run = jit(hmc_sample, target.log_prob, num_steps=num_steps, step_size=eps, num_leapfrog=num_leapfrog)
        result = run(particles, log_q0, key=jax.random.PRNGKey(17))
        jac = cjit(jax.jacfwd(lambda x: _my_leapfrog(target.log_prob, x, jnp.zeros(d), eps, num_leapfrog)[0]))(
            jnp.zeros(d))
        per_step = float(jnp.linalg.slogdet(jac)[1])
        assert abs(per_step) > 0.1
        np.testing.assert_allclose(np.asarray(result.log_q), np.asarray(log_q0) - num_steps * per_step,
                                   rtol=1e-12, atol=1e-12)


def test_hmc_log_det_matches_independent_leapfrog_jacobian():
    """One HMC step on a non-Gaussian target: recover each particle's momentum ``v`` from the step it took
    (Newton on our own leapfrog, so the test does not depend on how the sampler uses its key), check that
    our leapfrog reproduces the move, and compare the log-det with ``slogdet`` of ``jax.jacfwd`` of our
    position map ``x -> leapfrog(x, v)``."""
    eps, num_leapfrog, d = 0.25, 3, 2
    with jax.enable_x64(True):
        particles, log_q0 = _start(jax.random.PRNGKey(18), batch=2, m=3, d=d)
        run = jit(hmc_sample, _quartic, num_steps=1, step_size=eps, num_leapfrog=num_leapfrog)
        result = run(particles, log_q0, key=jax.random.PRNGKey(19))

        def position(x, v):
            return _my_leapfrog(_quartic, x, v, eps, num_leapfrog)[0]

        def recover_v(x0, x1):
            def newton(_, v):
                return v - jnp.linalg.solve(jax.jacfwd(position, argnums=1)(x0, v), position(x0, v) - x1)

            return jax.lax.fori_loop(0, 30, newton, (x1 - x0) / (eps * num_leapfrog))

        @cjit
        @partial(jax.vmap, in_axes=(0, 0))
        @partial(jax.vmap, in_axes=(0, 0))
        def reference(x0, x1):
            v = recover_v(x0, x1)
            return position(x0, v), jnp.linalg.slogdet(jax.jacfwd(position)(x0, v))[1]

        moved, log_det = reference(particles, result.particles)
        np.testing.assert_allclose(np.asarray(moved), np.asarray(result.particles), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(result.log_q), np.asarray(log_q0 - log_det), rtol=1e-10, atol=1e-12)
        assert np.max(np.abs(np.asarray(log_det))) > 1e-2


def test_leapfrog_is_reversible_and_volume_preserving():
    eps, num_leapfrog = 0.1, 5
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.PRNGKey(20), (2, 3, 2))
        v = jax.random.normal(jax.random.PRNGKey(21), (2, 3, 2))

        def joint_log_det(z):
            """``log|det|`` of the joint (x, v) map of one particle, ``z = (x, v)``."""
            def joint(z):
                x1, v1 = leapfrog(_quartic, z[None, None, :2], z[None, None, 2:], eps, num_leapfrog)
                return jnp.concatenate([x1, v1], axis=-1)[0, 0]

            return jnp.linalg.slogdet(jax.jacfwd(joint)(z))[1]

        @cjit
        def run(x, v):
            x1, v1 = leapfrog(_quartic, x, v, eps, num_leapfrog)
            x2, v2 = leapfrog(_quartic, x1, -v1, eps, num_leapfrog)
            mine = jax.vmap(jax.vmap(lambda x, v: _my_leapfrog(_quartic, x, v, eps, num_leapfrog)))(x, v)
            log_dets = jax.vmap(jax.vmap(joint_log_det))(jnp.concatenate([x, v], axis=-1))
            return (x1, v1), (x2, v2), mine, log_dets

        (x1, v1), (x2, v2), (want_x, want_v), log_dets = run(x, v)
        np.testing.assert_allclose(np.asarray(x1), np.asarray(want_x), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.asarray(v1), np.asarray(want_v), rtol=1e-12, atol=1e-14)
        # Reversible: flipping the momentum retraces the path.
        np.testing.assert_allclose(np.asarray(x2), np.asarray(x), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(-v2), np.asarray(v), rtol=1e-10, atol=1e-12)
        # Symplectic: the joint (x, v) map preserves volume (while the x-map HMC's bookkeeping uses does not).
        np.testing.assert_allclose(np.asarray(log_dets), 0.0, atol=1e-12)
        # Energy nearly conserved for a small step.
        energy = (-_quartic(np.asarray(x1)) + 0.5 * np.sum(np.asarray(v1) ** 2, axis=-1),
                  -_quartic(np.asarray(x)) + 0.5 * np.sum(np.asarray(v) ** 2, axis=-1))
        np.testing.assert_allclose(*energy, atol=2e-2)


# ---------------------------------------------------------------------------------------------------------
# Shared machinery
# ---------------------------------------------------------------------------------------------------------

def _per_particle_map(x):
    """Acts on each particle alone, coupling its coordinates: (B, m, d) -> (B, m, d)."""
    w = jnp.array([[0.5, -1.0, 0.3], [0.2, 0.7, -0.4], [1.1, 0.1, 0.6]])[: x.shape[-1], : x.shape[-1]]
    return jnp.tanh(x @ w) + x * jnp.sum(x**2, axis=-1, keepdims=True)


@pytest.mark.parametrize("d", [1, 3])
def test_per_particle_jacobian_matches_jacfwd_per_particle(d):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.PRNGKey(22), (2, 4, d))
        jac = cjit(partial(per_particle_jacobian, _per_particle_map))(x)
        log_det = cjit(partial(log_abs_det_jacobian, _per_particle_map))(x)
        assert jac.shape == (2, 4, d, d) and log_det.shape == (2, 4)
        one = cjit(jax.jacfwd(lambda p: _per_particle_map(p[None, None])[0, 0]))
        for b in range(2):
            for i in range(4):
                want = np.asarray(one(x[b, i]))
                np.testing.assert_allclose(np.asarray(jac[b, i]), want, rtol=1e-12, atol=1e-14)
                assert float(log_det[b, i]) == pytest.approx(np.linalg.slogdet(want)[1], rel=1e-12, abs=1e-14)


def test_score_is_the_per_particle_gradient():
    with jax.enable_x64(True):
        target = _gaussian(3)
        x = jax.random.normal(jax.random.PRNGKey(23), (2, 4, 3))
        got = cjit(partial(score, target.log_prob))(x)
        want = -(np.asarray(x) - np.asarray(target.mean)) @ np.linalg.inv(np.asarray(target.cov)).T
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


def test_run_chain_bookkeeping_with_a_custom_step():
    """``run_chain`` applies the step ``L`` times, subtracts its log-det and hands each step its own key."""
    d, num_steps = 2, 4

    def step(x, key):
        noise = jax.random.normal(key, x.shape)
        return 2.0 * x + noise, jnp.full(x.shape[:2], d * math.log(2.0)), {"step_mean": jnp.mean(x, axis=(1, 2))}

    particles, log_q0 = _start(jax.random.PRNGKey(24), d=d)
    run = cjit(partial(run_chain, step, num_steps=num_steps, return_trajectory=True))
    result = run(particles, log_q0, key=jax.random.PRNGKey(25))
    np.testing.assert_allclose(np.asarray(result.log_q), np.asarray(log_q0) - num_steps * d * math.log(2.0),
                               rtol=1e-6)
    xs = np.asarray(result.particles_trajectory)
    # Each step's diagnostics, stacked over the steps, describe the particles that step started from.
    np.testing.assert_allclose(np.asarray(result.diagnostics["step_mean"]), xs[:-1].mean(axis=(2, 3)), rtol=1e-5)
    noises = xs[1:] - 2.0 * xs[:-1]
    # Every step drew fresh noise: no two steps share a key.
    for a in range(num_steps):
        for b in range(a + 1, num_steps):
            assert not np.allclose(noises[a], noises[b])

    # Without a key the step gets None.
    seen = []

    def keyless(x, key):
        seen.append(key)
        return x + 1.0, jnp.zeros(x.shape[:2]), {}

    result = run_chain(keyless, particles, log_q0, num_steps=3)
    assert seen and all(k is None for k in seen)
    np.testing.assert_allclose(np.asarray(result.particles), np.asarray(particles) + 3.0, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(result.log_q), np.asarray(log_q0))


def test_entropy_estimate():
    log_q = jnp.array([[[-1.0, -2.0, -3.0], [0.5, 0.5, 0.5]]])
    np.testing.assert_allclose(np.asarray(entropy_estimate(log_q)), [[2.0, -0.5]])


# ---------------------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SAMPLERS))
def test_bad_arguments(name):
    sampler = SAMPLERS[name]
    particles, log_q0 = _start(jax.random.PRNGKey(26))
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="step_size must be positive"):
        sampler(_quartic, particles, log_q0, key=key, num_steps=1, step_size=0.0)
    with pytest.raises(ValueError, match="step_size must be positive"):
        sampler(_quartic, particles, log_q0, key=key, num_steps=1, step_size=-0.5)
    with pytest.raises(ValueError, match=r"num_steps must be a non-negative int"):
        sampler(_quartic, particles, log_q0, key=key, num_steps=-1, step_size=0.1)
    with pytest.raises(ValueError, match=r"num_steps must be a non-negative int"):
        sampler(_quartic, particles, log_q0, key=key, num_steps=2.0, step_size=0.1)
    with pytest.raises(ValueError, match=r"log_q0 must have shape \(batch, m\)"):
        sampler(_quartic, particles, log_q0[0], key=key, num_steps=1, step_size=0.1)
    with pytest.raises(ValueError, match=r"particles must have shape \(batch, m, d\)"):
        sampler(_quartic, particles[0], log_q0, key=key, num_steps=1, step_size=0.1)
    with pytest.raises(ValueError, match="log_prob must return one value per particle"):
        sampler(lambda x: jnp.sum(x), particles, log_q0, key=key, num_steps=1, step_size=0.1)
    with pytest.raises(ValueError, match="log_prob must return one value per particle"):
        sampler(lambda x: jnp.sum(x, axis=(1, 2)), particles, log_q0, key=key, num_steps=1, step_size=0.1)


@pytest.mark.parametrize("num_leapfrog", [0, -1, 2.0])
def test_hmc_rejects_bad_num_leapfrog(num_leapfrog):
    particles, log_q0 = _start(jax.random.PRNGKey(27))
    with pytest.raises(ValueError, match="num_leapfrog must be a positive int"):
        hmc_sample(_quartic, particles, log_q0, key=jax.random.PRNGKey(0), num_steps=1, step_size=0.1,
                   num_leapfrog=num_leapfrog)
