"""Shared test set-up: one on-disk XLA compilation cache for the whole session (in a temporary folder,
removed at exit), so that agents and samplers of the same configuration compile once across tests and the
studies' worker processes."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import jax

if jax.config.jax_compilation_cache_dir is None:
    _cache = tempfile.mkdtemp(prefix="s2ac-tests-xla-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.3)
    # The sweep's worker processes (the studies' end-to-end tests) share it too.
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _cache)
