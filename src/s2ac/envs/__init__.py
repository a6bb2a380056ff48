"""Environments: creation and checks for any Gymnasium task, and the multi-goal environments of Section 4.2.

Importing this package registers the multi-goal ids (``MULTIGOAL_IDS``) with Gymnasium, so that
``make_env("s2ac/MultiGoalMaxEnt-v0")`` (or ``gymnasium.make``) works; registering again is a no-op.
"""

from s2ac.envs.make import ActionScaler, check_spaces, env_name, make_env, separate_instance
from s2ac.envs.multigoal import (
    MAXENT_GOALS,
    MULTIGOAL_GOALS,
    MULTIGOAL_ID,
    MULTIGOAL_IDS,
    MULTIGOAL_MAXENT_ID,
    MULTIGOAL_MAXENT_OBSTACLE_ID,
    MULTIGOAL_OBSTACLE_ID,
    WALL,
    MultiGoalEnv,
    register_envs,
    segments_intersect,
)

register_envs()

__all__ = ["ActionScaler", "check_spaces", "env_name", "make_env", "separate_instance", "MAXENT_GOALS",
           "MULTIGOAL_GOALS",
           "MULTIGOAL_ID", "MULTIGOAL_IDS", "MULTIGOAL_MAXENT_ID", "MULTIGOAL_MAXENT_OBSTACLE_ID",
           "MULTIGOAL_OBSTACLE_ID", "WALL", "MultiGoalEnv", "register_envs", "segments_intersect"]
