"""Study E1: the entropy of the SVGD sampler (paper Section 4.1, Figures 4, 9, 10; EXPERIMENTS.md E1).

``s2ac entropy --out DIR [--quick]`` runs three parts, each on targets with a known entropy:

- (a) SVGD, SGLD, DLD and HMC from the same initial particles ``N(0, 6 I)`` to a 2-D Gaussian, 20 particles,
  step size 0.5, with the same change-of-variables bookkeeping for ``log q`` (docs/math.md sections 3, 4, 9);
- (b) SVGD with kernel variances ``sigma^2`` in {0.1, 1, 3, 5, 7, 10, 100} and the bandwidth heuristics;
- (c) SVGD on Gaussian mixtures with 1, 2, 4, 6 components and on isotropic Gaussians with standard deviation
  0.5, 1, 2, 5, in several dimensions and for several particle counts.

The closed-form estimate keeps drifting downwards after the particles have converged (docs/math.md section 4),
so every configuration records the estimate after *every* step, and the summary shows it at fixed steps
and at a convergence step chosen by a stated rule (:func:`convergence_step`), never at a hand-picked one.

The 5 seeds are the batch dimension of the samplers: one jitted call per configuration gives all seeds.
This module is a thin layer over :mod:`s2ac.stein`; matplotlib is imported only when plotting.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from s2ac.experiments.outputs import dump_json, print_summary, progress_bar, pyplot
from s2ac.stein import (
    BANDWIDTH_RULES,
    Gaussian,
    GaussianMixture,
    circle_mixture,
    dld_sample,
    entropy_estimate,
    hmc_sample,
    normal_sample,
    sgld_sample,
    svgd_sample,
)
from s2ac.training.files import prepare_output_dir

# ---------------------------------------------------------------------------------------------------------
# The study's fixed settings (EXPERIMENTS.md E1).

TARGET_A_MEAN = (-0.6871, 0.8010)
TARGET_A_COV = ((1.13, 0.826), (0.826, 3.3895))  # 5 * [[0.2260, 0.1652], [0.1652, 0.6779]]
INITIAL_STD = math.sqrt(6.0)  # q_0 = N(0, 6 I): covariance 6 I
SAMPLERS = ("svgd", "svgd_exact", "sgld", "dld", "hmc")
KERNELS: tuple[float | str, ...] = (0.1, 1.0, 3.0, 5.0, 7.0, 10.0, 100.0, "median", "mean", "half_mean")
# The SVGD kernel of parts (a) and (c). Part (b) shows why: with sigma^2 <= 1 the step is far from
# invertible at eps = 0.5 (Prop. 3.2 needs eps << sigma) and the estimate collapses within ~100 steps; the
# heuristics give sigma^2 ~ 1 on these targets and inherit that; sigma^2 = 100 is so flat that the particles
# take hundreds of steps to converge. sigma^2 = 10 (sigma ~ 3.2 = 6 eps) converges in ~50-150 steps and
# drifts slowly afterwards. One fixed value also makes the targets of (c) comparable with each other.
DEFAULT_KERNEL = 10.0
# HMC: 5 leapfrog steps of 0.5, an integration time of 2.5 = about a fifth of the period of the target's
# slowest direction (2 pi * 1.91) and well inside leapfrog's stability limit (eps < 2 * 0.93): each HMC
# step moves a particle far without turning back.
NUM_LEAPFROG = 5
CONVERGENCE_TOL = 1e-3
MC_SAMPLES = 100_000

PARTS = ("a", "b", "c")


@dataclass(frozen=True)
class StudyConfig:
    """Everything a run of the study depends on. :func:`make_config` builds the quick and the full grid."""

    quick: bool = False
    parts: tuple[str, ...] = PARTS
    seeds: int = 5
    seed: int = 0
    step_size: float = 0.5
    steps_ab: int = 500
    steps_c: int = 500
    particles_ab: int = 20
    samplers: tuple[str, ...] = SAMPLERS
    num_leapfrog: int = NUM_LEAPFROG
    kernel: float | str = DEFAULT_KERNEL
    kernels: tuple[float | str, ...] = KERNELS
    components: tuple[int, ...] = (1, 2, 4, 6)
    stds: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)
    dims: tuple[int, ...] = (2, 5)
    particle_counts: tuple[int, ...] = (10, 20, 100, 200)
    report_steps: tuple[int, ...] = (10, 50, 100, 200, 500)
    tol: float = CONVERGENCE_TOL
    mc_samples: int = MC_SAMPLES

    def validate(self) -> None:
        """Raise a ``ValueError`` naming the first bad setting."""
        def positive_int(name: str, value: Any) -> None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

        if not self.parts or any(p not in PARTS for p in self.parts):
            raise ValueError(f"parts must be a non-empty selection of {''.join(PARTS)!r}, got {self.parts!r}")
        positive_int("--seeds", self.seeds)
        positive_int("steps (part a/b)", self.steps_ab)
        positive_int("steps (part c)", self.steps_c)
        if self.particles_ab < 2:
            raise ValueError(f"SVGD needs at least 2 particles, got {self.particles_ab}")
        if not self.step_size > 0:
            raise ValueError(f"--step-size must be positive, got {self.step_size}")
        if not self.tol > 0:
            raise ValueError(f"--tol must be positive, got {self.tol}")
        positive_int("num_leapfrog", self.num_leapfrog)
        positive_int("mc_samples", self.mc_samples)
        for name in self.samplers:
            if name not in SAMPLERS:
                raise ValueError(f"unknown sampler {name!r}; expected one of {SAMPLERS}")
        for k in (self.kernel, *self.kernels):
            check_kernel(k)
        for k in self.components:
            positive_int("number of components", k)
        for s in self.stds:
            if not s > 0:
                raise ValueError(f"target standard deviations must be positive, got {s}")
        for d in self.dims:
            if not isinstance(d, int) or d < 2:
                raise ValueError(f"dimensions must be integers >= 2, got {d!r}")
        for m in self.particle_counts:
            if not isinstance(m, int) or m < 2:
                raise ValueError(f"particle counts must be integers >= 2, got {m!r}")


def check_kernel(kernel: float | str) -> None:
    if isinstance(kernel, str):
        if kernel not in BANDWIDTH_RULES:
            raise ValueError(f"unknown kernel {kernel!r}: give a kernel variance sigma^2 > 0 or one of "
                             f"{', '.join(BANDWIDTH_RULES)}")
    elif not (isinstance(kernel, (int, float)) and math.isfinite(kernel) and kernel > 0):
        raise ValueError(f"kernel variance sigma^2 must be a positive number, got {kernel!r}")


def parse_kernel(text: str) -> float | str:
    """``"10"`` -> ``10.0``; a heuristic name stays a string."""
    if text in BANDWIDTH_RULES:
        return text
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"unknown kernel {text!r}: give a kernel variance sigma^2 > 0 or one of "
                         f"{', '.join(BANDWIDTH_RULES)}") from None
    check_kernel(value)
    return value


def make_config(quick: bool = False, *, steps: int | None = None, **overrides: Any) -> StudyConfig:
    """The full grid, or with ``quick`` a reduced one (d = 2, 2 particle counts, 200 steps, 6 kernels) that
    runs in well under a minute on two CPU cores. ``steps`` sets the step count of every part; any other
    field of :class:`StudyConfig` can be overridden by name."""
    fields = {}
    if quick:
        fields = dict(steps_ab=200, steps_c=200, dims=(2,), particle_counts=(20, 100),
                      kernels=(0.1, 1.0, 5.0, 10.0, 100.0, "half_mean"), report_steps=(10, 50, 100, 200))
    if steps is not None:
        fields.update(steps_ab=steps, steps_c=steps)
    fields.update(overrides)
    config = StudyConfig(quick=quick, **fields)
    config.validate()
    return config


# ---------------------------------------------------------------------------------------------------------
# One configuration: a target, a sampler, a particle count, a kernel.


@dataclass
class Run:
    part: str
    name: str
    target: Gaussian | GaussianMixture
    target_info: dict[str, Any]
    true_entropy: float
    true_entropy_stderr: float | None
    sampler: str
    particles: int
    dim: int
    steps: int
    kernel: float | str | None
    init_std: float
    scale: float  # RMS per-coordinate standard deviation of the target, for the convergence rule


def gaussian_scale(cov: np.ndarray) -> float:
    return float(np.sqrt(np.trace(cov) / cov.shape[0]))


def mixture_scale(target: GaussianMixture) -> float:
    means = np.asarray(target.means)
    return float(np.sqrt(np.mean(means.var(axis=0)) + target.std**2))


def mixture_entropy(target: GaussianMixture, num_samples: int, seed: int = 0) -> tuple[float, float]:
    """Monte Carlo entropy (``GaussianMixture.entropy``) and its standard error, from the same samples."""
    key = jax.random.PRNGKey(seed)
    value = float(target.entropy(key, num_samples))
    neg_log_p = -np.asarray(target.log_prob(target.sample(key, num_samples)))
    return value, float(neg_log_p.std(ddof=1) / math.sqrt(num_samples))


def initial_entropy(dim: int, std: float) -> float:
    """Analytic entropy of ``N(0, std^2 I_d)``."""
    return dim * (0.5 * math.log(2 * math.pi * math.e) + math.log(std))


def plan(config: StudyConfig) -> list[Run]:
    """Every configuration of the study, in order: (a), (b), (c)."""
    runs: list[Run] = []
    mean_a = jnp.asarray(TARGET_A_MEAN, jnp.float32)
    cov_a = jnp.asarray(TARGET_A_COV, jnp.float32)
    target_a = Gaussian(mean_a, cov_a)
    info_a = {"name": "gaussian", "dim": 2, "mean": list(TARGET_A_MEAN), "cov": [list(r) for r in TARGET_A_COV]}
    true_a = float(target_a.entropy())
    scale_a = gaussian_scale(np.asarray(TARGET_A_COV))
    m, steps = config.particles_ab, config.steps_ab

    if "a" in config.parts:
        for sampler in config.samplers:
            kernel = config.kernel if sampler.startswith("svgd") else None
            runs.append(Run("a", f"a/{sampler}", target_a, info_a, true_a, None, sampler, m, 2, steps, kernel,
                            INITIAL_STD, scale_a))
    if "b" in config.parts:
        for kernel in config.kernels:
            runs.append(Run("b", f"b/kernel={kernel_label(kernel)}", target_a, info_a, true_a, None, "svgd", m, 2,
                            steps, kernel, INITIAL_STD, scale_a))
    if "c" in config.parts:
        for dim in config.dims:
            targets = []
            for k in config.components:
                mix = circle_mixture(k, dim)
                value, stderr = mixture_entropy(mix, config.mc_samples, config.seed)
                info = {"name": "circle_mixture", "dim": dim, "num_components": k, "radius": 4.0, "std": mix.std,
                        "means": np.asarray(mix.means).round(6).tolist()}
                # q_0 = N(0, 6 I) reaches the circle of radius 4 (1.6 of its standard deviations).
                targets.append((f"gmm{k}", mix, info, value, stderr, INITIAL_STD, mixture_scale(mix)))
            for std in config.stds:
                gauss = Gaussian(jnp.zeros(dim), std**2 * jnp.eye(dim))
                info = {"name": "isotropic_gaussian", "dim": dim, "std": std, "mean": [0.0] * dim}
                # The same q_0 = N(0, 6 I) for every target, so that a growth of the estimate with the std is
                # the sampler's doing, not the initial distribution's: the std-5 target's particles must
                # spread out from it (slowly: the kernel is narrow at that scale, see the summary).
                targets.append((f"gauss_std{std:g}", gauss, info, float(gauss.entropy()), None, INITIAL_STD, std))
            for num in config.particle_counts:
                for label, target, info, value, stderr, init, scale in targets:
                    runs.append(Run("c", f"c/d={dim}/{label}/m={num}", target, info, value, stderr, "svgd", num,
                                    dim, config.steps_c, config.kernel, init, scale))
    return runs


def kernel_label(kernel: float | str | None) -> str:
    if kernel is None:
        return "-"
    return kernel if isinstance(kernel, str) else f"{kernel:g}"


def initial_particles(seed: int, num_seeds: int, num_particles: int, dim: int,
                      init_std: float) -> tuple[jax.Array, jax.Array]:
    """The initial particles ``(seeds, m, d)`` and their ``log q_0``: one independent set per seed, drawn
    from ``N(0, init_std^2 I)``. The same (seed, m, d) gives the same standard-normal draws whatever the
    target, sampler or kernel, so that the configurations of a part start from the same particles."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), dim), num_particles)
    mean = jnp.zeros((num_seeds, dim))
    std = jnp.full((num_seeds, dim), init_std)
    return normal_sample(key, mean, std, num_particles)


