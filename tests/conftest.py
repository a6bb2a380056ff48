"""Shared test set-up: one on-disk XLA compilation cache for the whole session (in a temporary folder,
removed at exit), so that agents and samplers of the same configuration compile once across tests, across
pytest-xdist's workers (``-n 2``, the README's test command) and across the studies' worker processes.

The folder is made by the process that starts first (pytest itself, or xdist's controller) and handed to every
process below it through ``JAX_COMPILATION_CACHE_DIR``; JAX writes cache entries atomically, so concurrent
workers can share it. XLA's optimisations are off for the same reason (below), for every process of the session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="s2ac-tests-xla-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    # Small test programs compile in well under JAX's default 1 s threshold: cache them too.
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3")

# The tests' programs are tiny: XLA's compile time, not their run time, is most of the suite's time, and with
# most optimisations off it is about half (tests/test_multigoal_training.py's tiny runs: 130 s -> 68 s, one core).
# Numbers the tests compare are computed twice in the same mode, or within tolerances optimisation does not move.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import jax  # noqa: E402  (after the environment it reads its cache settings from)

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3")))
