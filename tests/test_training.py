"""Tests of the training machinery: the replay buffer, atomic checkpoints, exact resume, the run directory,
errors (bad input, non-finite losses, corrupt files) and the command line.

JIT compilation dominates the run time: runs here use the same small configurations as ``test_agents.py``
and XLA's persistent compilation cache (a temporary directory for this session, unless one is configured),
so that agents of the same configuration share their compiled programs.
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import gymnasium as gym
import jax
import numpy as np
import pytest
from helpers import array_leaves, assert_run_files_equal, assert_trees_equal

from s2ac.algorithms import S2AC, SAC, OffPolicyAgent
from s2ac.cli import main
from s2ac.training import checkpoint
from s2ac.training.checkpoint import CheckpointError, read, write_atomically
from s2ac.training.loop import CHECKPOINT_FILE, CONFIG_FILE, MODEL_FILE, NonFiniteLossError, resume
from s2ac.training.replay import ReplayBuffer

ENV = "Pendulum-v1"  # obs_dim 3, action_dim 1, actions in [-2, 2], 200-step episodes
SMALL = dict(critic_hidden=(32, 32), actor_hidden=(32, 32), random_steps=100, learning_starts=100,
             update_every=25, batch_size=32, buffer_size=5000, eval_every=125, eval_episodes=1,
             checkpoint_every=100)
S2AC_SMALL = {**SMALL, "amortized_hidden": (32, 32)}
TIME_COLUMNS = ("time_s", "steps_per_s")
REQUIRED_COLUMNS = ("step", "eval_return_mean", "eval_return_std", "train_return", "entropy", "alpha",
                    "critic_loss", "actor_loss", "time_s")


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def without_time(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in rows]


class StopAt:
    """A training callback that raises KeyboardInterrupt once the trainer reaches ``step``."""

    def __init__(self, step: int):
        self.step = step

    def __call__(self, trainer) -> None:
        if trainer.step == self.step:
            raise KeyboardInterrupt


# ---------------------------------------------------------------------------------------------------------
# Replay buffer
# ---------------------------------------------------------------------------------------------------------


def filled_buffer(capacity: int, count: int) -> ReplayBuffer:
    """Transition i: obs (i, i, i), action (i, -i) / 100, reward i, next obs obs + 0.5, terminal every 3rd."""
    buffer = ReplayBuffer(capacity, 3, 2)
    for i in range(count):
        buffer.add(np.full(3, i, np.float32), np.array([i, -i], np.float32) / 100, float(i),
                   np.full(3, i + 0.5, np.float32), i % 3 == 0)
    return buffer


def test_replay_ring_wraps_around():
    buffer = filled_buffer(5, 7)
    assert len(buffer) == 5 and buffer.position == 2
    np.testing.assert_array_equal(buffer.rewards, [5, 6, 2, 3, 4])  # 5 and 6 overwrote 0 and 1
    np.testing.assert_array_equal(buffer.obs[:, 0], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buffer.next_obs[:, 0], [5.5, 6.5, 2.5, 3.5, 4.5])
    np.testing.assert_array_equal(buffer.terminated, [0, 1, 0, 1, 0])
    partial = filled_buffer(5, 3)
    assert len(partial) == 3 and partial.position == 3


def test_replay_sample_shapes_and_consistency():
    buffer = filled_buffer(100, 30)
    rng = np.random.default_rng(0)
    batch = buffer.sample(rng, 16, num_batches=4)
    assert batch.obs.shape == (4, 16, 3) and batch.next_obs.shape == (4, 16, 3)
    assert batch.actions.shape == (4, 16, 2)
    assert batch.rewards.shape == (4, 16) and batch.terminated.shape == (4, 16)
    assert all(x.dtype == np.float32 for x in batch)
    # Only filled slots, and every field of a row from the same transition.
    assert batch.rewards.max() <= 29 and len(np.unique(batch.rewards)) > 20
    np.testing.assert_array_equal(batch.obs[..., 0], batch.rewards)
    np.testing.assert_array_equal(batch.next_obs[..., 0], batch.rewards + 0.5)
    np.testing.assert_array_equal(batch.actions[..., 0], batch.rewards / 100)
    np.testing.assert_array_equal(batch.terminated, (batch.rewards % 3 == 0).astype(np.float32))
    # The generator's state decides the batches.
    again = buffer.sample(np.random.default_rng(0), 16, num_batches=4)
    np.testing.assert_array_equal(again.rewards, batch.rewards)
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(10, 3, 2).sample(rng, 4)


def test_replay_last_actions_after_wrap_around():
    buffer = filled_buffer(5, 7)
    np.testing.assert_array_equal(buffer.last_actions(3)[:, 0] * 100, [4, 5, 6])  # oldest first
    np.testing.assert_array_equal(np.round(buffer.last_actions(5)[:, 0] * 100), [2, 3, 4, 5, 6])
    assert buffer.last_actions(0).shape == (0, 2)
    np.testing.assert_array_equal(np.round(filled_buffer(10, 4).last_actions(2)[:, 0] * 100), [2, 3])


@pytest.mark.parametrize("count", [3, 7])
def test_replay_state_dict_round_trip(count):
    buffer = filled_buffer(5, count)
    state = buffer.state_dict()
    restored = ReplayBuffer(5, 3, 2)
    restored.load_state_dict({k: v.copy() for k, v in state.items()})
    assert len(restored) == len(buffer) and restored.position == buffer.position
    for name in ("obs", "actions", "rewards", "next_obs", "terminated"):
        np.testing.assert_array_equal(getattr(restored, name), getattr(buffer, name))
    np.testing.assert_array_equal(restored.last_actions(3), buffer.last_actions(3))
    # Both continue identically.
    for b in (buffer, restored):
        b.add(np.zeros(3), np.zeros(2), -1.0, np.zeros(3), False)
    np.testing.assert_array_equal(restored.rewards, buffer.rewards)
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    np.testing.assert_array_equal(buffer.sample(rng_a, 8).obs, restored.sample(rng_b, 8).obs)
    with pytest.raises(ValueError, match="more than buffer_size"):
        ReplayBuffer(2, 3, 2).load_state_dict(state)


# ---------------------------------------------------------------------------------------------------------
# Atomic checkpoint files
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("crash", [OSError("disk full"), KeyboardInterrupt()])
def test_checkpoint_write_is_atomic(tmp_path, monkeypatch, crash):
    path = tmp_path / "checkpoint.npz"
    write_atomically(path, {"a": np.arange(3)}, {"step": 1})
    before = path.read_bytes()
    real_savez = np.savez

    def savez_then_crash(file, **arrays):
        real_savez(file, **arrays)  # the new file is complete in the temporary file ...
        file.write(b"partial")
        raise crash  # ... but the write is interrupted before the rename

    monkeypatch.setattr(np, "savez", savez_then_crash)
    with pytest.raises(type(crash)):
        write_atomically(path, {"a": np.arange(5)}, {"step": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]  # no temporary file left behind
    arrays, meta = read(path)
    assert meta == {"step": 1}
    np.testing.assert_array_equal(arrays["a"], np.arange(3))
    monkeypatch.undo()
    write_atomically(path, {"a": np.arange(5)}, {"step": 2})
    assert read(path)[1] == {"step": 2} and [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]


def test_checkpoint_rename_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    write_atomically(path, {"a": np.ones(2)}, {"v": 1})
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(checkpoint.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        write_atomically(path, {"a": np.zeros(2)}, {"v": 2})
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_a_write_removes_the_temporary_files_of_killed_writes(tmp_path):
    path = tmp_path / "checkpoint.npz"
    dead = subprocess.Popen(["true"])
    dead.wait()  # a process id that no longer runs, as a killed writer's
    stale = tmp_path / f".checkpoint.npz.tmp-{dead.pid}"
    stale.write_bytes(b"half a checkpoint")
    live = tmp_path / f".checkpoint.npz.tmp-{os.getppid()}"  # another process still writing: left alone
    live.write_bytes(b"being written")
    other = tmp_path / f".model.npz.tmp-{dead.pid}"  # another file's: its own next write removes it
    other.write_bytes(b"half a model")
    write_atomically(path, {"a": np.arange(3)}, {"step": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["checkpoint.npz", live.name, other.name])
    write_atomically(tmp_path / "model.npz", {"a": np.arange(3)}, {"step": 1})
    assert not other.exists()


def test_a_file_of_random_bytes_is_reported_as_corrupt_not_as_pickled(tmp_path, capsys):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    for load in (read, checkpoint.read_meta, OffPolicyAgent.load):
        with pytest.raises(CheckpointError, match="corrupt or truncated.*not an .npz archive") as info:
            load(path)
        assert "pickle" not in str(info.value)
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path} is corrupt or truncated" in err


def test_interrupt_while_writing_a_training_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    """Ctrl-C during the second checkpoint of a run: the first is intact and the run resumes from it."""
    run_dir = tmp_path / "run"
    agent = SAC(ENV, seed=0, **{**SMALL, "checkpoint_every": 20, "eval_every": 1000})
    real_savez, calls = np.savez, []

    def savez(file, **arrays):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_savez(file, **arrays)

    monkeypatch.setattr(np, "savez", savez)
    with pytest.raises(KeyboardInterrupt):
        agent.learn(60, run_dir=run_dir, progress=False)  # random actions only: no updates, no compilation
    monkeypatch.undo()
    assert sorted(p.name for p in run_dir.iterdir()) == [CHECKPOINT_FILE, CONFIG_FILE, "metrics.csv",
                                                         "tensorboard"]
    assert read(run_dir / CHECKPOINT_FILE)[1]["step"] == 20
    resumed = resume(run_dir)
    assert resumed.trainer.step == 20 and len(resumed.trainer.buffer) == 20
    np.testing.assert_array_equal(resumed.trainer.buffer.obs[:20], agent.trainer.buffer.obs[:20])


# ---------------------------------------------------------------------------------------------------------
# Exact resume
# ---------------------------------------------------------------------------------------------------------

RESUME_STEPS = 260
# Checkpoints at 70, 140, 210, 260: not at episode ends (200), so resuming replays part of an episode.
# Evaluations at 110, 220, 260. Run B is interrupted at 80 (in the random phase, last checkpoint 70) and at
# 230 (last checkpoint 210, 10 steps into the second episode, after the evaluation row of step 220).
RESUME_CONFIG = {**S2AC_SMALL, "checkpoint_every": 70, "eval_every": 110}


@pytest.fixture(scope="module")
def resume_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    a = S2AC(ENV, seed=0, **RESUME_CONFIG)
    a.learn(RESUME_STEPS, run_dir=root / "a", progress=False)

    b = S2AC(ENV, seed=0, **RESUME_CONFIG)
    with pytest.raises(KeyboardInterrupt):
        b.learn(RESUME_STEPS, run_dir=root / "b", progress=False, callback=StopAt(80))
    first = resume(root / "b")
    first_step = first.trainer.step
    with pytest.raises(KeyboardInterrupt):
        first.learn(RESUME_STEPS, callback=StopAt(230))
    interrupted_rows = read_metrics(root / "b")
    second = resume(root / "b")
    second_meta = read(root / "b" / CHECKPOINT_FILE)[1]
    second.learn(RESUME_STEPS, progress=False)
    return {"a": a, "b": second, "dir_a": root / "a", "dir_b": root / "b", "first_step": first_step,
            "second_meta": second_meta, "interrupted_rows": interrupted_rows}


def test_resume_points_are_mid_episode(resume_runs):
    assert resume_runs["first_step"] == 70
    meta = resume_runs["second_meta"]
    assert meta["step"] == 210 and meta["episode"] == 1 and meta["episode_length"] == 10
    # The row of step 220, written before the interruption, was there and has been redone.
    assert [row["step"] for row in resume_runs["interrupted_rows"]] == ["110", "220"]


def test_resumed_run_is_bitwise_equal_to_uninterrupted(resume_runs):
    a, b = resume_runs["a"], resume_runs["b"]
    assert a.trainer.step == b.trainer.step == RESUME_STEPS
    assert_trees_equal(a.state, b.state)
    # The state is not trivially equal (e.g. untrained): training moved it.
    untrained = S2AC(ENV, seed=0, **RESUME_CONFIG).state
    assert not np.array_equal(array_leaves(untrained.actor)[0], array_leaves(a.state.actor)[0])
    np.testing.assert_array_equal(np.asarray(a.trainer.key), np.asarray(b.trainer.key))
    assert a.trainer.rng.bit_generator.state == b.trainer.rng.bit_generator.state
    assert len(a.trainer.buffer) == len(b.trainer.buffer) == RESUME_STEPS
    for name in ("obs", "actions", "rewards", "next_obs", "terminated"):
        np.testing.assert_array_equal(getattr(a.trainer.buffer, name), getattr(b.trainer.buffer, name))
    np.testing.assert_array_equal(a.trainer.obs, b.trainer.obs)
    assert a.trainer.episode_return == b.trainer.episode_return


def test_resumed_run_files_match_uninterrupted(resume_runs):
    dir_a, dir_b = resume_runs["dir_a"], resume_runs["dir_b"]
    rows_a, rows_b = read_metrics(dir_a), read_metrics(dir_b)
    assert [row["step"] for row in rows_a] == ["110", "220", "260"]
    assert without_time(rows_a) == without_time(rows_b)
    assert all(math.isfinite(float(row["eval_return_mean"])) for row in rows_a)
    assert all(math.isfinite(float(row["critic_loss"])) for row in rows_a[1:])
    # Checkpoints and models: the same arrays; the same metadata but for the wall-clock time.
    assert_run_files_equal(dir_a, dir_b)
    # A model loaded from either acts identically.
    obs, key = np.array([0.3, -0.2, 0.5], np.float32), jax.random.PRNGKey(3)
    loaded_a, loaded_b = OffPolicyAgent.load(dir_a / MODEL_FILE), OffPolicyAgent.load(dir_b / MODEL_FILE)
    np.testing.assert_array_equal(loaded_a.predict(obs, key=key), loaded_b.predict(obs, key=key))


# ---------------------------------------------------------------------------------------------------------
# Corrupt checkpoints and run directories
# ---------------------------------------------------------------------------------------------------------


def corrupt_copy(run_dir: Path, destination: Path, how: str, where: float = 0.5) -> Path:
    shutil.copytree(run_dir, destination)
    path = destination / CHECKPOINT_FILE
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: int(len(data) * where)]
    else:
        i = int(len(data) * where)
        data[i:i + 8] = bytes(b ^ 0xFF for b in data[i:i + 8])
    path.write_bytes(bytes(data))
    return destination


@pytest.mark.parametrize("how, where", [("truncate", 0.5), ("truncate", 0.99), ("flip", 0.3), ("flip", 0.5),
                                        ("flip", 0.8)])
def test_corrupt_checkpoint_raises_checkpoint_error(resume_runs, tmp_path, how, where):
    run_dir = corrupt_copy(resume_runs["dir_a"], tmp_path / "run", how, where)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        OffPolicyAgent.load(run_dir / CHECKPOINT_FILE)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        resume(run_dir)
    # The model file next to it is untouched and still loads.
    assert isinstance(OffPolicyAgent.load(run_dir / MODEL_FILE), S2AC)


def stopped_before_first_checkpoint(run_dir: Path, total_steps: int, stop_at: int = 5, **config) -> None:
    """A run directory as a crash at ``stop_at`` leaves it: config.json written, no checkpoint (first at 100)."""
    agent = SAC(ENV, seed=0, **{**SMALL, **config})
    with pytest.raises(KeyboardInterrupt):
        agent.learn(total_steps, run_dir=run_dir, progress=False, callback=StopAt(stop_at))
    assert (run_dir / CONFIG_FILE).is_file() and not (run_dir / CHECKPOINT_FILE).exists()


def test_resume_needs_a_run_directory(tmp_path):
    with pytest.raises(ValueError, match="not a run directory"):
        resume(tmp_path)
    (tmp_path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not a readable run description"):
        resume(tmp_path)


def test_a_run_stopped_before_its_first_checkpoint_starts_again(tmp_path):
    reference = SAC(ENV, seed=0, **{**SMALL, "eval_every": 20}).learn(50, run_dir=tmp_path / "reference",
                                                                      progress=False)
    run_dir = tmp_path / "run"
    stopped_before_first_checkpoint(run_dir, 50, stop_at=30, eval_every=20)  # a row and events to clear
    assert [row["step"] for row in read_metrics(run_dir)] == ["20"]
    # resume() has nothing to resume: it starts the run again, to the budget it was started with.
    agent = resume(run_dir)
    assert agent.trainer.restarting and agent.trainer.total_steps == 50 and agent.trainer.step == 0
    with pytest.warns(UserWarning, match="stopped before its first checkpoint: starting it again from step 0"):
        agent.learn(agent.trainer.total_steps, progress=False)
    assert [row["step"] for row in read_metrics(run_dir)] == ["20", "40", "50"]
    assert len(list((run_dir / "tensorboard").iterdir())) == 1
    ours, theirs = read(run_dir / CHECKPOINT_FILE), read(tmp_path / "reference" / CHECKPOINT_FILE)
    assert sorted(ours[0]) == sorted(theirs[0])
    for name in ours[0]:
        np.testing.assert_array_equal(ours[0][name], theirs[0][name], err_msg=name)
    assert_trees_equal(agent.state, reference.state)
    # The same call as the stopped run's starts it again too.
    run_dir = tmp_path / "again"
    stopped_before_first_checkpoint(run_dir, 50)
    with pytest.warns(UserWarning, match="starting it again"):
        SAC(ENV, seed=0, **SMALL).learn(50, run_dir=run_dir, progress=False)
    assert read(run_dir / CHECKPOINT_FILE)[1]["step"] == 50
    # Another run is not overwritten, even without a checkpoint.
    stopped_before_first_checkpoint(tmp_path / "other", 50)
    with pytest.raises(ValueError, match="holds another run \\(seed 0, not 1\\) that stopped before its first"):
        SAC(ENV, seed=1, **SMALL).learn(50, run_dir=tmp_path / "other", progress=False)
    with pytest.raises(ValueError, match="config values batch_size differ"):
        SAC(ENV, seed=0, **{**SMALL, "batch_size": 16}).learn(50, run_dir=tmp_path / "other", progress=False)


@pytest.mark.parametrize("steps", [0, -5, True, 2.5])
def test_a_step_budget_must_be_a_positive_int(tmp_path, steps):
    with pytest.raises(ValueError, match="total_steps must be a positive int"):
        SAC(ENV, seed=0, **SMALL).learn(steps, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # nothing left behind to get stuck on


def test_environment_errors():
    with pytest.raises(ValueError, match="unknown environment 'Pendulm-v1'.*did you mean.*Pendulum-v1"):
        SAC("Pendulm-v1")
    with pytest.raises(ValueError, match="continuous"):
        SAC("CartPole-v1")
    with pytest.raises(ValueError, match="continuous"):
        S2AC(gym.make("FrozenLake-v1"))
    with pytest.raises(ValueError, match="Gymnasium environment"):
        SAC(42)


@pytest.mark.parametrize("obs, message", [
    (np.zeros(4), r"shape \(4,\); this agent expects \(3,\) or \(batch, 3\)"),
    (np.float32(0), r"shape \(\); this agent expects"),  # was an IndexError
    (np.zeros((2, 2, 3)), r"shape \(2, 2, 3\); this agent expects"),  # was a silent (2, 2, 1)
    (np.array([0.0, math.nan, 1.0]), r"non-finite values \(NaN or inf\) at \[\[1\]\]"),  # was a NaN action
    (np.array([[0.0, 0.0, 0.0], [math.inf, 0.0, 0.0]]), r"non-finite values .* at \[\[1, 0\]\]"),
])
def test_predict_rejects_observations_it_cannot_act_on(obs, message):
    agent = SAC(ENV, seed=0, **SMALL)
    with pytest.raises(ValueError, match=message):
        agent.predict(obs)
    assert agent.predict(np.zeros(3)).shape == (1,) and agent.predict(np.zeros((2, 3))).shape == (2, 1)


def test_save_to_a_directory_names_it(tmp_path):
    with pytest.raises(ValueError, match=f"cannot save the agent to {tmp_path}: it is a directory"):
        SAC(ENV, seed=0, **SMALL).save(tmp_path)


# ---------------------------------------------------------------------------------------------------------
# Non-finite losses
# ---------------------------------------------------------------------------------------------------------


class NaNRewardAfter(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Rewards turn NaN after ``after`` steps of this instance (a broken sensor, say)."""

    def __init__(self, env: gym.Env, after: int):
        gym.utils.RecordConstructorArgs.__init__(self, after=after)
        gym.Wrapper.__init__(self, env)
        self.after, self.count = after, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.count += 1
        return obs, (math.nan if self.count > self.after else reward), terminated, truncated, info