@functools.partial(jax.jit, static_argnames=("sampler", "num_steps", "rule", "num_leapfrog"))
def _simulate(target, x0, log_q0, key, sigma2, step_size, *, sampler, num_steps, rule, num_leapfrog):
    """One configuration, all seeds at once. Returns the entropy estimate after every step ``(L+1, B)``, the
    mean particle displacement of every step ``(L, B)`` and the final particles ``(B, m, d)``.

    ``sigma2`` ``(B,)`` and ``step_size`` are traced, so the fixed kernels share one compilation."""
    log_prob = target.log_prob
    common = dict(num_steps=num_steps, step_size=step_size, return_trajectory=True)
    if sampler in ("svgd", "svgd_exact"):
        bandwidth = sigma2 if rule is None else rule
        log_det = "exact" if sampler == "svgd_exact" else "trace"
        res = svgd_sample(log_prob, x0, log_q0, bandwidth=bandwidth, log_det=log_det, **common)
    elif sampler == "sgld":
        res = sgld_sample(log_prob, x0, log_q0, key=key, **common)
    elif sampler == "dld":
        res = dld_sample(log_prob, x0, log_q0, key=key, **common)
    elif sampler == "hmc":
        res = hmc_sample(log_prob, x0, log_q0, key=key, num_leapfrog=num_leapfrog, **common)
    else:
        raise ValueError(f"unknown sampler {sampler!r}")
    entropy = entropy_estimate(res.log_q_trajectory)
    moves = jnp.mean(jnp.linalg.norm(jnp.diff(res.particles_trajectory, axis=0), axis=-1), axis=-1)
    return entropy, moves, res.particles


