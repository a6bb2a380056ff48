"""Algorithms: SAC and S2AC over one actor-critic core and one training loop."""

from s2ac.algorithms.base import OffPolicyAgent
from s2ac.algorithms.config import OffPolicyConfig, S2ACConfig, SACConfig
from s2ac.algorithms.s2ac import S2AC
from s2ac.algorithms.sac import SAC

ALGORITHMS: dict[str, type[OffPolicyAgent]] = {"sac": SAC, "s2ac": S2AC}

__all__ = ["ALGORITHMS", "S2AC", "SAC", "OffPolicyAgent", "OffPolicyConfig", "S2ACConfig", "SACConfig"]