def test_non_finite_loss_stops_training_and_keeps_state_and_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    agent = SAC(NaNRewardAfter(gym.make(ENV), after=150), seed=0,
                **{**SMALL, "checkpoint_every": 50, "eval_every": 1000})
    with pytest.raises(NonFiniteLossError) as info:
        agent.learn(300, run_dir=run_dir, progress=False)
    message = str(info.value)
    # Transitions from step 151 on have NaN rewards; the updates at step 175 are the first to see them.
    assert "at step 175" in message and "critic_loss=nan" in message
    assert "checkpoint" in message and "intact" in message
    assert agent.trainer.step == 175
    # The agent keeps the state of the last finite update (step 150), which the checkpoint of step 150 holds.
    assert all(np.all(np.isfinite(x)) for x in array_leaves(agent.state))
    arrays, meta = read(run_dir / CHECKPOINT_FILE)
    assert meta["step"] == 150
    saved = OffPolicyAgent.load(run_dir / CHECKPOINT_FILE)
    assert_trees_equal(saved.state, agent.state)
    resumed = resume(run_dir)
    assert resumed.trainer.step == 150 and np.all(np.isfinite(resumed.trainer.buffer.rewards[:150]))


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------

CLI_SETS = [f"{key}={json.dumps(value)}" for key, value in SMALL.items()]
CLI_STEPS = 150  # updates at 100, 125, 150; evaluations at 125, 150; checkpoints at 100, 150


