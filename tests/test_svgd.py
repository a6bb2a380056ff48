"""Tests of SVGD with its closed-form log-density (docs/math.md sections 2-4).

The references here (the leave-one-out field, the full field, the exact per-particle log-det, the kernel
heuristics) are written independently of the library, from the formulas of docs/math.md, and compared with it.
Tight comparisons run in float64 through ``jax.enable_x64`` as a context manager; the global default
(float32) is left alone.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_trajectory_consistent
from jax.flatten_util import ravel_pytree

from s2ac.stein import (
    Gaussian,
    entropy_estimate,
    kernel_variance,
    normal_log_prob,
    normal_sample,
    rbf_kernel,
    svgd_exact_log_det,
    svgd_field,
    svgd_sample,
    svgd_step,
    svgd_trace,
)

# Compile-time dominates these small tests on CPU: skip XLA's backend optimisations, per function (no global
# flag), which about halves compilation and hardly changes the run time at these sizes.
cjit = partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})

KERNEL_VARIANCES = [0.7, "median", "mean", "half_mean"]


# ---------------------------------------------------------------------------------------------------------
# Independent references
# ---------------------------------------------------------------------------------------------------------

def _k(a, x, s2):
    """RBF kernel between each row of ``a`` (m, d) and one point ``x`` (d,): shape (m,)."""
    return jnp.exp(-jnp.sum((x - a) ** 2, axis=-1) / (2.0 * s2))


def loo_field(i, a, g, s2):
    """Leave-one-out SVGD field of particle ``i`` as a function of its position ``x``, others fixed:
    ``1/(m-1) sum_{j != i} [k(a_j, x) g_j + k(a_j, x) (x - a_j) / s2]``."""
    m = a.shape[0]
    keep = (jnp.arange(m) != i).astype(a.dtype)

    def f(x):
        k = _k(a, x, s2) * keep
        return (k @ g + k @ (x - a) / s2) / (m - 1)

    return f


def full_field(i, a, g, s2, grad_log_p):
    """Full SVGD field of particle ``i`` moved alone: the ``1/m`` sum over ``j != i`` with the others fixed,
    plus the ``j = i`` term ``k(x, x) grad log p(x) = grad log p(x)`` (its repulsion is identically 0)."""
    m = a.shape[0]
    keep = (jnp.arange(m) != i).astype(a.dtype)

    def f(x):
        k = _k(a, x, s2) * keep
        return (k @ g + k @ (x - a) / s2 + grad_log_p(x)) / m

    return f


@cjit
def loo_traces(a, g, s2):
    """``Tr d f_i / dx (a_i)`` for every particle of every state by ``jax.jacfwd``: (B, m)."""
    def one(a_b, g_b, s2_b, i):
        return jnp.trace(jax.jacfwd(loo_field(i, a_b, g_b, s2_b))(a_b[i]))

    m = a.shape[1]
    per_state = jax.vmap(one, in_axes=(None, None, None, 0))
    return jax.vmap(per_state, in_axes=(0, 0, 0, None))(a, g, s2, jnp.arange(m))


def _quartic_log_p(x):
    """A non-Gaussian log-density of one point ``x`` (d,): its Hessian varies with ``x``."""
    d = x.shape[-1]
    prec = 0.8 * jnp.eye(d) + 0.2 * jnp.ones((d, d)) / d
    return -0.5 * x @ prec @ x - 0.05 * jnp.sum(x**4) + jnp.sum(jnp.sin(1.3 * x))


def quartic_log_prob(x):
    """Batched: (B, m, d) -> (B, m)."""
    return jax.vmap(jax.vmap(_quartic_log_p))(x)


def linear_log_prob(scores):
    """A target whose score at particle ``(b, i)`` is exactly ``scores[b, i]`` (whatever the position)."""
    return lambda x: jnp.sum(x * scores, axis=-1)


def jit(fn, **static):
    """``fn`` jitted with keyword arguments fixed (strings, Python numbers): one compilation instead of
    many eager ones, which dominate the run time of small tests on CPU."""
    return cjit(partial(fn, **static))


def random_state(key, batch, m, d, spread=1.0):
    kx, kg = jax.random.split(key)
    particles = spread * jax.random.normal(kx, (batch, m, d))
    scores = jax.random.normal(kg, (batch, m, d))
    return particles, scores


def numpy_kernel_variance(particles, rule):
    """``base / (2 log(m + 1))`` with ``base`` from the squared distances of distinct pairs, in numpy."""
    x = np.asarray(particles, np.float64)
    batch, m, _ = x.shape
    out = []
    for b in range(batch):
        sq = [np.sum((x[b, i] - x[b, j]) ** 2) for i in range(m) for j in range(i + 1, m)]
        base = {"median": np.median(sq), "mean": np.mean(sq), "half_mean": 0.5 * np.mean(sq)}[rule]
        out.append(base / (2.0 * math.log(m + 1)))
    return np.array(out)


# ---------------------------------------------------------------------------------------------------------
# Kernel variance
# ---------------------------------------------------------------------------------------------------------

RULES = ("median", "mean", "half_mean")


@cjit
def _all_rules(particles):
    return {rule: kernel_variance(particles, rule) for rule in RULES}


@pytest.mark.parametrize("m", [2, 7])
def test_kernel_variance_heuristics_match_numpy(m):
    with jax.enable_x64(True):
        particles = jax.random.normal(jax.random.PRNGKey(m), (3, m, 2)) * jnp.array([1.0, 3.0])
        got = _all_rules(particles)
        for rule in RULES:
            assert got[rule].shape == (3,)
            np.testing.assert_allclose(np.asarray(got[rule]), numpy_kernel_variance(particles, rule), rtol=1e-12)
        # The three rules are different quantities (with m = 2 there is one distance: median = mean).
        np.testing.assert_allclose(np.asarray(got["half_mean"]), 0.5 * np.asarray(got["mean"]), rtol=1e-12)
        if m > 2:
            assert np.all(np.abs(np.asarray(got["median"]) / np.asarray(got["mean"]) - 1.0) > 1e-3)


def test_kernel_variance_gradient_is_stopped():
    particles = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 3))

    @cjit
    def grads(x):
        return {rule: jax.grad(lambda y, rule=rule: jnp.sum(kernel_variance(y, rule)))(x) for rule in RULES}

    for rule, grad in grads(particles).items():
        np.testing.assert_array_equal(np.asarray(grad), 0.0, err_msg=rule)
    # ... while the values do depend on the particles (they scale with their squared spread).
    values, scaled = _all_rules(particles), _all_rules(2.0 * particles)
    for rule in RULES:
        np.testing.assert_allclose(np.asarray(scaled[rule]), 4.0 * np.asarray(values[rule]), rtol=1e-5)


@pytest.mark.parametrize("fixed", [0.7, 2, jnp.asarray(0.7)])
def test_kernel_variance_fixed_is_broadcast(fixed):
    particles = jax.random.normal(jax.random.PRNGKey(2), (4, 3, 2))
    got = kernel_variance(particles, fixed)
    assert got.shape == (4,)
    assert got.dtype == particles.dtype
    np.testing.assert_allclose(np.asarray(got), float(fixed), rtol=1e-7)


def test_kernel_variance_floor_for_identical_particles():
    """Identical particles have zero pairwise distance: the heuristic must not return 0 (division by 0)."""
    particles = jnp.ones((2, 4, 3))
    for rule in ("median", "mean", "half_mean"):
        got = jit(kernel_variance, kernel_variance=rule)(particles)
        assert np.all(np.asarray(got) > 0)
        assert np.all(np.isfinite(np.asarray(cjit(rbf_kernel)(particles, particles, got)[0])))


def test_rbf_kernel_values():
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.PRNGKey(3), (2, 3, 2))
        y = jax.random.normal(jax.random.PRNGKey(4), (2, 4, 2))
        s2 = jnp.array([0.5, 2.0])
        kernel, diff, sq = (np.asarray(v) for v in cjit(rbf_kernel)(x, y, s2))
        assert kernel.shape == (2, 3, 4) and diff.shape == (2, 3, 4, 2) and sq.shape == (2, 3, 4)
        xn, yn, s2n = np.asarray(x), np.asarray(y), np.asarray(s2)
        for b in range(2):
            for i in range(3):
                for j in range(4):
                    delta = xn[b, i] - yn[b, j]
                    np.testing.assert_allclose(diff[b, i, j], delta, rtol=1e-14)
                    np.testing.assert_allclose(sq[b, i, j], delta @ delta, rtol=1e-13)
                    np.testing.assert_allclose(kernel[b, i, j], np.exp(-delta @ delta / (2 * s2n[b])), rtol=1e-13)


# ---------------------------------------------------------------------------------------------------------
# The field and its closed-form trace
# ---------------------------------------------------------------------------------------------------------

def test_svgd_field_matches_direct_loop():
    """docs/math.md section 2: ``phi(a_i) = 1/m sum_j [k(a_j, a_i) g_j + k(a_j, a_i) (a_i - a_j) / s2]``."""
    with jax.enable_x64(True):
        a, g = random_state(jax.random.PRNGKey(5), 2, 5, 3)

        @cjit
        def library(a, g):
            out = {}
            for variance in KERNEL_VARIANCES:
                s2 = kernel_variance(a, variance)
                kernel, diff, _ = rbf_kernel(a, a, s2)
                out[str(variance)] = (s2, svgd_field(kernel, diff, g, s2))
            return out

        an, gn = np.asarray(a), np.asarray(g)
        batch, m, d = an.shape
        for variance, (s2, got) in library(a, g).items():
            s2n = np.asarray(s2)
            want = np.zeros((batch, m, d))
            for b in range(batch):
                for i in range(m):
                    for j in range(m):
                        k = np.exp(-np.sum((an[b, j] - an[b, i]) ** 2) / (2 * s2n[b]))
                        want[b, i] += k * gn[b, j] + k * (an[b, i] - an[b, j]) / s2n[b]
                    want[b, i] /= m
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-14, err_msg=variance)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_closed_form_trace_equals_autograd_of_leave_one_out_field(d):
    """Theorem 3.3 against ``jnp.trace(jax.jacfwd(f_i)(a_i))`` of the leave-one-out field, on random
    particles and random scores, with a fixed kernel variance and with each heuristic."""
    with jax.enable_x64(True):
        a, g = random_state(jax.random.PRNGKey(10 + d), 3, 6, d)

        @cjit
        def library(a, g):
            out = {}
            for variance in KERNEL_VARIANCES:
                s2 = kernel_variance(a, variance)
                kernel, diff, sq = rbf_kernel(a, a, s2)
                # One step of the sampler, with a target whose score is exactly g.
                step = svgd_step(linear_log_prob(g), a, step_size=0.1, kernel_variance=variance)
                out[str(variance)] = (s2, svgd_trace(kernel, diff, sq, g, s2), step)
            return out

        for variance, (s2, closed, step) in library(a, g).items():
            want = np.asarray(loo_traces(a, g, s2))
            atol = 1e-5 * np.max(np.abs(want))
            np.testing.assert_allclose(np.asarray(closed), want, rtol=1e-5, atol=atol, err_msg=variance)
            np.testing.assert_allclose(np.asarray(step.trace), want, rtol=1e-5, atol=atol, err_msg=variance)
            # ... and the step's default log-det is eps times that trace.
            np.testing.assert_allclose(np.asarray(step.log_det), 0.1 * np.asarray(step.trace), rtol=1e-14, atol=0)
        # The four kernel variances are different: each case is a separate check.
        variances = [float(v[0][0]) for v in library(a, g).values()]
        assert len(set(np.round(variances, 8))) == len(KERNEL_VARIANCES)


def test_closed_form_trace_in_float32_is_close():
    """The float32 default path agrees with the float64 autograd reference to float32 precision."""
    a, g = random_state(jax.random.PRNGKey(20), 3, 6, 2)  # the float64 reference's shapes of d = 2 above

    @cjit
    def library(a, g):
        s2 = kernel_variance(a, "half_mean")
        kernel, diff, sq = rbf_kernel(a, a, s2)
        return s2, svgd_trace(kernel, diff, sq, g, s2)

    s2, closed = library(a, g)
    closed = np.asarray(closed)
    with jax.enable_x64(True):
        a64, g64, s264 = (jnp.asarray(np.asarray(v), jnp.float64) for v in (a, g, s2))
        want = np.asarray(loo_traces(a64, g64, s264))
    np.testing.assert_allclose(closed, want, rtol=1e-4, atol=1e-4 * np.max(np.abs(want)))


def test_svgd_step_moves_by_eps_times_field():
    """The step moves each particle by ``eps * phi(a_i)``; at ``x = a_i`` the full field of the reference
    (``j != i`` sum plus ``grad log p(a_i)``) is docs/math.md's ``phi(a_i)``."""
    eps = 0.05
    with jax.enable_x64(True):
        a = jax.random.normal(jax.random.PRNGKey(21), (2, 5, 2))
        grad_log_p = jax.grad(_quartic_log_p)

        def reference(a, s2):
            def one(a_b, s2_b, i):
                return full_field(i, a_b, jax.vmap(grad_log_p)(a_b), s2_b, grad_log_p)(a_b[i])

            per_state = jax.vmap(one, in_axes=(None, None, 0))
            return jax.vmap(per_state, in_axes=(0, 0, None))(a, s2, jnp.arange(a.shape[1]))

        @cjit
        def library_and_reference(a):
            step = svgd_step(quartic_log_prob, a, step_size=eps, kernel_variance="median")
            return step.particles, a + eps * reference(a, kernel_variance(a, "median"))

        moved, want = library_and_reference(a)
        np.testing.assert_allclose(np.asarray(moved), np.asarray(want), rtol=1e-13, atol=1e-14)
        assert np.max(np.abs(np.asarray(moved - a))) > 1e-3


