"""Study E1: the entropy of the SVGD sampler (paper Section 4.1, Figures 4, 9, 10; EXPERIMENTS.md E1).

``s2ac entropy --out DIR [--quick]`` runs three parts, each on targets with a known entropy:

- (a) the particle dynamics SVGD, SGLD, DLD and HMC from the same initial particles ``N(0, 6 I)`` to a 2-D
  Gaussian, 20 particles, step size 0.5, with the same change-of-variables bookkeeping for ``log q``
  (docs/math.md sections 3, 4, 9);
- (b) SVGD with kernel variances ``sigma^2`` in {0.1, 1, 3, 5, 7, 10, 100} and the kernel variance heuristics;
- (c) SVGD on Gaussian mixtures with 1, 2, 4, 6 components and on isotropic Gaussians with standard deviation
  0.5, 1, 2, 5, in several dimensions and for several particle counts.

The closed-form estimate keeps drifting downwards after the particles have converged (docs/math.md section 4),
so every configuration records the estimate after *every* step, and the summary shows it at fixed steps
and at a convergence step chosen by a stated rule (:func:`convergence_step`), never at a hand-picked one.

The study stands on :mod:`s2ac.experiments.study`: :func:`plan` lists the configurations (units of work),
:func:`simulate` computes one (the 5 seeds are the batch dimension: one jitted call gives all seeds) into a
record kept under ``DIR/records/`` (a rerun of the same command computes only the missing ones), and the
collected records make ``results.json``, ``summary.txt`` and the figures (:mod:`s2ac.experiments.entropy_plots`,
imported only to draw them). A record's ``sampler`` key names the particle dynamics it ran.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from s2ac.experiments.outputs import print_summary, progress_bar
from s2ac.experiments.study import cached_record, write_study
from s2ac.experiments.validation import check_choices, check_int, check_positive
from s2ac.stein import (
    KERNEL_VARIANCE_RULES,
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
# The particle dynamics of part (a); "svgd_exact" is SVGD with the autograd log-determinant.
DYNAMICS = ("svgd", "svgd_exact", "sgld", "dld", "hmc")
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
RECORDS_DIR = "records"

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
    dynamics: tuple[str, ...] = DYNAMICS
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
        if not self.parts or any(p not in PARTS for p in self.parts):
            raise ValueError(f"parts must be a non-empty selection of {''.join(PARTS)!r}, got {self.parts!r}")
        check_int("--seeds", self.seeds)
        check_int("steps (part a/b)", self.steps_ab)
        check_int("steps (part c)", self.steps_c)
        check_int("particles (part a/b; SVGD needs 2)", self.particles_ab, 2)
        check_positive("--step-size", self.step_size)
        check_positive("--tol", self.tol)
        check_int("num_leapfrog", self.num_leapfrog)
        check_int("mc_samples", self.mc_samples)
        check_choices("particle dynamics", self.dynamics, DYNAMICS)
        for k in (self.kernel, *self.kernels):
            check_kernel(k)
        for k in self.components:
            check_int("number of components", k)
        for s in self.stds:
            check_positive("target standard deviation", s)
        for d in self.dims:
            check_int("dimension", d, 2)
        for m in self.particle_counts:
            check_int("particle count", m, 2)


def check_kernel(kernel: float | str) -> None:
    """A kernel is a variance ``sigma^2 > 0`` or the name of a kernel variance heuristic."""
    if isinstance(kernel, str):
        if kernel not in KERNEL_VARIANCE_RULES:
            raise ValueError(f"unknown kernel {kernel!r}: give a kernel variance sigma^2 > 0 or one of "
                             f"{', '.join(KERNEL_VARIANCE_RULES)}")
    else:
        check_positive("kernel variance sigma^2", kernel)


def parse_kernel(text: str) -> float | str:
    """``"10"`` -> ``10.0``; a heuristic name stays a string."""
    if text in KERNEL_VARIANCE_RULES:
        return text
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"unknown kernel {text!r}: give a kernel variance sigma^2 > 0 or one of "
                         f"{', '.join(KERNEL_VARIANCE_RULES)}") from None
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
# The plan: one unit of work per configuration (a target, particle dynamics, a particle count, a kernel).


@dataclass(frozen=True)
class Unit:
    """One configuration. ``target`` describes the target (:func:`make_target` builds it): ``{"name":
    "gaussian"}`` (part a/b's), ``{"name": "circle_mixture", "dim", "num_components"}`` or ``{"name":
    "isotropic_gaussian", "dim", "std"}``; ``kernel`` is SVGD's (None for the other dynamics)."""

    part: str
    name: str
    target: dict[str, Any]
    dynamics: str
    particles: int
    dim: int
    steps: int
    kernel: float | str | None
    init_std: float = INITIAL_STD


