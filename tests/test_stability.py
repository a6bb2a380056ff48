"""S2AC's stability options and health metrics (README "Stability"), and the ``s2ac stability`` study on a tiny
budget: planning, recording, resume."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2ac import S2AC
from s2ac.algorithms.config import S2ACConfig
from s2ac.experiments import stability
from s2ac.policies import GaussianActor, sampler_health
from s2ac.stein import kernel_variance, svgd_sample, svgd_step
from s2ac.stein.svgd import limited_step_size


def steep(scale: float):
    """``log p(u) = -scale/2 ||u - 1||^2``: a score as large as ``scale`` (Q / alpha of a steep critic)."""
    return lambda u: -0.5 * scale * jnp.sum((u - 1.0) ** 2, axis=-1)


def particles(d: int = 3, m: int = 10, batch: int = 16, std: float = 0.5, seed: int = 0) -> jax.Array:
    return std * jax.random.normal(jax.random.PRNGKey(seed), (batch, m, d))


@pytest.mark.parametrize("scale", [1e2, 1e4])
def test_a_limited_step_moves_no_particle_further_than_max_move_kernel_widths(scale):
    x = particles()
    step = svgd_step(steep(scale), x, step_size=0.1, max_move=0.5)
    sigma = np.sqrt(np.asarray(step.diagnostics["kernel_variance"]))
    moves = np.linalg.norm(np.asarray(step.particles - x), axis=-1) / sigma[:, None]
    assert moves.max() <= 0.5 * (1 + 1e-5)
    assert moves.max() >= 0.49  # the limit binds: the largest move is exactly max_move widths
    np.testing.assert_allclose(np.asarray(step.diagnostics["move"]), moves.mean(axis=-1), rtol=1e-5)
    # Unlimited, the same step moves particles many kernel widths.
    free = svgd_step(steep(scale), x, step_size=0.1)
    assert float(jnp.mean(free.diagnostics["move"])) > 5.0


def test_a_gentle_field_keeps_the_papers_step_and_none_disables_the_limit():
    x = particles()
    gentle = svgd_step(steep(1.0), x, step_size=0.1, max_move=0.5)
    np.testing.assert_array_equal(np.asarray(gentle.diagnostics["step_size"]), np.full(x.shape[0], 0.1, np.float32))
    plain = svgd_step(steep(1.0), x, step_size=0.1)
    np.testing.assert_array_equal(np.asarray(gentle.particles), np.asarray(plain.particles))
    phi_norms = jnp.full(x.shape[:2], 1e6)
    np.testing.assert_array_equal(np.asarray(limited_step_size(phi_norms, jnp.ones(x.shape[0]), 0.1, None)),
                                  np.full(x.shape[0], 0.1, np.float32))


def test_the_limit_keeps_the_closed_form_log_det_near_the_exact_one():
    """Proposition 3.2's regime: with the move limited, ``eps Tr grad phi`` stays within 0.3 nats of the exact
    ``log|det(I + eps grad phi)|`` however steep the target; unlimited, the error is nats to hundreds of nats."""
    x = particles(d=2)
    for scale in (1e2, 1e4):
        limited = [svgd_step(steep(scale), x, step_size=0.1, max_move=0.5, log_det=method).log_det
                   for method in ("trace", "exact")]
        assert float(jnp.max(jnp.abs(limited[0] - limited[1]))) < 0.3
        free = [svgd_step(steep(scale), x, step_size=0.1, log_det=method).log_det for method in ("trace", "exact")]
        assert float(jnp.median(jnp.abs(free[0] - free[1]))) > 2.0


def test_the_limited_step_is_a_constant_of_the_change_of_variables():
    """``eps_b`` is stopped: the log-density of the limited sampler is the unlimited formula at step ``eps_b``."""
    x = particles(d=2, batch=4)
    log_q0 = jnp.zeros(x.shape[:2])
    limited = svgd_sample(steep(1e3), x, log_q0, num_steps=1, step_size=0.1, max_move=0.5)
    eps = limited.diagnostics["step_size"][0]
    for b in range(x.shape[0]):
        plain = svgd_sample(steep(1e3), x[b:b + 1], log_q0[b:b + 1], num_steps=1, step_size=eps[b])
        np.testing.assert_allclose(np.asarray(limited.log_q[b]), np.asarray(plain.log_q[0]), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(limited.particles[b]), np.asarray(plain.particles[0]), rtol=1e-5,
                                   atol=1e-6)
    # Differentiable through the limited step, with finite gradients.
    grad = jax.grad(lambda y: jnp.sum(svgd_sample(steep(1e3), y, log_q0, num_steps=2, step_size=0.1,
                                                  max_move=0.5).log_q))(x)
    assert np.all(np.isfinite(np.asarray(grad)))


def test_the_kernel_variance_floor_bounds_the_trace_when_particles_gather():
    """The collapse: particles drawn 1e-4 apart give the half-mean heuristic a variance near 1e-8 and a trace
    near ``d / sigma^2``; the floor keeps the log-volume gain of a step within ``eps d / floor``."""
    x = particles(std=1e-4)
    free = svgd_step(steep(1.0), x, step_size=0.1)
    floored = svgd_step(steep(1.0), x, step_size=0.1, min_kernel_variance=0.1)
    assert float(jnp.max(kernel_variance(x, "half_mean"))) < 1e-7
    np.testing.assert_allclose(np.asarray(floored.diagnostics["kernel_variance"]), 0.1, rtol=1e-6)
    assert float(jnp.max(free.log_det)) > 1e5
    assert float(jnp.max(floored.log_det)) <= 1.01 * 0.1 * 3 / 0.1
    # A fixed kernel variance is left alone by the floor.
    np.testing.assert_allclose(np.asarray(kernel_variance(x, 0.01, floor=0.1)), 0.01)
    with pytest.raises(ValueError, match="floor must be positive"):
        kernel_variance(x, "half_mean", floor=0.0)


def test_bounded_sigma_stays_in_its_range_with_a_live_gradient():
    actor = GaussianActor(3, 2, (8,), key=jax.random.PRNGKey(0), std_bounds=(0.1, 1.0))
    for scale in (-1e4, 0.0, 1e4):
        _, std = actor(scale * jnp.ones((5, 3)))
        assert float(jnp.min(std)) >= 0.1 - 1e-7 and float(jnp.max(std)) <= 1.0 + 1e-6
    raw_grad = jax.grad(lambda x: jnp.sum(jnp.exp(jnp.log(0.1) + 0.5 * jnp.log(10.0) * (jnp.tanh(x) + 1.0))))
    assert float(raw_grad(jnp.asarray(3.0))) > 0  # near a bound, unlike a clamp's zero gradient
    with pytest.raises(ValueError, match="0 < lo < hi"):
        GaussianActor(3, 2, (8,), key=jax.random.PRNGKey(0), std_bounds=(1.0, 0.1))


def test_sampler_health_reads_saturation_sigma_and_moves():
    u = jnp.asarray([[[0.0, 6.0], [1.0, 1.0]], [[-7.0, 0.0], [0.0, 0.0]]])
    std = jnp.asarray([[0.2, 0.3], [0.4, 0.9]])
    health = sampler_health(u, std, {"kernel_variance": jnp.asarray([[1.0, 3.0]]), "move": jnp.asarray([[0.2, 0.4]]),
                                     "step_size": jnp.ones((1, 2))})
    assert float(health["saturated_share"]) == 0.5
    assert math.isclose(float(health["sigma_min"]), 0.2, rel_tol=1e-6)
    assert math.isclose(float(health["sigma_max"]), 0.9, rel_tol=1e-6)
    assert float(health["kernel_variance"]) == 2.0 and math.isclose(float(health["svgd_move"]), 0.3, rel_tol=1e-6)
    assert float(health["svgd_step_size"]) == 1.0
    assert set(sampler_health(u, std, {})) == {"saturated_share", "sigma_min", "sigma_max"}
    assert set(sampler_health(u, None, {})) == {"saturated_share"}  # no q_0 sigma given: none reported


def test_s2ac_updates_report_the_samplers_health_within_its_bounds():
    agent = S2AC("Pendulum-v1", seed=0, critic_hidden=(16,), actor_hidden=(16,), batch_size=8, update_every=2)
    batches = jax.tree.map(lambda *x: jnp.stack(x), *[_batch(agent, i) for i in range(2)])
    _, metrics = agent.update_fn(agent.state, batches, jax.random.PRNGKey(0))
    for name in ("kernel_variance", "svgd_move", "svgd_step_size", "saturated_share", "sigma_min", "sigma_max"):
        assert np.isfinite(float(metrics[name])), name
    assert float(metrics["kernel_variance"]) >= 0.1 - 1e-7  # the floor: eps = 0.1
    assert 0.1 - 1e-6 <= float(metrics["sigma_min"]) <= float(metrics["sigma_max"]) <= 0.5 + 1e-6
    assert 0.0 < float(metrics["svgd_move"]) <= 0.5 + 1e-6
    assert 0.0 < float(metrics["svgd_step_size"]) <= 0.1 + 1e-7


def _batch(agent, seed):
    from s2ac.training.replay import Batch

    rng = np.random.default_rng(seed)
    n = agent.config.batch_size
    return Batch(obs=jnp.asarray(rng.normal(size=(n, agent.obs_dim)), jnp.float32),
                 actions=jnp.asarray(rng.uniform(-1, 1, (n, agent.action_dim)), jnp.float32),
                 rewards=jnp.asarray(rng.normal(size=n), jnp.float32),
                 next_obs=jnp.asarray(rng.normal(size=(n, agent.obs_dim)), jnp.float32),
                 terminated=jnp.zeros(n, jnp.float32))


@pytest.mark.parametrize(("values", "message"), [
    ({"svgd_max_move": 0.0}, "svgd_max_move"),
    ({"min_kernel_variance": "median"}, "min_kernel_variance"),
    ({"init_std_bounds": [0.5, 0.5]}, "init_std_bounds"),
])
def test_stability_options_are_validated(values, message):
    with pytest.raises(ValueError, match=f"invalid config value {message}"):
        S2ACConfig.from_dict(values)


def test_the_step_size_floor_follows_the_step():
    assert S2ACConfig(svgd_step_size=0.03).svgd_settings().min_kernel_variance == 0.03
    assert S2ACConfig(min_kernel_variance=None).svgd_settings().min_kernel_variance is None


# --- the study -------------------------------------------------------------------------------------------

TINY_SCHEDULE = ("random_steps=50", "learning_starts=50", "eval_every=50", "eval_episodes=1", "checkpoint_every=50",
                 "critic_hidden=[8]", "actor_hidden=[8]", "batch_size=8", "update_every=25", "num_particles=3",
                 "svgd_steps=1")


def test_plan_puts_the_current_defaults_first_and_labels_every_cell():
    config = stability.StabilityConfig(envs=("Pendulum-v1", "s2ac/MultiGoalMaxEnt-v0"), alphas=("0.1", "tuned"),
                                       seeds=(0, 1))
    specs = stability.plan(config)
    assert len(specs) == 2 * 2 * 2 * 2 * 2 and len({s.run_dir("/x") for s in specs}) == len(specs)
    half = len(specs) // 2
    assert all(s.label.startswith("current/") for s in specs[:half])
    assert all(s.label.startswith("previous/") for s in specs[half:])
    first = specs[0]
    assert first.run_dir("/x").as_posix() == "/x/Pendulum-v1/s2ac_phi_theta/current/alpha_0.1/seed_0"
    assert "alpha=0.1" in first.settings and "autotune_alpha=false" in first.settings
    tuned = next(s for s in specs if s.label == "current/alpha_tuned")
    assert "autotune_alpha=true" in tuned.settings
    multigoal = next(s for s in specs if s.env == "s2ac/MultiGoalMaxEnt-v0")
    assert "svgd_steps=10" in multigoal.settings
    previous = specs[half]
    assert {"svgd_max_move=null", "min_kernel_variance=null", "init_std_bounds=null"} <= set(previous.settings)


@pytest.mark.parametrize(("values", "message"), [
    ({"variants": ("sac",)}, "S2AC presets"),
    ({"alphas": ("0",)}, "positive number or 'tuned'"),
    ({"defaults": ("newest",)}, "unknown default set"),
    ({"steps": 1000}, "above 1000"),
    ({"seeds": ()}, "at least one value"),
])
def test_study_rejects_bad_input(values, message):
    with pytest.raises(ValueError, match=message):
        stability.StabilityConfig(**values)


def test_the_study_records_each_run_and_a_rerun_trains_nothing(tmp_path, capsys):
    # Two fixed temperatures: one jitted program, compiled once (a tuned alpha would be a second program).
    config = stability.StabilityConfig(envs=("Pendulum-v1",), variants=("s2ac_phi_theta",), alphas=("1", "0.5"),
                                       seeds=(0,), steps=100, defaults=("current",), schedule=TINY_SCHEDULE)
    results = stability.run_study(config, tmp_path, workers=1, progress=False)
    assert [r["status"] for r in results["runs"]] == ["trained", "trained"]
    for run in results["runs"]:
        outcome = json.loads((tmp_path / run["run_dir"].split(str(tmp_path) + "/")[1] / "outcome.json").read_text())
        assert outcome["nonfinite_step"] is None and outcome["last_step"] == 100
        assert math.isclose(outcome["entropy_bound"], math.log(2.0))
        assert 0 < outcome["max_svgd_move"] <= 0.5 + 1e-6
    assert results["totals"]["current"] == {"runs": 2, "nonfinite": 0, "impossible_entropy_runs": 0,
                                            "other_errors": 0, "target_met": True}
    summary = (tmp_path / "summary.txt").read_text()
    assert "current defaults: 2 runs, 0 with a non-finite loss" in summary and "target met" in summary
    assert (tmp_path / "stability.png").stat().st_size > 0
    # The figure is drawn from the results alone.
    from s2ac.experiments.stability_plots import make_figures

    (tmp_path / "again").mkdir()
    assert make_figures(json.loads((tmp_path / "results.json").read_text()), tmp_path / "again") == ["stability.png"]
    assert (tmp_path / "again" / "stability.png").stat().st_size > 0
    again = stability.run_study(config, tmp_path, workers=1, progress=False)
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert [r["status"] for r in sweep["runs"]] == ["skipped", "skipped"]  # nothing trained again
    assert again["totals"] == results["totals"] and again["runs"] == results["runs"]
    # A larger grid over the same directory, reported without training: the new cells are listed as missing.
    bigger = stability.StabilityConfig(**{**config.__dict__, "alphas": ("1", "0.5", "0.1")})
    partial = stability.run_study(bigger, tmp_path, train=False)
    assert len(partial["runs"]) == 2 and len(partial["missing"]) == 1 and "alpha_0.1" in partial["missing"][0]
    assert "1 planned run has no outcome yet" in (tmp_path / "summary.txt").read_text()


def test_analyse_run_reads_a_nonfinite_failure_and_impossible_entropy(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"action_dim": 2}))
    (tmp_path / "metrics.csv").write_text("step,eval_return_mean,entropy,saturated_share,svgd_move,kernel_variance,"
                                          "critic_loss\n500,-10,1.0,0.0,0.2,0.5,3\n1000,-20,9e7,0.5,0.4,1e-8,1e13\n")
    error = ("NonFiniteLossError: non-finite critic_loss=nan in the updates at step 1350; training stopped and "
             "the last checkpoint is intact")
    outcome = stability.analyse_run(None, tmp_path, {"error": error})
    assert outcome["nonfinite_step"] == 1350 and outcome["other_error"] is None
    assert outcome["impossible_entropy"] == 1 and outcome["max_saturated_share"] == 0.5
    assert outcome["min_kernel_variance"] == 1e-8 and outcome["final_return"] == -20


def test_s2ac_is_an_alias_of_s2ac_phi_theta_in_the_variants():
    config = stability.StabilityConfig(variants=("s2ac", "s2ac_phi"))
    assert config.variants == ("s2ac_phi_theta", "s2ac_phi")
    with pytest.raises(ValueError, match="--variants takes S2AC presets"):
        stability.StabilityConfig(variants=("sac",))


def test_the_study_does_not_import_the_figures():
    code = ("import sys, s2ac.experiments.stability; "
            "print(sorted(m for m in ('matplotlib', 's2ac.experiments.stability_plots') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
