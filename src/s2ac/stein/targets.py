"""Target densities with a known entropy, for the entropy study and the tests (docs/math.md section 4;
EXPERIMENTS.md E1): a full-covariance Gaussian (analytic entropy) and an isotropic Gaussian mixture
(Monte Carlo entropy with the correct ``d``-dimensional normaliser)."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

_LOG_2PI = math.log(2.0 * math.pi)


class Gaussian(eqx.Module):
    """``N(mean, cov)`` in ``d`` dimensions."""

    mean: Array
    cov: Array

    def log_prob(self, x: Array) -> Array:
        """``log N(x; mean, cov)`` over the last axis of ``x``."""
        d = self.mean.shape[-1]
        chol = jnp.linalg.cholesky(self.cov)
        centred = (x - self.mean).reshape(-1, d)
        white = jax.scipy.linalg.solve_triangular(chol, centred.T, lower=True).T
        log_det = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
        out = -0.5 * (jnp.sum(white**2, axis=-1) + log_det + d * _LOG_2PI)
        return out.reshape(x.shape[:-1])

    def entropy(self) -> Array:
        """``0.5 log det(2 pi e cov)``."""
        d = self.mean.shape[-1]
        return 0.5 * (d * (_LOG_2PI + 1.0) + jnp.linalg.slogdet(self.cov)[1])

    def sample(self, key: Array, num: int) -> Array:
        chol = jnp.linalg.cholesky(self.cov)
        return self.mean + jax.random.normal(key, (num, self.mean.shape[-1])) @ chol.T


class GaussianMixture(eqx.Module):
    """Equal-weight mixture of isotropic Gaussians ``N(means[k], std^2 I)``."""

    means: Array
    std: float = eqx.field(static=True, default=1.0)

    def log_prob(self, x: Array) -> Array:
        d = self.means.shape[-1]
        sq = jnp.sum((x[..., None, :] - self.means) ** 2, axis=-1)
        log_components = -0.5 * sq / self.std**2 - d * (0.5 * _LOG_2PI + math.log(self.std))
        return jax.scipy.special.logsumexp(log_components, axis=-1) - math.log(self.means.shape[0])

    def sample(self, key: Array, num: int) -> Array:
        pick, noise = jax.random.split(key)
        k = jax.random.randint(pick, (num,), 0, self.means.shape[0])
        return self.means[k] + self.std * jax.random.normal(noise, (num, self.means.shape[-1]))

    def entropy(self, key: Array | None = None, num_samples: int = 100_000) -> Array:
        """Monte Carlo ``-E[log p(x)]`` with ``num_samples`` samples (at least 1e5 for the study)."""
        key = jax.random.PRNGKey(0) if key is None else key
        return -jnp.mean(self.log_prob(self.sample(key, num_samples)))


def circle_mixture(num_components: int, dim: int = 2, radius: float = 4.0, std: float = 1.0,
                   key: Array | None = None) -> GaussianMixture:
    """Mixture whose means lie evenly on a circle of ``radius`` in the first two coordinates, further
    coordinates drawn uniformly in ``[-1, 1]`` (EXPERIMENTS.md E1 (c))."""
    if dim < 2:
        raise ValueError(f"circle_mixture needs dim >= 2, got {dim}")
    angles = 2.0 * jnp.pi * jnp.arange(num_components) / num_components
    means = radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)
    if dim > 2:
        key = jax.random.PRNGKey(1) if key is None else key
        extra = jax.random.uniform(key, (num_components, dim - 2), minval=-1.0, maxval=1.0)
        means = jnp.concatenate([means, extra], axis=-1)
    return GaussianMixture(means, std)
