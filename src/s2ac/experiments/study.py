"""The one skeleton every study stands on: validate -> plan -> run with progress and resume -> ``results.json``,
``summary.txt`` and figures.

A study is a config (validated when built), a plan (a list of units of work: sweep :class:`RunSpec` for
training runs, or any named unit for computations that train nothing), an ``analyse`` step that turns one
finished unit into a JSON record kept beside it, and three pure views of the collected records: the results
dict, its text summary and its figures (plotting lives in each study's ``*_plots`` module, apart from the
computation). What this module does for all of them:

- :func:`train_and_collect`: bring every training run to its budget through the sweep's process pool (one run
  directory per run, per-run locks, resume from the last checkpoint), record each finished run's analysis in
  ``outcome.json`` beside it, and collect the records; a rerun trains and analyses only what is missing.
- :func:`cached_record`: the same for a unit computed in this process (a record file per unit).
- :func:`write_study`: write ``results.json``, ``summary.txt`` and the figures, each atomically.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from s2ac.experiments.outputs import dump_json
from s2ac.experiments.sweep import RunSpec, execute_run, run_sweep
from s2ac.training.files import write_text_atomically

RECORD_FILE = "outcome.json"

Analyse = Callable[[RunSpec, Path, dict[str, Any]], dict[str, Any]]
"""What a study reads off one finished run: ``(spec, run_dir, sweep record) -> fields of its record``. Module
level (it is pickled into the sweep's worker processes)."""


def recorded_run(spec: RunSpec, out: str | Path, analyse: Analyse) -> dict[str, Any]:
    """A sweep worker: train the run unless its record exists for this budget, then write ``outcome.json`` beside
    it (the sweep's record of what happened and ``analyse``'s reading of the run). A failed run is recorded too:
    training is deterministic, so a rerun would only repeat the failure. A record of a smaller budget is replaced
    once the run has resumed to the larger one."""
    path = spec.run_dir(out) / RECORD_FILE
    if path.is_file():
        kept = json.loads(path.read_text())
        # A record of a shorter budget is a stage, not the end: the run resumes to this budget and is read again.
        if kept.get("status") == "failed" or kept.get("step", 0) >= spec.steps:
            return {**kept, "status": "skipped"}
    record = execute_run(spec, out)
    if record["status"] == "busy":
        return record
    outcome = {**record, **analyse(spec, spec.run_dir(out), record)}
    outcome.pop("traceback", None)
    write_text_atomically(path, json.dumps(finite(outcome), indent=1))
    return outcome


def train_and_collect(specs: Sequence[RunSpec], out: str | Path, worker: Callable[[RunSpec, str | Path], Any],
                      *, train: bool = True, workers: int | None = None,
                      progress: bool = True) -> tuple[list[dict[str, Any]], list[str]]:
    """Train what is missing of ``specs`` (unless ``train`` is False) with ``worker`` (a module-level
    ``functools.partial(recorded_run, analyse=...)``), then return the records of the runs that have one, in
    plan order, and the run directories that have none yet."""
    out = Path(out)
    if train:
        run_sweep(specs, out, workers=workers, progress=progress, worker=worker)
    else:
        out.mkdir(parents=True, exist_ok=True)
    paths = [spec.run_dir(out) / RECORD_FILE for spec in specs]
    # A run trained elsewhere (another machine sharing the grid) recorded its directory there: name it here.
    records = [{**json.loads(path.read_text()), "run_dir": str(path.parent)} for path in paths if path.is_file()]
    return records, [str(path.parent) for path in paths if not path.is_file()]


def cached_record(path: str | Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The record at ``path`` if a previous run of the study wrote it, else ``compute()``, written there first."""
    path = Path(path)
    if path.is_file():
        return json.loads(path.read_text())
    record = finite(compute())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(record, indent=1))
    return record


def write_study(out: str | Path, results: dict[str, Any], summary: Callable[[dict[str, Any]], str],
                figures: Callable[[dict[str, Any], Path], list[str]] | None = None) -> dict[str, Any]:
    """Write ``figures(results, out)`` (their names go into the results), ``results.json`` and
    ``summary.txt``; return the results as written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = finite(results)
    results["figures"] = figures(results, out) if figures is not None else []
    write_text_atomically(out / "results.json", dump_json(results))
    write_text_atomically(out / "summary.txt", summary(results))
    return results


def finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN), through dicts and lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
