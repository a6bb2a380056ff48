"""The multigoal study's figures, drawn from what it wrote (``results.json``'s records and each agent's
``evaluation.npz`` and ``metrics.csv``); nothing here trains or measures. One figure per part of the study:

- ``trajectories_<part>.png`` / ``..._wall.png``: the first seed's test trajectories (Figures 7, 16), rows
  algorithms, columns temperatures, coloured by the goal reached;
- ``goal_shares_<part>.png`` / ``..._wall.png``: the share of test episodes per goal against alpha (Figures 12, 16);
- ``samples_<part>_alpha<a>.png``: ``min_k Q`` over the action square at the critical states with the policy's
  samples, and the mode counts (policy vs Gaussian fit) (Figure 14);
- ``entropy_<part>.png``: ``-mean log pi`` over the plane (Figure 13);
- ``smoothness_<part>.png``: the smoothness of ``Q`` in the action against alpha (Figure 15);
- ``sigma_theta.png``: the range of ``sigma_theta`` during training (Figure 11), from the runs' metrics.
"""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from s2ac.algorithms.presets import PRESETS
from s2ac.envs.multigoal import WALL, task_settings
from s2ac.experiments.multigoal import EVALUATION_FILE, GOALS, PLANE, axis_points
from s2ac.experiments.outputs import pyplot
from s2ac.training.files import METRICS_FILE

NONE_COLOR = "0.5"


def _goal_color(index: int) -> str:
    return f"C{index}" if index >= 0 else NONE_COLOR


def _plane(ax, env: str, wall: bool = False) -> None:
    from matplotlib.patches import Circle

    radius = task_settings(env)["goal_radius"]
    for i, goal in enumerate(GOALS[env]):
        ax.add_patch(Circle(goal, radius, color=_goal_color(i), alpha=0.35, lw=0))
        ax.text(goal[0], goal[1] + 0.7, f"G{i + 1}", ha="center", fontsize=7)
    if wall:
        (x0, y0), (x1, y1) = WALL
        ax.plot([x0, x1], [y0, y1], color="k", lw=3)
    ax.plot([0], [0], "k+", ms=6)
    ax.set_xlim(*PLANE)
    ax.set_ylim(*PLANE)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=6)


def _finish(fig, path: Path, title: str) -> None:
    fig.suptitle(textwrap.fill(title, max(30, int(fig.get_figwidth() * 13))), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)


def _first_seeds(runs: list[dict[str, Any]]) -> dict[tuple[str, float], dict[str, Any]]:
    """Per (algorithm, alpha), the measured run of the lowest seed (``runs`` of one part)."""
    chosen: dict[tuple[str, float], dict[str, Any]] = {}
    for run in sorted((r for r in runs if r["measured"]), key=lambda r: r["seed"]):
        chosen.setdefault((run["algo"], run["alpha"]), run)
    return chosen


def _arrays(run: dict[str, Any]) -> dict[str, np.ndarray]:
    with np.load(Path(run["run_dir"]) / EVALUATION_FILE) as data:
        return dict(data)


def plot_trajectories(path: Path, runs: list[dict[str, Any]], env: str, wall: bool, title: str) -> None:
    plt = pyplot()
    algos = list(dict.fromkeys(r["algo"] for r in runs))
    alphas = sorted({r["alpha"] for r in runs})
    chosen = _first_seeds(runs)
    fig, axes = plt.subplots(len(algos), len(alphas), figsize=(2.4 * len(alphas) + 0.6, 2.4 * len(algos) + 0.6),
                             squeeze=False)
    suffix = "_wall" if wall else ""
    for i, algo in enumerate(algos):
        for j, alpha in enumerate(alphas):
            ax = axes[i, j]
            _plane(ax, env, wall)
            run = chosen.get((algo, alpha))
            if run is None:
                continue
            arrays = _arrays(run)
            for positions, goal in zip(arrays["positions" + suffix], arrays["goals" + suffix], strict=True):
                ax.plot(positions[:, 0], positions[:, 1], color=_goal_color(int(goal)), lw=0.7, alpha=0.7)
            shares = run["goal_shares" + suffix]
            ax.set_title(f"{PRESETS[algo].label}, a={alpha:g}\n" + " ".join(f"{g}:{v:.2f}" for g, v in shares.items()),
                         fontsize=7)
    _finish(fig, path, title)