def convergence_step(displacement: Sequence[float], threshold: float) -> int | None:
    """The first step ``l`` (1..L) from which on the particles move less than ``threshold`` per step:
    ``displacement[k] < threshold`` for every ``k >= l - 1``, where ``displacement[k]`` is the mean over
    particles (and seeds) of ``||x_{k+1} - x_k||``. ``None`` if the last step still moves more.

    "From which on" (not "the first time") so that a slow start, e.g. initial particles already spread like
    the target, does not count as convergence."""
    moves = np.asarray(displacement, dtype=float)
    above = np.nonzero(~(moves < threshold))[0]
    if len(above) == 0:
        return 1
    last = int(above[-1])
    return last + 2 if last + 1 < len(moves) else None


def _json_list(values: np.ndarray) -> list[float | None]:
    """Floats to 7 significant digits (float32 precision), ``None`` for a non-finite value."""
    return [float(f"{v:.7g}") if math.isfinite(v) else None for v in np.asarray(values, dtype=float).tolist()]


def simulate(run: Run, config: StudyConfig) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Run one configuration; return its results.json record, its initial and its final particles."""
    start = time.perf_counter()
    x0, log_q0 = initial_particles(config.seed, config.seeds, run.particles, run.dim, run.init_std)
    rule = run.kernel if isinstance(run.kernel, str) else None
    sigma2 = jnp.full((config.seeds,), 1.0 if run.kernel is None or rule else float(run.kernel), jnp.float32)
    noise_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1_000_003)
    entropy, moves, final = _simulate(run.target, x0, log_q0, noise_key, sigma2,
                                      jnp.asarray(config.step_size, jnp.float32), sampler=run.sampler,
                                      num_steps=run.steps, rule=rule, num_leapfrog=config.num_leapfrog)
    entropy, moves, final = np.asarray(entropy, float), np.asarray(moves, float), np.asarray(final)
    ddof = 1 if config.seeds > 1 else 0
    displacement = moves.mean(axis=1)
    threshold = config.tol * run.scale
    conv = convergence_step(displacement, threshold)
    record: dict[str, Any] = {
        "part": run.part,
        "name": run.name,
        "target": run.target_info,
        "sampler": run.sampler,
        "log_det": {"svgd": "trace (closed form, Thm 3.3)", "svgd_exact": "exact (autograd slogdet)"}.get(
            run.sampler, "exact (autograd slogdet of the step's map in x, noise/momentum held fixed)"),
        "particles": run.particles,
        "dim": run.dim,
        "steps": run.steps,
        "step_size": config.step_size,
        "kernel": run.kernel,
        "num_leapfrog": config.num_leapfrog if run.sampler == "hmc" else None,
        "initial": {"distribution": "normal", "mean": 0.0, "std": run.init_std,
                    "entropy": initial_entropy(run.dim, run.init_std)},
        "true_entropy": run.true_entropy,
        "true_entropy_method": "analytic" if run.true_entropy_stderr is None
        else f"monte carlo, {config.mc_samples} samples",
        "true_entropy_stderr": run.true_entropy_stderr,
        "entropy_mean": _json_list(entropy.mean(axis=1)),
        "entropy_std": _json_list(entropy.std(axis=1, ddof=ddof)),
        "displacement_mean": _json_list(displacement),
        "target_scale": run.scale,
        "convergence_threshold": threshold,
        "convergence_step": conv,
        "seconds": time.perf_counter() - start,
    }
    if run.part in ("a", "b"):
        record["final_particles_seed0"] = [_json_list(p.round(5)) for p in np.asarray(final[0], float)]
    return record, np.asarray(x0), final


# ---------------------------------------------------------------------------------------------------------
# The whole study.


def value_at(record: dict[str, Any], step: int | None) -> tuple[float, float]:
    """Seed mean and std of the estimate after ``step`` steps (nan for ``None`` or a non-finite value)."""
    if step is None:
        return math.nan, math.nan
    mean, std = record["entropy_mean"][step], record["entropy_std"][step]
    return (math.nan if mean is None else mean), (math.nan if std is None else std)


def report_steps(config: StudyConfig, steps: int) -> list[int]:
    """The fixed steps shown in the summary: the configured ones that exist, and always the last."""
    return sorted({s for s in config.report_steps if s <= steps} | {steps})


def trends(records: list[dict[str, Any]], config: StudyConfig) -> list[dict[str, Any]]:
    """Part (c): for each dimension and particle count, does the seed-mean estimate grow strictly with the
    number of components, and with the target's standard deviation? At the convergence step and at each
    fixed step. ``None`` where a configuration did not converge."""
    out = []
    part_c = [r for r in records if r["part"] == "c"]
    points: list[int | str] = ["convergence", *report_steps(config, config.steps_c)]
    for dim in config.dims:
        for m in config.particle_counts:
            rows = [r for r in part_c if r["dim"] == dim and r["particles"] == m]
            mix = sorted((r for r in rows if r["target"]["name"] == "circle_mixture"),
                         key=lambda r: r["target"]["num_components"])
            gau = sorted((r for r in rows if r["target"]["name"] == "isotropic_gaussian"),
                         key=lambda r: r["target"]["std"])
            for point in points:
                entry: dict[str, Any] = {"dim": dim, "particles": m, "at": point}
                for key, group in (("grows_with_components", mix), ("grows_with_std", gau)):
                    vals = [value_at(r, r["convergence_step"] if point == "convergence" else point)[0]
                            for r in group]
                    if len(vals) < 2 or any(math.isnan(v) for v in vals):
                        entry[key] = None
                    else:
                        entry[key] = bool(all(b > a for a, b in zip(vals, vals[1:], strict=False)))
                out.append(entry)
    return out


def run_study(out_dir: str | Path, config: StudyConfig | None = None, *, progress: bool = True,
              plots: bool = True) -> dict[str, Any]:
    """Run the study, write ``results.json``, ``summary.txt`` and the figures into ``out_dir`` and return
    the results (the content of results.json)."""
    config = make_config() if config is None else config
    config.validate()
    out = prepare_output_dir(out_dir)
    start = time.perf_counter()
    runs = plan(config)
    records: list[dict[str, Any]] = []
    particles: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    bar = progress_bar(len(runs), progress, "E1 configurations", "cfg")
    for run in runs:
        if bar is not None:
            bar.set_postfix_str(run.name)
        record, x0, final = simulate(run, config)
        records.append(record)
        if run.part in ("a", "b"):
            particles[run.name] = (x0, final)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    results: dict[str, Any] = {
        "study": "E1: entropy of the SVGD sampler (paper Section 4.1)",
        "mode": "quick" if config.quick else "full",
        "seeds": config.seeds,
        "seed": config.seed,
        "std_over_seeds": "sample standard deviation (ddof=1)" if config.seeds > 1 else "0 (one seed)",
        "jax_version": jax.__version__,
        "jax_backend": jax.default_backend(),
        "convergence_rule": (f"first step from which on the mean particle displacement per step (mean over "
                             f"particles and seeds) stays below tol * scale, tol = {config.tol:g}, scale = the "
                             "target's RMS per-coordinate standard deviation; null if never reached"),
        "config": dataclasses.asdict(config),
        "configurations": records,
    }
    results["trends"] = trends(records, config) if "c" in config.parts else []
    figures = make_figures(out, records, particles, config) if plots else []
    results["figures"] = figures
    results["wall_time_s"] = time.perf_counter() - start
    summary = format_summary(results, config)
    (out / "summary.txt").write_text(summary)
    (out / "results.json").write_text(dump_json(results))
    return results








# ---------------------------------------------------------------------------------------------------------
# Summary.


def _fmt(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "-"
    if abs(mean) >= 1000:
        return f"{mean:.3g}"
    return f"{mean:.2f}±{std:.2f}"


def format_summary(results: dict[str, Any], config: StudyConfig) -> str:
    records = results["configurations"]
    lines = [f"S2AC study E1 ({results['mode']}): entropy estimate, mean±std over {results['seeds']} seeds, "
             f"after the given number of steps.",
             f"conv = convergence step: {results['convergence_rule']}.",
             "H@conv - true: error of the estimate at the convergence step. Every step is in results.json.", ""]
    for part, title, steps in (("a", "(a) samplers on the 2-D Gaussian, 20 particles, step 0.5", config.steps_ab),
                               ("b", "(b) SVGD kernel variance sigma^2 / heuristic, same target", config.steps_ab),
                               ("c", "(c) SVGD on mixtures and Gaussians (kernel "
                                f"{kernel_label(config.kernel)})", config.steps_c)):
        rows = [r for r in records if r["part"] == part]
        if not rows:
            continue
        cols = [0, *report_steps(config, steps)]
        header = ["configuration", "true"] + [f"H@{s}" for s in cols] + ["conv", "H@conv", "H@conv-true"]
        table = [header]
        for r in rows:
            conv = r["convergence_step"]
            at_conv = value_at(r, conv)
            err = at_conv[0] - r["true_entropy"]
            table.append([r["name"], f"{r['true_entropy']:.2f}"] + [_fmt(*value_at(r, s)) for s in cols]
                         + ["-" if conv is None else str(conv), _fmt(*at_conv),
                            "-" if math.isnan(err) else f"{err:+.2f}"])
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines.append(title)
        for i, row in enumerate(table):
            lines.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths,
                                                                                                       strict=True))))
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append("")
    if results.get("trends"):
        lines.append("(c) does the estimate grow strictly with the number of components / the target's std? "
                     "(yes/no per particle count m; '?' = some configuration did not converge)")
        for dim in config.dims:
            for key, label in (("grows_with_components", "components"), ("grows_with_std", "std")):
                parts = []
                for point in ["convergence", *report_steps(config, config.steps_c)]:
                    cells = [t for t in results["trends"] if t["dim"] == dim and t["at"] == point]
                    marks = " ".join(f"m{t['particles']}:" + {True: "yes", False: "no", None: "?"}[t[key]]
                                     for t in cells)
                    name = "conv" if point == "convergence" else f"@{point}"
                    parts.append(f"{name}[{marks}]")
                lines.append(f"  d={dim} {label:<10} " + "  ".join(parts))
        lines.append("")
    lines.append(f"wall time {results['wall_time_s']:.1f} s; figures: {', '.join(results['figures']) or 'none'}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Figures (matplotlib imported here only).


SAMPLER_LABELS = {"svgd": "SVGD (trace)", "svgd_exact": "SVGD (exact log-det)", "sgld": "SGLD", "dld": "DLD",
                  "hmc": "HMC"}
# SGLD's log q update is DLD's (the noise adds no volume term), so on a Gaussian the two curves coincide.
SAMPLER_STYLES = {"svgd": "-", "svgd_exact": "--", "sgld": (0, (2, 2)), "dld": "-", "hmc": "-"}
SAMPLER_COLORS = {"svgd": "C0", "svgd_exact": "C9", "sgld": "C1", "dld": "C2", "hmc": "C3"}





def _contours(ax, target, lims) -> None:
    xs = np.linspace(lims[0], lims[1], 150)
    gx, gy = np.meshgrid(xs, xs)
    grid = jnp.asarray(np.stack([gx, gy], axis=-1), jnp.float32)
    density = np.exp(np.asarray(target.log_prob(grid)))
    ax.contourf(gx, gy, density, levels=12, cmap="Blues", alpha=0.8)
    ax.set_xlim(*lims)
    ax.set_ylim(*lims)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)


def _lims(arrays: list[np.ndarray]) -> tuple[float, float]:
    pts = np.concatenate([a.reshape(-1, 2) for a in arrays])
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    lo, hi = np.percentile(pts, [0.5, 99.5]) if len(pts) else (-6.0, 6.0)
    span = max(hi - lo, 4.0)
    mid = 0.5 * (lo + hi)
    return float(mid - 0.55 * span), float(mid + 0.55 * span)


def _entropy_axes(axes, curves, true_value: float, initial: float) -> None:
    """Two panels: the whole range on a symlog axis, and a zoom around the true value."""
    for ax, zoom in zip(axes, (False, True), strict=True):
        for label, color, style, mean, std in curves:
            steps = np.arange(len(mean))
            ax.plot(steps, mean, color=color, ls=style, lw=1.4, label=label)
            ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2, lw=0)
        ax.axhline(true_value, color="k", lw=1.2, ls=":", label=f"true entropy {true_value:.2f}")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if zoom:
            ax.set_ylim(min(true_value, initial) - 2.0, max(true_value, initial) + 1.0)
            ax.set_title("zoom around the true entropy", fontsize=9)
        else:
            ax.set_yscale("symlog", linthresh=10.0)
            ax.set_title("full range (symlog)", fontsize=9)
            ax.set_ylabel("entropy estimate  -mean log q")


def _mark_convergence(ax, rows, colors) -> None:
    """A dot at each configuration's convergence step."""
    for r in rows:
        if r["convergence_step"] is not None:
            s = r["convergence_step"]
            ax.plot([s], [value_at(r, s)[0]], marker="o", ms=5, color=colors[r["name"]], zorder=5)


