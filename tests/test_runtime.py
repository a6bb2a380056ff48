"""The action-selection runtime table (``s2ac.experiments.runtime``) on a tiny run: the JSON's structure, the
selection path each algorithm is timed on, and the argument errors. No test asserts a speed."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys

import jax
import numpy as np
import pytest

from s2ac.experiments import runtime

ENV = "Pendulum-v1"  # any Gymnasium id works; the table's MuJoCo tasks are not needed to check the mechanics
CALLS = 5
ROW_KEYS = {"device", "env", "algo", "label", "mode", "median_ms", "q25_ms", "q75_ms", "iqr_ms", "mean_ms", "min_ms",
            "calls", "process_cpu_share"}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    runtime.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("runtime")
    args = parse(["--out", str(out), "--envs", ENV, "--algos", "sac", "s2ac_amortized", "--calls", str(CALLS),
                  "--devices", "cpu", "--no-progress"])
    assert runtime.run(args) == 0
    return out, json.loads((out / "results.json").read_text())


def test_tiny_run_writes_json_with_positive_finite_times(tiny):
    out, results = tiny
    assert results["study"] == "runtime" and results["calls"] == CALLS and results["wall_time_s"] > 0
    assert results["envs"] == {ENV: {"obs_dim": 3, "action_dim": 1}}
    rows = results["results"]
    assert [(r["device"], r["env"], r["algo"]) for r in rows] == [("cpu", ENV, "sac"), ("cpu", ENV, "s2ac_amortized")]
    for r in rows:
        assert set(r) == ROW_KEYS and r["calls"] == CALLS
        assert math.isfinite(r["median_ms"]) and r["median_ms"] > 0
        assert 0 < r["min_ms"] <= r["q25_ms"] <= r["median_ms"] <= r["q75_ms"]
        assert r["iqr_ms"] == pytest.approx(r["q75_ms"] - r["q25_ms"])
        assert r["process_cpu_share"] > 0
    machine = results["machine"]
    assert machine["jax_version"] == jax.__version__ and machine["cpu_count"] >= 1 and machine["cpu_model"]
    assert machine["devices"] == {"cpu": {"backend": "cpu", "device_kind": jax.devices("cpu")[0].device_kind,
                                          "id": str(jax.devices("cpu")[0])}}
    summary = (out / "summary.txt").read_text()
    assert f"{ENV} (d=1)" in summary and "SAC" in summary and "S2AC amortized" in summary
    assert "CPU share of this process while timing" in summary


def test_settings_and_modes_are_recorded(tiny):
    _, results = tiny
    sac, amortized = results["algos"]["sac"], results["algos"]["s2ac_amortized"]
    assert sac["mode"] == "eval" and sac["settings"]["actor_hidden"] == [256, 256, 256]
    assert sac["settings"]["num_particles"] is None and sac["settings"]["amortized_hidden"] is None
    # Amortized S2AC is timed on its one-pass sampler, not on the SVGD particles of its config's eval_selection.
    assert amortized["mode"] == "amortized" and amortized["config"]["variant"] == "amortized"
    assert amortized["settings"]["num_particles"] == 10 and amortized["settings"]["svgd_steps"] == 3
    assert amortized["settings"]["amortized_hidden"] == [256, 256]
    assert {r["algo"]: r["mode"] for r in results["results"]} == {"sac": "eval", "s2ac_amortized": "amortized"}


def test_eval_modes_of_the_presets():
    agents = {name: runtime.build_agent(name, ENV) for name in runtime.ALGOS}
    assert {name: runtime.eval_mode(name, agent) for name, agent in agents.items()} == {
        "sac": "eval", "sql": "eval", "s2ac_phi_theta": "max_q", "s2ac_amortized": "amortized"}
    assert agents["s2ac_phi_theta"].config.variant == "phi_theta"


def test_amortized_call_is_the_one_pass_sampler():
    agent = runtime.build_agent("s2ac_amortized", ENV)
    obs = np.array([[0.3, -0.2, 0.5]], np.float32)
    key = jax.random.PRNGKey(3)
    call = runtime.selection_call(agent, obs, runtime.eval_mode("s2ac_amortized", agent), jax.devices("cpu")[0], key)
    expected = agent.state.amortized.sample(obs, key, 1)[:, 0]
    np.testing.assert_allclose(np.asarray(call()), np.asarray(expected), rtol=1e-6, atol=1e-6)
    assert call().shape == (1, 1)


def test_time_calls_gives_one_sample_per_call():
    samples = runtime.time_calls({"a": lambda: jax.numpy.ones(3), "b": lambda: jax.numpy.zeros(2)}, 7, warmup=1)
    assert set(samples) == {"a", "b"}
    assert all(s.shape == (7,) and np.all(s > 0) for s in samples.values())


def test_s2ac_is_an_alias_of_s2ac_phi_theta():
    assert parse(["--out", "x", "--algos", "s2ac", "sac"]).algos == ["s2ac", "sac"]
    assert runtime.make_config(algos=["s2ac", "sac"]).algos == ("s2ac_phi_theta", "sac")


def test_unknown_algorithm_is_rejected(capsys):
    with pytest.raises(ValueError, match="unknown algorithm 'ddpg' for the runtime table; expected one of sac, sql"):
        runtime.make_config(algos=["ddpg"])
    with pytest.raises(SystemExit):
        parse(["--out", "x", "--algos", "sacc"])
    assert "invalid choice: 'sacc'" in capsys.readouterr().err


def test_gpu_requested_without_one(monkeypatch, tmp_path):
    # Whatever machine runs the tests, JAX is made to see the CPU only.
    monkeypatch.setattr(runtime, "available_devices", lambda: {"cpu": jax.devices("cpu")[0]})
    with pytest.raises(ValueError, match="--devices gpu: JAX sees no GPU .*backends present: cpu"):
        runtime.resolve_devices(["cpu", "gpu"])
    assert list(runtime.resolve_devices(None)) == ["cpu"]
    args = parse(["--out", str(tmp_path / "gpu"), "--envs", ENV, "--devices", "gpu", "--no-progress"])
    with pytest.raises(ValueError, match="sees no GPU"):
        runtime.run(args)
    assert not (tmp_path / "gpu").exists()


@pytest.mark.parametrize("env, message", [("Hoper-v5", "unknown environment 'Hoper-v5'.*did you mean.*Hopper-v5"),
                                          ("CartPole-v1", "continuous \\(Box\\) action space")])
def test_environment_errors_come_from_the_library(env, message, tmp_path):
    config = runtime.make_config(envs=[env], calls=1, devices=["cpu"])
    with pytest.raises(ValueError, match=message):
        runtime.run_study(tmp_path, config, progress=False)


def test_bad_settings():
    with pytest.raises(ValueError, match="calls must be an integer >= 1"):
        runtime.make_config(calls=0)
    quick = runtime.make_config(quick=True)
    assert quick.envs == ("Hopper-v5",) and quick.calls == runtime.QUICK_CALLS and quick.algos == runtime.ALGOS


def test_import_is_light():
    # The command line imports every command module to build its parser: this one must not pull in JAX.
    code = "import sys, s2ac.experiments.runtime; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
