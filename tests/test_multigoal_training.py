"""Every algorithm trains on the max-entropy multigoal task through the shared loop (tiny budgets: behaviour,
not scores)."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from s2ac import S2AC, SAC, SACNF, SQL

TINY = dict(critic_hidden=(16, 16), actor_hidden=(16, 16), random_steps=60, learning_starts=60, update_every=30,
            batch_size=16, buffer_size=500, eval_every=120, eval_episodes=2)

AGENTS = {
    "s2ac_phi": (S2AC, {"variant": "phi", "svgd_steps": 2, "num_particles": 4}),
    "s2ac_phi_theta": (S2AC, {"svgd_steps": 2, "num_particles": 4}),
    "s2ac_amortized": (S2AC, {"variant": "amortized", "svgd_steps": 2, "num_particles": 4,
                              "amortized_hidden": (16, 16)}),
    "sac": (SAC, {}),
    "sql": (SQL, {"amortized_hidden": (16, 16), "num_particles": 4, "value_samples": 8}),
    "sacnf": (SACNF, {"flow_width": 8, "flow_layers": 1}),
}


@pytest.mark.parametrize("name", list(AGENTS))
def test_tiny_multigoal_run(name):
    cls, overrides = AGENTS[name]
    agent = cls("s2ac/MultiGoalMaxEnt-v0", seed=0, **TINY, **overrides)
    before = [np.asarray(x) for x in jax.tree.leaves(agent.state)]
    agent.learn(120, progress=False)
    row = agent.trainer.history[-1]
    assert row["step"] == 120 and math.isfinite(row["eval_return_mean"]) and math.isfinite(row["critic_loss"])
    # 30-step episodes (or fewer, at a goal): at least 4 finished in 120 steps.
    assert agent.trainer.episode >= 4
    after = [np.asarray(x) for x in jax.tree.leaves(agent.state)]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    action = agent.predict(np.zeros(2, np.float32))
    assert action.shape == (2,) and np.all(np.abs(action) <= 1.0)
