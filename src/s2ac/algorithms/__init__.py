"""Algorithms: S2AC, SAC, SQL and SAC-NF over one actor-critic core and one training loop.

The names are imported on first use, so that :mod:`s2ac.algorithms.presets` (read by the command line and
by the sweep's worker processes, which must set XLA's flags before JAX starts) imports no JAX.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s2ac.algorithms.base import OffPolicyAgent  # for annotations only

_EXPORTS = {
    "OffPolicyAgent": "s2ac.algorithms.base",
    **{name: "s2ac.algorithms.config" for name in ("OffPolicyConfig", "S2ACConfig", "SACConfig", "SACNFConfig",
                                                   "SQLConfig")},
    "S2AC": "s2ac.algorithms.s2ac",
    "SAC": "s2ac.algorithms.sac",
    "SACNF": "s2ac.algorithms.sacnf",
    "SQL": "s2ac.algorithms.sql",
}

__all__ = ["ALGORITHMS", "UnknownAlgorithmError", "agent_from_description", *_EXPORTS]


class UnknownAlgorithmError(ValueError):
    """A description names no algorithm of :data:`ALGORITHMS`."""


def agent_from_description(description: Mapping[str, Any], env: Any = None,
                           cls: type[OffPolicyAgent] | None = None) -> OffPolicyAgent:
    """A new agent from a run's description (``config.json``, a checkpoint's or a saved model's metadata, or
    a preset's): ``algo`` (a key of :data:`ALGORITHMS`), ``env`` (``env`` overrides it: an id or an instance),
    ``seed`` and ``config`` (a dict, as saved, or a config object). The one place that turns a name into an
    agent: :meth:`OffPolicyAgent.load`, :func:`s2ac.training.resume` and :func:`s2ac.algorithms.presets.make_agent`
    use it. ``cls``: the class to build (default: the one ``algo`` names). :class:`UnknownAlgorithmError`, a
    ``ValueError``, for an unknown algorithm."""
    if cls is None:
        algorithms = __getattr__("ALGORITHMS")
        name = description.get("algo")
        if name not in algorithms:
            raise UnknownAlgorithmError(f"unknown algorithm {name!r}; expected one of {', '.join(algorithms)}")
        cls = algorithms[name]
    config = description["config"]
    if isinstance(config, Mapping):
        config = cls.config_class.from_dict(dict(config))
    return cls(description["env"] if env is None else env, seed=description["seed"], config=config)


def __getattr__(name: str) -> Any:
    if name == "ALGORITHMS":
        # Imported on first use: the presets and the command line's parser import this package without JAX.
        from s2ac.algorithms.s2ac import S2AC
        from s2ac.algorithms.sac import SAC
        from s2ac.algorithms.sacnf import SACNF
        from s2ac.algorithms.sql import SQL

        return {"s2ac": S2AC, "sac": SAC, "sql": SQL, "sacnf": SACNF}
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 's2ac.algorithms' has no attribute {name!r}")
