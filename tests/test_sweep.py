"""``s2ac sweep``: the plan and its settings, skip and resume of runs, failures recorded, the local process
pool and the Ray backend on a local Ray instance, all with tiny budgets."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from s2ac.algorithms.presets import ALGORITHM_NAMES, PRESETS, get_preset, make_agent
from s2ac.cli import build_parser, main
from s2ac.experiments.study import recorded_run
from s2ac.experiments.sweep import RunSpec, execute_run, plan, run_status, run_sweep
from s2ac.training import checkpoint

ENV = "Pendulum-v1"
TINY = ("critic_hidden=[16,16]", "actor_hidden=[16,16]", "random_steps=100", "learning_starts=100",
        "update_every=50", "batch_size=16", "eval_every=100", "eval_episodes=1", "checkpoint_every=100")


def metrics_steps(run_dir) -> list[int]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def test_plan_crosses_tasks_algorithms_and_seeds_and_routes_each_setting():
    specs = plan([ENV, "Hopper-v5"], ["sac", "s2ac_phi", "ddpg"], [0, 1], 500,
                 ["svgd_steps=2", "eval_every=100"], defaults=["random_steps=10", "eval_every=50"])
    assert len(specs) == 12 and len(set(specs)) == 12
    by_algo = {s.algo: s.settings for s in specs}
    # svgd_steps only where it exists; the explicit eval_every replaces the default one; the reference
    # baseline takes only the loop's settings.
    assert by_algo["s2ac_phi"] == ("random_steps=10", "svgd_steps=2", "eval_every=100")
    assert by_algo["sac"] == ("random_steps=10", "eval_every=100")
    assert by_algo["ddpg"] == ("eval_every=100",)
    assert specs[0].run_dir("/x").as_posix() == f"/x/{ENV}/sac/seed_0"
    assert RunSpec("s2ac/MultiGoal-v0", "sac", 3, 1).run_dir("/x").as_posix() == "/x/s2ac_MultiGoal-v0/sac/seed_3"


def test_plan_takes_bandwidth_the_former_name_of_kernel_variance():
    specs = plan([ENV], ["sac", "s2ac_phi", "sql"], [0], 500, ["bandwidth=1.0"])
    assert {s.algo: s.settings for s in specs} == {"sac": (), "s2ac_phi": ("bandwidth=1.0",), "sql": ("bandwidth=1.0",)}
    with pytest.raises(ValueError, match="no chosen algorithm"):
        plan([ENV], ["sac"], [0], 500, ["bandwidth=1.0"])


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(algos=["td3"]), "unknown algorithm 'td3'"),
    (dict(steps=0), "--steps must be a positive integer"),
    (dict(seeds=[-1]), "every seed must be a non-negative integer"),
    (dict(settings=["svgd_steps=2"]), "no chosen algorithm"),
    (dict(settings=["batch_size"]), "--set expects key=value"),
    (dict(envs=[]), "at least one task"),
])
def test_plan_rejects_bad_input(kwargs, message):
    args = dict(envs=[ENV], algos=["sac"], seeds=[0], steps=100, settings=[])
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        plan(**args)


def test_a_run_is_trained_resumed_then_skipped(tmp_path):
    short = RunSpec(ENV, "sac", 0, 200, TINY)
    record = execute_run(short, tmp_path)
    run_dir = short.run_dir(tmp_path)
    assert record["status"] == "trained" and record["step"] == 200, record
    assert run_status(run_dir, 200) == ("done", 200) and run_status(run_dir, 300) == ("partial", 200)

    longer = RunSpec(ENV, "sac", 0, 300, TINY)
    record = execute_run(longer, tmp_path)
    assert record["status"] == "resumed" and record["from_step"] == 200 and record["step"] == 300, record
    assert metrics_steps(run_dir) == [100, 200, 300]  # continued, nothing repeated
    assert checkpoint.read_meta(run_dir / "checkpoint.npz")["step"] == 300

    before = (run_dir / "checkpoint.npz").stat().st_mtime_ns
    record = execute_run(longer, tmp_path)
    assert record["status"] == "skipped" and record["step"] == 300
    assert (run_dir / "checkpoint.npz").stat().st_mtime_ns == before


def test_a_run_stopped_before_its_first_checkpoint_starts_again(tmp_path):
    spec = RunSpec(ENV, "sac", 1, 100, TINY)
    run_dir = spec.run_dir(tmp_path)
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text("{}")  # what a run leaves if killed before its first checkpoint
    assert run_status(run_dir, 100) == ("new", 0)
    record = execute_run(spec, tmp_path)
    assert record["status"] == "trained", record
    assert json.loads((run_dir / "config.json").read_text())["algo"] == "sac"


def test_a_failed_run_is_recorded_not_raised(tmp_path):
    record = execute_run(RunSpec("NoSuchTask-v0", "sac", 0, 100, TINY), tmp_path)
    assert record["status"] == "failed" and "NoSuchTask-v0" in record["error"]
    corrupt = RunSpec(ENV, "sac", 2, 100, TINY)
    corrupt.run_dir(tmp_path).mkdir(parents=True)
    (corrupt.run_dir(tmp_path) / "checkpoint.npz").write_bytes(b"not a checkpoint")
    record = execute_run(corrupt, tmp_path)
    assert record["status"] == "failed" and "corrupt" in record["error"]


@pytest.mark.parametrize("threads", [1, 2, 8])
def test_worker_flags_are_flags_xla_accepts(threads):
    """XLA aborts on an ``XLA_FLAGS`` entry that does not start with ``--`` (a worker with two CPUs did)."""
    from s2ac.experiments.sweep import thread_flags

    assert all(flag.startswith("--") for flag in thread_flags(threads).split())


def test_local_backend_runs_in_pinned_workers_and_a_rerun_skips(tmp_path, monkeypatch):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)  # the sweep's own cache, not the tests'
    specs = plan([ENV], ["sac"], [0, 1], 100, list(TINY))
    records = run_sweep(specs, tmp_path, "local", workers=1, progress=False)
    assert [r["status"] for r in records] == ["trained", "trained"], records
    summary = json.loads((tmp_path / "sweep.json").read_text())
    assert [r["seed"] for r in summary["runs"]] == [0, 1]
    assert any((tmp_path / ".xla_cache").iterdir())  # the workers shared one compilation cache
    records = run_sweep(specs, tmp_path, "local", workers=1, progress=False)
    assert [r["status"] for r in records] == ["skipped", "skipped"]


SLOW_WORKER = """
import os, time
from pathlib import Path