def _finals_label(label: str, mean: np.ndarray) -> str:
    return f"{label} (final {mean[-1]:.3g})"


def plot_samplers(path: Path, records, particles, target) -> None:
    plt = pyplot()
    rows = [r for r in records if r["part"] == "a"]
    shown = [r for r in rows if r["sampler"] != "svgd_exact"]  # same particles as "svgd"
    x0 = particles[rows[0]["name"]][0][0]
    lims = _lims([x0] + [particles[r["name"]][1][0] for r in shown])
    fig = plt.figure(figsize=(3.0 * (len(shown) + 1), 7.6))
    grid = fig.add_gridspec(2, len(shown) + 1, height_ratios=[1.0, 1.15])
    panels = [("initial N(0, 6I)", x0)] + [(SAMPLER_LABELS[r["sampler"]] + f", step {r['steps']}",
                                             particles[r["name"]][1][0]) for r in shown]
    for i, (title, pts) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        _contours(ax, target, lims)
        ax.scatter(pts[:, 0], pts[:, 1], s=12, c="C3" if i else "k", edgecolors="white", linewidths=0.4)
        ax.set_title(title, fontsize=9)
    half = (len(shown) + 1) // 2
    axes = [fig.add_subplot(grid[1, :half]), fig.add_subplot(grid[1, half:])]
    curves = []
    for r in sorted(rows, key=lambda r: r["sampler"] == "sgld"):  # SGLD's dashes on top of DLD's line
        mean, std = _arr(r["entropy_mean"]), _arr(r["entropy_std"])
        label = SAMPLER_LABELS[r["sampler"]] + (" = DLD's log q" if r["sampler"] == "sgld" else "")
        curves.append((_finals_label(label, mean), SAMPLER_COLORS[r["sampler"]],
                       SAMPLER_STYLES[r["sampler"]], mean, std))
    _entropy_axes(axes, curves, rows[0]["true_entropy"], rows[0]["initial"]["entropy"])
    _mark_convergence(axes[1], rows, {r["name"]: SAMPLER_COLORS[r["sampler"]] for r in rows})
    axes[1].legend(fontsize=7, loc="lower left")
    kernel = next((r["kernel"] for r in rows if r["kernel"] is not None), None)
    fig.suptitle(f"E1 (a): samplers on a 2-D Gaussian, {rows[0]['particles']} particles, step size "
                 f"{rows[0]['step_size']}, SVGD kernel sigma^2 = {kernel_label(kernel)}, HMC "
                 f"{rows[0]['num_leapfrog'] or NUM_LEAPFROG} leapfrog steps; seed 0's particles; "
                 "mean ± std over seeds; dots: convergence step", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _kernel_styles(rows):
    plt = pyplot()
    fixed = [r for r in rows if not isinstance(r["kernel"], str)]
    cmap = plt.get_cmap("viridis")
    styles = {}
    for i, r in enumerate(fixed):
        styles[r["name"]] = (cmap(i / max(len(fixed) - 1, 1)), "-")
    for i, r in enumerate(r for r in rows if isinstance(r["kernel"], str)):
        styles[r["name"]] = (("C3", "C1", "C6")[i % 3], "--")
    return styles


def plot_kernel_entropy(path: Path, records) -> None:
    plt = pyplot()
    rows = [r for r in records if r["part"] == "b"]
    styles = _kernel_styles(rows)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    curves = []
    for r in rows:
        mean, std = _arr(r["entropy_mean"]), _arr(r["entropy_std"])
        name = f"sigma^2={kernel_label(r['kernel'])}" if not isinstance(r["kernel"], str) else r["kernel"]
        curves.append((_finals_label(name, mean), *styles[r["name"]], mean, std))
    _entropy_axes(axes, curves, rows[0]["true_entropy"], rows[0]["initial"]["entropy"])
    _mark_convergence(axes[1], rows, {name: style[0] for name, style in styles.items()})
    axes[1].legend(fontsize=7, loc="lower left", ncol=2)
    fig.suptitle(f"E1 (b): SVGD entropy estimate vs step for each kernel ({rows[0]['particles']} particles, step "
                 f"{rows[0]['step_size']}; dots: convergence step)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_kernel_particles(path: Path, records, particles, target) -> None:
    plt = pyplot()
    rows = [r for r in records if r["part"] == "b"]
    cols = min(5, len(rows))
    nrows = math.ceil(len(rows) / cols)
    lims = _lims([particles[r["name"]][1][0] for r in rows] + [np.asarray(target.mean)[None]])
    fig, axes = plt.subplots(nrows, cols, figsize=(2.7 * cols, 2.8 * nrows + 0.4), squeeze=False)
    for ax, r in zip(axes.flat, rows, strict=False):
        pts = particles[r["name"]][1][0]
        _contours(ax, target, lims)
        ax.scatter(pts[:, 0], pts[:, 1], s=12, c="C3", edgecolors="white", linewidths=0.4)
        h = value_at(r, r["steps"])[0]
        ax.set_title(f"{kernel_label(r['kernel'])}: H={h:.3g} (true {r['true_entropy']:.2f})", fontsize=8)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    fig.suptitle(f"E1 (b) / Fig. 9: final particles (seed 0, step {rows[0]['steps']}) per kernel variance "
                 "sigma^2 or heuristic", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_grid(path: Path, records, config: StudyConfig, family: str) -> None:
    """Fig. 4c (``family="circle_mixture"``: estimate vs number of components) or Fig. 10b
    (``"isotropic_gaussian"``: vs the target's std), one line per particle count, true entropy overlaid.
    Rows: dimensions; columns: the convergence step and fixed steps."""
    plt = pyplot()
    rows = [r for r in records if r["part"] == "c" and r["target"]["name"] == family]
    key = "num_components" if family == "circle_mixture" else "std"
    fixed = report_steps(config, config.steps_c)
    points: list[int | str] = ["convergence"] + sorted({fixed[len(fixed) // 2], fixed[-1]})
    fig, axes = plt.subplots(len(config.dims), len(points), figsize=(4.3 * len(points), 3.6 * len(config.dims)),
                             squeeze=False)
    for i, dim in enumerate(config.dims):
        for j, point in enumerate(points):
            ax = axes[i, j]
            for c, m in enumerate(config.particle_counts):
                sel = sorted((r for r in rows if r["dim"] == dim and r["particles"] == m),
                             key=lambda r: r["target"][key])
                xs = np.array([r["target"][key] for r in sel], float)
                vals = [value_at(r, r["convergence_step"] if point == "convergence" else point) for r in sel]
                ax.errorbar(xs * (1 + 0.02 * (c - 1.5)), [v[0] for v in vals], yerr=[v[1] for v in vals],
                            marker="o", ms=4, capsize=2, lw=1.2, color=f"C{c}", label=f"m={m}")
            sel = sorted((r for r in rows if r["dim"] == dim and r["particles"] == config.particle_counts[0]),
                         key=lambda r: r["target"][key])
            ax.plot([r["target"][key] for r in sel], [r["true_entropy"] for r in sel], "k--", marker="x",
                    lw=1.5, label="true")
            if family == "isotropic_gaussian":
                ax.set_xscale("log")
                ax.minorticks_off()
                ax.set_xticks(config.stds)
                ax.set_xticklabels([f"{s:g}" for s in config.stds])
                ax.set_xlabel("target standard deviation")
            else:
                ax.set_xticks(config.components)
                ax.set_xlabel("number of mixture components")
            where = ("at the convergence step (gap: not converged)" if point == "convergence"
                     else f"after {point} steps")
            ax.set_title(f"d={dim}, {where}", fontsize=9)
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel("entropy")
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    what = "number of components (circle mixture, radius 4, std 1)" if family == "circle_mixture" \
        else "target std (isotropic Gaussian)"
    fig.suptitle(f"E1 (c): SVGD entropy estimate vs {what}; kernel sigma^2 = {kernel_label(config.kernel)}, "
                 f"step {config.step_size}; mean ± std over {config.seeds} seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_figures(out: Path, records, particles, config: StudyConfig) -> list[str]:
    """Write the study's figures into ``out``; return their file names."""
    target_a = Gaussian(jnp.asarray(TARGET_A_MEAN, jnp.float32), jnp.asarray(TARGET_A_COV, jnp.float32))
    names = []
    if any(r["part"] == "a" for r in records):
        plot_samplers(out / "fig4a_samplers.png", records, particles, target_a)
        names.append("fig4a_samplers.png")
    if any(r["part"] == "b" for r in records):
        plot_kernel_entropy(out / "fig4b_kernel_entropy.png", records)
        plot_kernel_particles(out / "fig9_kernel_particles.png", records, particles, target_a)
        names += ["fig4b_kernel_entropy.png", "fig9_kernel_particles.png"]
    if any(r["part"] == "c" for r in records):
        plot_grid(out / "fig4c_components.png", records, config, "circle_mixture")
        plot_grid(out / "fig10b_variance.png", records, config, "isotropic_gaussian")
        names += ["fig4c_components.png", "fig10b_variance.png"]
    return names


# ---------------------------------------------------------------------------------------------------------
# Command line.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (created): figures, results.json, "
                        "summary.txt")
    parser.add_argument("--quick", action="store_true", help="a reduced grid (d=2, 2 particle counts, 200 steps, "
                        "6 kernels): well under a minute on two CPU cores")
    parser.add_argument("--seeds", type=int, default=5, help="independent particle sets per configuration, run "
                        "as one batch (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps for every part (default 500, "
                        "--quick 200)")
    parser.add_argument("--parts", default="abc", help="which parts to run, e.g. 'a', 'bc' (default abc)")
    parser.add_argument("--kernel", default=None, help=f"SVGD kernel of parts (a) and (c): a variance sigma^2 "
                        f"or one of {', '.join(BANDWIDTH_RULES)} (default {DEFAULT_KERNEL:g})")
    parser.add_argument("--step-size", type=float, default=0.5, help="step size of every sampler (default 0.5)")
    parser.add_argument("--tol", type=float, default=CONVERGENCE_TOL, help="convergence rule: mean particle "
                        "displacement per step below tol * target scale (default %(default)g)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> StudyConfig:
    parts = tuple(dict.fromkeys(args.parts.strip().lower()))
    if not parts or any(p not in PARTS for p in parts):
        raise ValueError(f"--parts must be letters among 'abc', got {args.parts!r}")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.steps}")
    overrides: dict[str, Any] = dict(parts=parts, seeds=args.seeds, seed=args.seed, step_size=args.step_size,
                                     tol=args.tol)
    if args.kernel is not None:
        overrides["kernel"] = parse_kernel(args.kernel)
    return make_config(args.quick, steps=args.steps, **overrides)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    print_summary(args.out, run_study(args.out, config, progress=not args.no_progress))
    return 0
