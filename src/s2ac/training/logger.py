"""Training logs in a run directory: ``metrics.csv`` (one row per evaluation) and TensorBoard events."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

from s2ac.training.files import METRICS_FILE, TENSORBOARD_DIR
from s2ac.training.health import DIVERGENCE, IMPOSSIBLE_ENTROPY

# The sampler's health (s2ac.policies.stein.sampler_health), averaged over the updates since the last row.
HEALTH_COLUMNS = ("kernel_variance", "svgd_move", "svgd_step_size", "saturated_share", "sigma_min", "sigma_max")
# Then the health counts (training/health.py): cumulative numbers of update batches a rule flagged.
COLUMNS = ("step", "eval_return_mean", "eval_return_std", "train_return", "entropy", "alpha", "critic_loss",
           "actor_loss", "episodes", "time_s", "steps_per_s") + HEALTH_COLUMNS + (DIVERGENCE, IMPOSSIBLE_ENTROPY)


class RunLogger:
    """Appends evaluation rows to ``metrics.csv`` and scalars to TensorBoard. On resume from ``step``, rows
    and events after that step (written before the interruption) are dropped, as they will be redone, and so
    is a last row cut short by a crash."""

    def __init__(self, run_dir: Path, resume_step: int | None = None):
        from tensorboardX import SummaryWriter

        self.csv_path = Path(run_dir) / METRICS_FILE
        if resume_step is None or not self.csv_path.exists():
            self._rewrite([])
        else:
            self._rewrite([row for row in complete_rows(self.csv_path) if int(row["step"]) <= resume_step])
        purge = None if resume_step is None else resume_step + 1
        self.writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD_DIR), purge_step=purge)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        tmp = self.csv_path.with_name(f".{METRICS_FILE}.tmp")
        with open(tmp, "w", newline="") as f:
            # A file of an older version may lack columns (left empty) or have others (dropped).
            writer = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.csv_path)

    def log_row(self, row: dict[str, float]) -> None:
        with open(self.csv_path, "a", newline="") as f:
            csv.DictWriter(f, COLUMNS).writerow({name: row.get(name, math.nan) for name in COLUMNS})
        for name, value in row.items():
            if name != "step" and value is not None and math.isfinite(value):
                self.writer.add_scalar(f"eval/{name}" if name.startswith("eval") else f"train/{name}", value,
                                       row["step"])
        self.writer.flush()

    def log_scalars(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"update/{name}", value, step)

    def close(self) -> None:
        self.writer.close()


def complete_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a ``metrics.csv`` that were written whole. Rows are appended one line at a time, so a crash
    can only cut the last one short: it then lacks its line end (and its step may read as a smaller number)."""
    text = Path(path).read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(text.splitlines(keepends=True)))
