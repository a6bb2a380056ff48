"""Assertions shared by several test modules."""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np

from s2ac.training.checkpoint import read
from s2ac.training.files import CHECKPOINT_FILE, MODEL_FILE


def array_leaves(tree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))]


def assert_trees_equal(a, b) -> None:
    """Same structure and bitwise-equal arrays."""
    assert jax.tree_util.tree_structure(eqx.filter(a, eqx.is_array)) == \
        jax.tree_util.tree_structure(eqx.filter(b, eqx.is_array))
    for x, y in zip(array_leaves(a), array_leaves(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def assert_trajectory_consistent(result, particles, log_q0, num_steps: int) -> None:
    """A sampler result with ``return_trajectory``: shapes, entry 0 is the input, the last entry the output."""
    assert result.particles.shape == particles.shape and result.log_q.shape == log_q0.shape
    assert result.particles_trajectory.shape == (num_steps + 1, *particles.shape)
    assert result.log_q_trajectory.shape == (num_steps + 1, *log_q0.shape)
    np.testing.assert_array_equal(np.asarray(result.particles_trajectory[0]), np.asarray(particles))
    np.testing.assert_array_equal(np.asarray(result.log_q_trajectory[0]), np.asarray(log_q0))
    np.testing.assert_array_equal(np.asarray(result.particles_trajectory[-1]), np.asarray(result.particles))
    np.testing.assert_array_equal(np.asarray(result.log_q_trajectory[-1]), np.asarray(result.log_q))


def assert_run_files_equal(dir_a, dir_b) -> None:
    """Two run directories hold the same checkpoint and model: bitwise-equal arrays (networks, optimisers,
    buffer, random states) and the same metadata but for the wall-clock training time."""
    for name in (CHECKPOINT_FILE, MODEL_FILE):
        (arrays_a, meta_a), (arrays_b, meta_b) = read(dir_a / name), read(dir_b / name)
        assert sorted(arrays_a) == sorted(arrays_b)
        for key in arrays_a:
            np.testing.assert_array_equal(arrays_a[key], arrays_b[key], err_msg=f"{name}: {key}")
        meta_a.pop("time_s", None)
        meta_b.pop("time_s", None)
        assert meta_a == meta_b
