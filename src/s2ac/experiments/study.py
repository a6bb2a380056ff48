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
from s2ac.experiments.sweep import RunSpec, execute_run, run_identity, run_sweep
from s2ac.training.files import prepare_output_dir, write_text_atomically

RECORD_FILE = "outcome.json"

Analyse = Callable[[RunSpec, Path, dict[str, Any]], dict[str, Any]]
"""What a study reads off one finished run: ``(spec, run_dir, sweep record) -> fields of its record``. Module
level (it is pickled into the sweep's worker processes)."""


def recorded_run(spec: RunSpec, out: str | Path, analyse: Analyse, version: str = "") -> dict[str, Any]:
    """A sweep worker: train the run unless its record exists for this budget, then write ``outcome.json`` beside
    it (the sweep's record of what happened and ``analyse``'s reading of the run). A run that failed at this
    budget is recorded and not retried (training is deterministic on one machine, though not bitwise across
    machines: delete its ``outcome.json`` to retry, e.g. after fixing a cause outside the run); a record of a
    smaller budget is a stage, replaced once the run has resumed to this one. An error of ``analyse`` is reported
    and nothing is recorded, so a rerun reads the run again. ``version`` names what ``analyse`` measures: a record
    of another version is read again (the run is not retrained)."""
    run_dir = spec.run_dir(out)
    path = run_dir / RECORD_FILE
    identity = run_identity(spec, out)
    if path.is_file():
        kept = json.loads(path.read_text())
        if kept.get("settings") != list(spec.settings):
            # The run directory does not depend on the settings: resuming would silently mix two configurations.
            return {**identity, "status": "failed", "error": f"{run_dir} was trained with other settings "
                    f"({' '.join(kept.get('settings', []))}); give another output directory"}
        if is_final(kept, spec, version):
            return {**kept, **identity, "status": "skipped"}

    def record_analysis(record: dict[str, Any]) -> dict[str, Any]:
        # Called with the run still locked: another process sharing the grid finds it busy, then recorded.
        try:
            outcome = {**record, **analyse(spec, run_dir, record), "analysis_version": version}
        except Exception as err:  # noqa: BLE001  (one unreadable run must not stop the others; nothing is recorded)
            return {**record, "status": "failed", "error": f"analysis: {type(err).__name__}: {err}"}
        if outcome.get("traceback"):
            write_text_atomically(run_dir / "error.txt", outcome.pop("traceback"))
        write_text_atomically(path, json.dumps(finite(outcome), indent=1))
        return outcome

    return execute_run(spec, out, then=record_analysis)


def is_final(record: dict[str, Any], spec: RunSpec, version: str) -> bool:
    """Whether a run's record is its last for ``spec``: made with the spec's settings and an analysis of
    ``version``, at the spec's budget (or beyond), or failed at that budget (not retried there)."""
    return (record.get("settings") == list(spec.settings) and record.get("analysis_version", "") == version
            and (record.get("step", 0) >= spec.steps
                 or (record.get("status") == "failed" and record.get("steps") == spec.steps)))


def train_and_collect(specs: Sequence[RunSpec], out: str | Path, worker: Callable[[RunSpec, str | Path], Any],
                      *, train: bool = True, workers: int | None = None, progress: bool = True,
                      version: str = "") -> tuple[list[dict[str, Any]], list[str]]:
    """Train what is missing of ``specs`` (unless ``train`` is False) with ``worker`` (a module-level
    ``functools.partial(recorded_run, analyse=...)``), then return, in plan order, the records of the runs that
    reached their budget (or failed at it) with an analysis of ``version``, and the run directories that have no
    such record yet."""
    out = prepare_output_dir(out, "study directory")  # an unusable directory fails here, before any work
    if train:
        run_sweep(specs, out, workers=workers, progress=progress, worker=worker)
    records, missing = [], []
    for spec in specs:
        path = spec.run_dir(out) / RECORD_FILE
        record = json.loads(path.read_text()) if path.is_file() else {}
        if record and is_final(record, spec, version):
            # A run trained elsewhere (another machine sharing the grid) recorded its directory there: name it here.
            records.append({**record, "run_dir": str(path.parent)})
        else:
            missing.append(str(path.parent))
    return records, missing


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
    results = {**finite(results), "figures": []}
    # The numbers first: a figure that fails to draw must not cost them.
    write_text_atomically(out / "results.json", dump_json(results))
    write_text_atomically(out / "summary.txt", summary(results))
    if figures is not None:
        results["figures"] = figures(results, out)
        write_text_atomically(out / "results.json", dump_json(results))
        write_text_atomically(out / "summary.txt", summary(results))
    return results


def missing_line(missing: Sequence[Any], unit: str) -> str:
    """The summary line for the planned ``unit``s (e.g. "run", "agent") in ``missing``, which have no outcome yet."""
    noun, verb = (unit, "has") if len(missing) == 1 else (f"{unit}s", "have")
    return (f"{len(missing)} planned {noun} {verb} no outcome yet (not trained, or interrupted): "
            "run the same command again to train them")


def finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN), through dicts and lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
