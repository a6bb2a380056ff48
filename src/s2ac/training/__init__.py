"""The shared off-policy training machinery: replay buffer, loop, evaluation, logs and checkpoints."""

from s2ac.training.loop import NonFiniteLossError, Trainer, resume

__all__ = ["NonFiniteLossError", "Trainer", "resume"]
