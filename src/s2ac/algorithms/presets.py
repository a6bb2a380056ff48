"""The algorithms of the paper's studies by name: an algorithm of :data:`s2ac.algorithms.ALGORITHMS` with fixed
settings (S2AC's variants), or a reference baseline from stable-baselines3/sbx (DDPG, PPO; an optional extra).

One table for every study, the sweep and the report, so that a name means the same thing everywhere. This
module imports no JAX: the command line builds its choices from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    """``algo`` is a key of ``ALGORITHMS`` (or of the reference baselines), ``settings`` the config values that
    make this preset, ``label`` the name figures and tables show."""

    algo: str
    label: str
    settings: dict[str, Any] = field(default_factory=dict)
    reference: bool = False  # a stable-baselines3/sbx baseline (s2ac.algorithms.reference)


PRESETS: dict[str, Preset] = {
    "s2ac_phi": Preset("s2ac", "S2AC(phi)", {"variant": "phi"}),
    "s2ac_phi_theta": Preset("s2ac", "S2AC(phi,theta)", {"variant": "phi_theta"}),
    "s2ac_amortized": Preset("s2ac", "S2AC amortized", {"variant": "amortized"}),
    "sac": Preset("sac", "SAC"),
    "sql": Preset("sql", "SQL"),
    "sacnf": Preset("sacnf", "SAC-NF"),
    # The libraries' DDPG explores with no noise at all; 0.1 is the RL Baselines3 Zoo's Gaussian noise.
    "ddpg": Preset("ddpg", "DDPG", {"action_noise": 0.1}, reference=True),
    "ppo": Preset("ppo", "PPO", reference=True),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``, or a ``ValueError`` listing the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown algorithm {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]


def preset_of(description: dict[str, Any]) -> str:
    """The preset name of a run from its ``config.json`` (the ``preset`` the sweep records, else inferred from
    the algorithm and S2AC's variant)."""
    if description.get("preset") in PRESETS:
        return description["preset"]
    algo = description.get("algo")
    if algo == "s2ac":
        return f"s2ac_{description.get('config', {}).get('variant', 'phi_theta')}"
    if algo in PRESETS:
        return algo
    raise ValueError(f"run description names unknown algorithm {algo!r}")