def work(spec, out):
    (Path(out) / f"worker_{os.getpid()}").touch()
    time.sleep(120)
"""
SWEEP_DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
import slow_worker
from s2ac.experiments.sweep import plan, run_sweep
run_sweep(plan(["Pendulum-v1"], ["sac"], [0], 100, []), sys.argv[1], "local", workers=1, progress=False,
          worker=slow_worker.work)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_a_killed_sweep_takes_its_workers_with_it(tmp_path):
    (tmp_path / "slow_worker.py").write_text(SLOW_WORKER)
    sweep = subprocess.Popen([sys.executable, "-c", SWEEP_DRIVER, str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("worker_*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        (marker,) = tmp_path.glob("worker_*")
        worker = int(marker.name.split("_")[1])
        sweep.kill()  # SIGKILL: the sweep can do nothing about it; the kernel signals the worker
        sweep.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(worker, signal.SIGKILL)
            pytest.fail("the worker outlived its sweep by 20 s")
    finally:
        sweep.kill()


def test_ray_backend_on_a_local_instance(tmp_path):
    pytest.importorskip("ray")
    specs = plan([ENV], ["sac"], [0], 100, list(TINY))  # one run: the local backend's tests cover several
    records = run_sweep(specs, tmp_path, "ray", progress=False)
    assert [r["status"] for r in records] == ["trained"], records
    for spec in specs:
        assert run_status(spec.run_dir(tmp_path), 100) == ("done", 100)
        assert metrics_steps(spec.run_dir(tmp_path)) == [100]


def test_s2ac_is_an_alias_of_s2ac_phi_theta_in_the_sweep():
    specs = plan([ENV], ["s2ac", "s2ac_phi_theta", "sac"], [0], 100)
    assert [spec.algo for spec in specs] == ["s2ac_phi_theta", "sac"]  # one run directory for the two names
    args = build_parser().parse_args(["sweep", "--envs", ENV, "--algos", "s2ac", "sac", "--steps", "10",
                                      "--out", "x"])
    assert args.algos == ["s2ac", "sac"]


def test_train_and_sweep_take_the_same_algorithm_names(capsys):
    """One table (s2ac.algorithms.presets) decides the names of every command; the reference baselines are the
    sweep's only."""
    train = {a.dest: a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions}
    sweep = {a.dest: a for a in build_parser()._subparsers._group_actions[0].choices["sweep"]._actions}
    assert set(sweep["algos"].choices) == set(ALGORITHM_NAMES) == {*PRESETS, "s2ac"}
    assert set(train["algo"].choices) == {name for name in ALGORITHM_NAMES if not get_preset(name).reference}
    assert {"s2ac", "s2ac_phi", "s2ac_phi_theta", "s2ac_amortized", "sac", "sql", "sacnf"} <= set(train["algo"].choices)
    with pytest.raises(SystemExit):
        main(["train", "--algo", "td3"])
    assert "s2ac_phi_theta" in capsys.readouterr().err  # the error lists the choices
    with pytest.raises(ValueError, match=r"unknown algorithm 'td3'; expected one of s2ac, s2ac_phi,"):
        get_preset("td3")