# ---------------------------------------------------------------------------------------------------------
# Exact log-det
# ---------------------------------------------------------------------------------------------------------

@cjit
def reference_exact_log_det(a, s2, eps):
    """Each particle moved alone by ``x -> x + eps phi_i(x)`` (full field, ``j = i`` term included):
    ``slogdet`` of its ``jax.jacfwd`` Jacobian, and the Jacobian of ``phi_i`` itself: (B, m), (B, m, d, d)."""
    grad_log_p = jax.grad(_quartic_log_p)

    def one(a_b, s2_b, i):
        g = jax.vmap(grad_log_p)(a_b)
        phi = full_field(i, a_b, g, s2_b, grad_log_p)
        move = jax.jacfwd(lambda x: x + eps * phi(x))(a_b[i])
        return jnp.linalg.slogdet(move)[1], jax.jacfwd(phi)(a_b[i])

    m = a.shape[1]
    per_state = jax.vmap(one, in_axes=(None, None, 0))
    return jax.vmap(per_state, in_axes=(0, 0, None))(a, s2, jnp.arange(m))


@pytest.mark.parametrize("variance", [0.8, "half_mean"])
def test_exact_log_det_matches_independent_jacobian(variance):
    eps = 0.3  # large enough for the higher orders in eps to matter
    with jax.enable_x64(True):
        a = jax.random.normal(jax.random.PRNGKey(30), (2, 4, 3))
        log_q0 = jnp.linspace(-1.0, 1.0, 8).reshape(2, 4)

        @cjit
        def library(a, log_q0):
            s2 = kernel_variance(a, variance)
            g = jax.vmap(jax.vmap(jax.grad(_quartic_log_p)))(a)
            direct = svgd_exact_log_det(quartic_log_prob, a, g, s2, eps)
            step = svgd_step(quartic_log_prob, a, step_size=eps, kernel_variance=variance, log_det="exact")
            result = svgd_sample(quartic_log_prob, a, log_q0, num_steps=1, step_size=eps, kernel_variance=variance,
                                 log_det="exact")
            return s2, direct, step, result

        s2, direct, step, result = library(a, log_q0)
        want = np.asarray(reference_exact_log_det(a, s2, eps)[0])
        np.testing.assert_allclose(np.asarray(direct), want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(step.log_det), want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(result.log_q), np.asarray(log_q0) - want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(result.particles), np.asarray(step.particles), rtol=1e-13)

        # The exact value differs from the first-order closed form at this eps (the test can tell them apart).
        assert np.max(np.abs(np.asarray(step.trace) * eps - want)) > 1e-3


