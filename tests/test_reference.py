"""Reference baselines (DDPG, PPO from sbx or stable-baselines3): errors without the optional extra, and tiny
real runs (skipped where the extra is not installed) checking the run directory, resume and skipping."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from s2ac.algorithms.reference import CHECKPOINT_FILE, MODEL_KEY, load_reference, train_reference
from s2ac.training import checkpoint
from s2ac.training.logger import COLUMNS

ENV = "Pendulum-v1"
DDPG_SETTINGS = {"buffer_size": 2000, "learning_starts": 100, "batch_size": 32, "train_freq": [50, "step"],
                 "gradient_steps": 50, "policy_kwargs": {"net_arch": [32, 32]}, "action_noise": 0.1}
PPO_SETTINGS = {"n_steps": 128, "batch_size": 64, "n_epochs": 2, "policy_kwargs": {"net_arch": [32, 32]}}


def _hide_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import name` raise ImportError, as if the extra were not installed.
    for name in ("sbx", "stable_baselines3"):
        monkeypatch.setitem(sys.modules, name, None)


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _steps(run_dir: Path) -> list[int]:
    return [int(row["step"]) for row in _rows(run_dir)]


# --- without the extra ------------------------------------------------------------------------------------


def test_missing_extra_names_the_install_command(monkeypatch, tmp_path):
    _hide_libraries(monkeypatch)
    with pytest.raises(ImportError, match=r"pip install 's2ac\[baselines\]'"):
        train_reference("ddpg", ENV, 0, 100, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing written before the library is needed


def test_unknown_name_and_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown reference baseline 'td3'"):
        train_reference("td3", ENV, 0, 100, tmp_path)
    with pytest.raises(ValueError, match="eval_every"):
        train_reference("ppo", ENV, 0, 100, tmp_path, eval_every=0)
    with pytest.raises(ValueError, match="settings may not set seed"):
        train_reference("ppo", ENV, 0, 100, tmp_path, settings={"seed": 1})


def test_run_dir_of_another_run_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"algo": "sac", "env": ENV, "seed": 0, "config": {}}))
    with pytest.raises(ValueError, match="sac run on Pendulum-v1"):
        train_reference("ddpg", ENV, 0, 100, tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"algo": "ddpg", "env": ENV, "seed": 0, "config": {}}))
    with pytest.raises(ValueError, match="ddpg run on Pendulum-v1"):
        train_reference("ddpg", "MountainCarContinuous-v0", 0, 100, tmp_path)


def test_finished_run_returns_without_importing_the_library(monkeypatch, tmp_path):
    identity = {"algo": "ppo", "env": ENV, "seed": 3, "settings": {}, "reference": True}
    (tmp_path / "config.json").write_text(json.dumps({**identity, "config": {"settings": {}}}))
    checkpoint.write_atomically(tmp_path / CHECKPOINT_FILE, {MODEL_KEY: np.zeros(1, np.uint8)},
                                {**identity, "step": 512, "library": "sbx"})
    _hide_libraries(monkeypatch)
    assert train_reference("ppo", ENV, 3, 512, tmp_path) == []
    assert not (tmp_path / "metrics.csv").exists()


# --- tiny real runs (the extra installed) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ddpg_run(tmp_path_factory) -> tuple[Path, list[dict]]:
    """DDPG trained to 400 steps (rows every 200, checkpoints every 400), the first half of the resume test."""
    pytest.importorskip("stable_baselines3")
    run_dir = tmp_path_factory.mktemp("ddpg") / "run"
    rows = train_reference("ddpg", ENV, 0, 400, run_dir, settings=DDPG_SETTINGS, eval_every=200, eval_episodes=1,
                           checkpoint_every=400)
    return run_dir, rows


def test_ddpg_run_directory_format(ddpg_run):
    run_dir, rows = ddpg_run
    description = json.loads((run_dir / "config.json").read_text())
    assert description["algo"] == description["preset"] == "ddpg"
    assert (description["env"], description["seed"]) == (ENV, 0)
    config = description["config"]
    assert config["settings"] == DDPG_SETTINGS and config["library"] in ("sbx", "stable_baselines3")
    assert config["library_version"]
    assert [row["step"] for row in rows] == _steps(run_dir) == [200, 400]
    for row in _rows(run_dir):
        assert tuple(row) == COLUMNS
        assert math.isfinite(float(row["eval_return_mean"])) and float(row["eval_return_std"]) == 0.0
        assert float(row["time_s"]) > 0 and float(row["steps_per_s"]) > 0
        assert math.isnan(float(row["critic_loss"]))
    arrays, meta = checkpoint.read(run_dir / CHECKPOINT_FILE)
    assert (meta["algo"], meta["env"], meta["seed"], meta["step"], meta["total_steps"]) == ("ddpg", ENV, 0, 400, 400)
    assert meta["library"] == config["library"] and meta["library_version"] == config["library_version"]
    assert arrays[MODEL_KEY].dtype == np.uint8 and arrays["reference/replay_buffer"].size > 0
    model = load_reference(run_dir)  # model.npz
    action = model.predict(np.zeros(3, np.float32), deterministic=True)[0]
    assert action.shape == (1,) and -2.0 <= float(action[0]) <= 2.0


def test_s2ac_evaluate_reads_a_reference_run(ddpg_run, capsys):
    from s2ac.cli import main

    run_dir, _ = ddpg_run
    assert main(["evaluate", str(run_dir), "--episodes", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["algo"], result["env"], result["episodes"]) == ("ddpg", ENV, 1)
    assert math.isfinite(result["return_mean"])
    assert main(["evaluate", str(run_dir), "--selection", "softmax"]) == 2
    assert "act deterministically" in capsys.readouterr().err


def test_ddpg_resume_continues_and_finished_run_is_skipped(ddpg_run):
    run_dir, _ = ddpg_run
    # A row written after the last checkpoint (the run was interrupted after it): redone, not duplicated.
    with open(run_dir / "metrics.csv", "a", newline="") as f:
        csv.DictWriter(f, COLUMNS).writerow({name: 500 if name == "step" else 0.0 for name in COLUMNS})
    rows = train_reference("ddpg", ENV, 0, 600, run_dir, settings=DDPG_SETTINGS, eval_every=200, eval_episodes=1,
                           checkpoint_every=400)
    assert [row["step"] for row in rows] == [600]
    assert _steps(run_dir) == [200, 400, 600]
    assert checkpoint.read_meta(run_dir / CHECKPOINT_FILE)["step"] == 600
    times = [float(row["time_s"]) for row in _rows(run_dir)]
    assert times == sorted(times)  # training time carries on from the checkpoint
    before = (run_dir / "metrics.csv").read_text(), (run_dir / CHECKPOINT_FILE).stat().st_mtime_ns
    assert train_reference("ddpg", ENV, 0, 600, run_dir, eval_every=200, eval_episodes=1) == []
    assert ((run_dir / "metrics.csv").read_text(), (run_dir / CHECKPOINT_FILE).stat().st_mtime_ns) == before
    with pytest.raises(ValueError, match="trained with settings"):
        train_reference("ddpg", ENV, 0, 800, run_dir, settings={"batch_size": 64})


def test_ppo_run_and_resume(tmp_path):
    pytest.importorskip("stable_baselines3")
    run_dir = tmp_path / "run"
    rows = train_reference("ppo", ENV, 1, 256, run_dir, settings=PPO_SETTINGS, eval_every=256, eval_episodes=1)
    assert [row["step"] for row in rows] == [256]
    arrays, meta = checkpoint.read(run_dir / CHECKPOINT_FILE)
    assert (meta["algo"], meta["step"]) == ("ppo", 256) and "reference/replay_buffer" not in arrays
    rows = train_reference("ppo", ENV, 1, 512, run_dir, eval_every=256, eval_episodes=1)
    assert [row["step"] for row in rows] == [512]
    assert _steps(run_dir) == [256, 512]
    assert checkpoint.read_meta(run_dir / CHECKPOINT_FILE)["step"] == 512
    assert json.loads((run_dir / "config.json").read_text())["config"]["settings"] == PPO_SETTINGS
