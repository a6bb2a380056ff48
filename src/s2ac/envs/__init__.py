"""Environments: creation and checks for any Gymnasium task."""

from s2ac.envs.make import ActionScaler, check_spaces, env_name, make_env

__all__ = ["ActionScaler", "check_spaces", "env_name", "make_env"]