def test_exact_log_det_is_first_order_in_eps_the_full_trace():
    """``log|det(I + eps J)| = eps Tr J - eps^2/2 Tr(J^2) + O(eps^3)``, ``J`` the full field's Jacobian; and
    ``Tr J = ((m - 1) * closed-form trace + Tr Hess log p) / m`` (the ``j = i`` term the closed form drops)."""
    with jax.enable_x64(True):
        a = jax.random.normal(jax.random.PRNGKey(31), (2, 4, 2))
        m = a.shape[1]

        @cjit
        def library(a, eps):
            s2 = kernel_variance(a, "median")
            g = jax.vmap(jax.vmap(jax.grad(_quartic_log_p)))(a)
            kernel, diff, sq = rbf_kernel(a, a, s2)
            return s2, svgd_exact_log_det(quartic_log_prob, a, g, s2, eps), svgd_trace(kernel, diff, sq, g, s2)

        s2, _, closed = library(a, 1.0)
        jac = np.asarray(reference_exact_log_det(a, s2, 1.0)[1])
        tr = np.trace(jac, axis1=-2, axis2=-1)
        tr_sq = np.trace(jac @ jac, axis1=-2, axis2=-1)
        for eps in (1e-3, 1e-4):
            exact = np.asarray(library(a, eps)[1])
            np.testing.assert_allclose(exact, eps * tr, rtol=1e-2, atol=0)
            np.testing.assert_allclose((exact - eps * tr) / eps**2, -0.5 * tr_sq, rtol=1e-2, atol=1e-6)

        hess_tr = np.asarray(cjit(jax.vmap(jax.vmap(lambda x: jnp.trace(jax.hessian(_quartic_log_p)(x)))))(a))
        np.testing.assert_allclose(tr, ((m - 1) * np.asarray(closed) + hess_tr) / m, rtol=1e-10)