def plot_goal_shares(path: Path, rows: list[dict[str, Any]], key: str, title: str) -> None:
    plt = pyplot()
    algos = list(dict.fromkeys(r["algo"] for r in rows))
    fig, axes = plt.subplots(1, len(algos), figsize=(3.0 * len(algos), 3.0), squeeze=False, sharey=True)
    for ax, algo in zip(axes[0], algos, strict=True):
        mine = sorted((r for r in rows if r["algo"] == algo), key=lambda r: r["alpha"])
        xs = np.arange(len(mine))
        bottom = np.zeros(len(mine))
        for i, outcome in enumerate(mine[0][key]):
            values = np.array([r[key][outcome] for r in mine])
            color = NONE_COLOR if outcome == "none" else _goal_color(i)
            ax.bar(xs, values, bottom=bottom, color=color, label=outcome, width=0.7)
            bottom += values
        ax.set_xticks(xs, [f"{r['alpha']:g}" for r in mine], fontsize=7)
        ax.set_xlabel("alpha")
        ax.set_title(PRESETS[algo].label, fontsize=9)
    axes[0, 0].set_ylabel("share of test episodes")
    axes[0, -1].legend(fontsize=7, loc="upper right")
    _finish(fig, path, title)


def plot_samples(path: Path, runs: list[dict[str, Any]], alpha: float, action_grid: int, title: str) -> None:
    plt = pyplot()
    chosen = {algo: run for (algo, a), run in _first_seeds(runs).items() if a == alpha}
    states = next(iter(chosen.values()))["critical_states"]
    xs = axis_points(action_grid, -1.0, 1.0)
    fig, axes = plt.subplots(len(chosen), len(states), figsize=(2.1 * len(states), 2.2 * len(chosen) + 0.5),
                             squeeze=False)
    for i, (algo, run) in enumerate(chosen.items()):
        arrays = _arrays(run)
        for j, state in enumerate(states):
            ax = axes[i, j]
            ax.contourf(xs, xs, arrays["q"][j], levels=15, cmap="RdBu_r")
            samples = arrays["samples"][j]
            ax.scatter(samples[:, 0], samples[:, 1], s=3, c="k", alpha=0.4, linewidths=0)
            ax.set_xlim(-1, 1)
            ax.set_ylim(-1, 1)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=5)
            ax.set_title(f"s=({state[0]:g},{state[1]:g}) modes {run['modes'][j]} (fit {run['gaussian_fit_modes'][j]})",
                         fontsize=6)
            if j == 0:
                ax.set_ylabel(PRESETS[algo].label, fontsize=8)
    _finish(fig, path, title)


def plot_entropy(path: Path, runs: list[dict[str, Any]], env: str, state_grid: int) -> None:
    plt = pyplot()
    chosen = {key: run for key, run in _first_seeds(runs).items() if run["entropy"] is not None}
    algos = list(dict.fromkeys(algo for algo, _ in chosen))
    alphas = sorted({alpha for _, alpha in chosen})
    xs = axis_points(state_grid, PLANE[0] + 0.5, PLANE[1] - 0.5)
    fig, axes = plt.subplots(len(algos), len(alphas), figsize=(2.9 * len(alphas), 2.6 * len(algos)), squeeze=False)
    for i, algo in enumerate(algos):
        for j, alpha in enumerate(alphas):
            ax = axes[i, j]
            if (algo, alpha) in chosen:
                values = _arrays(chosen[(algo, alpha)])["entropy_grid"].reshape(state_grid, state_grid)
                image = ax.pcolormesh(xs, xs, values, shading="nearest", cmap="viridis")
                fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=6)
            _plane(ax, env)
            ax.set_title(f"{PRESETS[algo].label}, a={alpha:g}", fontsize=8)
    _finish(fig, path, "Fig. 13: policy entropy -mean log pi over the plane (first seed)")


