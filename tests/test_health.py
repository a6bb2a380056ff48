"""Tests of the training health guard (``s2ac.training.health``): non-finite losses stop, divergence warns (or
stops), impossible entropy estimates warn, and the counts land in metrics.csv and survive a resume."""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest
from helpers import assert_trees_equal

from s2ac.algorithms import SAC, SQL, SACConfig
from s2ac.training.checkpoint import read
from s2ac.training.files import CHECKPOINT_FILE, METRICS_FILE
from s2ac.training.health import (
    DIVERGENCE,
    IMPOSSIBLE_ENTROPY,
    DivergenceError,
    HealthMonitor,
    HealthWarning,
    NonFiniteLossError,
    Rule,
    TrainingStopped,
    monitor_for,
)
from s2ac.training.logger import COLUMNS
from s2ac.training.loop import resume

ENV = "Pendulum-v1"  # time limit 200 steps, action_dim 1
SMALL = dict(critic_hidden=(32, 32), actor_hidden=(32, 32), random_steps=100, learning_starts=100,
             update_every=25, batch_size=32, buffer_size=5000, eval_every=125, eval_episodes=1,
             checkpoint_every=100)
# With gamma 0.99 the horizon is 100 steps (under the 200-step limit); rewards up to 16 and alpha 0.2 bound
# |Q| by 100 * (16 + 0.2 * 1) = 1620; divergence_factor 10 puts the RMS TD error limit at 16200, the critic
# loss limit (two critics) at 2 * 16200^2 = 5.2488e8, the actor loss limit at 16200.
CRITIC_LIMIT, ACTOR_LIMIT = 2 * 16200.0**2, 16200.0
HEALTHY = {"critic_loss": 50.0, "actor_loss": -300.0, "entropy": 0.5, "alpha": 0.2}


def monitor(**config) -> HealthMonitor:
    return monitor_for(SAC(ENV, seed=0, **{**SMALL, **config}), lambda: 16.0)