def plan(config: StudyConfig) -> list[Unit]:
    """Every configuration of the study, in order: (a), (b), (c). Cheap: the targets are built when computed."""
    units: list[Unit] = []
    gaussian = {"name": "gaussian"}
    m, steps = config.particles_ab, config.steps_ab
    if "a" in config.parts:
        for dynamics in config.dynamics:
            kernel = config.kernel if dynamics.startswith("svgd") else None
            units.append(Unit("a", f"a/{dynamics}", gaussian, dynamics, m, 2, steps, kernel))
    if "b" in config.parts:
        for kernel in config.kernels:
            units.append(Unit("b", f"b/kernel={kernel_label(kernel)}", gaussian, "svgd", m, 2, steps, kernel))
    if "c" in config.parts:
        for dim in config.dims:
            # q_0 = N(0, 6 I) for every target, so that a growth of the estimate with the std is SVGD's doing,
            # not the initial distribution's (the std-5 target's particles must spread out from it; slowly: the
            # kernel is narrow at that scale, see the summary). It reaches the mixtures' circle of radius 4
            # (1.6 of its standard deviations).
            targets = [(f"gmm{k}", {"name": "circle_mixture", "dim": dim, "num_components": k})
                       for k in config.components]
            targets += [(f"gauss_std{std:g}", {"name": "isotropic_gaussian", "dim": dim, "std": std})
                        for std in config.stds]
            for num in config.particle_counts:
                for label, target in targets:
                    units.append(Unit("c", f"c/d={dim}/{label}/m={num}", target, "svgd", num, dim, config.steps_c,
                                      config.kernel))
    return units


def kernel_label(kernel: float | str | None) -> str:
    if kernel is None:
        return "-"
    return kernel if isinstance(kernel, str) else f"{kernel:g}"


class Target(NamedTuple):
    distribution: Gaussian | GaussianMixture
    info: dict[str, Any]  # what results.json records of it
    entropy: float
    entropy_stderr: float | None  # None: analytic
    scale: float  # RMS per-coordinate standard deviation, for the convergence rule


def make_target(description: dict[str, Any], config: StudyConfig) -> Target:
    """The target a :class:`Unit` describes, with its true entropy (a mixture's by Monte Carlo, computed once
    per process)."""
    if description["name"] == "gaussian":
        target = Gaussian(jnp.asarray(TARGET_A_MEAN, jnp.float32), jnp.asarray(TARGET_A_COV, jnp.float32))
        info = {"name": "gaussian", "dim": 2, "mean": list(TARGET_A_MEAN), "cov": [list(r) for r in TARGET_A_COV]}
        return Target(target, info, float(target.entropy()), None, gaussian_scale(np.asarray(TARGET_A_COV)))
    dim = description["dim"]
    if description["name"] == "circle_mixture":
        mix, value, stderr = _mixture(description["num_components"], dim, config.mc_samples, config.seed)
        info = {"name": "circle_mixture", "dim": dim, "num_components": description["num_components"],
                "radius": 4.0, "std": mix.std, "means": np.asarray(mix.means).round(6).tolist()}
        return Target(mix, info, value, stderr, mixture_scale(mix))
    std = description["std"]
    gauss = Gaussian(jnp.zeros(dim), std**2 * jnp.eye(dim))
    info = {"name": "isotropic_gaussian", "dim": dim, "std": std, "mean": [0.0] * dim}
    return Target(gauss, info, float(gauss.entropy()), None, std)


@functools.cache
def _mixture(num_components: int, dim: int, num_samples: int, seed: int) -> tuple[GaussianMixture, float, float]:
    mix = circle_mixture(num_components, dim)
    return (mix, *mixture_entropy(mix, num_samples, seed))


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


