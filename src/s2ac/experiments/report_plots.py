"""The figures of ``s2ac report`` (:mod:`s2ac.experiments.report`), drawn from report.json's content alone:
learning curves, rliable's interval estimates, probabilities of improvement and performance profiles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from s2ac.experiments.outputs import pyplot
from s2ac.experiments.report import METRIC_TITLES, PAIR_SEPARATOR, SMOOTHING_POLYORDER, SMOOTHING_WINDOW


def write_figures(report: dict[str, Any], out: Path) -> list[str]:
    """Write the report's figures into ``out``; return their file names."""
    colors = _colors(list(report["algorithms"]))
    xlabel = "raw return" if report["normalize"] == "none" else "normalised score"
    names = ["learning_curves.png"]
    _plot_curves(report, colors, out / names[-1])
    if report["aggregates"] is not None:
        names.append("aggregates.png")
        _plot_aggregates(report, colors, out / names[-1], xlabel)
        names.append("performance_profile.png")
        _plot_profiles(report, colors, out / names[-1], xlabel)
    if report["probability_of_improvement"]:
        names.append("probability_of_improvement.png")
        _plot_improvement(report, out / names[-1])
    return names


def _colors(algos: Sequence[str]) -> dict[str, Any]:
    plt = pyplot()
    cycle = plt.get_cmap("tab10")
    return {algo: cycle(i % 10) for i, algo in enumerate(algos)}


def _plot_curves(report: dict[str, Any], colors: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    from matplotlib.ticker import EngFormatter
    tasks = list(report["tasks"])
    cols = min(3, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, env in zip(axes.flat, tasks, strict=False):
        for algo, entry in report["tasks"][env]["algorithms"].items():
            curve = entry["curve"]
            if not curve["steps"]:
                continue
            marker = "o" if len(curve["steps"]) == 1 else None
            ax.plot(curve["steps"], curve["mean"], color=colors[algo], label=entry["label"], marker=marker)
            ax.fill_between(curve["steps"], curve["min"], curve["max"], color=colors[algo], alpha=0.2, linewidth=0)
        ax.set_title(env)
        ax.set_xlabel("environment steps")
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 200k, not overlapping 200000s
        ax.set_ylabel("evaluation return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(tasks):]:
        ax.set_visible(False)
    windows = sorted({entry["curve"]["smoothing_window"] for task in report["tasks"].values()
                      for entry in task["algorithms"].values()} - {0})
    if windows:
        span = str(windows[0]) if len(windows) == 1 else f"{windows[0]}-{windows[-1]}"
        smoothing = (f"Savitzky-Golay window {span} (at most {SMOOTHING_WINDOW | 1}, half a curve), "
                     f"order {SMOOTHING_POLYORDER}")
    else:
        smoothing = "not smoothed (curves too short)"
    # Two lines: a single task's panel is narrower than the one-line caption.
    fig.suptitle(f"mean over seeds, min-max band\n{smoothing}", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_aggregates(report: dict[str, Any], colors: dict[str, Any], path: Path, xlabel: str) -> None:
    plt = pyplot()
    from rliable import plot_utils

    aggregates = report["aggregates"]["algorithms"]
    labels = {algo: report["algorithms"][algo] for algo in aggregates}
    names = report["aggregates"]["metrics"]
    points = {labels[a]: np.array([aggregates[a][m]["estimate"] for m in names]) for a in aggregates}
    cis = {labels[a]: np.array([aggregates[a][m]["ci"] for m in names]).T for a in aggregates}
    fig, _ = plot_utils.plot_interval_estimates(
        points, cis, metric_names=[METRIC_TITLES[m] for m in names], algorithms=list(points),
        colors={labels[a]: colors[a] for a in aggregates}, xlabel=xlabel, xlabel_y_coordinate=-0.3,
        row_height=0.45, subfigure_width=3.6)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def _plot_improvement(report: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    from rliable import plot_utils

    labels = report["algorithms"]
    entries = report["probability_of_improvement"]
    keys = [f"{labels[e['x']]}{PAIR_SEPARATOR}{labels[e['y']]}" for e in entries]
    fig, ax = plt.subplots(figsize=(5, 0.5 * len(entries) + 1.2))
    plot_utils.plot_probability_of_improvement(
        {k: e["estimate"] for k, e in zip(keys, entries, strict=True)},
        {k: np.array(e["ci"]) for k, e in zip(keys, entries, strict=True)},
        pair_separator=PAIR_SEPARATOR, ax=ax, xticks=[0.0, 0.25, 0.5, 0.75, 1.0], ticklabelsize="medium",
        labelsize="medium", ylabel_x_coordinate=0.0)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def _plot_profiles(report: dict[str, Any], colors: dict[str, Any], path: Path, xlabel: str) -> None:
    plt = pyplot()
    from rliable import plot_utils

    profile = report["performance_profile"]
    labels = report["algorithms"]
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_utils.plot_performance_profiles(
        {labels[a]: np.array(p["profile"]) for a, p in profile["algorithms"].items()}, np.array(profile["tau"]),
        performance_profile_cis={labels[a]: (np.array(p["ci_low"]), np.array(p["ci_high"]))
                                 for a, p in profile["algorithms"].items()},
        ax=ax, colors={labels[a]: colors[a] for a in profile["algorithms"]}, xlabel=xlabel,
        labelsize="medium", ticklabelsize="medium")
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
