"""``s2ac stability``: does S2AC train on its defaults without diverging, at every temperature?

    s2ac stability --out DIR [--quick]

A grid of short runs (task x S2AC variant x temperature x seed), each with the current defaults and, side by
side, with the defaults before the stability options (``svgd_max_move``, ``min_kernel_variance``,
``init_std_bounds``; README "Stability"). Every run is a sweep run (:mod:`s2ac.experiments.sweep`): its own run
directory, trained by the local process pool, resumed if interrupted. When a run ends, its outcome is written
beside it (``outcome.json``: finished or failed, and what its metrics show), so a rerun of the same command
skips it, failed runs included (training is deterministic: a failure would only repeat). Then the study writes
``results.json``, ``summary.txt`` and ``stability.png`` (:mod:`s2ac.experiments.stability_plots`, imported only to
draw it).

Per run it records: a non-finite loss (and its step), evaluations whose entropy estimate exceeds the largest
possible on the action box (``d log 2``), the largest share of saturated particles, the largest SVGD move
in kernel widths, the smallest kernel variance, and the final evaluation return.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s2ac.algorithms.presets import ALIASES, get_preset
from s2ac.envs import make_env
from s2ac.experiments.outputs import print_summary
from s2ac.experiments.study import missing_line, recorded_run, train_and_collect, write_study
from s2ac.experiments.sweep import RunSpec
from s2ac.experiments.validation import check_int, positive_number
from s2ac.training.files import CONFIG_FILE, METRICS_FILE

ENVS = ("Pendulum-v1", "Hopper-v5", "s2ac/MultiGoalMaxEnt-v0")
VARIANTS = ("s2ac_phi_theta", "s2ac_phi")
ALPHAS = ("0.01", "0.1", "1", "10", "tuned")
# Both known failures appeared within 3000 steps; learning starts at 1000.
STEPS = 3000
SCHEDULE = ("random_steps=1000", "learning_starts=1000", "eval_every=500", "eval_episodes=3", "checkpoint_every=1000")
# Multigoal as the multigoal study trains it: the authors' L = 10 SVGD steps, 100-unit networks.
ENV_SETTINGS = {"s2ac/MultiGoalMaxEnt-v0": ("svgd_steps=10", "critic_hidden=[100,100]", "actor_hidden=[100,100]")}
# The defaults before the stability options: SVGD steps of eps whatever the score, the half-mean kernel variance
# free to follow the particles down to 1e-8, sigma_theta clipped only to log sigma in [-20, 2].
DEFAULT_SETS: dict[str, tuple[str, ...]] = {
    "current": (),
    "previous": ("svgd_max_move=null", "min_kernel_variance=null", "init_std_bounds=null"),
}
QUICK = {"envs": ("Pendulum-v1", "s2ac/MultiGoalMaxEnt-v0"), "variants": ("s2ac_phi_theta",),
         "alphas": ("0.01", "1", "tuned"), "seeds": (0,), "steps": 2000}


@dataclass(frozen=True)
class StabilityConfig:
    """The grid: tasks, S2AC presets, temperatures (numbers, or ``"tuned"``), seeds, steps per run, and which
    default sets to run (``current``, ``previous``), in priority order: all of the first set runs first."""

    envs: tuple[str, ...] = ENVS
    variants: tuple[str, ...] = VARIANTS
    alphas: tuple[str, ...] = ALPHAS
    seeds: tuple[int, ...] = (0, 1)
    steps: int = STEPS
    defaults: tuple[str, ...] = ("current", "previous")
    schedule: tuple[str, ...] = SCHEDULE

    def __post_init__(self) -> None:
        # s2ac is s2ac_phi_theta here as in every command (one run directory for the two names).
        object.__setattr__(self, "variants", tuple(ALIASES.get(variant, variant) for variant in self.variants))
        for name in ("envs", "variants", "alphas", "seeds", "defaults"):
            if not getattr(self, name):
                raise ValueError(f"--{name} needs at least one value")
        for variant in self.variants:
            if get_preset(variant).algo != "s2ac":
                raise ValueError(f"--variants takes S2AC presets (s2ac_phi, s2ac_phi_theta, s2ac_amortized), "
                                 f"got {variant!r}")
        for alpha in self.alphas:
            if alpha != "tuned" and not positive_number(alpha):
                raise ValueError(f"every alpha must be a positive number or 'tuned', got {alpha!r}")
        for name in self.defaults:
            if name not in DEFAULT_SETS:
                raise ValueError(f"unknown default set {name!r}; expected one of {', '.join(DEFAULT_SETS)}")
        for seed in self.seeds:
            check_int("every seed", seed, 0)
        starts = dict(item.split("=", 1) for item in self.schedule).get("learning_starts", "0")
        if not isinstance(self.steps, int) or self.steps <= int(starts):
            raise ValueError(f"--steps must be an integer above {starts} (learning starts there), got {self.steps}")


def alpha_settings(alpha: str) -> tuple[str, ...]:
    """``--set`` values for a fixed temperature, or for one tuned toward ``-dim(A)`` from the default 0.2."""
    return ("autotune_alpha=true",) if alpha == "tuned" else ("autotune_alpha=false", f"alpha={float(alpha)}")


def plan(config: StabilityConfig) -> list[RunSpec]:
    """Every run, in priority order (default set, then task, variant, temperature, seed)."""
    return [RunSpec(env, variant, seed, config.steps,
                    config.schedule + ENV_SETTINGS.get(env, ()) + alpha_settings(alpha) + DEFAULT_SETS[defaults],
                    label=f"{defaults}/alpha_{alpha}")
            for defaults in config.defaults for env in config.envs for variant in config.variants
            for alpha in config.alphas for seed in config.seeds]


def analyse_run(spec: RunSpec, run_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """What a run's ``metrics.csv`` and failure show: ``nonfinite_step`` (None if none), ``impossible_entropy``
    (evaluation rows whose entropy estimate exceeds ``d log 2``), the worst ``saturated_share``, ``svgd_move``
    and ``kernel_variance``, the ``max_entropy`` and the ``final_return``."""
    error = record.get("error") or ""
    match = re.search(r"non-finite .* at step (\d+)", error)
    rows = _read_rows(run_dir / METRICS_FILE)
    config = json.loads((run_dir / CONFIG_FILE).read_text()) if (run_dir / CONFIG_FILE).is_file() else {}
    bound = config.get("action_dim", math.nan) * math.log(2.0)
    column = lambda name: [r[name] for r in rows if math.isfinite(r.get(name, math.nan))]  # noqa: E731
    worst = lambda name, fn: fn(column(name)) if column(name) else None  # noqa: E731
    return {"nonfinite_step": int(match.group(1)) if match else None,
            "other_error": None if match or not error else error,
            "impossible_entropy": sum(e > bound for e in column("entropy")), "entropy_bound": bound,
            "max_entropy": worst("entropy", max), "max_saturated_share": worst("saturated_share", max),
            "max_svgd_move": worst("svgd_move", max), "min_kernel_variance": worst("kernel_variance", min),
            "max_critic_loss": worst("critic_loss", max),
            "final_return": rows[-1]["eval_return_mean"] if rows else None,
            "last_step": int(rows[-1]["step"]) if rows else 0}


# The sweep worker of this study (module level: it is pickled into the worker processes).
WORKER = functools.partial(recorded_run, analyse=analyse_run)


def _read_rows(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in row.items()} for row in csv.DictReader(f)]


def summarise(outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Totals per default set: runs, non-finite losses, runs with an impossible entropy estimate, and whether the
    target (none of either) holds."""
    totals = {}
    for defaults in dict.fromkeys(o["label"].split("/")[0] for o in outcomes):
        runs = [o for o in outcomes if o["label"].startswith(f"{defaults}/")]
        totals[defaults] = {
            "runs": len(runs), "nonfinite": sum(o["nonfinite_step"] is not None for o in runs),
            "impossible_entropy_runs": sum(o["impossible_entropy"] > 0 for o in runs),
            "other_errors": sum(o["other_error"] is not None for o in runs)}
        totals[defaults]["target_met"] = (totals[defaults]["nonfinite"] == 0
                                          and totals[defaults]["impossible_entropy_runs"] == 0
                                          and totals[defaults]["other_errors"] == 0)
    return totals