# ---------------------------------------------------------------------------------------------------------
# The sampler: L = 0, trajectories, bookkeeping
# ---------------------------------------------------------------------------------------------------------

_normal_sample = cjit(normal_sample, static_argnames=("num_particles", "truncation"))


def _initial(key, batch=2, m=5, d=2):
    mean = jnp.zeros((batch, d))
    std = jnp.ones((batch, d))
    return _normal_sample(key, mean, std, num_particles=m, truncation=3.0)


@pytest.mark.parametrize("log_det", ["trace", "exact"])
def test_zero_steps_return_inputs_bitwise(log_det):
    particles, log_q0 = _initial(jax.random.PRNGKey(40))
    result = svgd_sample(quartic_log_prob, particles, log_q0, num_steps=0, step_size=0.1, log_det=log_det)
    np.testing.assert_array_equal(np.asarray(result.particles), np.asarray(particles))
    np.testing.assert_array_equal(np.asarray(result.log_q), np.asarray(log_q0))
    assert result.particles_trajectory is None and result.log_q_trajectory is None

    traj = svgd_sample(quartic_log_prob, particles, log_q0, num_steps=0, step_size=0.1, log_det=log_det,
                       return_trajectory=True)
    np.testing.assert_array_equal(np.asarray(traj.particles), np.asarray(particles))
    np.testing.assert_array_equal(np.asarray(traj.log_q), np.asarray(log_q0))
    assert traj.particles_trajectory.shape == (1, *particles.shape)
    assert traj.log_q_trajectory.shape == (1, *log_q0.shape)
    np.testing.assert_array_equal(np.asarray(traj.particles_trajectory[0]), np.asarray(particles))
    np.testing.assert_array_equal(np.asarray(traj.log_q_trajectory[0]), np.asarray(log_q0))


