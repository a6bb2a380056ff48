"""The shared off-policy training machinery: replay buffer, loop, evaluation, logs and checkpoints."""