def _fmt(value: Any, spec: str = ".3g") -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def format_summary(results: dict[str, Any]) -> str:
    lines = ["S2AC stability study: one row per run (final return = last evaluation's mean return)",
             f"{'task':<24} {'variant':<15} {'defaults/alpha':<22} {'seed':>4} {'non-finite':>10} "
             f"{'H>dlog2':>7} {'H max':>8} {'sat.':>5} {'move':>6} {'min s2':>8} {'return':>9}"]
    for o in results["runs"]:
        nonfinite = f"step {o['nonfinite_step']}" if o["nonfinite_step"] is not None else "no"
        if o["other_error"]:
            nonfinite = "error"
        lines.append(f"{o['env']:<24} {o['algo']:<15} {o['label']:<22} {o['seed']:>4} {nonfinite:>10} "
                     f"{o['impossible_entropy']:>7} {_fmt(o['max_entropy']):>8} "
                     f"{_fmt(o['max_saturated_share'], '.2f'):>5} "
                     f"{_fmt(o['max_svgd_move'], '.2f'):>6} {_fmt(o['min_kernel_variance']):>8} "
                     f"{_fmt(o['final_return'], '.1f'):>9}")
    lines.append("")
    for defaults, total in results["totals"].items():
        verdict = "target met" if total["target_met"] else "target NOT met"
        lines.append(f"{defaults} defaults: {total['runs']} runs, {total['nonfinite']} with a non-finite loss, "
                     f"{total['impossible_entropy_runs']} with an impossible entropy estimate, "
                     f"{total['other_errors']} other errors: {verdict}")
    for o in results["runs"]:
        if o["other_error"]:
            lines.append(f"error in {o['run_dir']}: {o['other_error']}")
    if results["missing"]:
        lines.append(missing_line(results["missing"], "run"))
    return "\n".join(lines) + "\n"