@pytest.mark.parametrize(("variance", "log_det"), [(0.5, "trace"), ("half_mean", "exact")])
def test_log_q_bookkeeping_and_trajectory(variance, log_det):
    """``log q_L = log q_0 - sum_l log_det_l``, rebuilt from repeated ``svgd_step`` calls; the trajectory
    has ``L + 1`` entries, the input first, the result last."""
    num_steps, eps = 4, 0.2
    with jax.enable_x64(True):
        particles, log_q0 = _initial(jax.random.PRNGKey(41), batch=2, m=5, d=2)
        sample = cjit(partial(svgd_sample, quartic_log_prob, num_steps=num_steps, step_size=eps,
                              kernel_variance=variance, log_det=log_det), static_argnames="return_trajectory")
        one_step = cjit(partial(svgd_step, quartic_log_prob, step_size=eps, kernel_variance=variance, log_det=log_det))
        result = sample(particles, log_q0, return_trajectory=True)
        assert_trajectory_consistent(result, particles, log_q0, num_steps)

        x, log_q, total = particles, log_q0, jnp.zeros_like(log_q0)
        for step_index in range(num_steps):
            step = one_step(x)
            x, log_q, total = step.particles, log_q - step.log_det, total + step.log_det
            np.testing.assert_allclose(np.asarray(result.particles_trajectory[step_index + 1]), np.asarray(x),
                                       rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(np.asarray(result.log_q_trajectory[step_index + 1]), np.asarray(log_q),
                                       rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(result.log_q), np.asarray(log_q0 - total), rtol=1e-12, atol=1e-12)
        assert np.max(np.abs(np.asarray(total))) > 1e-2  # the particles did move: the check is not vacuous

        # Without the trajectory, the same result.
        plain = sample(particles, log_q0)
        np.testing.assert_allclose(np.asarray(plain.particles), np.asarray(result.particles), rtol=1e-13)
        np.testing.assert_allclose(np.asarray(plain.log_q), np.asarray(result.log_q), rtol=1e-13)


def test_sampler_is_jittable_with_array_kernel_variance_and_step_size():
    particles, log_q0 = _initial(jax.random.PRNGKey(42))
    static = jit(svgd_sample, log_prob=quartic_log_prob, num_steps=3, step_size=0.1, kernel_variance=0.6)(
        particles=particles, log_q0=log_q0)

    @cjit
    def run(x, q, eps, s2):
        return svgd_sample(quartic_log_prob, x, q, num_steps=3, step_size=eps, kernel_variance=s2)

    jitted = run(particles, log_q0, jnp.asarray(0.1), jnp.asarray(0.6))
    np.testing.assert_allclose(np.asarray(jitted.particles), np.asarray(static.particles), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(jitted.log_q), np.asarray(static.log_q), rtol=1e-5, atol=1e-5)
    assert not np.allclose(np.asarray(jitted.particles), np.asarray(particles))


def test_batch_states_are_independent():
    """Each state's particles move with their own kernel variance and neighbours only."""
    particles, log_q0 = _initial(jax.random.PRNGKey(43), batch=3, m=5, d=2)
    particles = particles * jnp.array([1.0, 2.0, 0.5])[:, None, None]
    sample = jit(svgd_sample, log_prob=quartic_log_prob, num_steps=3, step_size=0.1, kernel_variance="median")
    full = sample(particles=particles, log_q0=log_q0)
    for b in range(3):
        alone = sample(particles=particles[b:b + 1], log_q0=log_q0[b:b + 1])
        np.testing.assert_allclose(np.asarray(alone.particles[0]), np.asarray(full.particles[b]), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(np.asarray(alone.log_q[0]), np.asarray(full.log_q[b]), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------
# Behaviour against Gaussian targets
# ---------------------------------------------------------------------------------------------------------

def _moments(x):
    m = x.shape[1]
    mean = x.mean(axis=1)
    centred = x - mean[:, None]
    return mean, jnp.einsum("bmi,bmj->bij", centred, centred) / (m - 1)


@pytest.mark.parametrize("variance", ["half_mean"])
def test_svgd_moves_moments_toward_gaussian_target(variance):
    target = Gaussian(jnp.array([1.0, -0.5]), jnp.array([[1.0, 0.3], [0.3, 0.5]]))
    batch, m, d = 8, 24, 2
    particles = jnp.sqrt(6.0) * jax.random.normal(jax.random.PRNGKey(50), (batch, m, d))
    log_q0 = jnp.zeros((batch, m))
    run = cjit(lambda x, q: svgd_sample(target.log_prob, x, q, num_steps=150, step_size=0.1,
                                        kernel_variance=variance))
    result = run(particles, log_q0)

    def distances(x):
        mean, cov = _moments(x)
        return (float(jnp.mean(jnp.linalg.norm(mean - target.mean, axis=-1))),
                float(jnp.mean(jnp.linalg.norm(cov - target.cov, axis=(-2, -1)))))

    mean0, cov0 = distances(particles)
    mean1, cov1 = distances(result.particles)
    assert np.all(np.isfinite(np.asarray(result.log_q)))
    assert mean1 < 0.35 * mean0, (mean0, mean1)
    assert cov1 < 0.3 * cov0, (cov0, cov1)


def test_entropy_estimate_increases_with_target_std():
    """Same initial particles scaled with the target, same step size and number of steps (moderate: the
    closed-form estimator keeps drifting down after convergence, docs/math.md section 4)."""
    batch, m, d, num_steps = 16, 32, 2, 50
    z = jax.random.normal(jax.random.PRNGKey(60), (batch, m, d))

    @cjit
    def estimate_and_truth(std):
        target = Gaussian(jnp.zeros(d), std**2 * jnp.eye(d))
        x0 = std * z
        log_q0 = normal_log_prob(x0, jnp.zeros((batch, d)), jnp.full((batch, d), std))
        result = svgd_sample(target.log_prob, x0, log_q0, num_steps=num_steps, step_size=0.1)
        return jnp.mean(entropy_estimate(result.log_q)), target.entropy()

    estimates, truths = [], []
    for std in (0.5, 1.0, 2.0):
        estimate, truth = estimate_and_truth(std)
        estimates.append(float(estimate))
        truths.append(float(truth))
    assert estimates[0] < estimates[1] < estimates[2], estimates
    assert np.array_equal(np.argsort(estimates), np.argsort(truths))
    # The gap between neighbours is not a rounding artefact.
    assert min(np.diff(estimates)) > 0.5, estimates


def test_svgd_is_scale_equivariant():
    """Scaling target, particles and heuristic variance by ``s`` and the step size by ``s^2`` scales the
    particles by ``s`` and shifts ``log q`` by exactly ``-d log s``: the entropy estimate by ``+d log s``."""
    batch, m, d, num_steps, eps = 4, 16, 2, 30, 0.1
    with jax.enable_x64(True):
        z = jax.random.normal(jax.random.PRNGKey(61), (batch, m, d))

        @cjit
        def run(s):
            target = Gaussian(jnp.array([0.5, -1.0]) * s, s**2 * jnp.array([[1.0, 0.4], [0.4, 0.8]]))
            log_q0 = normal_log_prob(s * z, jnp.zeros((batch, d)), jnp.full((batch, d), s))
            return svgd_sample(target.log_prob, s * z, log_q0, num_steps=num_steps, step_size=eps * s**2,
                               kernel_variance="half_mean")

        outs = {s: run(s) for s in (1.0, 2.0)}
        np.testing.assert_allclose(np.asarray(outs[2.0].particles), 2.0 * np.asarray(outs[1.0].particles),
                                   rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(np.asarray(outs[2.0].log_q), np.asarray(outs[1.0].log_q) - d * math.log(2.0),
                                   rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------------------------------------
# Gradients through the sampler (second order)
# ---------------------------------------------------------------------------------------------------------

NUM_GRAD_STEPS = 3
GRAD_EPS = 0.2



def _loss(particles, log_q):
    return jnp.mean(particles**2) + jnp.mean(log_q)


def _sampled_loss_and_variances(log_prob, particles, log_q0, variance, log_det):
    """The loss of an ``L``-step run and the kernel variance each step used, ``(L, B)``: the sampler stops
    the heuristic's gradient, so the finite differences that are to match autograd hold these fixed."""
    result = svgd_sample(log_prob, particles, log_q0, num_steps=NUM_GRAD_STEPS, step_size=GRAD_EPS,
                         kernel_variance=variance, log_det=log_det, return_trajectory=True)
    used = jnp.stack([kernel_variance(x, variance) for x in result.particles_trajectory[:-1]])
    return _loss(result.particles, result.log_q), used


def _frozen_loss(log_prob, particles, log_q0, variances, log_det):
    """The same run rebuilt from ``svgd_step`` with the given kernel variance at each step."""
    x, log_q = particles, log_q0
    for s2 in variances:
        step = svgd_step(log_prob, x, step_size=GRAD_EPS, kernel_variance=s2, log_det=log_det)
        x, log_q = step.particles, log_q - step.log_det
    return _loss(x, log_q)


def _check_against_central_differences(make_problem, flat, variance, log_det, directions):
    """``make_problem(flat) -> (log_prob, particles, log_q0)``; compares ``grad . v`` with central differences
    of the loss along each ``v`` of ``directions``, the per-step kernel variances held fixed."""
    def sampled(flat):
        return _sampled_loss_and_variances(*make_problem(flat), variance, log_det)

    value_and_grad = cjit(jax.value_and_grad(sampled, has_aux=True))
    (value, variances), grad = value_and_grad(flat)
    if isinstance(variance, str):
        # The run rebuilt step by step with the kernel variances it used, now fixed.
        frozen = cjit(lambda flat, bws: _frozen_loss(*make_problem(flat), bws, log_det))
        assert float(frozen(flat, variances)) == pytest.approx(float(value), rel=1e-12)
    else:
        np.testing.assert_array_equal(np.asarray(variances), variance)

        def frozen(flat, _):  # the sampled loss itself (reusing its compilation)
            return value_and_grad(flat)[0][0]

    h = 1e-5
    for v in directions:
        fd = (float(frozen(flat + h * v, variances)) - float(frozen(flat - h * v, variances))) / (2 * h)
        assert float(grad @ v) == pytest.approx(fd, rel=1e-6, abs=1e-9)
    assert float(jnp.max(jnp.abs(grad))) > 1e-3  # a non-trivial gradient
    return grad


@pytest.mark.parametrize("variance", [0.6, "half_mean"])
def test_gradient_wrt_initial_distribution_matches_finite_differences(variance):
    """Through ``normal_sample`` (truncated, reparameterised) and ``L = 3`` SVGD steps, w.r.t. mean and std."""
    batch, m, d = 2, 4, 2
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(70)
        target = Gaussian(jnp.array([0.5, -0.3]), jnp.array([[1.0, 0.2], [0.2, 0.6]]))
        flat = jnp.array([0.1, -0.2, 0.3, 0.4, 0.8, 1.1, 0.5, 0.9])  # mean (2, 2) then std (2, 2)

        def make_problem(flat):
            mean, std = flat[: batch * d].reshape(batch, d), flat[batch * d:].reshape(batch, d)
            x0, log_q0 = normal_sample(key, mean, std, m, truncation=3.0)
            return target.log_prob, x0, log_q0

        _check_against_central_differences(make_problem, flat, variance, "trace", jnp.eye(flat.size))


def _mlp_log_prob(theta, x):
    """``log p(x) = -||x||^2 / 2 + w2 . tanh(W1 x + b1)``: a tiny MLP energy, (B, m, d) -> (B, m)."""
    w1, b1, w2 = theta
    return -0.5 * jnp.sum(x**2, axis=-1) + jnp.tanh(x @ w1 + b1) @ w2


@pytest.mark.parametrize(("variance", "log_det"), [("half_mean", "trace"), (0.6, "exact")])
def test_gradient_wrt_score_parameters_matches_finite_differences(variance, log_det):
    """W.r.t. the weights of an MLP log-density: second order (third with the exact log-det)."""
    batch, m, d, hidden = 2, 4, 2, 5
    with jax.enable_x64(True):
        k1, k2, k3, k4, k5 = jax.random.split(jax.random.PRNGKey(71), 5)
        theta = (jax.random.normal(k1, (d, hidden)), jax.random.normal(k2, (hidden,)),
                 jax.random.normal(k3, (hidden,)))
        flat, unravel = ravel_pytree(theta)
        x0, log_q0 = _normal_sample(k4, jnp.zeros((batch, d)), jnp.ones((batch, d)), num_particles=m,
                                    truncation=3.0)

        def make_problem(flat):
            return (lambda x: _mlp_log_prob(unravel(flat), x)), x0, log_q0

        directions = jax.random.normal(k5, (3, flat.size))
        _check_against_central_differences(make_problem, flat, variance, log_det, directions)


@pytest.mark.parametrize("variance", ["mean"])
def test_gradient_wrt_gaussian_target_mean_matches_finite_differences(variance):
    batch, m, d = 2, 4, 2
    with jax.enable_x64(True):
        x0, log_q0 = _normal_sample(jax.random.PRNGKey(72), jnp.zeros((batch, d)), jnp.ones((batch, d)),
                                    num_particles=m, truncation=3.0)
        cov = jnp.array([[1.0, 0.3], [0.3, 0.7]])

        def make_problem(mu):
            return Gaussian(mu, cov).log_prob, x0, log_q0

        _check_against_central_differences(make_problem, jnp.array([0.4, -0.6]), variance, "trace", jnp.eye(d))


# ---------------------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------------------

def _good():
    particles = jax.random.normal(jax.random.PRNGKey(80), (2, 3, 2))
    return particles, jnp.zeros((2, 3))


def test_svgd_needs_two_particles():
    particles = jnp.zeros((2, 1, 2))
    with pytest.raises(ValueError, match=r"at least 2 particles.*m=1"):
        svgd_sample(quartic_log_prob, particles, jnp.zeros((2, 1)), num_steps=1, step_size=0.1)


@pytest.mark.parametrize("step_size", [0.0, -0.1, 0, -1])
def test_svgd_rejects_non_positive_step_size(step_size):
    particles, log_q0 = _good()
    with pytest.raises(ValueError, match="step_size must be positive"):
        svgd_sample(quartic_log_prob, particles, log_q0, num_steps=1, step_size=step_size)


@pytest.mark.parametrize("shape", [(2,), (3, 2), (2, 3, 1), (1, 2, 3)])
def test_svgd_rejects_log_q0_of_wrong_shape(shape):
    particles, _ = _good()
    with pytest.raises(ValueError, match=r"log_q0 must have shape \(batch, m\) = \(2, 3\)"):
        svgd_sample(quartic_log_prob, particles, jnp.zeros(shape), num_steps=1, step_size=0.1)


@pytest.mark.parametrize("shape", [(3, 2), (2, 3, 2, 1), (6,)])
def test_svgd_rejects_particles_not_3d(shape):
    with pytest.raises(ValueError, match=r"particles must have shape \(batch, m, d\)"):
        svgd_sample(quartic_log_prob, jnp.zeros(shape), jnp.zeros((2, 3)), num_steps=1, step_size=0.1)


@pytest.mark.parametrize("bad_target", [lambda x: jnp.sum(x), lambda x: jnp.sum(x, axis=(1, 2)),
                                        lambda x: x, lambda x: jnp.sum(x, axis=1)],
                         ids=["scalar", "per-state", "per-coordinate", "wrong-axis"])
def test_svgd_rejects_target_without_one_value_per_particle(bad_target):
    particles, log_q0 = _good()
    with pytest.raises(ValueError, match=r"log_prob must return one value per particle.*\(2, 3\)"):
        svgd_sample(bad_target, particles, log_q0, num_steps=1, step_size=0.1)


@pytest.mark.parametrize("variance", ["silverman", "Median", ""])
def test_unknown_kernel_variance_heuristic(variance):
    particles, log_q0 = _good()
    with pytest.raises(ValueError, match="unknown kernel variance heuristic"):
        svgd_sample(quartic_log_prob, particles, log_q0, num_steps=1, step_size=0.1, kernel_variance=variance)
    with pytest.raises(ValueError, match="unknown kernel variance heuristic"):
        cjit(lambda x: svgd_step(quartic_log_prob, x, step_size=0.1, kernel_variance=variance))(particles)
    with pytest.raises(ValueError, match="unknown kernel variance heuristic"):
        kernel_variance(particles, variance)


@pytest.mark.parametrize("variance", [0.0, -1.0, 0, -2])
def test_non_positive_fixed_kernel_variance(variance):
    particles, log_q0 = _good()
    with pytest.raises(ValueError, match=r"kernel variance sigma\^2 must be positive"):
        svgd_sample(quartic_log_prob, particles, log_q0, num_steps=1, step_size=0.1, kernel_variance=variance)
    with pytest.raises(ValueError, match=r"kernel variance sigma\^2 must be positive"):
        kernel_variance(particles, variance)


@pytest.mark.parametrize("log_det", ["jacobian", "Trace", None])
def test_unknown_log_det_method(log_det):
    particles, log_q0 = _good()
    with pytest.raises(ValueError, match="log_det must be 'trace' or 'exact'"):
        svgd_sample(quartic_log_prob, particles, log_q0, num_steps=1, step_size=0.1, log_det=log_det)
    with pytest.raises(ValueError, match="log_det must be 'trace' or 'exact'"):
        svgd_step(quartic_log_prob, particles, step_size=0.1, log_det=log_det)


@pytest.mark.parametrize("num_steps", [-1, 2.0, 1.5, True, "3", None])
def test_bad_num_steps(num_steps):
    particles, log_q0 = _good()
    with pytest.raises(ValueError, match="num_steps must be a non-negative int"):
        svgd_sample(quartic_log_prob, particles, log_q0, num_steps=num_steps, step_size=0.1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(step_size=np.float32(-1.0)), "step_size"),
    (dict(step_size=jnp.asarray(0.0)), "step_size"),
    (dict(step_size=0.1, kernel_variance=np.float64(-2.0)), "kernel variance"),
    (dict(step_size=0.1, kernel_variance=jnp.asarray(0.0)), "kernel variance"),
])
def test_numpy_and_jax_scalars_are_validated_too(kwargs, match):
    particles = jnp.ones((1, 3, 2))
    with pytest.raises(ValueError, match=match):
        svgd_sample(lambda x: -jnp.sum(x**2, -1), particles, jnp.zeros((1, 3)), num_steps=1, **kwargs)


def test_numpy_integer_step_counts_are_accepted():
    result = svgd_sample(lambda x: -jnp.sum(x**2, -1), jnp.ones((1, 3, 2)), jnp.zeros((1, 3)),
                         num_steps=np.int64(2), step_size=0.1)
    assert result.log_q.shape == (1, 3)


def test_closed_form_trace_grows_as_particles_collapse_at_a_fixed_kernel_variance():
    """The property behind S2AC's collapse with a shrinking heuristic variance (README, "Stability"):
    for a fixed sigma^2 and zero scores, Tr grad phi grows as the particles move together, up to d / sigma^2,
    so the entropy estimate rewards collapsing them, and a variance that follows their spread makes it
    unbounded."""
    d, sigma2 = 3, jnp.asarray([1.0])
    base = jax.random.normal(jax.random.PRNGKey(0), (1, 10, d))
    scores = jnp.zeros_like(base)
    traces = []
    for scale in (1.0, 0.3, 0.1, 0.01):
        particles = scale * base
        kernel, diff, sq = rbf_kernel(particles, particles, sigma2)
        traces.append(float(jnp.mean(svgd_trace(kernel, diff, sq, scores, sigma2))))
    assert all(a < b for a, b in zip(traces, traces[1:], strict=False))
    assert traces[-1] == pytest.approx(d / 1.0, rel=1e-3)
