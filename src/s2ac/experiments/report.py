"""``s2ac report DIR``: learning curves, final scores and rliable aggregates over a directory of runs (study E3).

A run is any directory under DIR holding ``config.json`` and ``metrics.csv`` (what ``s2ac train`` and the
sweep write). Choices, all recorded in ``report.json``:

- *Final score* of a run: the mean of ``eval_return_mean`` over its last ``last`` evaluations (all of them when
  it has fewer, with a warning).
- *Groups*: runs are grouped by preset; runs of one preset whose configs differ are split by the values that
  differ (``S2AC(phi,theta) [autotune_alpha=false]`` and ``[autotune_alpha=true]``), so that two settings of
  one algorithm are compared as two algorithms.
- *Curves*: the seeds of one (task, algorithm) are put on one grid of steps. Identical step sets are used as
  they are; otherwise each seed is linearly interpolated onto the union of the seeds' steps inside the range
  that every seed covers (no extrapolation: the curve ends with the shortest seed). Each seed is then smoothed
  with Savitzky-Golay (:func:`smooth`) and the figure shows the mean over seeds with the min-max band.
- *Normalisation* per task, for the aggregates: ``auto`` uses D4RL's random/expert reference returns for the
  MuJoCo tasks that have them (Hopper, HalfCheetah, Walker2d, Ant) and min-max over all runs' final scores in
  DIR for the others; ``minmax`` uses min-max everywhere, ``none`` keeps raw returns.
- *Aggregates* (rliable): median, mean, IQM and optimality gap with 95% stratified-bootstrap intervals, the
  probability of improvement of every S2AC preset over every other algorithm, and performance profiles; over
  the tasks every algorithm ran, with the same number of runs per task for an algorithm (its smallest count).
  The bootstrap is seeded (``seed``) and leaves the caller's global NumPy generator as it was.

The figures are :mod:`s2ac.experiments.report_plots`' (drawn from report.json's content); it, matplotlib, scipy
and rliable are imported when used: the command line imports this module to build its parser.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from s2ac.algorithms.presets import PRESETS, preset_of
from s2ac.experiments.outputs import dump_json
from s2ac.training.files import CONFIG_FILE, METRICS_FILE, prepare_output_dir, write_text_atomically

# D4RL reference returns (random policy, expert policy) of the Gym MuJoCo tasks: REF_MIN_SCORE / REF_MAX_SCORE of
# d4rl/infos.py in Farama-Foundation/D4RL (the same numbers for the v0, v1 and v2 datasets). D4RL has none for
# Humanoid, which falls back to min-max. The references were measured on the v2 tasks; the v4/v5 tasks share
# their rewards, so the scale carries over, but a normalised score is a convention, not a calibrated quantity.
D4RL_REFERENCE: dict[str, tuple[float, float]] = {
    "hopper": (-20.272305, 3234.3),
    "halfcheetah": (-280.178953, 12135.0),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
}

NORMALIZATIONS = ("auto", "minmax", "none")
METRICS = ("median", "mean", "iqm", "optimality_gap")
METRIC_TITLES = {"median": "Median", "mean": "Mean", "iqm": "IQM", "optimality_gap": "Optimality gap"}
SMOOTHING_WINDOW = 10
SMOOTHING_POLYORDER = 2
CONFIDENCE = 0.95
PAIR_SEPARATOR = ";"  # labels such as "S2AC(phi,theta)" hold commas, rliable's default separator
# The probability of improvement compares every preset of this algorithm with every preset of another.
IMPROVING = "s2ac"


@dataclass(frozen=True, eq=False)
class Run:
    """One run directory: its group (a preset name, with the settings that set it apart from the preset's other
    runs, see :func:`setting_groups`), task, seed and evaluation curve."""

    path: Path
    algo: str
    label: str
    env: str
    seed: int
    steps: np.ndarray  # int64, increasing
    returns: np.ndarray  # eval_return_mean at those steps


def _preset(algo: str) -> str:
    """The preset of a group: ``"s2ac_phi_theta[autotune_alpha=false]"`` -> ``"s2ac_phi_theta"``."""
    return algo.partition("[")[0]


def _label(algo: str) -> str:
    preset, _, settings = algo.partition("[")
    label = PRESETS[preset].label if preset in PRESETS else preset
    return f"{label} [{settings}" if settings else label


def _algorithm(algo: str) -> str:
    """The algorithm a group's preset runs (the presets table's ``algo``)."""
    preset = _preset(algo)
    return PRESETS[preset].algo if preset in PRESETS else preset


def _algo_order(algo: str) -> tuple[int, str]:
    names, preset = list(PRESETS), _preset(algo)
    return (names.index(preset), algo) if preset in names else (len(names), algo)


def _setting(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else value


def setting_groups(presets: Sequence[str], envs: Sequence[str], configs: Sequence[dict[str, Any]]) -> list[str]:
    """Each run's group: its preset, followed by the config values that tell it apart from the same preset's
    other runs on its task (``"s2ac_phi_theta[autotune_alpha=false]"``), so that one report compares two settings
    of one algorithm. A value that differs only between tasks (a per-task setting) does not split, nor does a key
    some of the runs lack (written by an older version)."""
    members: dict[tuple[str, str], list[int]] = {}
    for i, kind in enumerate(zip(presets, envs, strict=True)):
        members.setdefault(kind, []).append(i)
    groups = list(presets)
    for (preset, _), indices in members.items():
        shared = set.intersection(*(set(configs[i]) for i in indices))
        varying = sorted(k for k in shared if len({_setting(configs[i][k]) for i in indices}) > 1)
        if varying:
            for i in indices:
                groups[i] = preset + "[" + ", ".join(f"{k}={_setting(configs[i][k])}" for k in varying) + "]"
    return groups


def _read_config(path: Path) -> dict[str, Any]:
    try:
        description = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(description, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(description).__name__}")
    missing = [key for key in ("algo", "env", "seed", "config") if key not in description]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(map(repr, missing))}")
    return description


class NotEvaluatedError(ValueError):
    """A run whose metrics.csv has no evaluation yet (e.g. a sweep still running)."""


def _read_metrics(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("step", "eval_return_mean") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(map(repr, missing))} in the header")
        steps, returns = [], []
        for line, row in enumerate(reader, start=2):
            try:
                step, value = int(float(row["step"])), float(row["eval_return_mean"])
            except (TypeError, ValueError) as err:
                raise ValueError(f"{path}, line {line}: step or eval_return_mean is not a number") from err
            # A row without a finite return is not an evaluation (the logger writes NaN for absent values).
            if math.isfinite(value):
                steps.append(step)
                returns.append(value)
    if not steps:
        raise NotEvaluatedError(f"{path}: no evaluation rows (the run has not evaluated yet?)")
    order = np.argsort(steps, kind="stable")
    return np.asarray(steps, dtype=np.int64)[order], np.asarray(returns, dtype=float)[order]


def load_runs(root: str | Path, skipped: list[str] | None = None) -> list[Run]:
    """Every run under ``root`` (recursively, ``root`` included): directories holding ``config.json`` and
    ``metrics.csv``, in path order. A run that has not evaluated yet is left out and named in ``skipped`` (so a
    sweep can be reported while it runs). ``ValueError`` for a missing ``root``, no runs, or an unreadable
    run."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"run directory {str(root)!r} does not exist or is not a directory")
    found = []
    for config_path in sorted(root.rglob(CONFIG_FILE)):
        run_dir = config_path.parent
        if not (run_dir / METRICS_FILE).is_file():
            continue
        description = _read_config(config_path)
        try:
            preset = preset_of(description)
            seed = int(description["seed"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{config_path}: {err}") from err
        if not isinstance(description["config"], dict):
            raise ValueError(f"{config_path}: 'config' is not a JSON object")
        try:
            steps, returns = _read_metrics(run_dir / METRICS_FILE)
        except NotEvaluatedError as err:
            if skipped is None:
                raise
            skipped.append(str(err))
            continue
        found.append((run_dir, preset, str(description["env"]), description["config"], seed, steps, returns))
    if not found:
        raise ValueError(f"no runs under {str(root)!r}: expected directories holding config.json and metrics.csv")
    _, presets, envs, configs, *_ = zip(*found, strict=True)
    groups = setting_groups(presets, envs, configs)
    return [Run(run_dir, group, _label(group), env, seed, steps, returns)
            for group, (run_dir, _, env, _, seed, steps, returns) in zip(groups, found, strict=True)]


def final_score(run: Run, last: int = 1) -> float:
    """Mean evaluation return over the run's last ``last`` evaluations (all of them if it has fewer)."""
    if last < 1:
        raise ValueError(f"last must be at least 1, got {last}")
    return float(np.mean(run.returns[-last:]))


def smooth(values: np.ndarray, window: int = SMOOTHING_WINDOW, polyorder: int = SMOOTHING_POLYORDER) -> np.ndarray:
    """Savitzky-Golay smoothing of a curve (``scipy.signal.savgol_filter``, ``mode="interp"``).

    scipy centres an even window half a sample late (a straight line comes back shifted by half a step, with a
    jump at the ends), so an even ``window`` is widened to the next odd length: 10 -> 11. The window spans at most
    half the curve (the longest odd length within it): a window as long as the curve fits one polynomial to all
    of it, which misdraws a curve that rises late (IDP's 6-point curve 150, 250, 1900, 3800, 6300, 9340 came back
    starting at 31, below every point). A curve too short for that is returned unchanged: a window of
    ``polyorder + 1`` points or fewer would fit its points exactly. Polynomials of degree <= ``polyorder`` are left
    unchanged.
    """
    from scipy.signal import savgol_filter

    values = np.asarray(values, dtype=float)
    length = savgol_window(values.size, window, polyorder)
    return savgol_filter(values, length, polyorder, mode="interp") if length else values.copy()


def savgol_window(size: int, window: int = SMOOTHING_WINDOW, polyorder: int = SMOOTHING_POLYORDER) -> int:
    """The window :func:`smooth` uses for a curve of ``size`` points; 0 when it leaves the curve unchanged."""
    half = size // 2
    length = min(window | 1, half if half % 2 else half - 1)
    return length if length > polyorder + 1 else 0


def align_curves(runs: Sequence[Run]) -> tuple[np.ndarray, np.ndarray, bool]:
    """The runs' evaluation returns on one grid of steps: ``(steps, returns[run, step], interpolated)``.

    Identical step sets are kept as they are. Otherwise every run is linearly interpolated onto the union of
    the runs' steps within the range all of them cover; the grid is empty when the ranges do not overlap."""
    first = runs[0].steps
    if all(np.array_equal(run.steps, first) for run in runs):
        return first.copy(), np.stack([run.returns for run in runs]), False
    low, high = max(int(run.steps[0]) for run in runs), min(int(run.steps[-1]) for run in runs)
    grid = np.unique(np.concatenate([run.steps for run in runs]))
    grid = grid[(grid >= low) & (grid <= high)]
    return grid, np.stack([np.interp(grid, run.steps, run.returns) for run in runs]), True


def task_base(env: str) -> str:
    """The task's name without namespace and version, lower case: ``"Hopper-v5"`` -> ``"hopper"``."""
    name = env.rsplit("/", 1)[-1]
    return re.sub(r"-v\d+$", "", name).lower()


def normalization_for(env: str, scores: Sequence[float], mode: str = "auto") -> dict[str, Any]:
    """How the task's final scores are normalised: ``{"method": "d4rl" | "minmax" | "none", "low", "high"}``;
    a normalised score is ``(score - low) / (high - low)``. ``scores`` are all final scores of the task."""
    if mode not in NORMALIZATIONS:
        raise ValueError(f"unknown normalisation {mode!r}; expected one of {', '.join(NORMALIZATIONS)}")
    if mode == "none":
        return {"method": "none", "low": 0.0, "high": 1.0}
    reference = D4RL_REFERENCE.get(task_base(env))
    if mode == "auto" and reference is not None:
        return {"method": "d4rl", "low": reference[0], "high": reference[1]}
    return {"method": "minmax", "low": float(np.min(scores)), "high": float(np.max(scores))}


def normalize_scores(scores: np.ndarray, normalization: dict[str, Any]) -> np.ndarray:
    """Apply :func:`normalization_for`'s result; a min-max over equal scores maps them all to 0."""
    scale = normalization["high"] - normalization["low"]
    return (np.asarray(scores, dtype=float) - normalization["low"]) / (scale if scale != 0 else 1.0)


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """P(X > Y) of two (runs x tasks) score matrices, averaged over tasks, ties counting one half.

    The statistic of ``rliable.metrics.probability_of_improvement`` (the Mann-Whitney U over ``n_x n_y``),
    computed by broadcasting: rliable calls ``scipy.stats.mannwhitneyu`` per task, a few milliseconds a call,
    which made 2000 bootstrap resamples of every S2AC-baseline pair take minutes. The tests check equality."""
    x, y = np.asarray(scores_x, dtype=float)[:, None, :], np.asarray(scores_y, dtype=float)[None, :, :]
    return float(np.mean((x > y).mean(axis=(0, 1)) + 0.5 * (x == y).mean(axis=(0, 1))))


def _rliable():
    """rliable's ``library`` and ``metrics`` modules, with a usable message when they cannot be imported."""
    try:
        from rliable import library, metrics
    except Exception as err:  # arch 7 fails at import under pandas >= 3 with a TypeError
        # rliable 1.2.0 passes random_state to arch's bootstrap, which arch 8 no longer takes: it needs arch < 8,
        # and arch 7 needs pandas < 3.
        raise ImportError(f"rliable could not be imported ({type(err).__name__}: {err}); rliable 1.2 needs "
                          "arch < 8, which needs pandas < 3: pip install 'arch<8' 'pandas<3'") from err
    return library, metrics


def _seeded(seed: int, fn: Callable[[], Any]) -> Any:
    """``fn()`` under a seeded global NumPy generator, restored afterwards. rliable's stratified bootstrap
    draws its indices with ``np.random.choice`` and ignores ``random_state``: this is the only way to make
    its intervals reproducible."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # degenerate resamples (all-equal scores)
            return fn()
    finally:
        np.random.set_state(state)


def _interval(point: Any, ci: np.ndarray, index: int = 0) -> dict[str, Any]:
    return {"estimate": float(np.atleast_1d(point)[index]), "ci": [float(ci[0][index]), float(ci[1][index])]}


def _aggregates(matrices: dict[str, np.ndarray], reps: int, seed: int,
                names: Sequence[str] = METRICS) -> dict[str, dict[str, Any]]:
    library, metrics = _rliable()
    functions = {"median": metrics.aggregate_median, "mean": metrics.aggregate_mean, "iqm": metrics.aggregate_iqm,
                 "optimality_gap": metrics.aggregate_optimality_gap}

    def all_metrics(scores: np.ndarray) -> np.ndarray:
        return np.array([functions[m](scores) for m in names])

    points, cis = _seeded(seed, lambda: library.get_interval_estimates(
        matrices, all_metrics, reps=reps, confidence_interval_size=CONFIDENCE))
    return {algo: {m: _interval(points[algo], cis[algo], i) for i, m in enumerate(names)} for algo in matrices}


def _improvements(matrices: dict[str, np.ndarray], reps: int, seed: int) -> list[dict[str, Any]]:
    library, _ = _rliable()
    ours = [a for a in matrices if _algorithm(a) == IMPROVING]
    others = [a for a in matrices if _algorithm(a) != IMPROVING]
    pairs = {f"{x}{PAIR_SEPARATOR}{y}": [matrices[x], matrices[y]] for x in ours for y in others}
    if not pairs:
        return []

    def improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.array([probability_of_improvement(x, y)])

    points, cis = _seeded(seed, lambda: library.get_interval_estimates(
        pairs, improvement, reps=reps, confidence_interval_size=CONFIDENCE))
    return [{"x": key.split(PAIR_SEPARATOR)[0], "y": key.split(PAIR_SEPARATOR)[1], **_interval(points[key], cis[key])}
            for key in pairs]


def _score_distribution(scores: np.ndarray, tau: np.ndarray) -> np.ndarray:
    # rliable's default profile (the share of all runs scoring above each tau), without its per-tau np.vectorize.
    return (scores.reshape(-1, 1) > np.asarray(tau).reshape(1, -1)).mean(0)


def _profiles(matrices: dict[str, np.ndarray], tau: np.ndarray, reps: int, seed: int) -> dict[str, Any]:
    library, _ = _rliable()
    profiles, cis = _seeded(seed, lambda: library.create_performance_profile(
        matrices, tau, custom_profile_func=_score_distribution, reps=reps, confidence_interval_size=CONFIDENCE))
    return {algo: {"profile": [float(v) for v in profiles[algo]], "ci_low": [float(v) for v in cis[algo][0]],
                   "ci_high": [float(v) for v in cis[algo][1]]} for algo in matrices}


def _curve_summary(runs: Sequence[Run], warn: Callable[[str], None]) -> dict[str, Any]:
    env, label = runs[0].env, runs[0].label
    steps, returns, interpolated = align_curves(runs)
    if steps.size == 0:
        warn(f"{env} / {label}: the seeds' step ranges do not overlap; no curve")
        return {"steps": [], "mean": [], "min": [], "max": [], "raw_mean": [], "alignment": "none",
                "smoothing_window": 0}
    if interpolated:
        warn(f"{env} / {label}: seeds evaluated at different steps; curves interpolated onto {steps.size} steps "
             f"in [{steps[0]}, {steps[-1]}]")
    smoothed = np.stack([smooth(r) for r in returns])
    return {"steps": [int(s) for s in steps], "mean": smoothed.mean(0).tolist(), "min": smoothed.min(0).tolist(),
            "max": smoothed.max(0).tolist(), "raw_mean": returns.mean(0).tolist(),
            "alignment": "interpolated" if interpolated else "shared",
            "smoothing_window": savgol_window(steps.size)}


def build_report(root: str | Path, out: str | Path | None = None, *, reps: int = 2000, last: int = 1,
                 normalize: str = "auto", seed: int = 0, figures: bool = True) -> dict[str, Any]:
    """Load the runs under ``root``, compute curves, final scores and aggregates, and write the figures,
    ``report.json`` and ``report.md`` into ``out`` (default ``root/report``). Returns report.json's content."""
    start = time.perf_counter()
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    if last < 1:
        raise ValueError(f"last must be at least 1, got {last}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown normalisation {normalize!r}; expected one of {', '.join(NORMALIZATIONS)}")
    not_evaluated: list[str] = []
    runs = load_runs(root, not_evaluated)
    out = prepare_output_dir(Path(root) / "report" if out is None else out)  # before the bootstrap's work
    warnings_: list[str] = [f"left out, {reason}" for reason in not_evaluated]

    tasks = sorted({run.env for run in runs})
    algos = sorted({run.algo for run in runs}, key=_algo_order)
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in sorted(runs, key=lambda r: (r.seed, str(r.path))):
        groups.setdefault((run.env, run.algo), []).append(run)
    for (env, algo), group in groups.items():
        seeds = [r.seed for r in group]
        if len(set(seeds)) < len(seeds):
            warnings_.append(f"{env} / {_label(algo)}: several runs with the same seed ({seeds}); all are used")
    short = [str(r.path) for r in runs if r.returns.size < last]
    if short:
        warnings_.append(f"{len(short)} run(s) have fewer than {last} evaluations; their final score averages "
                         f"all of them: {', '.join(short)}")

    finals = {run: final_score(run, last) for run in runs}
    report: dict[str, Any] = {
        "dir": str(Path(root).resolve()), "out": str(out.resolve()), "last": last, "normalize": normalize,
        "reps": reps, "seed": seed,
        "confidence": CONFIDENCE, "smoothing": {"method": "savgol", "window": SMOOTHING_WINDOW,
                                                "effective_window": SMOOTHING_WINDOW | 1,
                                                "polyorder": SMOOTHING_POLYORDER},
        "algorithms": {algo: _label(algo) for algo in algos}, "tasks": {},
    }
    normalized: dict[tuple[str, str], np.ndarray] = {}
    for env in tasks:
        normalization = normalization_for(env, [finals[r] for r in runs if r.env == env], normalize)
        ends = {int(r.steps[-1]) for r in runs if r.env == env}
        if len(ends) > 1:  # e.g. a sweep still running: final scores would compare different budgets
            warnings_.append(f"{env}: runs end at different steps ({min(ends)} to {max(ends)}); their final "
                             "scores compare different training budgets")
        if normalization["method"] == "minmax" and normalization["high"] == normalization["low"]:
            warnings_.append(f"{env}: all final scores are equal; min-max normalisation maps them to 0")
        entry: dict[str, Any] = {"normalization": normalization, "algorithms": {}}
        for algo in algos:
            group = groups.get((env, algo))
            if not group:
                continue
            scores = np.array([finals[r] for r in group])
            normalized[env, algo] = normalize_scores(scores, normalization)
            entry["algorithms"][algo] = {
                "label": _label(algo), "runs": [str(r.path) for r in group], "seeds": [r.seed for r in group],
                "evaluations": [int(r.returns.size) for r in group], "final_scores": scores.tolist(),
                "normalized_scores": normalized[env, algo].tolist(), "mean": float(scores.mean()),
                "std": float(scores.std(ddof=1)) if scores.size > 1 else 0.0,
                "normalized_mean": float(normalized[env, algo].mean()),
                "curve": _curve_summary(group, warnings_.append)}
        report["tasks"][env] = entry

    # rliable needs a (runs x tasks) matrix per algorithm over one set of tasks.
    common = [env for env in tasks if all((env, algo) in groups for algo in algos)]
    dropped = [env for env in tasks if env not in common]
    if dropped:
        warnings_.append(f"tasks left out of the aggregates (not every algorithm ran them): {', '.join(dropped)}")
    report["aggregates"] = None
    report["probability_of_improvement"] = []
    report["performance_profile"] = None
    if common:
        matrices = {}
        for algo in algos:
            counts = {env: len(groups[env, algo]) for env in common}
            n = min(counts.values())
            if len(set(counts.values())) > 1:
                warnings_.append(f"{_label(algo)} has different numbers of runs per task "
                                 f"({', '.join(f'{env}: {c}' for env, c in counts.items())}); the aggregates use "
                                 f"{n} per task (the lowest seeds)")
            matrices[algo] = np.stack([normalized[env, algo][:n] for env in common], axis=1)
        # The optimality gap is the shortfall below a normalised score of 1: raw returns have no such line.
        names = [m for m in METRICS if normalize != "none" or m != "optimality_gap"]
        report["aggregates"] = {"tasks": common, "runs_per_task": {a: int(m.shape[0]) for a, m in matrices.items()},
                                "metrics": names, "algorithms": _aggregates(matrices, reps, seed, names)}
        if len(algos) < 2:
            warnings_.append("only one algorithm: no probability of improvement")
        else:
            report["probability_of_improvement"] = _improvements(matrices, reps, seed)
            if not report["probability_of_improvement"]:
                warnings_.append("probability of improvement needs an S2AC preset and another algorithm; none")
        values = np.concatenate([m.ravel() for m in matrices.values()])
        low, high = float(values.min()), float(values.max())
        if normalize != "none":
            low, high = min(low, 0.0), max(high, 1.0)
        tau = np.linspace(low, high if high > low else low + 1.0, 101)
        report["performance_profile"] = {"tau": tau.tolist(), "algorithms": _profiles(matrices, tau, reps, seed)}
    else:
        warnings_.append("no task was run by every algorithm: no aggregates")
    report["warnings"] = warnings_

    report["figures"] = _figures(report, out) if figures else []
    report["wall_time_s"] = time.perf_counter() - start
    write_text_atomically(out / "report.json", dump_json(report))
    write_text_atomically(out / "report.md", format_markdown(report))
    return report


def _figures(report: dict[str, Any], out: Path) -> list[str]:
    from s2ac.experiments.report_plots import write_figures  # matplotlib and rliable's plots: only to draw

    return write_figures(report, out)


def format_markdown(report: dict[str, Any]) -> str:
    """The Markdown summary: final scores per task and algorithm, then the aggregates and the probabilities
    of improvement, then the warnings."""
    labels = report["algorithms"]
    tasks = list(report["tasks"])
    lines = [f"# s2ac report: {report['dir']}", "",
             f"Final score: mean evaluation return over the last {report['last']} evaluation(s) of a run. "
             "Cells: mean ± sample std over seeds (number of runs), raw returns.", "",
             "| algorithm | " + " | ".join(tasks) + " |", "| --- |" + " --- |" * len(tasks)]
    for algo, label in labels.items():
        cells = []
        for env in tasks:
            entry = report["tasks"][env]["algorithms"].get(algo)
            cells.append("—" if entry is None else
                         f"{entry['mean']:.1f} ± {entry['std']:.1f} ({len(entry['final_scores'])})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    norms = [f"{env}: {entry['normalization']['method']}" for env, entry in report["tasks"].items()]
    lines += ["", f"Normalisation (`--normalize {report['normalize']}`): {'; '.join(norms)}."]

    aggregates = report["aggregates"]
    if aggregates is not None:
        lines += ["", f"## Aggregates over {', '.join(aggregates['tasks'])}", "",
                  f"Point estimate [{report['confidence']:.0%} stratified-bootstrap interval, {report['reps']} "
                  f"resamples, seed {report['seed']}]"
                  + ("; lower is better for the optimality gap." if "optimality_gap" in aggregates["metrics"] else
                     "; no optimality gap for raw returns."), "",
                  "| algorithm | runs/task | " + " | ".join(METRIC_TITLES[m] for m in aggregates["metrics"]) + " |",
                  "| --- | --- |" + " --- |" * len(aggregates["metrics"])]
        for algo, values in aggregates["algorithms"].items():
            cells = [f"{values[m]['estimate']:.3f} [{values[m]['ci'][0]:.3f}, {values[m]['ci'][1]:.3f}]"
                     for m in aggregates["metrics"]]
            lines.append(f"| {labels[algo]} | {aggregates['runs_per_task'][algo]} | " + " | ".join(cells) + " |")
    if report["probability_of_improvement"]:
        lines += ["", "## Probability of improvement", "", "| X | Y | P(X > Y) |", "| --- | --- | --- |"]
        for e in report["probability_of_improvement"]:
            lines.append(f"| {labels[e['x']]} | {labels[e['y']]} | {e['estimate']:.3f} "
                         f"[{e['ci'][0]:.3f}, {e['ci'][1]:.3f}] |")
    if report["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="directory searched recursively for runs (config.json + metrics.csv)")
    parser.add_argument("--out", default=None, help="output directory for the figures, report.json and report.md "
                        "(default: DIR/report)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples for the confidence intervals")
    parser.add_argument("--last", type=int, default=1, help="final score: mean over a run's last K evaluations")
    parser.add_argument("--normalize", choices=NORMALIZATIONS, default="auto",
                        help="auto: D4RL random/expert returns for Hopper, HalfCheetah, Walker2d and Ant, per-task "
                        "min-max over the runs' final scores otherwise; minmax: min-max for every task; none: raw")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (reproducible intervals)")


def run(args: argparse.Namespace) -> int:
    report = build_report(args.dir, args.out, reps=args.reps, last=args.last, normalize=args.normalize,
                          seed=args.seed)
    out = Path(args.dir) / "report" if args.out is None else Path(args.out)
    print((out / "report.md").read_text(), end="")
    print(f"report written to {out.resolve()} (wall time {report['wall_time_s']:.1f} s)")
    return 0
