"""The figures of study E1 (:mod:`s2ac.experiments.entropy`), drawn from its records alone: the entropy curves,
the convergence steps, seed 0's initial and final particles (parts a, b) and the targets' densities (from the
mean and covariance the records name)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from s2ac.experiments.entropy import NUM_LEAPFROG, StudyConfig, kernel_label, report_steps, value_at
from s2ac.experiments.outputs import pyplot

LABELS = {"svgd": "SVGD (trace)", "svgd_exact": "SVGD (exact log-det)", "sgld": "SGLD", "dld": "DLD", "hmc": "HMC"}
# SGLD's log q update is DLD's (the noise adds no volume term), so on a Gaussian the two curves coincide.
STYLES = {"svgd": "-", "svgd_exact": "--", "sgld": (0, (2, 2)), "dld": "-", "hmc": "-"}
COLORS = {"svgd": "C0", "svgd_exact": "C9", "sgld": "C1", "dld": "C2", "hmc": "C3"}


def make_figures(results: dict[str, Any], out: Path, config: StudyConfig) -> list[str]:
    """Write the study's figures into ``out``; return their file names."""
    records = results["configurations"]
    names = []
    if any(r["part"] == "a" for r in records):
        plot_dynamics(out / "fig4a_samplers.png", records)
        names.append("fig4a_samplers.png")
    if any(r["part"] == "b" for r in records):
        plot_kernel_entropy(out / "fig4b_kernel_entropy.png", records)
        plot_kernel_particles(out / "fig9_kernel_particles.png", records)
        names += ["fig4b_kernel_entropy.png", "fig9_kernel_particles.png"]
    if any(r["part"] == "c" for r in records):
        plot_grid(out / "fig4c_components.png", records, config, "circle_mixture")
        plot_grid(out / "fig10b_variance.png", records, config, "isotropic_gaussian")
        names += ["fig4c_components.png", "fig10b_variance.png"]
    return names


def _arr(values) -> np.ndarray:
    """A record's list (``None`` for a non-finite value) as floats, nested lists included."""
    return np.array([_arr(v) if isinstance(v, list) else (np.nan if v is None else v) for v in values], float)


def _contours(ax, target: dict[str, Any], lims) -> None:
    """The density of the Gaussian target a record names (its ``mean`` and ``cov``)."""
    xs = np.linspace(lims[0], lims[1], 150)
    gx, gy = np.meshgrid(xs, xs)
    diff = np.stack([gx, gy], axis=-1) - np.asarray(target["mean"], float)
    cov = np.asarray(target["cov"], float)
    mahalanobis = np.einsum("...i,ij,...j->...", diff, np.linalg.inv(cov), diff)
    density = np.exp(-0.5 * mahalanobis) / (2 * math.pi * math.sqrt(np.linalg.det(cov)))
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


def _save(fig, path: Path) -> None:
    plt = pyplot()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_dynamics(path: Path, records) -> None:
    """Part (a): seed 0's particles before and after each dynamics, and the entropy estimate against the step."""
    plt = pyplot()
    rows = [r for r in records if r["part"] == "a"]
    shown = [r for r in rows if r["sampler"] != "svgd_exact"]  # same particles as "svgd"
    target = rows[0]["target"]
    x0 = _arr(rows[0]["initial_particles_seed0"])
    lims = _lims([x0] + [_arr(r["final_particles_seed0"]) for r in shown])
    fig = plt.figure(figsize=(3.0 * (len(shown) + 1), 7.6))
    grid = fig.add_gridspec(2, len(shown) + 1, height_ratios=[1.0, 1.15])
    panels = [("initial N(0, 6I)", x0)] + [(LABELS[r["sampler"]] + f", step {r['steps']}",
                                             _arr(r["final_particles_seed0"])) for r in shown]
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
        label = LABELS[r["sampler"]] + (" = DLD's log q" if r["sampler"] == "sgld" else "")
        curves.append((_finals_label(label, mean), COLORS[r["sampler"]], STYLES[r["sampler"]], mean, std))
    _entropy_axes(axes, curves, rows[0]["true_entropy"], rows[0]["initial"]["entropy"])
    _mark_convergence(axes[1], rows, {r["name"]: COLORS[r["sampler"]] for r in rows})
    axes[1].legend(fontsize=7, loc="lower left")
    kernel = next((r["kernel"] for r in rows if r["kernel"] is not None), None)
    hmc = next((r["num_leapfrog"] for r in rows if r["num_leapfrog"] is not None), NUM_LEAPFROG)
    fig.suptitle(f"E1 (a): samplers on a 2-D Gaussian, {rows[0]['particles']} particles, step size "
                 f"{rows[0]['step_size']}, SVGD kernel sigma^2 = {kernel_label(kernel)}, HMC "
                 f"{hmc} leapfrog steps; seed 0's particles; mean ± std over seeds; dots: convergence step",
                 fontsize=10)
    _save(fig, path)


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
    """Part (b): the entropy estimate against the step, one curve per kernel."""
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
    _save(fig, path)


def plot_kernel_particles(path: Path, records) -> None:
    """Part (b) / Fig. 9: seed 0's final particles, one panel per kernel."""
    plt = pyplot()
    rows = [r for r in records if r["part"] == "b"]
    target = rows[0]["target"]
    cols = min(5, len(rows))
    nrows = math.ceil(len(rows) / cols)
    lims = _lims([_arr(r["final_particles_seed0"]) for r in rows] + [np.asarray(target["mean"], float)[None]])
    fig, axes = plt.subplots(nrows, cols, figsize=(2.7 * cols, 2.8 * nrows + 0.4), squeeze=False)
    for ax, r in zip(axes.flat, rows, strict=False):
        pts = _arr(r["final_particles_seed0"])
        _contours(ax, target, lims)
        ax.scatter(pts[:, 0], pts[:, 1], s=12, c="C3", edgecolors="white", linewidths=0.4)
        h = value_at(r, r["steps"])[0]
        ax.set_title(f"{kernel_label(r['kernel'])}: H={h:.3g} (true {r['true_entropy']:.2f})", fontsize=8)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    fig.suptitle(f"E1 (b) / Fig. 9: final particles (seed 0, step {rows[0]['steps']}) per kernel variance "
                 "sigma^2 or heuristic", fontsize=10)
    _save(fig, path)


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
    _save(fig, path)
