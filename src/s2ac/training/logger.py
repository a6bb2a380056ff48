"""Training logs in a run directory: ``metrics.csv`` (one row per evaluation) and TensorBoard events."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

# The sampler's health (s2ac.policies.stein.sampler_health), averaged over the updates since the last row.
HEALTH_COLUMNS = ("kernel_variance", "svgd_move", "svgd_step_size", "saturated_share", "sigma_min", "sigma_max")
COLUMNS = ("step", "eval_return_mean", "eval_return_std", "train_return", "entropy", "alpha", "critic_loss",
           "actor_loss", "episodes", "time_s", "steps_per_s") + HEALTH_COLUMNS


class RunLogger:
    """Appends evaluation rows to ``metrics.csv`` and scalars to TensorBoard. On resume from ``step``, rows
    and events after that step (written before the interruption) are dropped, as they will be redone."""

    def __init__(self, run_dir: Path, resume_step: int | None = None):
        from tensorboardX import SummaryWriter

        self.csv_path = Path(run_dir) / "metrics.csv"
        if resume_step is None or not self.csv_path.exists():
            self._rewrite([])
        else:
            with open(self.csv_path, newline="") as f:
                rows = [row for row in csv.DictReader(f) if int(row["step"]) <= resume_step]
            self._rewrite(rows)
        purge = None if resume_step is None else resume_step + 1
        self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=purge)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        tmp = self.csv_path.with_name(".metrics.csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS)
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
