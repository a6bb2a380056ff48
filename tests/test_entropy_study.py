"""Study E1 (``s2ac entropy``) on a tiny grid: the results' schema, the ground truths, step 0, the
convergence rule, the figures, resuming from the records, and the command line's argument errors."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from s2ac.cli import main
from s2ac.experiments import entropy as e1
from s2ac.stein import entropy_estimate

STEPS = 5
RECORD_KEYS = {"part", "name", "target", "sampler", "particles", "dim", "steps", "step_size", "kernel",
               "initial", "true_entropy", "true_entropy_method", "true_entropy_stderr", "entropy_mean",
               "entropy_std", "displacement_mean", "convergence_step", "convergence_threshold", "target_scale"}


def tiny_config(**overrides):
    # SVGD with the exact log-det and DLD are flags on the SVGD and SGLD code paths: left out for speed.
    fields = dict(seeds=2, particles_ab=6, dynamics=("svgd", "sgld", "hmc"), kernels=(1.0, "mean"),
                  particle_counts=(6,), components=(1, 2), stds=(1.0, 2.0), dims=(2,), report_steps=(2,),
                  mc_samples=20_000)
    fields.update(overrides)
    return e1.make_config(quick=True, steps=STEPS, **fields)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("e1")
    results = e1.run_study(out, tiny_config(), progress=False)
    return out, results


def gaussian_entropy(cov):
    cov = np.asarray(cov, dtype=float)
    return 0.5 * np.linalg.slogdet(2 * np.pi * np.e * cov)[1]


def test_results_json_schema(study):
    out, results = study
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["mode"] == "quick" and on_disk["seeds"] == 2
    assert isinstance(on_disk["jax_version"], str) and on_disk["wall_time_s"] > 0
    records = on_disk["configurations"]
    # (a): 3 samplers; (b): 2 kernels; (c): (2 mixtures + 2 Gaussians) x 1 dimension x 1 particle count.
    assert [r["sampler"] for r in records if r["part"] == "a"] == ["svgd", "sgld", "hmc"]
    assert [r["part"] for r in records].count("b") == 2
    assert [r["part"] for r in records].count("c") == 4
    for r in records:
        assert RECORD_KEYS <= set(r), r["name"]
        assert r["steps"] == STEPS and r["step_size"] == 0.5
        assert len(r["entropy_mean"]) == len(r["entropy_std"]) == STEPS + 1
        assert len(r["displacement_mean"]) == STEPS
        assert all(s is None or s >= 0 for s in r["entropy_std"])
        assert r["target"]["name"] in ("gaussian", "circle_mixture", "isotropic_gaussian")
    hmc = next(r for r in records if r["sampler"] == "hmc")
    assert hmc["num_leapfrog"] == e1.NUM_LEAPFROG and hmc["kernel"] is None
    kernels = [r["kernel"] for r in records if r["part"] == "b"]
    assert kernels == [1.0, "mean"]


def test_true_entropies(study):
    _, results = study
    records = results["configurations"]
    a = next(r for r in records if r["part"] == "a")
    expected = gaussian_entropy(5 * np.array([[0.2260, 0.1652], [0.1652, 0.6779]]))
    assert a["true_entropy"] == pytest.approx(expected, abs=1e-4)
    assert expected == pytest.approx(3.4112, abs=1e-3)

    by_name = {r["name"]: r for r in records}
    # A 1-component circle mixture is N(mu, I): its Monte Carlo entropy must match the analytic one.
    gmm1 = by_name["c/d=2/gmm1/m=6"]
    analytic = 1.0 + math.log(2 * math.pi)
    assert 0 < gmm1["true_entropy_stderr"] < 0.02
    assert abs(gmm1["true_entropy"] - analytic) < 4 * gmm1["true_entropy_stderr"]
    gmm2 = by_name["c/d=2/gmm2/m=6"]
    assert gmm2["true_entropy"] > gmm1["true_entropy"] + 0.5  # two well-separated modes: about + log 2
    assert by_name["c/d=2/gauss_std2/m=6"]["true_entropy"] == pytest.approx(analytic + 2 * math.log(2), abs=1e-4)
    assert by_name["c/d=2/gauss_std1/m=6"]["true_entropy_method"] == "analytic"


def test_step_zero_is_the_initial_estimate(study):
    _, results = study
    config = tiny_config()
    for r in results["configurations"]:
        _, log_q0 = e1.initial_particles(config.seed, config.seeds, r["particles"], r["dim"], r["initial"]["std"])
        per_seed = np.asarray(entropy_estimate(log_q0))
        assert r["entropy_mean"][0] == pytest.approx(float(per_seed.mean()), abs=1e-5), r["name"]
        assert r["entropy_std"][0] == pytest.approx(float(per_seed.std(ddof=1)), abs=1e-5), r["name"]
    # (a) and (b) start every sampler and kernel from the same particles.
    starts = {r["entropy_mean"][0] for r in results["configurations"] if r["part"] in ("a", "b")}
    assert len(starts) == 1


def test_convergence_step_follows_the_rule(study):
    _, results = study
    for r in results["configurations"]:
        moves = np.asarray(r["displacement_mean"], dtype=float)
        conv = r["convergence_step"]
        if conv is None:
            assert not moves[-1] < r["convergence_threshold"]
        else:
            assert 1 <= conv <= STEPS
            assert np.all(moves[conv - 1:] < r["convergence_threshold"])
            assert conv == 1 or not moves[conv - 2] < r["convergence_threshold"]


def test_convergence_step_examples():
    assert e1.convergence_step([5.0, 4.0, 0.5, 2.0, 0.1, 0.1], 1.0) == 5
    assert e1.convergence_step([0.5, 0.1], 1.0) == 1
    assert e1.convergence_step([0.5, 3.0], 1.0) is None
    assert e1.convergence_step([0.5, float("nan")], 1.0) is None


def test_figures_and_summary(study):
    out, results = study
    assert results["figures"] == ["fig4a_samplers.png", "fig4b_kernel_entropy.png", "fig9_kernel_particles.png",
                                  "fig4c_components.png", "fig10b_variance.png"]
    for name in results["figures"]:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
    summary = (out / "summary.txt").read_text()
    for r in results["configurations"]:
        assert r["name"] in summary
    assert "convergence" in summary


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    assert main(["entropy", "--out", str(tmp_path / "x"), "--seeds", "0"]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err
    assert main(["entropy", "--out", str(tmp_path / "x"), "--kernel", "wide"]) == 2
    assert "unknown kernel 'wide'" in capsys.readouterr().err
    assert main(["entropy", "--out", str(tmp_path / "x"), "--parts", "ax"]) == 2
    assert "--parts" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_rerun_computes_nothing_and_needs_no_plotting(study, tmp_path, monkeypatch):
    out, results = study
    shutil.copytree(out / e1.RECORDS_DIR, tmp_path / e1.RECORDS_DIR)
    monkeypatch.setattr(e1, "simulate", lambda *a, **k: pytest.fail("a recorded configuration was computed again"))
    monkeypatch.setitem(sys.modules, "s2ac.experiments.entropy_plots", None)  # importing it fails
    again = e1.run_study(tmp_path, tiny_config(), progress=False, plots=False)
    assert again["configurations"] == results["configurations"]
    assert again["trends"] == results["trends"]
    assert again["figures"] == [] and "figures: none" in (tmp_path / "summary.txt").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["configurations"] == results["configurations"]


def test_a_rerun_computes_only_what_is_missing(study, tmp_path, monkeypatch):
    out, results = study
    shutil.copytree(out / e1.RECORDS_DIR, tmp_path / e1.RECORDS_DIR)
    config = tiny_config(parts=("a",))
    units = e1.plan(config)
    e1.record_path(tmp_path, units[1], config).unlink()
    computed, simulate = [], e1.simulate
    monkeypatch.setattr(e1, "simulate", lambda unit, config: computed.append(unit.name) or simulate(unit, config))
    again = e1.run_study(tmp_path, config, progress=False, plots=False)
    assert computed == [units[1].name] == ["a/sgld"]
    strip = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert strip(again["configurations"]) == strip(r for r in results["configurations"] if r["part"] == "a")
    # A record is kept per setting it depends on: other settings compute afresh.
    assert e1.record_path(tmp_path, units[0], config) != e1.record_path(tmp_path, units[0], tiny_config(tol=0.1))


def test_the_computation_does_not_import_the_figures():
    code = ("import sys, s2ac.experiments.entropy; "
            "print(sorted(m for m in ('matplotlib', 's2ac.experiments.entropy_plots') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