def cli_train_args(out: Path, steps: int = CLI_STEPS, env: str = ENV, extra: tuple[str, ...] = ()) -> list[str]:
    args = ["train", "--algo", "sac", "--env", env, "--steps", str(steps), "--out", str(out), "--no-progress"]
    for item in [*CLI_SETS, *extra]:
        args += ["--set", item]
    return args


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    code = main(cli_train_args(out))
    return code, out


def test_cli_train_writes_the_run_directory(cli_run):
    code, out = cli_run
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_FILE, CONFIG_FILE, "metrics.csv", MODEL_FILE,
                                                     "tensorboard"]
    description = json.loads((out / CONFIG_FILE).read_text())
    assert description["algo"] == "sac" and description["env"] == ENV and description["seed"] == 0
    assert description["config"]["critic_hidden"] == [32, 32] and description["config"]["batch_size"] == 32
    rows = read_metrics(out)
    assert set(REQUIRED_COLUMNS) <= set(rows[0])
    assert [row["step"] for row in rows] == ["125", "150"]
    assert [(row["divergence_warnings"], row["impossible_entropy"]) for row in rows] == [("0", "0")] * 2
    for row in rows:
        for column in REQUIRED_COLUMNS:
            if column != "train_return":  # no training episode has finished by step 150
                assert math.isfinite(float(row[column])), (column, row)
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    assert read(out / CHECKPOINT_FILE)[1]["step"] == CLI_STEPS
    assert isinstance(OffPolicyAgent.load(out / MODEL_FILE), SAC)