def run_study(config: StabilityConfig, out: str | Path, workers: int | None = None, progress: bool = True,
              train: bool = True) -> dict[str, Any]:
    """Train what is missing (unless ``train`` is False), then write ``results.json``, ``summary.txt`` and
    ``stability.png`` to ``out`` from every run whose outcome is recorded; the others are listed as missing."""
    start = time.perf_counter()
    runs, missing = train_and_collect(plan(config), out, WORKER, train=train, workers=workers, progress=progress)
    results = {"config": asdict(config), "default_sets": DEFAULT_SETS,
               "wall_time_s": round(time.perf_counter() - start, 1), "runs": runs,
               "missing": missing, "totals": summarise(runs)}
    return write_study(out, results, format_summary, figures)


def figures(results: dict[str, Any], out: Path) -> list[str]:
    from s2ac.experiments.stability_plots import make_figures  # matplotlib: only to draw

    return make_figures(results, out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="study directory (rerun to resume)")
    parser.add_argument("--quick", action="store_true",
                        help="Pendulum and multigoal, S2AC(phi, theta), alpha 0.01, 1, tuned, 1 seed, 2000 steps")
    parser.add_argument("--envs", nargs="+", default=None, metavar="ENV", help=f"tasks (default {' '.join(ENVS)})")
    parser.add_argument("--variants", nargs="+", default=None, metavar="PRESET",
                        help=f"S2AC presets (default {' '.join(VARIANTS)}; s2ac = s2ac_phi_theta)")
    parser.add_argument("--alphas", nargs="+", default=None, metavar="ALPHA",
                        help=f"fixed temperatures or 'tuned' (default {' '.join(ALPHAS)})")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED", help="seeds (default 0 1)")
    parser.add_argument("--steps", type=int, default=None, help=f"environment steps per run (default {STEPS})")
    parser.add_argument("--defaults", nargs="+", default=None, choices=list(DEFAULT_SETS),
                        help="default sets to run, in priority order (default: current previous)")
    parser.add_argument("--workers", type=int, default=None, help="runs at once (default: one per CPU)")
    parser.add_argument("--no-train", action="store_true",
                        help="train nothing: write the results of the runs finished so far (the others are listed)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    base = QUICK if args.quick else {}
    given = {name: getattr(args, name) for name in ("envs", "variants", "alphas", "seeds", "steps", "defaults")
             if getattr(args, name) is not None}
    values = {**base, **given}
    config = StabilityConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    for env_id in config.envs:  # a bad task id fails here, not in every worker
        make_env(env_id).close()
    results = run_study(config, args.out, args.workers, not args.no_progress, train=not args.no_train)
    print_summary(args.out, results)
    return 0 if all(t["target_met"] for name, t in results["totals"].items() if name == "current") else 1
