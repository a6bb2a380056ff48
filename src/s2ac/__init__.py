"""s2ac: Stein Soft Actor-Critic and its baselines, in JAX."""

__version__ = "0.1.0"
