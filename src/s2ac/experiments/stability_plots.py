"""The figure of the stability study (:mod:`s2ac.experiments.stability`), drawn from its results alone: final
return and largest entropy estimate against the temperature, one column per task."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from s2ac.experiments.outputs import pyplot


def make_figures(results: dict[str, Any], out: Path) -> list[str]:
    """Write the study's figure into ``out`` (none without a run); return its file name."""
    if not results["runs"]:
        return []
    plot(results, out / "stability.png")
    return ["stability.png"]


def plot(results: dict[str, Any], path: Path) -> None:
    """Final return (top) and largest entropy estimate (bottom) against alpha, one column per task; a cross marks
    a run stopped by a non-finite loss, the dashed line the entropy bound ``d log 2``."""
    plt = pyplot()
    runs = results["runs"]
    envs = list(dict.fromkeys(o["env"] for o in runs))
    alphas = list(dict.fromkeys(o["label"].split("/")[1] for o in runs))
    fig, axes = plt.subplots(2, len(envs), figsize=(4.5 * len(envs), 6.5), squeeze=False)
    groups = list(dict.fromkeys((o["algo"], o["label"].split("/")[0]) for o in runs))
    for col, env in enumerate(envs):
        for g, (algo, defaults) in enumerate(groups):
            mine = [o for o in runs if o["env"] == env and o["algo"] == algo and o["label"].startswith(defaults + "/")]
            xs = [alphas.index(o["label"].split("/")[1]) + 0.04 * (g - len(groups) / 2) for o in mine]
            failed = [x for x, o in zip(xs, mine, strict=True) if o["nonfinite_step"] is not None]
            for row, key in enumerate(("final_return", "max_entropy")):
                ys = [o[key] if o[key] is not None else math.nan for o in mine]
                axes[row, col].scatter(xs, ys, s=18, color=f"C{g}", label=f"{algo} ({defaults})" if row == 0 else None)
                axes[row, col].scatter(failed, [0.0] * len(failed), marker="x", s=60, color=f"C{g}")
        bound = next(o["entropy_bound"] for o in runs if o["env"] == env)
        axes[1, col].axhline(bound, color="k", ls="--", lw=0.8)
        axes[1, col].set_yscale("symlog", linthresh=10.0)  # linear where estimates are sane, log where they ran away
        axes[1, col].yaxis.set_major_formatter(plt.FuncFormatter(lambda value, _: f"{value:g}"))
        axes[0, col].set_title(env, fontsize=10)
        for row, name in enumerate(("final return", "largest entropy estimate")):
            axes[row, col].set_xticks(range(len(alphas)), [a.removeprefix("alpha_") for a in alphas])
            axes[row, col].set_ylabel(name)
        axes[1, col].set_xlabel("alpha")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("S2AC stability: x = stopped by a non-finite loss; dashed = d log 2", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
