"""Algorithms: S2AC, SAC, SQL and SAC-NF over one actor-critic core and one training loop."""

from s2ac.algorithms.base import OffPolicyAgent
from s2ac.algorithms.config import OffPolicyConfig, S2ACConfig, SACConfig, SACNFConfig, SQLConfig
from s2ac.algorithms.s2ac import S2AC
from s2ac.algorithms.sac import SAC
from s2ac.algorithms.sacnf import SACNF
from s2ac.algorithms.sql import SQL

ALGORITHMS: dict[str, type[OffPolicyAgent]] = {"s2ac": S2AC, "sac": SAC, "sql": SQL, "sacnf": SACNF}

__all__ = ["ALGORITHMS", "S2AC", "SAC", "SACNF", "SQL", "OffPolicyAgent", "OffPolicyConfig", "S2ACConfig", "SACConfig",
           "SACNFConfig", "SQLConfig"]
