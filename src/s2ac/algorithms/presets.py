"""The algorithms of the paper's studies by name: an algorithm of :data:`s2ac.algorithms.ALGORITHMS` with fixed
settings (S2AC's variants), or a reference baseline from stable-baselines3/sbx (DDPG, PPO; an optional extra).

One table for every command (``s2ac train --algo``, ``s2ac sweep --algos``), study and report, so that a name
means the same thing everywhere: ``s2ac`` is an alias of ``s2ac_phi_theta`` (S2AC's default variant), and
``--algo s2ac_phi`` is ``--algo s2ac --set variant=phi``. This module imports no JAX: the command line builds
its choices from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s2ac import algorithms  # the package alone imports no JAX: its algorithms load on first use

if TYPE_CHECKING:
    from s2ac.algorithms.base import OffPolicyAgent  # for annotations only


@dataclass(frozen=True)
class Preset:
    """``algo`` is a key of ``ALGORITHMS`` (or of the reference baselines), ``settings`` the config values that
    make this preset, ``label`` the name figures and tables show."""

    algo: str
    label: str
    settings: dict[str, Any] = field(default_factory=dict)
    reference: bool = False  # a stable-baselines3/sbx baseline (s2ac.training.reference)


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


# Other names of a preset, accepted wherever a preset's name is: ``s2ac`` is S2AC on its default variant.
ALIASES: dict[str, str] = {"s2ac": "s2ac_phi_theta"}
# Every name a command accepts for an algorithm; ``TRAINABLE_NAMES``: those that ``s2ac train`` (our own loop) runs.
ALGORITHM_NAMES: tuple[str, ...] = (*ALIASES, *PRESETS)
TRAINABLE_NAMES: tuple[str, ...] = tuple(name for name in ALGORITHM_NAMES
                                         if not PRESETS[ALIASES.get(name, name)].reference)


def canonical_name(name: str) -> str:
    """The preset name ``name`` stands for (itself, or what its alias names); a ``ValueError`` listing the
    known names if it is neither."""
    if name in ALIASES:
        return ALIASES[name]
    if name not in PRESETS:
        raise ValueError(f"unknown algorithm {name!r}; expected one of {', '.join(ALGORITHM_NAMES)}")
    return name


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (or an alias of it), or a ``ValueError`` listing the known names."""
    return PRESETS[canonical_name(name)]


def make_agent(name: str, env: Any, seed: int = 0, assignments: Sequence[str] = (),
               **settings: Any) -> OffPolicyAgent:
    """A new agent of the preset ``name`` on ``env``: the preset's settings on the algorithm's default config,
    then ``settings`` (keyword values), then ``assignments`` (``--set key=value`` strings). The reference
    baselines are not agents of this library: :func:`s2ac.training.reference.train_reference` trains them."""
    preset = get_preset(name)
    if preset.reference:
        raise ValueError(f"{name} is a reference baseline; train it with s2ac.training.reference.train_reference")
    config_class = algorithms.ALGORITHMS[preset.algo].config_class
    config = config_class.from_dict({**preset.settings, **settings}).with_overrides(list(assignments))
    return algorithms.agent_from_description({"algo": preset.algo, "env": env, "seed": seed, "config": config})


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
