"""The former place of :mod:`s2ac.checkpoint`, whose file format agents (saved models) and the training loop
(checkpoints) share: this name is the same module object, so that old imports (and patches) still reach it."""

import sys

from s2ac import checkpoint

sys.modules[__name__] = checkpoint