def initial_particles(seed: int, num_seeds: int, num_particles: int, dim: int,
                      init_std: float) -> tuple[jax.Array, jax.Array]:
    """The initial particles ``(seeds, m, d)`` and their ``log q_0``: one independent set per seed, drawn
    from ``N(0, init_std^2 I)``. The same (seed, m, d) gives the same standard-normal draws whatever the
    target, dynamics or kernel, so that the configurations of a part start from the same particles."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), dim), num_particles)
    mean = jnp.zeros((num_seeds, dim))
    std = jnp.full((num_seeds, dim), init_std)
    return normal_sample(key, mean, std, num_particles)


# ---------------------------------------------------------------------------------------------------------
# Computing one unit.


@functools.partial(jax.jit, static_argnames=("dynamics", "num_steps", "rule", "num_leapfrog"))
def _simulate(target, x0, log_q0, key, sigma2, step_size, *, dynamics, num_steps, rule, num_leapfrog):
    """One configuration, all seeds at once. Returns the entropy estimate after every step ``(L+1, B)``, the
    mean particle displacement of every step ``(L, B)`` and the final particles ``(B, m, d)``.

    ``sigma2`` ``(B,)`` (the kernel variance) and ``step_size`` are traced, so the fixed kernels share one
    compilation; ``rule`` is a kernel variance heuristic's name, or None for the variance ``sigma2``."""
    log_prob = target.log_prob
    common = dict(num_steps=num_steps, step_size=step_size, return_trajectory=True)
    if dynamics in ("svgd", "svgd_exact"):
        kernel = sigma2 if rule is None else rule
        log_det = "exact" if dynamics == "svgd_exact" else "trace"
        res = svgd_sample(log_prob, x0, log_q0, kernel_variance=kernel, log_det=log_det, **common)
    elif dynamics == "sgld":
        res = sgld_sample(log_prob, x0, log_q0, key=key, **common)
    elif dynamics == "dld":
        res = dld_sample(log_prob, x0, log_q0, key=key, **common)
    elif dynamics == "hmc":
        res = hmc_sample(log_prob, x0, log_q0, key=key, num_leapfrog=num_leapfrog, **common)
    else:
        raise ValueError(f"unknown particle dynamics {dynamics!r}")
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


def _json_points(points: np.ndarray) -> list[list[float | None]]:
    return [_json_list(p.round(5)) for p in np.asarray(points, float)]


def simulate(unit: Unit, config: StudyConfig) -> dict[str, Any]:
    """Compute one configuration: its record in results.json (with, for parts (a) and (b), seed 0's initial
    and final particles, which the figures draw)."""
    start = time.perf_counter()
    target = make_target(unit.target, config)
    x0, log_q0 = initial_particles(config.seed, config.seeds, unit.particles, unit.dim, unit.init_std)
    rule = unit.kernel if isinstance(unit.kernel, str) else None
    sigma2 = jnp.full((config.seeds,), 1.0 if unit.kernel is None or rule else float(unit.kernel), jnp.float32)
    noise_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1_000_003)
    entropy, moves, final = _simulate(target.distribution, x0, log_q0, noise_key, sigma2,
                                      jnp.asarray(config.step_size, jnp.float32), dynamics=unit.dynamics,
                                      num_steps=unit.steps, rule=rule, num_leapfrog=config.num_leapfrog)
    entropy, moves, final = np.asarray(entropy, float), np.asarray(moves, float), np.asarray(final)
    ddof = 1 if config.seeds > 1 else 0
    displacement = moves.mean(axis=1)
    threshold = config.tol * target.scale
    record: dict[str, Any] = {
        "part": unit.part,
        "name": unit.name,
        "target": target.info,
        "sampler": unit.dynamics,
        "log_det": {"svgd": "trace (closed form, Thm 3.3)", "svgd_exact": "exact (autograd slogdet)"}.get(
            unit.dynamics, "exact (autograd slogdet of the step's map in x, noise/momentum held fixed)"),
        "particles": unit.particles,
        "dim": unit.dim,
        "steps": unit.steps,
        "step_size": config.step_size,
        "kernel": unit.kernel,
        "num_leapfrog": config.num_leapfrog if unit.dynamics == "hmc" else None,
        "initial": {"distribution": "normal", "mean": 0.0, "std": unit.init_std,
                    "entropy": initial_entropy(unit.dim, unit.init_std)},
        "true_entropy": target.entropy,
        "true_entropy_method": "analytic" if target.entropy_stderr is None
        else f"monte carlo, {config.mc_samples} samples",
        "true_entropy_stderr": target.entropy_stderr,
        "entropy_mean": _json_list(entropy.mean(axis=1)),
        "entropy_std": _json_list(entropy.std(axis=1, ddof=ddof)),
        "displacement_mean": _json_list(displacement),
        "target_scale": target.scale,
        "convergence_threshold": threshold,
        "convergence_step": convergence_step(displacement, threshold),
        "seconds": time.perf_counter() - start,
    }
    if unit.part in ("a", "b"):
        record["initial_particles_seed0"] = _json_points(np.asarray(x0)[0])
        record["final_particles_seed0"] = _json_points(final[0])
    return record