def test_cli_evaluate_prints_json(cli_run, capsys):
    _, out = cli_run
    capsys.readouterr()
    assert main(["evaluate", str(out), "--episodes", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["algo"] == "sac" and result["env"] == ENV and result["episodes"] == 2
    assert len(result["returns"]) == 2 and result["lengths"] == [200, 200]
    assert math.isfinite(result["return_mean"])
    assert result["return_mean"] == pytest.approx(np.mean(result["returns"]))
    assert result["returns"][0] != result["returns"][1]  # two differently seeded episodes
    # Deterministic: the same command gives the same numbers; the text form summarises them.
    assert main(["evaluate", str(out), "--episodes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["returns"] == result["returns"]
    assert main(["evaluate", str(out / MODEL_FILE), "--episodes", "2"]) == 0
    assert f"{result['return_mean']:.2f}" in capsys.readouterr().out


def test_cli_resume_continues(cli_run, tmp_path, capsys):
    _, out = cli_run
    run_dir = tmp_path / "run"
    shutil.copytree(out, run_dir)
    assert main(["train", "--resume", str(run_dir), "--steps", "200", "--no-progress"]) == 0
    assert "step 200" in capsys.readouterr().out
    rows = read_metrics(run_dir)
    assert [row["step"] for row in rows] == ["125", "150", "200"]
    assert without_time(rows[:2]) == without_time(read_metrics(out))
    assert read(run_dir / CHECKPOINT_FILE)[1]["step"] == 200
    assert read(run_dir / MODEL_FILE)[1]["algo"] == "sac"
    # Later training changed the model.
    assert not np.array_equal(read(run_dir / MODEL_FILE)[0]["state/0000"], read(out / MODEL_FILE)[0]["state/0000"])


def test_resume_drops_a_torn_last_metrics_row(cli_run, tmp_path):
    _, out = cli_run
    run_dir = tmp_path / "run"
    shutil.copytree(out, run_dir)
    # A crash while appending a row leaves part of it; this one's step reads as 1, before the checkpoint (150).
    with open(run_dir / "metrics.csv", "a") as f:
        f.write("1")
    assert main(["train", "--resume", str(run_dir), "--steps", "200", "--no-progress"]) == 0
    rows = read_metrics(run_dir)
    assert [row["step"] for row in rows] == ["125", "150", "200"]
    assert without_time(rows[:2]) == without_time(read_metrics(out))


@pytest.mark.parametrize("make_args, message", [
    (lambda d: cli_train_args(d / "x", env="Pendulm-v1"), "unknown environment 'Pendulm-v1'; did you mean"),
    (lambda d: cli_train_args(d / "x", env="CartPole-v1"), "continuous"),
    (lambda d: cli_train_args(d / "x", extra=("gamma=2",)), "gamma"),
    (lambda d: cli_train_args(d / "x", extra=("svgd_steps=3",)), "unknown config key"),
    (lambda d: cli_train_args(d / "x", extra=("batch_size",)), "key=value"),
    (lambda d: ["train", "--algo", "sac", "--env", ENV, "--steps", "10"], "missing --out"),
    (lambda d: ["train", "--resume", str(d / "nothing")], "not a run directory"),
    (lambda d: ["train", "--resume", str(d), "--algo", "sac"], "--resume continues a run"),
    (lambda d: ["evaluate", str(d / "missing.npz")], "no checkpoint or model file"),
])
def test_cli_errors_return_2_with_a_message(tmp_path, capsys, make_args, message):
    assert main(make_args(tmp_path)) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.startswith("s2ac ")
    assert "Traceback" not in captured.err


def assert_same_model(dir_a: Path, dir_b: Path) -> None:
    arrays_a, arrays_b = read(dir_a / MODEL_FILE)[0], read(dir_b / MODEL_FILE)[0]
    assert sorted(arrays_a) == sorted(arrays_b)
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)


@pytest.mark.parametrize("how", ["same command", "resume"])
def test_cli_starts_again_a_run_stopped_before_its_first_checkpoint(cli_run, tmp_path, capsys, how):
    _, reference = cli_run
    run_dir = tmp_path / "run"
    stopped_before_first_checkpoint(run_dir, CLI_STEPS)
    capsys.readouterr()
    args = cli_train_args(run_dir) if how == "same command" else ["train", "--resume", str(run_dir), "--no-progress"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "stopped before its first checkpoint" in err and "starting it again from step 0" in err
    # Started again from step 0: the same run as one never interrupted, bitwise.
    assert_same_model(run_dir, reference)
    assert without_time(read_metrics(run_dir)) == without_time(read_metrics(reference))


@pytest.mark.parametrize("steps", ["0", "-5"])
def test_cli_steps_must_be_positive(tmp_path, capsys, steps):
    args = cli_train_args(tmp_path / "run")
    args[args.index("--steps") + 1] = steps
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2 and "--steps: must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_cli_resume_of_a_finished_run_says_so_and_writes_nothing(cli_run, tmp_path, capsys):
    _, out = cli_run
    run_dir = tmp_path / "run"
    shutil.copytree(out, run_dir)
    (run_dir / MODEL_FILE).unlink()  # as a crash between the final checkpoint and the model would leave it
    events = sorted((run_dir / "tensorboard").iterdir())
    metrics = (run_dir / "metrics.csv").read_text()
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 0
    assert f"{run_dir} is already at step {CLI_STEPS}, its budget: nothing to train" in capsys.readouterr().out
    assert_same_model(run_dir, out)  # written again from the checkpoint
    assert main(["train", "--resume", str(run_dir), "--steps", "100", "--no-progress"]) == 2
    assert f"is already at step {CLI_STEPS}; --steps 100 would go back" in capsys.readouterr().err
    assert sorted((run_dir / "tensorboard").iterdir()) == events  # no empty TensorBoard file added
    assert (run_dir / "metrics.csv").read_text() == metrics


def test_cli_refuses_an_existing_run_directory(cli_run, capsys):
    _, out = cli_run
    before = (out / "metrics.csv").read_text()
    assert main(cli_train_args(out)) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "metrics.csv").read_text() == before


def test_cli_bad_choice_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--algo", "ppo"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_learn_cannot_switch_run_directory(tmp_path):
    agent = SAC(ENV, seed=0, **SMALL)
    agent.learn(20, progress=False)
    with pytest.raises(ValueError, match="cannot switch"):
        agent.learn(40, run_dir=tmp_path / "run", progress=False)


def test_a_wrapper_gymnasium_cannot_recreate_still_trains():
    class HalveReward(gym.Wrapper):  # no RecordConstructorArgs: gym.make(spec) cannot rebuild it
        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            return obs, 0.5 * reward, terminated, truncated, info

    agent = SAC(HalveReward(gym.make(ENV)), seed=0, **{**SMALL, "eval_every": 20})
    agent.learn(20, progress=False)
    assert agent.trainer.history[-1]["step"] == 20


def test_resume_rejects_a_seed(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--seed", "3"]) == 2
    assert "--resume continues a run as it was configured" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# Output folders and filesystem errors: one line naming the path, before any work
# ---------------------------------------------------------------------------------------------------------


def bad_output(kind: str, tmp_path: Path) -> Path:
    """An output folder that cannot be used: an existing file, a path under a file, or an unwritable place."""
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    if kind == "file":
        return a_file
    if kind == "under_file":
        return a_file / "out"
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    if not os.access(read_only, os.W_OK):
        return read_only / "out"
    # Permissions do not stop root, but /sys refuses new folders to everyone.
    probe = Path("/sys/s2ac-test-out")
    try:
        probe.mkdir()
    except OSError:
        return probe
    probe.rmdir()
    pytest.skip("no unwritable place for this user")


def output_commands(out: Path, runs_root: Path) -> dict[str, list[str]]:
    return {
        "train": cli_train_args(out),
        "entropy": ["entropy", "--out", str(out), "--quick", "--parts", "a", "--no-progress"],
        "multigoal": ["multigoal", "--out", str(out), "--quick", "--no-progress"],
        "runtime": ["runtime", "--out", str(out), "--quick", "--no-progress"],
        "sweep": ["sweep", "--envs", ENV, "--algos", "sac", "--steps", "10", "--out", str(out), "--no-progress"],
        "report": ["report", str(runs_root), "--out", str(out)],
    }


@pytest.mark.parametrize("kind", ["file", "under_file", "unwritable"])
@pytest.mark.parametrize("command", ["train", "entropy", "multigoal", "runtime", "sweep", "report"])
def test_every_command_rejects_an_unusable_output_folder_in_one_line_before_working(
        cli_run, tmp_path, capsys, monkeypatch, command, kind):
    from s2ac.experiments import entropy, multigoal, runtime, sweep

    out = bad_output(kind, tmp_path)
    # The work of each command must not start: measuring, sampling, training.
    for module, name in ((runtime, "time_calls"), (entropy, "simulate"), (multigoal, "measure_policy"),
                         (sweep, "run_local")):
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("the work started before the check"))
    assert main(output_commands(out, cli_run[1])[command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"s2ac {command}: error: cannot use {out} as the ")
    assert err.count("\n") == 1 and "Traceback" not in err
    reason = {"file": "it is an existing file", "under_file": f"{tmp_path / 'a_file'} is a file",
              "unwritable": ("ermission denied", "not permitted")}[kind]
    assert any(r in err for r in ((reason,) if isinstance(reason, str) else reason)), err


def test_a_filesystem_error_during_training_is_one_line(tmp_path, capsys, monkeypatch):
    def disk_full(path, arrays, meta):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint, "write_atomically", disk_full)
    out = tmp_path / "run"
    assert main(cli_train_args(out, steps=30, extra=("checkpoint_every=20",))) == 1
    err = capsys.readouterr().err
    assert err == f"s2ac train: error: No space left on device: {out / CHECKPOINT_FILE}\n"
