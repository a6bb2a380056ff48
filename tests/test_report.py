"""``s2ac report`` on synthetic run directories whose aggregates are known in advance: normalisation (D4RL
references, min-max, none), final scores over the last K evaluations, rliable aggregates and probability of
improvement, the seed-count rule, curve alignment and smoothing, the outputs, and the input errors."""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from s2ac.experiments import report as rep
from s2ac.training.logger import COLUMNS

REPS = 100  # bootstrap resamples: enough for the checks, fast


def write_run(root: Path, name: str, *, algo: str, env: str, seed: int, returns, steps=None, variant=None,
              preset=None) -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    description = {"algo": algo, "env": env, "seed": seed, "config": {"variant": variant} if variant else {}}
    if preset is not None:
        description["preset"] = preset
    (run_dir / "config.json").write_text(json.dumps(description))
    steps = [1000 * (i + 1) for i in range(len(returns))] if steps is None else steps
    with open(run_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        for step, value in zip(steps, returns, strict=True):
            writer.writerow({**{c: math.nan for c in COLUMNS}, "step": step, "eval_return_mean": repr(float(value))})
    return run_dir


def ramp(start: float, end: float, n: int, seed: int) -> list[float]:
    """A noisy curve from ``start`` that ends exactly at ``end``."""
    values = np.linspace(start, end, n) + np.random.default_rng(seed).normal(0, 10, n)
    values[-1] = end
    return values.tolist()


@pytest.fixture(scope="module")
def d4rl_dir(tmp_path_factory):
    """S2AC(phi,theta) ends at the expert return on Hopper and Walker2d (normalised 1.0), SAC half-way (0.5)."""
    root = tmp_path_factory.mktemp("d4rl")
    for env in ("Hopper-v5", "Walker2d-v5"):
        low, high = rep.D4RL_REFERENCE[rep.task_base(env)]
        for seed in range(3):
            write_run(root, f"{env}/s2ac/{seed}", algo="s2ac", variant="phi_theta", env=env, seed=seed,
                      returns=ramp(low, high, 12, seed))
            write_run(root, f"{env}/sac/{seed}", algo="sac", env=env, seed=seed,
                      returns=ramp(low, low + 0.5 * (high - low), 12, seed + 10))
    return root


@pytest.fixture(scope="module")
def d4rl_report(d4rl_dir):
    return rep.build_report(d4rl_dir, reps=REPS, seed=3)


def test_load_runs(d4rl_dir):
    runs = rep.load_runs(d4rl_dir)
    assert len(runs) == 12
    assert {r.algo for r in runs} == {"s2ac_phi_theta", "sac"}
    assert {r.label for r in runs} == {"S2AC(phi,theta)", "SAC"}
    assert {r.env for r in runs} == {"Hopper-v5", "Walker2d-v5"}
    assert all(r.steps.tolist() == [1000 * (i + 1) for i in range(12)] for r in runs)


def test_d4rl_normalisation_and_aggregates(d4rl_report):
    for env in ("Hopper-v5", "Walker2d-v5"):
        task = d4rl_report["tasks"][env]
        assert task["normalization"]["method"] == "d4rl"
        assert task["algorithms"]["s2ac_phi_theta"]["normalized_scores"] == pytest.approx([1.0] * 3, abs=1e-12)
        assert task["algorithms"]["sac"]["normalized_scores"] == pytest.approx([0.5] * 3, abs=1e-12)
    aggregates = d4rl_report["aggregates"]
    assert aggregates["tasks"] == ["Hopper-v5", "Walker2d-v5"]
    assert aggregates["runs_per_task"] == {"s2ac_phi_theta": 3, "sac": 3}
    expected = {"s2ac_phi_theta": (1.0, 0.0), "sac": (0.5, 0.5)}
    for algo, (score, gap) in expected.items():
        values = aggregates["algorithms"][algo]
        for metric, target in (("median", score), ("mean", score), ("iqm", score), ("optimality_gap", gap)):
            assert values[metric]["estimate"] == pytest.approx(target, abs=1e-9), (algo, metric)
            assert values[metric]["ci"] == pytest.approx([target, target], abs=1e-9), (algo, metric)
    [improvement] = d4rl_report["probability_of_improvement"]
    assert (improvement["x"], improvement["y"]) == ("s2ac_phi_theta", "sac")
    assert improvement["estimate"] == 1.0 and improvement["ci"] == pytest.approx([1.0, 1.0])
    assert d4rl_report["warnings"] == []


def test_outputs_written(d4rl_dir, d4rl_report):
    out = d4rl_dir / "report"
    assert set(d4rl_report["figures"]) == {"learning_curves.png", "aggregates.png", "performance_profile.png",
                                           "probability_of_improvement.png"}
    for name in d4rl_report["figures"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["aggregates"] == d4rl_report["aggregates"]
    profile = on_disk["performance_profile"]
    assert len(profile["tau"]) == 101 and profile["tau"][0] == 0.0 and profile["tau"][-1] == 1.0
    # Every S2AC run scores 1.0: more than any threshold below 1; SAC's 0.5 only below 0.5.
    tau = np.array(profile["tau"])
    assert profile["algorithms"]["s2ac_phi_theta"]["profile"] == pytest.approx((tau < 1.0).astype(float))
    assert profile["algorithms"]["sac"]["profile"] == pytest.approx((tau < 0.5).astype(float))
    curve = on_disk["tasks"]["Hopper-v5"]["algorithms"]["sac"]["curve"]
    assert curve["alignment"] == "shared" and len(curve["steps"]) == len(curve["mean"]) == 12
    assert curve["smoothing_window"] == 5  # the study's window 10 (11 when odd), at most half the 12 points
    assert all(lo <= m <= hi for lo, m, hi in zip(curve["min"], curve["mean"], curve["max"], strict=True))
    markdown = (out / "report.md").read_text()
    assert "| algorithm | Hopper-v5 | Walker2d-v5 |" in markdown
    assert "| S2AC(phi,theta) | 3234.3 ± 0.0 (3) |" in markdown
    assert "| S2AC(phi,theta) | 3 | 1.000 [1.000, 1.000] | 1.000 [1.000, 1.000] | 1.000 [1.000, 1.000] | " \
           "0.000 [0.000, 0.000] |" in markdown
    assert "| S2AC(phi,theta) | SAC | 1.000 [1.000, 1.000] |" in markdown


def test_minmax_normalisation(tmp_path):
    # Unknown tasks fall back to min-max over all final scores: the best algorithm gets 1, the worst 0.
    for env, (good, bad) in {"Pendulum-v1": (-150.0, -900.0), "s2ac/MultiGoal-v0": (40.0, 10.0)}.items():
        for seed in range(2):
            write_run(tmp_path, f"{env}/a{seed}", algo="s2ac", preset="s2ac_phi", env=env, seed=seed,
                      returns=[bad, good])
            write_run(tmp_path, f"{env}/b{seed}", algo="sql", env=env, seed=seed, returns=[good, bad])
    result = rep.build_report(tmp_path, tmp_path / "out", reps=REPS, figures=False)
    for env in ("Pendulum-v1", "s2ac/MultiGoal-v0"):
        assert result["tasks"][env]["normalization"]["method"] == "minmax"
        assert result["tasks"][env]["algorithms"]["s2ac_phi"]["normalized_scores"] == [1.0, 1.0]
        assert result["tasks"][env]["algorithms"]["sql"]["normalized_scores"] == [0.0, 0.0]
    assert result["aggregates"]["algorithms"]["s2ac_phi"]["iqm"]["estimate"] == 1.0
    assert result["aggregates"]["algorithms"]["sql"]["optimality_gap"]["estimate"] == 1.0
    assert result["probability_of_improvement"][0]["estimate"] == 1.0
    assert (tmp_path / "out" / "report.json").is_file() and not (tmp_path / "report").exists()


def test_forced_minmax_and_none(d4rl_dir, tmp_path):
    forced = rep.build_report(d4rl_dir, tmp_path / "minmax", reps=REPS, normalize="minmax", figures=False)
    task = forced["tasks"]["Hopper-v5"]
    assert task["normalization"]["method"] == "minmax"
    assert task["algorithms"]["s2ac_phi_theta"]["normalized_scores"] == [1.0] * 3
    assert task["algorithms"]["sac"]["normalized_scores"] == [0.0] * 3
    raw = rep.build_report(d4rl_dir, tmp_path / "none", reps=REPS, normalize="none", figures=False)
    assert raw["tasks"]["Hopper-v5"]["normalization"]["method"] == "none"
    high = (rep.D4RL_REFERENCE["hopper"][1] + rep.D4RL_REFERENCE["walker2d"][1]) / 2
    assert raw["aggregates"]["algorithms"]["s2ac_phi_theta"]["mean"]["estimate"] == pytest.approx(high)
    assert raw["figures"] == [] and (tmp_path / "none" / "report.md").is_file()
    # The optimality gap measures the shortfall below a normalised 1: raw returns report none.
    assert raw["aggregates"]["metrics"] == ["median", "mean", "iqm"]
    assert "optimality_gap" not in raw["aggregates"]["algorithms"]["sac"]
    assert "Optimality gap" not in (tmp_path / "none" / "report.md").read_text()
    assert forced["aggregates"]["metrics"][-1] == "optimality_gap"


def test_last_k_averaging(tmp_path):
    for seed in range(2):
        write_run(tmp_path, f"sac{seed}", algo="sac", env="Pendulum-v1", seed=seed, returns=[0.0, 10.0, 20.0, 30.0])
    [run, _] = rep.load_runs(tmp_path)
    assert rep.final_score(run) == 30.0
    assert rep.final_score(run, last=2) == 25.0
    assert rep.final_score(run, last=10) == 15.0
    result = rep.build_report(tmp_path, reps=REPS, last=2, figures=False)
    assert result["tasks"]["Pendulum-v1"]["algorithms"]["sac"]["final_scores"] == [25.0, 25.0]
    result = rep.build_report(tmp_path, reps=REPS, last=5, figures=False)
    assert result["tasks"]["Pendulum-v1"]["algorithms"]["sac"]["final_scores"] == [15.0, 15.0]
    assert any("fewer than 5 evaluations" in w for w in result["warnings"])


def test_single_algorithm_still_reports(tmp_path):
    for seed in range(3):
        write_run(tmp_path, f"run{seed}", algo="sac", env="Hopper-v5", seed=seed, returns=[100.0 * seed, 500.0])
    result = rep.build_report(tmp_path, reps=REPS)
    assert result["probability_of_improvement"] == []
    assert "only one algorithm: no probability of improvement" in result["warnings"]
    assert result["aggregates"]["algorithms"]["sac"]["mean"]["estimate"] == pytest.approx(
        (500 + 20.272305) / (3234.3 + 20.272305))
    assert "probability_of_improvement.png" not in result["figures"]
    assert result["tasks"]["Hopper-v5"]["algorithms"]["sac"]["curve"]["smoothing_window"] == 0  # 2 points
    assert (tmp_path / "report" / "aggregates.png").is_file()


def test_seed_count_warning_and_missing_task(tmp_path):
    # SAC: 3 seeds on Hopper, 2 on Ant -> 2 runs per task (the lowest seeds); Humanoid only has SAC.
    for env, seeds in {"Hopper-v5": 3, "Ant-v5": 2}.items():
        for seed in range(seeds):
            write_run(tmp_path, f"{env}/sac{seed}", algo="sac", env=env, seed=seed, returns=[float(seed)])
        for seed in range(2):
            write_run(tmp_path, f"{env}/s2ac{seed}", algo="s2ac", variant="amortized", env=env, seed=seed,
                      returns=[1.0 + seed])
    write_run(tmp_path, "Humanoid-v5/sac0", algo="sac", env="Humanoid-v5", seed=0, returns=[5.0])
    result = rep.build_report(tmp_path, reps=REPS, figures=False)
    aggregates = result["aggregates"]
    assert aggregates["tasks"] == ["Ant-v5", "Hopper-v5"]
    assert aggregates["runs_per_task"] == {"s2ac_amortized": 2, "sac": 2}
    assert any(w.startswith("SAC has different numbers of runs per task") and "use 2 per task" in w
               for w in result["warnings"])
    assert any("Humanoid-v5" in w and "left out of the aggregates" in w for w in result["warnings"])
    assert result["tasks"]["Humanoid-v5"]["normalization"]["method"] == "minmax"
    assert "## Warnings" in (tmp_path / "report" / "report.md").read_text()


def test_bootstrap_is_reproducible(tmp_path):
    rng = np.random.default_rng(0)
    for env in ("Hopper-v5", "Ant-v5"):
        for seed in range(4):
            write_run(tmp_path, f"{env}/a{seed}", algo="s2ac", env=env, seed=seed, returns=rng.uniform(0, 3000, 3))
            write_run(tmp_path, f"{env}/b{seed}", algo="sql", env=env, seed=seed, returns=rng.uniform(0, 3000, 3))
    state = np.random.get_state()[1].copy()
    first = rep.build_report(tmp_path, tmp_path / "one", reps=50, seed=1, figures=False)
    second = rep.build_report(tmp_path, tmp_path / "two", reps=50, seed=1, figures=False)
    other = rep.build_report(tmp_path, tmp_path / "three", reps=50, seed=2, figures=False)
    assert first["aggregates"] == second["aggregates"]
    assert first["probability_of_improvement"] == second["probability_of_improvement"]
    assert first["aggregates"] != other["aggregates"]
    # The caller's global NumPy generator is left as it was.
    assert np.array_equal(state, np.random.get_state()[1])


def test_probability_of_improvement_matches_rliable():
    from rliable import metrics

    rng = np.random.default_rng(0)
    for shape_x, shape_y in (((5, 3), (5, 3)), ((4, 2), (6, 2)), ((3, 1), (3, 1))):
        x = rng.integers(0, 4, shape_x).astype(float)  # small integers: many ties
        y = rng.integers(0, 4, shape_y).astype(float)
        assert rep.probability_of_improvement(x, y) == pytest.approx(metrics.probability_of_improvement(x, y))
    same = rng.normal(size=(4, 3))
    assert rep.probability_of_improvement(same, same) == 0.5 == metrics.probability_of_improvement(same, same)


def test_align_curves_interpolates_on_shared_range(tmp_path):
    a = write_run(tmp_path, "a", algo="sac", env="Pendulum-v1", seed=0, returns=[0.0, 10.0, 20.0],
                  steps=[1000, 2000, 3000])
    b = write_run(tmp_path, "b", algo="sac", env="Pendulum-v1", seed=1, returns=[0.0, 15.0, 30.0, 45.0],
                  steps=[500, 1500, 2500, 3500])
    runs = rep.load_runs(tmp_path)
    assert [r.path for r in runs] == [a, b]
    steps, returns, interpolated = rep.align_curves(runs)
    assert interpolated
    assert steps.tolist() == [1000, 1500, 2000, 2500, 3000]
    assert returns[0].tolist() == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert returns[1].tolist() == [7.5, 15.0, 22.5, 30.0, 37.5]
    same_steps, same, interpolated = rep.align_curves([runs[0], runs[0]])
    assert not interpolated and same_steps.tolist() == [1000, 2000, 3000] and same.shape == (2, 3)
    result = rep.build_report(tmp_path, reps=REPS, figures=False)
    curve = result["tasks"]["Pendulum-v1"]["algorithms"]["sac"]["curve"]
    assert curve["alignment"] == "interpolated" and curve["raw_mean"] == [3.75, 10.0, 16.25, 22.5, 28.75]
    assert any("interpolated onto 5 steps" in w for w in result["warnings"])
    assert any("runs end at different steps (3000 to 3500)" in w for w in result["warnings"])


def test_smoothing_keeps_lines_and_reduces_noise():
    line = 3.0 * np.arange(40) - 7.0
    np.testing.assert_allclose(rep.smooth(line), line, atol=1e-9)
    for n in (1, 2, 3, 4, 5, 9):  # shorter than the window: a shrunken window or no smoothing
        np.testing.assert_allclose(rep.smooth(line[:n]), line[:n], atol=1e-9)
    noisy = line + np.random.default_rng(0).normal(0, 5, 40)
    assert np.std(rep.smooth(noisy) - line) < 0.7 * np.std(noisy - line)


def test_smoothing_window_spans_at_most_half_the_curve():
    assert [rep.savgol_window(n) for n in (2, 5, 6, 10, 12, 21, 22, 100)] == [0, 0, 0, 5, 5, 9, 11, 11]
    # A short curve that rises late (IDP at 5k-30k steps): one polynomial over all of it overshoots the plateau.
    late_rise = np.array([150.0, 250.0, 1900.0, 3800.0, 6300.0, 9340.0])
    smoothed = rep.smooth(late_rise)
    assert smoothed.max() <= late_rise.max() + 1e-6 and smoothed.min() >= late_rise.min() - 1e-6


def test_task_base_and_normalisation():
    assert rep.task_base("Hopper-v5") == "hopper"
    assert rep.task_base("HalfCheetah-v4") == "halfcheetah"
    assert rep.task_base("s2ac/MultiGoal-v0") == "multigoal"
    assert rep.normalization_for("Ant-v5", [1.0, 2.0])["method"] == "d4rl"
    assert rep.normalization_for("AntMaze-v5", [1.0, 2.0])["method"] == "minmax"
    assert rep.normalization_for("Humanoid-v5", [1.0, 2.0]) == {"method": "minmax", "low": 1.0, "high": 2.0}


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        rep.load_runs(tmp_path / "missing")
    with pytest.raises(ValueError, match="no runs under"):
        rep.build_report(tmp_path)
    empty = write_run(tmp_path, "empty", algo="sac", env="Hopper-v5", seed=0, returns=[])
    with pytest.raises(ValueError, match=r"metrics\.csv: no evaluation rows"):
        rep.load_runs(tmp_path)
    skipped: list[str] = []
    with pytest.raises(ValueError, match="no runs under"):  # the one run is left out: nothing to report
        rep.load_runs(tmp_path, skipped)
    assert len(skipped) == 1 and "no evaluation rows" in skipped[0]
    (empty / "metrics.csv").write_text("step,train_return\n1000,3.0\n")
    with pytest.raises(ValueError, match="no column 'eval_return_mean'"):
        rep.load_runs(tmp_path)
    (empty / "metrics.csv").write_text("step,eval_return_mean\n1000,3.0\n")
    (empty / "config.json").write_text(json.dumps({"algo": "sac", "env": "Hopper-v5"}))
    with pytest.raises(ValueError, match="missing 'seed', 'config'"):
        rep.load_runs(tmp_path)
    (empty / "config.json").write_text(json.dumps({"algo": "td3", "env": "Hopper-v5", "seed": 0, "config": {}}))
    with pytest.raises(ValueError, match="unknown algorithm 'td3'"):
        rep.load_runs(tmp_path)
    (empty / "config.json").write_text(json.dumps({"algo": "sac", "env": "Hopper-v5", "seed": 0, "config": {}}))
    with pytest.raises(ValueError, match="last must be at least 1"):
        rep.build_report(tmp_path, last=0)
    with pytest.raises(ValueError, match="reps must be at least 1"):
        rep.build_report(tmp_path, reps=0)
    with pytest.raises(ValueError, match="unknown normalisation 'zscore'"):
        rep.build_report(tmp_path, normalize="zscore")


def test_command_line(d4rl_dir, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    rep.add_arguments(parser)
    args = parser.parse_args([str(d4rl_dir), "--out", str(tmp_path / "cli"), "--reps", "50", "--last", "2",
                              "--normalize", "minmax", "--seed", "7"])
    assert rep.run(args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# s2ac report") and "report written to" in printed
    written = json.loads((tmp_path / "cli" / "report.json").read_text())
    assert (written["reps"], written["last"], written["normalize"], written["seed"]) == (50, 2, "minmax", 7)
    with pytest.raises(SystemExit):
        parser.parse_args([str(d4rl_dir), "--normalize", "zscore"])


def test_import_is_light():
    # The command line imports every command module to build its parser.
    code = ("import sys, s2ac.experiments.report; "
            "print(sorted(m for m in ('jax', 'matplotlib', 'rliable', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_run_not_evaluated_yet_is_left_out_with_a_warning(tmp_path):
    """A sweep can be reported while it runs: a run without evaluations is named, not fatal."""
    write_run(tmp_path, "a0", algo="sac", env="Pendulum-v1", seed=0, returns=[1.0, 2.0])
    write_run(tmp_path, "a1", algo="sac", env="Pendulum-v1", seed=1, returns=[])
    result = rep.build_report(tmp_path, tmp_path / "out", reps=REPS, figures=False)
    assert any("left out" in w and "a1" in w for w in result["warnings"])


def test_the_report_without_figures_does_not_import_them(d4rl_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "s2ac.experiments.report_plots", None)  # importing it fails
    result = rep.build_report(d4rl_dir, tmp_path / "out", reps=REPS, figures=False)
    assert result["figures"] == [] and (tmp_path / "out" / "report.md").is_file()
    code = ("import sys, s2ac.experiments.report; "
            "print('s2ac.experiments.report_plots' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_runs_of_one_preset_with_different_settings_are_compared_as_two(tmp_path):
    def config(**values):
        return {"gamma": 0.99, "actor_hidden": [256, 256], **values}

    for seed in range(3):
        for tuned, end in ((True, 900.0), (False, 100.0)):
            run = write_run(tmp_path, f"s2ac_{tuned}/{seed}", algo="s2ac", variant="phi_theta", env="Pendulum-v1",
                            seed=seed, returns=[0.0, end + seed])
            description = json.loads((run / "config.json").read_text())
            description["config"].update(config(autotune_alpha=tuned))
            (run / "config.json").write_text(json.dumps(description))
        sac = write_run(tmp_path, f"sac/{seed}", algo="sac", env="Pendulum-v1", seed=seed, returns=[0.0, 500.0 + seed])
        description = json.loads((sac / "config.json").read_text())
        description["config"] = config(autotune_alpha=True) if seed else {"gamma": 0.99}  # older run: fewer keys
        (sac / "config.json").write_text(json.dumps(description))
    runs = rep.load_runs(tmp_path)
    assert {r.algo for r in runs} == {"s2ac_phi_theta[autotune_alpha=false]", "s2ac_phi_theta[autotune_alpha=true]",
                                      "sac"}
    assert {r.label for r in runs} >= {"S2AC(phi,theta) [autotune_alpha=true]", "SAC"}
    result = rep.build_report(tmp_path, reps=REPS, figures=False)
    improvement = {(e["x"], e["y"]): e["estimate"] for e in result["probability_of_improvement"]}
    assert improvement == {("s2ac_phi_theta[autotune_alpha=false]", "sac"): 0.0,
                           ("s2ac_phi_theta[autotune_alpha=true]", "sac"): 1.0}
    assert "| S2AC(phi,theta) [autotune_alpha=false] |" in (tmp_path / "report" / "report.md").read_text()
    assert rep.setting_groups(["sac", "sac"], ["Hopper-v5"] * 2, [{"hidden": [64, 64]}, {"hidden": [32]}]) == [
        "sac[hidden=[64,64]]", "sac[hidden=[32]]"]
    # A per-task setting does not split an algorithm.
    assert rep.setting_groups(["sac", "sac"], ["Hopper-v5", "Pendulum-v1"], [{"hidden": [64]}, {"hidden": [32]}]) == [
        "sac", "sac"]
