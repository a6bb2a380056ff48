"""The former place of :mod:`s2ac.training.reference` (the DDPG/PPO baselines' runner, a training-layer
routine): this name is the same module object, so that old imports still reach it."""

import sys

from s2ac.training import reference

sys.modules[__name__] = reference