def record_path(out: str | Path, unit: Unit, config: StudyConfig) -> Path:
    """Where a unit's record is kept: under ``records/``, by the unit's name and a digest of every setting the
    record depends on (a rerun with other settings computes afresh, beside the old records)."""
    depends = {"unit": dataclasses.asdict(unit), "seed": config.seed, "seeds": config.seeds,
               "step_size": config.step_size, "num_leapfrog": config.num_leapfrog, "tol": config.tol,
               "mc_samples": config.mc_samples}
    digest = hashlib.sha256(json.dumps(depends, sort_keys=True).encode()).hexdigest()[:12]
    return Path(out) / RECORDS_DIR / f"{unit.name}.{digest}.json"


# ---------------------------------------------------------------------------------------------------------
# The whole study, and the views of its records (results, summary; the figures are entropy_plots').


def run_study(out_dir: str | Path, config: StudyConfig | None = None, *, progress: bool = True,
              plots: bool = True) -> dict[str, Any]:
    """Compute the configurations that have no record under ``out_dir`` yet, then write ``results.json``,
    ``summary.txt`` and (with ``plots``) the figures into ``out_dir``; return the results (results.json's
    content)."""
    config = make_config() if config is None else config
    config.validate()
    out = prepare_output_dir(out_dir)
    start = time.perf_counter()
    units = plan(config)
    records: list[dict[str, Any]] = []
    bar = progress_bar(len(units), progress, "E1 configurations", "cfg")
    for unit in units:
        if bar is not None:
            bar.set_postfix_str(unit.name)
        records.append(cached_record(record_path(out, unit, config), functools.partial(simulate, unit, config)))
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
        "trends": trends(records, config) if "c" in config.parts else [],
        "wall_time_s": time.perf_counter() - start,
    }
    return write_study(out, results, functools.partial(format_summary, config=config),
                       functools.partial(figures, config=config) if plots else None)


def figures(results: dict[str, Any], out: Path, config: StudyConfig) -> list[str]:
    from s2ac.experiments.entropy_plots import make_figures  # matplotlib: only to draw

    return make_figures(results, out, config)


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
    for part, title, steps in (("a", f"(a) samplers on the 2-D Gaussian, {config.particles_ab} particles, step "
                                f"{config.step_size:g}", config.steps_ab),
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
            lines.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                                   for j, (c, w) in enumerate(zip(row, widths, strict=True))))
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
# Command line.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (created): figures, results.json, "
                        "summary.txt, and records/ (one file per configuration: rerun to resume)")
    parser.add_argument("--quick", action="store_true", help="a reduced grid (d=2, 2 particle counts, 200 steps, "
                        "6 kernels): well under a minute on two CPU cores")
    parser.add_argument("--seeds", type=int, default=5, help="independent particle sets per configuration, run "
                        "as one batch (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps for every part (default 500, "
                        "--quick 200)")
    parser.add_argument("--parts", default="abc", help="which parts to run, e.g. 'a', 'bc' (default abc)")
    parser.add_argument("--kernel", default=None, help=f"SVGD kernel of parts (a) and (c): a variance sigma^2 "
                        f"or one of {', '.join(KERNEL_VARIANCE_RULES)} (default {DEFAULT_KERNEL:g})")
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
