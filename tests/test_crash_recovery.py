"""Crash battery: a real short training run, the ``s2ac train`` command in a child process, is killed with
SIGKILL (no cleanup of any kind) before its first checkpoint, in the middle of a checkpoint write, while
appending a metrics row after a checkpoint, and while writing the final model. After each kill the directory
is taken up again by the command a user would type (the same command, or ``--resume``), and the run ends
bitwise equal to one never interrupted, with no stray file left. ``killed_run.py`` holds the kill points.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
from helpers import assert_run_files_equal

from s2ac.cli import main
from s2ac.training.checkpoint import read
from s2ac.training.files import CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, MODEL_FILE, TENSORBOARD_DIR

KILLED_RUN = Path(__file__).with_name("killed_run.py")
SETTINGS = dict(critic_hidden=[32, 32], actor_hidden=[32, 32], random_steps=100, learning_starts=100, update_every=25,
                batch_size=32, buffer_size=5000, eval_every=100, eval_episodes=1, checkpoint_every=100)
STEPS = 300  # updates from step 100; evaluations and checkpoints at 100, 200, 300


def train_args(out: Path) -> list[str]:
    args = ["train", "--algo", "sac", "--env", "Pendulum-v1", "--steps", str(STEPS), "--out", str(out), "--no-progress"]
    for key, value in SETTINGS.items():
        args += ["--set", f"{key}={value}".replace(" ", "")]
    return args


def child(moment: str | None, args: list[str]) -> subprocess.CompletedProcess:
    """``s2ac ARGS`` in a new process, killed at ``moment`` (see killed_run.py), or run to its end."""
    env = dict(os.environ)
    if jax.config.jax_compilation_cache_dir:  # the session's cache: the child compiles nothing the tests did
        env.update(JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir,
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.3")
    command = [sys.executable, str(KILLED_RUN), moment] if moment else [sys.executable, "-m", "s2ac.cli"]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300)


def killed(moment: str, args: list[str]) -> str:
    result = child(moment, args)
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr)
    return result.stderr


def checkpoint_step(run_dir: Path) -> int:
    return read(run_dir / CHECKPOINT_FILE)[1]["step"]


def files(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.iterdir())


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / METRICS_FILE, newline="") as f:
        return [{k: v for k, v in row.items() if k not in ("time_s", "steps_per_s")} for row in csv.DictReader(f)]


def test_a_run_killed_at_any_of_these_moments_resumes_or_restarts_to_the_same_result(tmp_path, capsys):
    reference, run_dir = tmp_path / "reference", tmp_path / "run"
    assert main(train_args(reference)) == 0
    capsys.readouterr()

    # 1. Killed before its first checkpoint: nothing to resume; the same command starts it again.
    killed("step:50", train_args(run_dir))
    assert files(run_dir) == [CONFIG_FILE, METRICS_FILE, TENSORBOARD_DIR]

    # 2. ... and that run is killed halfway through writing its second checkpoint: the first is intact.
    err = killed("checkpoint:2", train_args(run_dir))
    assert "stopped before its first checkpoint" in err and "starting it again from step 0" in err
    assert checkpoint_step(run_dir) == 100
    [stale] = [name for name in files(run_dir) if name.startswith(f".{CHECKPOINT_FILE}.tmp-")]

    # 3. Resumed, and killed while appending the metrics row of step 300, after the checkpoint of step 200.
    err = killed("row:300", ["train", "--resume", str(run_dir), "--no-progress"])
    assert f"resuming {run_dir} from its checkpoint at step 100" in err
    assert checkpoint_step(run_dir) == 200 and stale not in files(run_dir)  # removed by the next write
    assert (run_dir / METRICS_FILE).read_text().endswith("\n3")  # a torn last row

    # 4. Resumed, and killed while writing model.npz, after the final checkpoint.
    killed("model", ["train", "--resume", str(run_dir), "--no-progress"])
    assert checkpoint_step(run_dir) == STEPS and MODEL_FILE not in files(run_dir)

    # 5. Resumed: nothing left to train but the model, which it writes.
    result = child(None, ["train", "--resume", str(run_dir), "--no-progress"])
    assert result.returncode == 0, result.stderr
    assert f"is already at step {STEPS}, its budget: nothing to train" in result.stdout
    assert files(run_dir) == [CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, MODEL_FILE, TENSORBOARD_DIR]

    # Bitwise the run that was never interrupted: networks, optimisers, buffer, random states, rows.
    assert_run_files_equal(run_dir, reference)
    assert rows(run_dir) == rows(reference) and [r["step"] for r in rows(run_dir)] == ["100", "200", "300"]
