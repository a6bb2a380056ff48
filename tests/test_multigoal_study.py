"""Study E2 (``s2ac multigoal``) on a micro grid: schema, goal shares, figures and argument checks."""

from __future__ import annotations

import json

import pytest

from s2ac.experiments import multigoal
from s2ac.experiments.multigoal import OUTCOMES, make_config, run_study

MICRO = dict(algos=("s2ac_phi_theta", "sac"), alphas=(5.0,), seeds=(0,), total_steps=100, random_steps=50,
             learning_starts=50, update_every=25, batch_size=16, critic_hidden=(8, 8), actor_hidden=(8, 8),
             sampler_hidden=(8, 8), num_particles=4, svgd_steps=2, test_episodes=4, entropy_samples=4, action_grid=3,
             state_grid=3, theta_log_points=2)


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("multigoal")
    results = run_study(out, make_config(**MICRO), progress=False)
    return out, results


def test_results_schema(micro_run):
    out, results = micro_run
    saved = json.loads((out / "results.json").read_text())
    assert saved["runs"] == results["runs"]
    assert (out / "summary.txt").read_text().startswith("E2")
    assert saved["config"]["total_steps"] == 100 and saved["wall_time_s"] > 0
    assert {(r["algo"], r["alpha"], r["seed"]) for r in saved["runs"]} == {("s2ac_phi_theta", 5.0, 0), ("sac", 5.0, 0)}
    for run in saved["runs"]:
        for key in ("goal_shares", "goal_shares_wall"):
            assert set(run[key]) == set(OUTCOMES)
            assert sum(run[key].values()) == pytest.approx(1.0)
            assert all(0.0 <= v <= 1.0 for v in run[key].values())
        assert isinstance(run["mean_return"], float) and isinstance(run["mean_return_wall"], float)
        assert len(run["entropy"]) == 6 and all(isinstance(h, float) for h in run["entropy"])
        assert len(run["grad_l1"]) == 6 and len(run["hessian_l1"]) == 6
        assert run["grad_l1_mean"] >= 0 and run["hessian_l1_mean"] >= 0
        assert len(run["trajectories"]) == 4
        assert all(t[0] == [0.0, 0.0] and 2 <= len(t) <= 31 for t in run["trajectories"])
    s2ac_run = next(r for r in saved["runs"] if r["algo"] == "s2ac_phi_theta")
    assert s2ac_run["test_mode"] == "softmax"
    trace = s2ac_run["theta_trace"]
    assert trace["steps"][0] == 0 and trace["steps"][-1] == 100
    assert len(trace["mu"][0]) == 6 and len(trace["sigma"][0][0]) == 2
    assert next(r for r in saved["runs"] if r["algo"] == "sac")["theta_trace"] is None
    assert [row["algo"] for row in saved["aggregate"]] == ["s2ac_phi_theta", "sac"]


def test_figures_are_pngs(micro_run):
    out, results = micro_run
    assert "fig7_trajectories.png" in results["figures"] and "fig12_goal_shares.png" in results["figures"]
    assert "fig11_theta.png" in results["figures"] and "fig13_entropy_heatmap.png" in results["figures"]
    for name in results["figures"]:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, name


def test_goal_shares_sum_to_one():
    shares = multigoal.goal_shares([0, 1, 1, 2, -1, -1, -1, 0])
    assert shares == {"G1": 0.25, "G2": 0.25, "G3": 0.125, "none": 0.375}


@pytest.mark.parametrize(("overrides", "message"), [
    (dict(algos=("s2ac", "sac")), "unknown algorithm 's2ac'"),
    (dict(alphas=(1.0, 0.0)), "every alpha must be a positive number, got 0.0"),
    (dict(alphas=(-2.0,)), "every alpha must be a positive number"),
    (dict(alphas=(float("nan"),)), "every alpha must be a positive number"),
    (dict(algos=()), "at least one algorithm"),
    (dict(seeds=(-1,)), "every seed must be an integer >= 0"),
    (dict(total_steps=0), "total_steps must be an integer >= 1"),
])
def test_bad_arguments(overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("'", "'")):
        make_config(**overrides)


def test_command_line_errors(tmp_path, capsys):
    from s2ac.cli import main

    assert main(["multigoal", "--out", str(tmp_path), "--algos", "ppo"]) == 2
    assert "unknown algorithm 'ppo'" in capsys.readouterr().err
    assert main(["multigoal", "--out", str(tmp_path), "--alphas", "-1"]) == 2
    assert "alpha must be a positive number" in capsys.readouterr().err


def test_a_diverged_agent_is_recorded_and_the_grid_goes_on(tmp_path, monkeypatch):
    from s2ac.training.loop import NonFiniteLossError

    real_train = multigoal.train

    def train(agent, algo, config):
        if algo == "sac":
            raise NonFiniteLossError("non-finite critic_loss=nan in the updates at step 60")
        return real_train(agent, algo, config)

    monkeypatch.setattr(multigoal, "train", train)
    config = make_config(**{**MICRO, "algos": ("sac", "s2ac_phi_theta")})
    results = run_study(tmp_path, config, progress=False, plots=False)
    assert [r["algo"] for r in results["runs"]] == ["s2ac_phi_theta"]
    assert results["failed"] == [{"algo": "sac", "alpha": 5.0, "seed": 0,
                                  "error": "non-finite critic_loss=nan in the updates at step 60"}]
    assert "seed 0 failed: non-finite critic_loss=nan" in (tmp_path / "summary.txt").read_text()


def test_every_algorithm_of_the_study_uses_one_smooth_activation():
    config = make_config()
    for algo in multigoal.ALGOS:
        assert multigoal.agent_settings(algo, 1.0, config)["activation"] == "elu"


def test_s2ac_is_an_alias_of_s2ac_phi_theta():
    import argparse

    parser = argparse.ArgumentParser()
    multigoal.add_arguments(parser)
    config = multigoal.config_from_args(parser.parse_args(["--out", "x", "--quick", "--algos", "s2ac", "sac"]))
    assert config.algos == ("s2ac_phi_theta", "sac")
