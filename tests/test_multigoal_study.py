"""Study E2 (``s2ac multigoal``): the measures of a policy on known inputs, the plan, and a micro grid end to end
(schema, figures, resume, a failed agent)."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict

import numpy as np
import pytest

from s2ac.experiments import multigoal
from s2ac.experiments.multigoal import Measures, MultigoalConfig, plan, run_study

MICRO_SETTINGS = ("random_steps=40", "learning_starts=40", "update_every=20", "batch_size=16", "eval_every=80",
                  "eval_episodes=2", "checkpoint_every=80", "critic_hidden=[8,8]", "actor_hidden=[8,8]",
                  "amortized_hidden=[8,8]", "num_particles=4", "svgd_steps=2", "value_samples=4")
MICRO_MEASURES = Measures(test_episodes=4, samples=16, action_grid=3, state_grid=3, grid_samples=4)


def micro_config(**overrides) -> MultigoalConfig:
    fields = dict(parts=("classic",), algos=("sql", "s2ac_phi_theta"), alphas=(5.0,), seeds=(0,),
                  steps=80, settings=MICRO_SETTINGS, measures=MICRO_MEASURES)
    fields.update(overrides)
    if "maxent" not in fields["parts"]:
        fields["alphas"] = None  # the grid's temperatures are the maxent part's
    return MultigoalConfig(**fields)


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("multigoal")
    return out, run_study(micro_config(), out, progress=False)


def test_results_schema_and_measures(micro_run):
    out, results = micro_run
    saved = json.loads((out / "results.json").read_text())
    assert saved["runs"] == results["runs"] and not saved["missing"]
    assert {(r["part"], r["algo"], r["alpha"]) for r in saved["runs"]} == {
        ("classic", "sql", 10.0), ("classic", "s2ac_phi_theta", 10.0)}
    for run in saved["runs"]:
        assert run["measured"] and run["step"] == 80
        goals = 4 if run["part"] == "classic" else 3
        for key in ("goal_shares", "goal_shares_wall"):
            assert len(run[key]) == goals + 1 and sum(run[key].values()) == pytest.approx(1.0)
        assert 0 <= run["goals_reached"] <= goals and 0 <= run["goal_entropy"] <= np.log(goals) + 1e-9
        states = len(multigoal.CRITICAL_STATES[run["env"]])
        assert len(run["modes"]) == states and all(m >= 1 for m in run["modes"])
        assert sum(run["start_direction_shares"].values()) == pytest.approx(1.0)
        # The goal-mode profile: one (width, goal modes, fit's goal modes) per width, the default width's as recorded.
        widths = Measures().profile_bandwidths
        assert [w for w, _, _ in run["goal_modes_by_bandwidth"]] == list(widths)
        at_default = dict((w, (a, b)) for w, a, b in run["goal_modes_by_bandwidth"])[Measures().mode_bandwidth]
        assert at_default == (run["goal_modes_at_start"], run["gaussian_fit_goal_modes_at_start"])
        assert len(run["grad_l1"]) == states and len(run["hessian_l1"]) == states
        with np.load(f"{run['run_dir']}/{multigoal.EVALUATION_FILE}") as arrays:
            assert arrays["positions"].shape[0] == 4 and arrays["samples"].shape == (states, 16, 2)
            assert arrays["goals"].shape == (4,) and np.all(np.isfinite(arrays["positions"][:, 0]))
    by_algo = {(r["part"], r["algo"]): r for r in saved["runs"]}
    sql, s2ac = by_algo[("classic", "sql")], by_algo[("classic", "s2ac_phi_theta")]
    assert sql["entropy"] is None and sql["q0_std"] is None and sql["test_mode"] == "train"
    assert len(s2ac["entropy"]) == 3 and s2ac["test_mode"] == "softmax" and len(s2ac["q0_std"]) == 3
    # Haarnoja et al.'s settings reach SQL (32 particles, 16 value samples) and only the settings each algorithm has.
    assert "num_particles=32" in sql["settings"] and "value_samples=16" in sql["settings"]
    assert not any(item.startswith("value_samples") for item in s2ac["settings"])
    summary = (out / "summary.txt").read_text()
    assert summary.startswith("Multigoal study (E2)") and "[classic] s2ac/MultiGoal-v0" in summary


def test_figures_are_pngs(micro_run):
    out, results = micro_run
    assert {"trajectories_classic.png", "goal_shares_classic_wall.png", "samples_classic_alpha10.png",
            "entropy_classic.png", "sigma_theta.png"} <= set(results["figures"])
    for name in results["figures"]:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, name


def test_a_rerun_trains_and_measures_nothing_and_figures_come_back_from_the_files(micro_run):
    out, results = micro_run
    records = sorted(out.glob("*/*/*/*/seed_0/outcome.json"))
    before = {path: path.stat().st_mtime_ns for path in records}
    again = run_study(micro_config(), out, workers=1, progress=False)
    assert {path: path.stat().st_mtime_ns for path in records} == before
    assert again["runs"] == results["runs"] and again["figures"] == results["figures"]
    offline = run_study(micro_config(), out, train=False, progress=False)
    assert offline["runs"] == results["runs"]


def test_records_restored_without_arrays_give_the_results_and_the_figures_they_can(micro_run, tmp_path):
    # What results/multigoal/runs kept of older agents: outcome.json, metrics.csv and config.json, no arrays.
    out, results = micro_run
    restored = tmp_path / "restored"
    shutil.copytree(out, restored, ignore=shutil.ignore_patterns("*.png", "results.json", "summary.txt",
                                                                 multigoal.EVALUATION_FILE, "checkpoint*"))
    again = run_study(micro_config(), restored, train=False, progress=False)
    assert [r["goal_shares"] for r in again["runs"]] == [r["goal_shares"] for r in results["runs"]]
    assert sorted(again["without_arrays"]) == sorted(r["run_dir"] for r in again["runs"])
    # The figures drawn from records and metrics come back; those drawn from the arrays are skipped, not broken.
    assert {"goal_shares_classic.png", "goal_shares_classic_wall.png", "sigma_theta.png"} <= set(again["figures"])
    assert not any(name.startswith(("trajectories", "samples", "entropy")) for name in again["figures"])
    assert not list(restored.glob("trajectories*.png"))
    summary = (restored / "summary.txt").read_text()
    assert f"2 agents have their record but no {multigoal.EVALUATION_FILE}" in summary
    assert json.loads((restored / "results.json").read_text())["figures"] == again["figures"]


def test_a_failed_agent_is_recorded_and_listed(tmp_path):
    # A learning rate of 1e30 makes SQL's losses non-finite at once; the other agent is measured.
    config = micro_config(parts=("classic",), settings=(*MICRO_SETTINGS, "critic_lr=1e30"))
    results = run_study(config, tmp_path, workers=1, progress=False, plots=False)
    failed = [r for r in results["runs"] if not r["measured"]]
    assert failed and all(r["status"] == "failed" and "non-finite" in r["error"] for r in failed)
    assert "failed: " in (tmp_path / "summary.txt").read_text()


def test_goal_statistics():
    stats = multigoal.goal_statistics(np.array([0, 1, 1, 2, -1, -1, -1, 0]), 4)
    assert stats["shares"] == [0.25, 0.25, 0.125, 0.0] and stats["none"] == 0.375
    assert stats["goals_reached"] == 3
    assert stats["goal_entropy"] == pytest.approx(-(2 * 0.4 * np.log(0.4) + 0.2 * np.log(0.2)))
    assert multigoal.goal_statistics(np.array([-1, -1]), 3)["goal_entropy"] == 0.0


def test_mode_count_separates_a_multigoal_policy_from_a_wide_unimodal_one():
    rng = np.random.default_rng(0)
    two = np.concatenate([rng.normal([0.7, 0.0], 0.1, (500, 2)), rng.normal([-0.6, 0.5], 0.1, (500, 2))])
    three = np.concatenate([rng.normal(c, 0.15, (333, 2)) for c in ([0.9, 0.0], [-0.7, 0.55], [-0.7, -0.55])])
    count = lambda s: multigoal.count_modes(np.clip(s, -1, 1), 0.2, 0.05)  # noqa: E731
    assert count(two) == 2 and count(three) == 3
    assert count(rng.uniform(-1, 1, (1000, 2))) == 1  # flat: bumps of sampling noise, no valleys
    assert count(np.tanh(rng.normal([0.5, 0.2], 0.2, (1000, 2)))) == 1
    assert count(np.tanh(rng.normal(0.0, 0.6, (1000, 2)))) == 1
    assert len(multigoal.gaussian_fit_modes(np.clip(two, -1, 1), 0.2, 0.05, seed=0)) == 1  # its unimodal fit
    # A third cluster with 2% of the samples is not a mode.
    assert count(np.concatenate([two, rng.normal([0.0, -0.8], 0.05, (20, 2))])) == 2


def test_the_default_kernel_width_separates_four_clusters_on_a_ring_and_finds_no_noise_modes():
    # S2AC's particles at the start of the classic task: four clusters (std 0.15) at radius 0.6, between which a
    # kernel as wide as the clusters fills the valleys (a width of 0.2 finds three).
    rng = np.random.default_rng(0)
    width = Measures().mode_bandwidth
    ring = np.concatenate([rng.normal(c, 0.15, (250, 2)) for c in ([0.6, 0], [-0.6, 0], [0, 0.6], [0, -0.6])])
    count = lambda s: multigoal.count_modes(np.clip(s, -1, 1), width, 0.05)  # noqa: E731
    assert count(ring) == 4 and len(multigoal.gaussian_fit_modes(np.clip(ring, -1, 1), width, 0.05, seed=0)) == 1
    assert count(rng.uniform(-1, 1, (1000, 2))) == 1
    assert count(np.tanh(rng.normal(0.0, 0.6, (1000, 2)))) == 1


def test_direction_shares_point_actions_at_the_nearest_goal_direction():
    goals = np.array(multigoal.GOALS["s2ac/MultiGoal-v0"])
    actions = np.array([[1.0, 0.1], [0.9, -0.2], [-1.0, 0.0], [0.1, 0.8]])
    assert multigoal.direction_shares(actions, goals, np.zeros(2)) == [0.5, 0.25, 0.25, 0.0]
    weighted = multigoal.direction_shares(actions, goals, np.zeros(2), weights=np.array([0.1, 0.2, 0.3, 0.4]))
    np.testing.assert_allclose(weighted, [0.3, 0.3, 0.4, 0.0])


def test_plan_puts_the_classic_sql_check_first_and_labels_runs_by_part_and_alpha():
    specs = plan(MultigoalConfig(seeds=(0, 1)))
    assert [(s.algo, s.label) for s in specs[:2]] == [("sql", "classic/alpha_10"), ("sql", "classic/alpha_10")]
    assert [s.seed for s in specs[:2]] == [0, 1] and all(s.steps == 100_000 for s in specs)
    assert specs[2].seed == 0 and specs[-1].seed == 1
    authors = [s for s in specs if s.label.startswith("authors/")]
    assert authors and all(s.algo == "s2ac_phi" and "authors_compat=true" in s.settings for s in authors)
    maxent = {(s.algo, s.label) for s in specs if s.label.startswith("maxent/")}
    assert ("s2ac_phi", "maxent/alpha_3") in maxent and ("sql", "maxent/alpha_10") in maxent
    assert plan(MultigoalConfig(alphas=(2.0,), parts=("maxent",), seeds=(0,)))[0].label == "maxent/alpha_2"
    assert [s.algo for s in plan(MultigoalConfig(algos=("s2ac",), parts=("classic",), seeds=(0,)))] == [
        "s2ac_phi_theta"]
    extra = plan(MultigoalConfig(algos=("sacnf", "s2ac_amortized"), parts=("maxent",), alphas=(1.0,), seeds=(0,)))
    assert [s.algo for s in extra] == ["s2ac_amortized", "sacnf"]  # the extras run only when named


@pytest.mark.parametrize(("overrides", "message"), [
    (dict(parts=("wall",)), "unknown part 'wall'"),
    (dict(parts=()), "--parts needs at least one value"),
    (dict(algos=("ppo",)), "unknown algorithm 'ppo'"),
    (dict(algos=("sacnf",), parts=("classic",)), "no run left"),
    (dict(parts=("authors",), algos=("sac",)), "no run left"),
    (dict(alphas=(1.0, 0.0)), "every alpha must be a positive number, got 0.0"),
    (dict(alphas=(float("nan"),)), "every alpha must be a positive number"),
    (dict(seeds=(-1,)), "every seed must be a non-negative integer"),
    (dict(steps=0), "--steps must be a positive integer"),
    (dict(settings=("alpha",)), "--set expects KEY=VALUE"),
])
def test_bad_arguments(overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        MultigoalConfig(**overrides)


def test_a_setting_no_algorithm_has_is_rejected():
    with pytest.raises(ValueError, match="--set nonsense=1: no algorithm of the study has such a setting"):
        plan(MultigoalConfig(settings=("nonsense=1",)))


def test_command_line_errors(tmp_path, capsys):
    from s2ac.cli import main

    assert main(["multigoal", "--out", str(tmp_path), "--algos", "ppo"]) == 2
    assert "unknown algorithm 'ppo'" in capsys.readouterr().err
    assert main(["multigoal", "--out", str(tmp_path), "--alphas", "-1"]) == 2
    assert "alpha must be a positive number" in capsys.readouterr().err


def test_quick_and_s2ac_alias_from_the_command_line():
    import argparse

    parser = argparse.ArgumentParser()
    multigoal.add_arguments(parser)
    config = multigoal.config_from_args(parser.parse_args(["--out", "x", "--quick", "--algos", "s2ac", "sac"]))
    assert config.algos == ("s2ac_phi_theta", "sac") and config.quick and config.seeds == (0,)
    assert config.measures.test_episodes == multigoal.QUICK["test_episodes"]


def test_a_larger_budget_resumes_every_agent_and_measures_it_again(micro_run, tmp_path):
    out, _ = micro_run
    shutil.copytree(out, tmp_path / "study")
    longer = run_study(micro_config(steps=120), tmp_path / "study", progress=False, plots=False)
    assert sorted(r["step"] for r in longer["runs"]) == [120] * 2
    assert all(r["status"] == "resumed" and r["from_step"] == 80 and r["measured"] for r in longer["runs"])


def test_a_run_directory_trained_with_other_settings_is_refused_not_mixed(micro_run, tmp_path):
    out, _ = micro_run
    shutil.copytree(out, tmp_path / "study")
    other = micro_config(settings=(*MICRO_SETTINGS, "critic_lr=0.002"), parts=("classic",))
    results = run_study(other, tmp_path / "study", progress=False, plots=False)
    assert results["runs"] == [] and len(results["missing"]) == 2
    assert "2 planned agents have no outcome yet" in (tmp_path / "study" / "summary.txt").read_text()
    sweep = json.loads((tmp_path / "study" / "sweep.json").read_text())
    assert all(r["status"] == "failed" and "was trained with other settings" in r["error"] for r in sweep["runs"])


def test_duplicates_are_dropped_and_the_temperatures_are_the_grid():
    config = MultigoalConfig(seeds=(0, 0, 1), alphas=(1.0, 1.0))
    assert config.seeds == (0, 1) and config.alphas == (1.0,)
    with pytest.raises(ValueError, match="give them with --alphas"):
        MultigoalConfig(settings=("alpha=3",))
    with pytest.raises(ValueError, match="add maxent to --parts"):
        MultigoalConfig(parts=("classic",), alphas=(2.0,))


def test_goal_modes_count_modes_pointing_at_goals_not_the_corners_of_a_wide_squashed_gaussian():
    goals = np.array(multigoal.GOALS["s2ac/MultiGoal-v0"])
    rng = np.random.default_rng(1)
    four = np.concatenate([np.tanh(rng.normal(c, 0.4, (250, 2))) for c in ([3, 0], [-3, 0], [0, 3], [0, -3])])
    modes = multigoal.find_modes(four, 0.2, 0.05)
    assert len(modes) == 4 and multigoal.goal_modes(modes, goals, np.zeros(2)) == 4
    corners = multigoal.find_modes(np.tanh(rng.normal(0.0, 3.0, (1000, 2))), 0.2, 0.05)
    assert len(corners) >= 2 and multigoal.goal_modes(corners, goals, np.zeros(2)) == 0


def test_alpha_trend_ranks_policies_not_episodes():
    def run(algo, alpha, seed, g1, g2, g3, env=multigoal.MULTIGOAL_MAXENT_ID, part="maxent"):
        return {"part": part, "algo": algo, "alpha": alpha, "seed": seed, "env": env, "measured": True,
                "goal_shares": {"G1": g1, "G2": g2, "G3": g3, "none": 1 - g1 - g2 - g3}}

    rising = [run("s2ac_phi", a, s, 0.9 - 0.1 * (3 * i + s), 0.05 * (3 * i + s), 0.05 * (3 * i + s))
              for i, a in enumerate((1.0, 3.0, 10.0)) for s in range(3)]
    falling = [run("sac", a, s, 0.1 * (3 * i + s), 0.0, 0.9 - 0.1 * (3 * i + s))
               for i, a in enumerate((1.0, 3.0, 10.0)) for s in range(3)]
    unranked = [run("sql", 10.0, 0, 0.2, 0.4, 0.4), run("sql", 10.0, 1, 0.3, 0.3, 0.3),  # one alpha: no trend
                run("sql", 10.0, 0, 0.2, 0.3, 0.3, env=multigoal.MULTIGOAL_ID, part="classic")]
    trend = {t["algo"]: t for t in multigoal.alpha_trend(rising + falling + unranked)}
    assert set(trend) == {"s2ac_phi", "sac"}
    up, down = trend["s2ac_phi"], trend["sac"]
    assert up["alphas"] == [1.0, 3.0, 10.0] and up["goals"] == ["G2", "G3"]
    assert up["shares"][0] == pytest.approx([0.0, 0.1, 0.2]) and up["means"][2] == pytest.approx(0.7)
    # Each alpha's seeds above every lower alpha's: only 1 of the 9!/(3!3!3!) = 1680 splits ranks that well.
    assert up["kendall_tau"] > 0.8 and up["p_value"] == pytest.approx(1 / 1680)
    assert down["kendall_tau"] < -0.8 and down["p_value"] == pytest.approx(1.0)
    assert up["exact"] and up["smallest_p_value"] == pytest.approx(1 / 1680) and up["seeds"] == [[0, 1, 2]] * 3
    # Unequal seeds per alpha (an agent failed or is not trained yet): 5!/(2!3!) = 10 splits; equal shares: no test.
    uneven = multigoal.alpha_trend([r for r in rising if (r["alpha"], r["seed"]) != (1.0, 2) and r["alpha"] != 10.0])
    assert uneven[0]["seeds"] == [[0, 1], [0, 1, 2]] and uneven[0]["p_value"] == pytest.approx(0.1)
    flat = multigoal.alpha_trend([run("sac", a, 0, 0.5, 0.25, 0.25) for a in (1.0, 3.0)])
    assert flat[0]["kendall_tau"] is None and flat[0]["p_value"] is None
    summary = multigoal.format_summary({"config": {"steps": 100, "measures": asdict(Measures())}, "runs": [],
                                        "aggregate": [], "missing": [], "alpha_trend": list(trend.values()) + flat})
    assert "alpha 3: 0.40 (seeds 0,1,2: 0.30 0.40 0.50)" in summary and "p = 0.0006" in summary
    assert "all shares equal: no test" in summary


def test_trend_test_is_scipys_permutation_test_and_takes_one_policy_per_alpha(monkeypatch):
    from scipy import stats

    def tau(*groups):
        ranks = np.concatenate([np.full(len(g), i) for i, g in enumerate(groups)])
        return stats.kendalltau(ranks, np.concatenate(groups)).statistic

    rng = np.random.default_rng(3)
    for sizes in ((3, 3, 3), (2, 3), (2, 2, 2, 2)):  # ties included: shares on a 0.1 grid
        groups = [np.round(rng.uniform(size=n), 1) for n in sizes]
        reference = stats.permutation_test(groups, tau, permutation_type="independent", vectorized=False,
                                           n_resamples=10_000, alternative="greater")
        assert multigoal.kendall_trend_test(groups, rng) == pytest.approx((reference.statistic, reference.pvalue))
    # One seed per alpha (a probe of a new alpha): scipy refuses such groups; rising over 3 alphas is 1 split of 3! = 6.
    single = [np.array([0.2]), np.array([0.5]), np.array([0.9])]
    assert multigoal.kendall_trend_test(single, rng) == pytest.approx((1.0, 1 / 6))
    grid = [np.array([0.5, 0.6]), np.array([0.7]), np.array([0.8, 0.9])]  # 5!/(2!1!2!) = 30 splits, 1 ranks as well
    assert multigoal.kendall_trend_test(grid, rng)[1] == pytest.approx(1 / 30)
    # Beyond TREND_PERMUTATIONS splits: random splits, the observed one counted in, so never below 1 / (draws + 1).
    monkeypatch.setattr(multigoal, "TREND_PERMUTATIONS", 200)
    tau_b, p_value = multigoal.kendall_trend_test([np.arange(3.0) + 3 * i for i in range(3)], rng)
    assert tau_b == pytest.approx(tau(*[np.arange(3.0) + 3 * i for i in range(3)])) and 1 / 201 <= p_value < 0.03