def observe(health: HealthMonitor, step: int, **metrics: float) -> list[str]:
    """The warnings one batch of updates gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        health.observe(step, {**HEALTHY, **metrics})
    assert all(w.category is HealthWarning for w in caught)
    return [str(w.message) for w in caught]


def test_divergence_is_judged_against_the_scale_the_rewards_allow():
    health = monitor()
    assert observe(health, 100) == [] and health.counts == {DIVERGENCE: 0, IMPOSSIBLE_ENTROPY: 0}
    assert observe(health, 125, critic_loss=0.99 * CRITIC_LIMIT, actor_loss=-0.99 * ACTOR_LIMIT) == []
    [message] = observe(health, 150, critic_loss=1.01 * CRITIC_LIMIT)
    assert message.startswith("critic_loss is diverging at step 150: 5.301e+08 (1.63e+04 in units of Q) is more "
                              "than divergence_factor=10 times 1620, the largest |Q| the rewards seen so far allow")
    assert "set stop_on_divergence=true" in message
    [message] = observe(health, 175, critic_loss=1.01 * CRITIC_LIMIT, actor_loss=-1.01 * ACTOR_LIMIT)
    assert message.startswith("actor_loss is diverging at step 175: -1.636e+04")  # once per loss
    assert observe(health, 200, critic_loss=1e12, actor_loss=1e9) == []
    assert health.counts[DIVERGENCE] == 3  # every flagged batch counts
    # The bound follows the temperature of the batch (the entropy bonus is part of Q).
    assert monitor().counts == {DIVERGENCE: 0, IMPOSSIBLE_ENTROPY: 0}
    health = monitor()
    assert observe(health, 100, critic_loss=1.01 * CRITIC_LIMIT, alpha=10.0) == []


def test_stop_on_divergence_raises_a_training_stopped_error():
    health = monitor(stop_on_divergence=True)
    with pytest.raises(DivergenceError, match="critic_loss is diverging at step 150") as info:
        health.observe(150, {**HEALTHY, "critic_loss": 1e12})
    assert isinstance(info.value, TrainingStopped) and "set stop_on_divergence" not in str(info.value)
    assert monitor(divergence_factor=None).rules[1].name == IMPOSSIBLE_ENTROPY  # no divergence rule at all
    assert observe(monitor(divergence_factor=None), 150, critic_loss=1e30) == []


def test_non_finite_metrics_stop_whatever_the_other_rules():
    health = monitor()
    with pytest.raises(NonFiniteLossError, match=r"non-finite critic_loss=nan, kernel_variance=inf in the updates "
                                                 r"at step 175$") as info:
        health.observe(175, {**HEALTHY, "critic_loss": math.nan, "kernel_variance": math.inf})
    assert isinstance(info.value, TrainingStopped)
    assert health.counts == {DIVERGENCE: 0, IMPOSSIBLE_ENTROPY: 0}


def test_an_entropy_above_that_of_the_uniform_on_the_box_warns_once_and_counts_every_batch():
    health = monitor()
    assert observe(health, 100, entropy=math.log(2) + 0.04) == []  # sampling noise of a near-uniform policy
    [message] = observe(health, 125, entropy=8.1e6)
    assert message.startswith("the entropy estimate 8.1e+06 at step 125 exceeds 0.6931 = 1 log 2, the entropy "
                              "of the uniform distribution on the action box")
    assert observe(health, 150, entropy=3.0) == []
    assert observe(health, 175) == []
    assert health.counts == {DIVERGENCE: 0, IMPOSSIBLE_ENTROPY: 2}


def test_counts_and_warnings_survive_a_state_dict_round_trip():
    health = monitor()
    observe(health, 100, critic_loss=1e12, entropy=5.0)
    restored = monitor()
    restored.load_state_dict(health.state_dict())
    assert restored.counts == health.counts == {DIVERGENCE: 1, IMPOSSIBLE_ENTROPY: 1}
    assert observe(restored, 125, critic_loss=1e12, entropy=5.0) == []  # already warned about
    assert restored.counts == {DIVERGENCE: 2, IMPOSSIBLE_ENTROPY: 2}


def test_a_rule_is_a_name_a_check_and_what_to_do():
    def wide_kernel(step, metrics):
        return {"kernel": f"kernel variance {metrics['kernel_variance']} at step {step}"} \
            if metrics.get("kernel_variance", 0.0) > 100 else {}

    health = HealthMonitor([Rule("wide_kernel", wide_kernel)])
    assert observe(health, 1, kernel_variance=1e3) == ["kernel variance 1000.0 at step 1"]
    assert health.counts == {"wide_kernel": 1}


def test_the_counts_are_metrics_columns_and_sql_watches_only_its_critic():
    counted = [rule.name for rule in monitor().rules if rule.counted]
    assert counted == [DIVERGENCE, IMPOSSIBLE_ENTROPY] and COLUMNS[-2:] == tuple(counted)
    # SQL's actor_loss is a Stein surrogate, not in units of Q: a large one is no divergence.
    assert SQL.divergence_losses == ("critic_loss",)
    agent = SAC(ENV, seed=0, **SMALL)
    agent.divergence_losses = SQL.divergence_losses  # (building an SQL agent here would only cost time)
    sql_like = monitor_for(agent, lambda: 16.0)
    assert observe(sql_like, 100, actor_loss=1e9) == []
    assert observe(sql_like, 125, critic_loss=1e12) != []


@pytest.mark.parametrize("overrides, message", [
    ({"divergence_factor": 0.0}, "divergence_factor=0.0: must be a positive number, or null"),
    ({"divergence_factor": -1.0}, "divergence_factor=-1.0: must be a positive number"),
    ({"divergence_factor": math.inf}, "divergence_factor=inf: must be a finite number"),
    ({"divergence_factor": True}, "divergence_factor=True: must be a number, not true/false"),
    ({"divergence_factor": None, "stop_on_divergence": True}, "stop_on_divergence=True: needs a divergence_factor"),
    ({"stop_on_divergence": 1}, "stop_on_divergence=1: must be true or false"),
])
def test_health_config_values_are_checked(overrides, message):
    with pytest.raises(ValueError, match=message):
        SACConfig(**overrides)


# ---------------------------------------------------------------------------------------------------------
# Real runs: SAC with critic_lr=10 diverges in its first batch of updates (critic loss 5.8e9 at step 100)
# ---------------------------------------------------------------------------------------------------------

EXPLODING = {**SMALL, "critic_lr": 10.0}


def read_counts(run_dir) -> list[tuple[int, int, int]]:
    with open(run_dir / METRICS_FILE, newline="") as f:
        return [(int(r["step"]), int(r[DIVERGENCE]), int(r[IMPOSSIBLE_ENTROPY])) for r in csv.DictReader(f)]


def test_an_exploding_run_warns_counts_and_its_counts_survive_resume(tmp_path):
    config = {**EXPLODING, "eval_every": 25, "checkpoint_every": 125}
    with pytest.warns(HealthWarning, match="(critic|actor)_loss is diverging at step 100"):
        whole = SAC(ENV, seed=0, **config).learn(200, run_dir=tmp_path / "whole", progress=False)
    counts = read_counts(tmp_path / "whole")
    assert counts[-1][0] == 200 and counts[-1][1] >= 2  # several batches flagged, the first at step 100
    assert [c[1] for c in counts] == sorted(c[1] for c in counts) and counts[3] == (100, 1, 0)

    class StopAt130:
        def __call__(self, trainer):
            if trainer.step == 130:
                raise KeyboardInterrupt

    with pytest.warns(HealthWarning), pytest.raises(KeyboardInterrupt):
        SAC(ENV, seed=0, **config).learn(200, run_dir=tmp_path / "cut", progress=False, callback=StopAt130())
    agent = resume(tmp_path / "cut")
    assert agent.trainer.health.counts == {DIVERGENCE: 1, IMPOSSIBLE_ENTROPY: 0}  # from the checkpoint at 125
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agent.learn(200, progress=False)
    assert not [w for w in caught if "is diverging" in str(w.message)]  # warned once, before the interruption
    assert read_counts(tmp_path / "cut") == counts
    assert_trees_equal(agent.state, whole.state)


def test_stop_on_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    agent = SAC(ENV, seed=0, **{**EXPLODING, "checkpoint_every": 50, "stop_on_divergence": True})
    with pytest.raises(DivergenceError) as info:
        agent.learn(300, run_dir=tmp_path / "run", progress=False)
    message = str(info.value)
    assert message.startswith("critic_loss is diverging at step 100")
    assert message.endswith(f"training stopped and the last checkpoint in {tmp_path / 'run'} is intact")
    assert agent.trainer.step == 100 and read(tmp_path / "run" / CHECKPOINT_FILE)[1]["step"] == 100 - 50
    # The diverged updates were not kept: the agent is still the one the checkpoint holds.
    assert_trees_equal(resume(tmp_path / "run").state, agent.state)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in read(tmp_path / "run" / CHECKPOINT_FILE)[0].values())
