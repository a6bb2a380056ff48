"""Tests of the initial distribution ``q_0``: a diagonal Gaussian, optionally truncated to ``t`` standard
deviations by inverse-CDF sampling (docs/math.md section 5.1)."""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from s2ac.stein import normal_log_prob, normal_sample

# Compile-time dominates these small tests on CPU: skip XLA's backend optimisations, per function (no global
# flag), which about halves compilation and hardly changes the run time at these sizes.
cjit = partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})

_norm_logpdf = cjit(norm.logpdf)
_sample = cjit(normal_sample, static_argnames=("num_particles", "truncation"))
_log_prob = cjit(normal_log_prob, static_argnames=("truncation",))

MEAN = [[0.3, -1.2], [2.0, 0.5], [-0.7, 0.0]]
STD = [[0.5, 1.5], [2.0, 0.25], [1.0, 0.8]]


def _norm_cdf(z):
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _truncated_variance(t):
    """Variance of the standard normal truncated to ``[-t, t]``: ``1 - 2 t phi(t) / (2 Phi(t) - 1)``."""
    phi = math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
    mass = math.erf(t / math.sqrt(2.0))
    return 1.0 - 2.0 * t * phi / mass


@pytest.mark.parametrize("t", [3.0, 0.5])
def test_samples_stay_within_truncation(t):
    mean, std = jnp.array(MEAN), jnp.array(STD)
    x, log_q = _sample(jax.random.PRNGKey(0), mean, std, num_particles=20_000, truncation=t)
    assert x.shape == (3, 20_000, 2) and log_q.shape == (3, 20_000)
    z = (np.asarray(x, np.float64) - np.array(MEAN)[:, None]) / np.array(STD)[:, None]
    assert np.max(np.abs(z)) <= t * (1.0 + 1e-5)
    # The box is filled: samples come close to both edges in every state and coordinate.
    assert np.all(np.max(z, axis=1) > 0.98 * t) and np.all(np.min(z, axis=1) < -0.98 * t)
    assert np.all(np.isfinite(np.asarray(log_q)))
    # The sample's log q_0 comes from its own z, log_prob's from the rounded x: float32 rounding apart.
    np.testing.assert_allclose(np.asarray(log_q), np.asarray(_log_prob(x, mean, std, truncation=t)), rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("t", [0.5, 1.0, 3.0])
def test_sample_distribution_matches_truncated_normal(t):
    """Mean, variance ``1 - 2 t phi(t) / (2 Phi(t) - 1)`` and a Kolmogorov-Smirnov distance against the
    truncated normal's CDF ``(Phi(z) - Phi(-t)) / (2 Phi(t) - 1)``, on the standardised samples."""
    n = 40_000
    mean, std = jnp.array([[1.5]]), jnp.array([[0.4]])
    x, _ = _sample(jax.random.PRNGKey(1), mean, std, num_particles=n, truncation=t)
    z = np.sort((np.asarray(x[0, :, 0], np.float64) - 1.5) / 0.4)
    var = _truncated_variance(t)
    assert abs(np.mean(z)) < 4.0 * math.sqrt(var / n)
    assert np.var(z) == pytest.approx(var, rel=0.03)
    cdf = (np.asarray(cjit(norm.cdf)(z)) - _norm_cdf(-t)) / (2.0 * _norm_cdf(t) - 1.0)
    ks = np.max(np.maximum(np.arange(1, n + 1) / n - cdf, cdf - np.arange(n) / n))
    assert ks < 1.63 / math.sqrt(n)  # the 1% critical value


def test_untruncated_sample_distribution():
    n = 40_000
    x, log_q = _sample(jax.random.PRNGKey(2), jnp.array([[1.0, -2.0]]), jnp.array([[0.5, 3.0]]),
                       num_particles=n, truncation=None)
    np.testing.assert_allclose(np.mean(np.asarray(x), axis=1), [[1.0, -2.0]], atol=4 * 3.0 / math.sqrt(n))
    np.testing.assert_allclose(np.std(np.asarray(x), axis=1), [[0.5, 3.0]], rtol=0.02)
    np.testing.assert_allclose(np.asarray(log_q), np.asarray(_log_prob(x, jnp.array([[1.0, -2.0]]),
                                                                      jnp.array([[0.5, 3.0]]))), rtol=1e-6)
    # Untruncated samples do go beyond 3 std (about 0.27% of them).
    z = (np.asarray(x) - np.array([1.0, -2.0])) / np.array([0.5, 3.0])
    assert 0.001 < np.mean(np.abs(z) > 3.0) < 0.005


def test_untruncated_log_prob_is_summed_norm_logpdf():
    with jax.enable_x64(True):
        mean, std = jnp.array(MEAN), jnp.array(STD)
        x = jnp.asarray(3.0 * np.random.default_rng(4).normal(size=(3, 7, 2)))
        got = np.asarray(_log_prob(x, mean, std))
        want = np.sum(np.asarray(_norm_logpdf(x, mean[:, None], std[:, None])), axis=-1)
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("t", [3.0, 0.5])
def test_truncated_log_prob_inside_and_outside_the_box(t):
    """Inside: the Gaussian log-density minus ``d log(2 Phi(t) - 1)``; outside: ``-inf``."""
    with jax.enable_x64(True):
        mean, std = jnp.array(MEAN), jnp.array(STD)
        z = np.random.default_rng(5).uniform(-0.999 * t, 0.999 * t, size=(3, 50, 2))
        x = jnp.asarray(np.asarray(mean)[:, None] + np.asarray(std)[:, None] * z)
        got = np.asarray(_log_prob(x, mean, std, truncation=t))
        mass = 2.0 * _norm_cdf(t) - 1.0
        want = np.sum(np.asarray(_norm_logpdf(x, mean[:, None], std[:, None])), axis=-1) - 2 * math.log(mass)
        np.testing.assert_allclose(got, want, rtol=1e-12)

        # One coordinate just outside the box, the other inside.
        outside = z.copy()
        outside[:, :, 0] = np.where(z[:, :, 0] > 0, 1.001 * t, -1.001 * t)
        x_out = jnp.asarray(np.asarray(mean)[:, None] + np.asarray(std)[:, None] * outside)
        assert np.all(np.asarray(_log_prob(x_out, mean, std, truncation=t)) == -np.inf)


@pytest.mark.parametrize("t", [3.0, 0.5])
def test_truncated_density_integrates_to_one_1d(t):
    with jax.enable_x64(True):
        mean, std = 0.7, 1.3
        n = 4000
        h = 2.0 * t * std / n
        grid = mean - t * std + h * (np.arange(n) + 0.5)  # midpoint rule over the box
        log_q = _log_prob(jnp.asarray(grid).reshape(1, n, 1), jnp.array([[mean]]), jnp.array([[std]]), truncation=t)
        assert float(jnp.sum(jnp.exp(log_q)) * h) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("t", [3.0, 0.5])
def test_truncated_density_integrates_to_one_2d(t):
    with jax.enable_x64(True):
        mean, std = np.array([0.7, -2.0]), np.array([1.3, 0.4])
        n = 400
        h = 2.0 * t * std / n
        axes = [mean[k] - t * std[k] + h[k] * (np.arange(n) + 0.5) for k in range(2)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(1, n * n, 2)
        log_q = _log_prob(jnp.asarray(grid), jnp.asarray(mean)[None], jnp.asarray(std)[None], truncation=t)
        assert float(jnp.sum(jnp.exp(log_q)) * h[0] * h[1]) == pytest.approx(1.0, abs=1e-3)
        # ... and the untruncated density has only 2 Phi(t) - 1 per coordinate of its mass in the box.
        log_p = _log_prob(jnp.asarray(grid), jnp.asarray(mean)[None], jnp.asarray(std)[None])
        mass = 2.0 * _norm_cdf(t) - 1.0
        assert float(jnp.sum(jnp.exp(log_p)) * h[0] * h[1]) == pytest.approx(mass**2, abs=1e-3)


@pytest.mark.parametrize("t", [3.0, 0.5])
def test_sampling_is_differentiable_in_mean_and_std(t):
    """The gradient of a loss of the samples matches central differences (same key) and the analytic
    reparameterisation gradient: ``dL/dmu = sum_i L'(x_i)``, ``dL/dsigma = sum_i L'(x_i) z_i``."""
    m = 64
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(6)
        mean, std = jnp.array(MEAN), jnp.array(STD)

        def f(x):
            return jnp.sin(x) * x + 0.1 * x**2

        def loss(mean, std):
            x, _ = normal_sample(key, mean, std, m, truncation=t)
            return jnp.sum(f(x))

        value_and_grad = cjit(jax.value_and_grad(loss, argnums=(0, 1)))
        _, (grad_mean, grad_std) = value_and_grad(mean, std)

        def loss_value(mean, std):  # reuses the compiled function: one compilation per test
            return float(value_and_grad(mean, std)[0])

        x = np.asarray(_sample(key, mean, std, num_particles=m, truncation=t)[0])
        z = (x - np.asarray(mean)[:, None]) / np.asarray(std)[:, None]
        f_prime = np.cos(x) * x + np.sin(x) + 0.2 * x
        np.testing.assert_allclose(np.asarray(grad_mean), np.sum(f_prime, axis=1), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(grad_std), np.sum(f_prime * z, axis=1), rtol=1e-10, atol=1e-10)

        h = 1e-6
        for k in range(mean.size):
            e = jnp.asarray(np.eye(mean.size)[k].reshape(mean.shape))
            fd_mean = (loss_value(mean + h * e, std) - loss_value(mean - h * e, std)) / (2 * h)
            fd_std = (loss_value(mean, std + h * e) - loss_value(mean, std - h * e)) / (2 * h)
            assert float(grad_mean.reshape(-1)[k]) == pytest.approx(fd_mean, rel=1e-6, abs=1e-8)
            assert float(grad_std.reshape(-1)[k]) == pytest.approx(fd_std, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("t", [3.0, None])
def test_log_q0_gradient(t):
    """With ``x = mu + sigma z`` and ``z`` fixed by the key, ``log q_0 = sum_k (-z_k^2/2 - log sigma_k) + c``:
    its gradient is 0 in ``mu`` and ``-m / sigma`` in ``sigma`` (summed over ``m`` particles)."""
    m = 16
    with jax.enable_x64(True):
        mean, std = jnp.array(MEAN), jnp.array(STD)
        grad = cjit(jax.grad(lambda mu, s: jnp.sum(normal_sample(jax.random.PRNGKey(7), mu, s, m, t)[1]),
                             argnums=(0, 1)))(mean, std)
        np.testing.assert_allclose(np.asarray(grad[0]), 0.0, atol=1e-10)
        np.testing.assert_allclose(np.asarray(grad[1]), -m / np.asarray(std), rtol=1e-10)


@pytest.mark.parametrize("t", [0, 0.0, -1.0, -3])
def test_bad_truncation_raises(t):
    mean, std = jnp.zeros((1, 2)), jnp.ones((1, 2))
    with pytest.raises(ValueError, match="truncation must be a positive number of standard deviations"):
        normal_sample(jax.random.PRNGKey(0), mean, std, 4, truncation=t)
    with pytest.raises(ValueError, match="truncation must be a positive number of standard deviations"):
        normal_log_prob(jnp.zeros((1, 4, 2)), mean, std, truncation=t)


@pytest.mark.parametrize(("mean_shape", "std_shape"), [((2,), (2,)), ((1, 2), (1, 3)), ((1, 1, 2), (1, 1, 2))])
def test_bad_mean_std_shapes_raise(mean_shape, std_shape):
    with pytest.raises(ValueError, match=r"mean and std must both have shape \(batch, d\)"):
        normal_sample(jax.random.PRNGKey(0), jnp.zeros(mean_shape), jnp.ones(std_shape), 4)


def test_samples_at_the_edge_of_the_box_have_finite_log_density():
    """Regression: log q_0 used to be recomputed from the rounded x, so edge samples of a narrow,
    far-off-centre Gaussian got -inf."""
    x, log_q0 = normal_sample(jax.random.PRNGKey(0), jnp.array([[10.0]]), jnp.array([[0.001]]), 100_000,
                              truncation=1.0)
    assert bool(jnp.all(jnp.isfinite(log_q0)))
    assert bool(jnp.all(jnp.abs(x - 10.0) <= 0.001 * 1.0 + 1e-5))


def test_log_prob_accepts_the_rounded_edge_of_the_box_and_rejects_beyond():
    mean, std = jnp.array([[0.3]]), jnp.array([[0.7]])
    edge = normal_log_prob(jnp.array([[[0.3 + 0.7 * 3.0]]]), mean, std, truncation=3.0)
    beyond = normal_log_prob(jnp.array([[[0.3 + 0.7 * 3.001]]]), mean, std, truncation=3.0)
    assert bool(jnp.isfinite(edge[0, 0])) and bool(jnp.isneginf(beyond[0, 0]))
