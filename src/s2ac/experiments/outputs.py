"""What the study commands share for their outputs: compact JSON, a progress bar and headless pyplot."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any


def dump_json(results: dict[str, Any]) -> str:
    """Indented JSON with every flat list of numbers on one line (per-step lists are long)."""
    text = json.dumps(results, indent=1, allow_nan=False)
    return re.sub(r"\[\n\s*([-+\w.,\s]*?)\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)


def progress_bar(total: int, enabled: bool, desc: str, unit: str):
    """A tqdm bar on stderr, or None when disabled."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported on first use: plotting is optional work)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def print_summary(out_dir: str | Path, results: dict[str, Any]) -> None:
    """Print a finished study's summary.txt and where its results went."""
    print(Path(out_dir, "summary.txt").read_text(), end="")
    print(f"results written to {Path(out_dir).resolve()} (wall time {results['wall_time_s']:.1f} s)")