def test_train_preset_is_the_algorithm_with_its_settings():
    """``--algo s2ac_phi`` = ``--algo s2ac --set variant=phi``; ``--algo s2ac`` = ``--algo s2ac_phi_theta``."""
    agent = make_agent("s2ac_phi", ENV, 0, ["critic_hidden=[8]"])
    assert (agent.name, agent.config.variant, agent.config.critic_hidden) == ("s2ac", "phi", (8,))
    assert make_agent("s2ac", ENV, 0, ["variant=phi", "critic_hidden=[8]"]).config == agent.config
    assert make_agent("s2ac", ENV).config == make_agent("s2ac_phi_theta", ENV).config == type(agent.config)()


def test_command_line_errors(tmp_path, capsys):
    assert main(["sweep", "--envs", ENV, "--algos", "sac", "--out", str(tmp_path)]) == 2
    assert "give --steps N (or --quick)" in capsys.readouterr().err
    assert main(["sweep", "--envs", ENV, "--algos", "sac", "--steps", "10", "--out", str(tmp_path),
                 "--ray-address", "auto"]) == 2
    assert "--ray-address needs --backend ray" in capsys.readouterr().err
    assert main(["sweep", "--envs", "NoSuchTask-v0", "--algos", "sac", "--steps", "10", "--out", str(tmp_path)]) == 2
    assert "NoSuchTask-v0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sweep", "--envs", ENV, "--algos", "td3", "--steps", "10", "--out", str(tmp_path)])


def test_sweep_and_presets_import_no_jax():
    """Workers set XLA's thread flags before JAX starts; importing the sweep must not start it."""
    code = "import sys, s2ac.experiments.sweep, s2ac.algorithms.presets; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_run_another_process_is_training_is_left_to_it(tmp_path):
    spec = RunSpec(ENV, "sac", 0, 100, TINY)
    spec.run_dir(tmp_path).parent.mkdir(parents=True)
    with open(spec.run_dir(tmp_path).parent / ".seed_0.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a second sweep's worker would
        assert execute_run(spec, tmp_path)["status"] == "busy"
        assert not spec.run_dir(tmp_path).exists()
    assert execute_run(spec, tmp_path)["status"] == "trained"


def _lock_is_held(spec: RunSpec, run_dir, record) -> dict:
    with open(run_dir.parent / f".{run_dir.name}.lock", "w") as other:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return {"locked_while_read": True}
    return {"locked_while_read": False}


def test_a_study_reads_its_run_while_the_run_is_still_locked(tmp_path):
    """Two processes sharing a study's grid: the one that trained a run also reads it, before the other may."""
    spec = RunSpec(ENV, "sac", 0, 100, TINY)
    outcome = recorded_run(spec, tmp_path, _lock_is_held, version="1")
    assert outcome["status"] == "trained" and outcome["locked_while_read"] is True, outcome
    assert json.loads((spec.run_dir(tmp_path) / "outcome.json").read_text())["locked_while_read"] is True
    assert recorded_run(spec, tmp_path, _lock_is_held, version="1")["status"] == "skipped"