def plot_smoothness(path: Path, rows: list[dict[str, Any]]) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for c, algo in enumerate(dict.fromkeys(r["algo"] for r in rows)):
        mine = sorted((r for r in rows if r["algo"] == algo), key=lambda r: r["alpha"])
        for ax, key in zip(axes, ("grad_l1_mean", "hessian_l1_mean"), strict=True):
            ax.plot([r["alpha"] for r in mine], [r[key] for r in mine], marker="o", color=f"C{c}",
                    label=PRESETS[algo].label)
    for ax, name in zip(axes, ("mean ||grad_a Q||_1", "mean ||hess_a Q||_1"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("alpha")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    _finish(fig, path, "Fig. 15: smoothness of the learned Q in the action at the critical states")


def _metrics(run: dict[str, Any]) -> dict[str, np.ndarray]:
    path = Path(run["run_dir"]) / METRICS_FILE
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(r[key]) if r.get(key) not in ("", None) else np.nan for r in rows])
            for key in ("step", "sigma_min", "sigma_max")}


def plot_sigma_theta(path: Path, runs: list[dict[str, Any]]) -> None:
    plt = pyplot()
    parts = dict.fromkeys(r["part"] for r in runs)
    mine = [r for part in parts for r in _first_seeds([r for r in runs if r["part"] == part]).values()
            if r["q0_std"] is not None]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for c, run in enumerate(mine):
        metrics = _metrics(run)
        label = f"{run['part']}: {PRESETS[run['algo']].label}, a={run['alpha']:g}"
        ax.fill_between(metrics["step"], metrics["sigma_min"], metrics["sigma_max"], color=f"C{c}", alpha=0.25)
        ax.plot(metrics["step"], metrics["sigma_max"], color=f"C{c}", lw=0.8, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("environment step")
    ax.set_ylabel("sigma_theta (min to max over a batch)")
    ax.legend(fontsize=6)
    _finish(fig, path, "Fig. 11: the learned initial distribution's sigma_theta during training (first seed)")


def make_figures(results: dict[str, Any], out: Path) -> list[str]:
    """Write every figure the measured runs allow into ``out``; return their file names. A figure that needs a
    file an agent no longer has (its ``evaluation.npz`` or ``metrics.csv``) is skipped."""
    names: list[str] = []

    def save(name: str, plot, *args) -> None:
        try:
            plot(out / name, *args)
        except FileNotFoundError as err:
            if Path(err.filename or "").name not in (EVALUATION_FILE, METRICS_FILE):
                raise
            # An agent restored from its record alone (results/multigoal kept no arrays of it): the figure cannot
            # be drawn; a copy drawn earlier, where there is one, is left as it was.
            pyplot().close("all")
            return
        names.append(name)

    measures = results["config"]["measures"]
    for part in dict.fromkeys(r["part"] for r in results["runs"] if r["measured"]):
        runs = [r for r in results["runs"] if r["part"] == part and r["measured"]]
        rows = [r for r in results["aggregate"] if r["part"] == part]
        env = runs[0]["env"]
        save(f"trajectories_{part}.png", plot_trajectories, runs, env, False,
             f"[{part}] {env}: stochastic test trajectories (first seed), coloured by the goal reached")
        save(f"trajectories_{part}_wall.png", plot_trajectories, runs, env, True,
             f"[{part}] with the wall (never seen in training): test trajectories (first seed)")
        save(f"goal_shares_{part}.png", plot_goal_shares, rows, "goal_shares",
             f"[{part}] share of test episodes ending at each goal (mean over seeds)")
        save(f"goal_shares_{part}_wall.png", plot_goal_shares, rows, "goal_shares_wall",
             f"[{part}] with the wall: share of test episodes ending at each goal")
        for alpha in sorted({r["alpha"] for r in runs}):
            save(f"samples_{part}_alpha{alpha:g}.png", plot_samples, runs, alpha, measures["action_grid"],
                 f"[{part}] alpha={alpha:g}: min Q over the action square and the policy's samples at the critical "
                 "states; modes of the samples (and of a Gaussian fitted to them)")
        if any(r["entropy"] is not None for r in runs):
            save(f"entropy_{part}.png", plot_entropy, runs, env, measures["state_grid"])
        if len({r["alpha"] for r in rows}) > 1:
            save(f"smoothness_{part}.png", plot_smoothness, rows)
    if any(r["measured"] and r["q0_std"] is not None for r in results["runs"]):
        save("sigma_theta.png", plot_sigma_theta, results["runs"])
    return names
