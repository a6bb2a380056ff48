"""``s2ac sweep``: the MuJoCo study's grid (EXPERIMENTS.md E3), one run directory per (task, algorithm, seed).

    s2ac sweep --envs Hopper-v5 Walker2d-v5 --algos s2ac_phi_theta sac --seeds 0 1 2 --steps 100000 --out DIR

Each run trains into ``DIR/<task>/<algorithm>/seed_<n>`` in the format of ``s2ac train`` (config.json,
metrics.csv, TensorBoard events, atomic checkpoints). Running the same command again skips the finished
runs and resumes the interrupted ones from their last checkpoint, so a sweep survives interruptions
(Ctrl-C, a lost node) by being run again. Backends:

- ``local``: a process pool sized to the machine; each worker is pinned to its own share of the CPUs (XLA's
  threads then run only there; with one CPU per worker XLA is made single-threaded), so that runs do not
  fight over cores.
- ``ray``: the same runs as Ray tasks, on the cluster at ``--ray-address`` (its nodes must share ``DIR``,
  e.g. over NFS) or on a Ray instance started locally. Each task runs in a fresh worker process
  (``max_calls=1``) because XLA reads its thread settings once, when JAX starts.

The runs themselves are the library's: :func:`execute_run` is everything a worker does. This module imports
no JAX at the top, so that worker processes can set XLA's flags before JAX starts.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s2ac.algorithms.presets import ALGORITHM_NAMES, ALIASES, canonical_name, get_preset, make_agent
from s2ac.envs import make_env
from s2ac.experiments.outputs import dump_json, progress_bar
from s2ac.training.files import CHECKPOINT_FILE, prepare_output_dir, write_text_atomically

BACKENDS = ("local", "ray")
# --quick: a few thousand steps, with the schedule scaled down so that learning starts and is evaluated.
QUICK_STEPS = 3_000
QUICK_SETTINGS = ("random_steps=1000", "learning_starts=1000", "eval_every=1000", "eval_episodes=3",
                  "checkpoint_every=1000")
# The settings of our loop that the reference baselines' runner also takes.
REFERENCE_SETTINGS = ("eval_every", "eval_episodes", "checkpoint_every")


@dataclass(frozen=True)
class RunSpec:
    """One run of the sweep: task, algorithm preset, seed, budget and the ``--set`` assignments for it.
    ``label`` names a further level of directories (a study's own grid dimensions, e.g. ``alpha_0.1``)."""

    env: str
    algo: str
    seed: int
    steps: int
    settings: tuple[str, ...] = ()
    label: str = ""

    def run_dir(self, out: str | Path) -> Path:
        base = Path(out) / self.env.replace("/", "_") / self.algo
        return (base / self.label if self.label else base) / f"seed_{self.seed}"


def plan(envs: Sequence[str], algos: Sequence[str], seeds: Sequence[int], steps: int,
         settings: Sequence[str] = (), defaults: Sequence[str] = ()) -> list[RunSpec]:
    """Every (task, algorithm, seed) run, each with the ``--set`` assignments its algorithm knows. Raises a
    ``ValueError`` for an unknown algorithm, a bad budget, or an assignment no chosen algorithm knows.
    ``defaults`` are assignments applied where known and silently dropped elsewhere; ``settings`` win."""
    if not envs or not algos or not seeds:
        raise ValueError("a sweep needs at least one task (--envs), algorithm (--algos) and seed (--seeds)")
    algos = [canonical_name(algo) for algo in algos]  # an alias runs into its preset's directory
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"--steps must be a positive integer, got {steps!r}")
    for seed in seeds:
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"every seed must be a non-negative integer, got {seed!r}")
    keys = {}
    for item in (*defaults, *settings):
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        keys[item] = item.split("=", 1)[0].strip()
    overridden = {keys[item] for item in settings}
    chosen = [item for item in defaults if keys[item] not in overridden] + list(settings)
    per_algo = {algo: known_settings(algo, chosen) for algo in algos}
    unused = [item for item in settings if not any(item in given for given in per_algo.values())]
    if unused:
        raise ValueError(f"--set {', '.join(unused)}: no chosen algorithm ({', '.join(algos)}) has such a setting")
    unique = lambda values: list(dict.fromkeys(values))  # noqa: E731  (order kept, duplicates dropped)
    return [RunSpec(env, algo, int(seed), steps, per_algo[algo])
            for env in unique(envs) for algo in unique(algos) for seed in unique(seeds)]


def setting_names(algo: str) -> set[str]:
    """The ``--set`` keys the preset ``algo`` takes: its algorithm's config fields and their former names (a
    reference baseline's: the loop settings its runner takes)."""
    preset = get_preset(algo)
    if preset.reference:
        return set(REFERENCE_SETTINGS)
    import dataclasses

    # Imports JAX: the sweep's process and workers start it only after setting XLA's flags.
    from s2ac.algorithms import ALGORITHMS
    from s2ac.algorithms.config import FORMER_NAMES

    fields = {f.name for f in dataclasses.fields(ALGORITHMS[preset.algo].config_class)}
    return fields | {former for former, name in FORMER_NAMES.items() if name in fields}


def known_settings(algo: str, items: Sequence[str]) -> tuple[str, ...]:
    """The ``key=value`` assignments of ``items`` whose key the preset ``algo`` takes, in order."""
    names = setting_names(algo)
    return tuple(item for item in items if item.split("=", 1)[0].strip() in names)


def run_status(run_dir: str | Path, steps: int) -> tuple[str, int]:
    """``("new", 0)``, ``("partial", step)`` or ``("done", step)`` from the run directory's checkpoint
    (reading only its metadata). A directory started but stopped before its first checkpoint is new."""
    # Imports JAX: the sweep's process and workers start it only after setting XLA's flags.
    from s2ac import checkpoint

    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        return "new", 0
    step = int(checkpoint.read_meta(path)["step"])
    return ("done" if step >= steps else "partial"), step


def thread_flags(threads: int) -> str:
    """XLA's CPU flags for a worker with ``threads`` CPUs: one CPU, no Eigen thread pool at all; more, none
    (XLA has no thread-count flag; the pinning confines its pool to the worker's CPUs). Every flag starts with
    ``--``: XLA reads an ``XLA_FLAGS`` that does not as a file name and aborts."""
    return "--xla_cpu_multi_thread_eigen=false" if threads <= 1 else ""


def run_identity(spec: RunSpec, out: str | Path) -> dict[str, Any]:
    """What every record of a run starts with: its spec (settings as a list, as JSON keeps them) and directory."""
    return {**asdict(spec), "settings": list(spec.settings), "run_dir": str(spec.run_dir(out))}


def execute_run(spec: RunSpec, out: str | Path,
                then: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Bring one run to its budget: skip it if done, resume it if interrupted, else start it. Returns a record
    of what happened (a failed run's record holds the error; it does not raise), or what ``then`` makes of it,
    called while the run is still locked (a study's reading of the run is then done once, by this process)."""
    run_dir = spec.run_dir(out)
    record = run_identity(spec, out)
    start = time.perf_counter()
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    # Two sweeps over one directory (a second machine, a second command) share the work: a run another
    # process is training is locked, and left to it.
    with open(run_dir.parent / f".{run_dir.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return {**record, "status": "busy", "time_s": 0.0}
        record = _execute_locked(spec, run_dir, record, start)
        return record if then is None else then(record)


def _execute_locked(spec: RunSpec, run_dir: Path, record: dict[str, Any], start: float) -> dict[str, Any]:
    try:
        status, step = run_status(run_dir, spec.steps)
        record.update(from_step=step)
        if status == "done":
            return {**record, "status": "skipped", "step": step}
        if status == "new" and run_dir.exists():
            shutil.rmtree(run_dir)  # started, no checkpoint yet: nothing to keep
        last = _train(spec, run_dir, resume=status == "partial")
        record.update(status="resumed" if status == "partial" else "trained", step=spec.steps,
                      eval_return=last.get("eval_return_mean") if last else None)
    except Exception as err:  # noqa: BLE001  (one failed run must not stop the others)
        record.update(status="failed", error=f"{type(err).__name__}: {err}",
                      traceback=traceback.format_exc(limit=8))
    record["time_s"] = round(time.perf_counter() - start, 2)
    return record


def _train(spec: RunSpec, run_dir: Path, resume: bool) -> dict[str, Any] | None:
    preset = get_preset(spec.algo)
    if preset.reference:
        # Imports JAX (and, when it trains, the optional 'baselines' extra).
        from s2ac.training.reference import train_reference

        values = {key: json.loads(raw) for key, raw in (item.split("=", 1) for item in spec.settings)}
        rows = train_reference(spec.algo, spec.env, spec.seed, spec.steps, run_dir, settings=preset.settings, **values)
        return rows[-1] if rows else None
    # Imports JAX: the sweep's process and workers start it only after setting XLA's flags.
    from s2ac.training.loop import resume as resume_run

    agent = resume_run(run_dir) if resume else make_agent(spec.algo, spec.env, spec.seed, spec.settings)
    try:
        agent.learn(spec.steps, run_dir=run_dir, progress=False)
    finally:
        if agent.trainer is not None:
            agent.trainer.close()
    return agent.trainer.history[-1] if agent.trainer.history else None


# ---------------------------------------------------------------------------------------------------------
# Backends: each calls ``report(record)`` as runs finish and returns every record.


def worker_environment(threads: int, out: str | Path) -> dict[str, str]:
    """Environment variables for a worker, read by JAX when it starts: XLA's threads, and one on-disk
    compilation cache per sweep (runs of the same algorithm and task share their programs, so only the first
    seed compiles), unless the user set one."""
    env = {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {thread_flags(threads)}".strip()}
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        env["JAX_COMPILATION_CACHE_DIR"] = str(Path(out).resolve() / ".xla_cache")
    return env


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel send this worker SIGTERM when the sweep's process ends, however it ends (SIGKILL
    included), so that a killed sweep leaves no worker training on, on a core the next command wants, with its
    run locked. What a killed worker leaves, the next sweep resumes from its last checkpoint."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # only here: the one platform-specific call of the module
    import signal

    pr_set_pdeathsig = 1  # <linux/prctl.h>
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # the sweep died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)


def _pin_worker(cpu_sets, environment: dict[str, str], parent: int) -> None:
    """Pool initializer: end with the sweep, take a share of the CPUs and set JAX's environment before JAX is
    imported."""
    _die_with_parent(parent)
    cpus = cpu_sets.get()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    os.environ.update(environment)


def cpu_shares(workers: int) -> list[list[int]]:
    """The machine's usable CPUs split into ``workers`` disjoint, nearly equal sets."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    if workers > len(cpus):
        raise ValueError(f"--workers {workers} is more than the {len(cpus)} CPUs this process may use")
    return [cpus[i::workers] for i in range(workers)]


Worker = Callable[[RunSpec, "str | Path"], dict[str, Any]]
"""What a worker does with one run: :func:`execute_run`, or a study's wrapper around it (module-level, so that it
pickles into worker processes)."""


def run_local(specs: Sequence[RunSpec], out: Path, workers: int, report: Callable[[dict[str, Any]], None],
              worker: Worker = execute_run) -> list[dict[str, Any]]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    shares = cpu_shares(workers)
    context = mp.get_context("spawn")  # a fresh interpreter: JAX must not be inherited across a fork
    queue = context.Queue()
    for share in shares:
        queue.put(share)
    records = []
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_pin_worker,
                             initargs=(queue, worker_environment(min(len(s) for s in shares), out),
                                       os.getpid())) as pool:
        futures = [pool.submit(worker, spec, out) for spec in specs]
        try:
            for future in as_completed(futures):
                records.append(future.result())
                report(records[-1])
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return records


def run_ray(specs: Sequence[RunSpec], out: Path, workers: int | None, address: str | None,
            report: Callable[[dict[str, Any]], None], worker: Worker = execute_run) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError as err:
        raise ImportError("the Ray backend needs Ray: pip install 's2ac[ray]'") from err
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        threads = max(1, cpus // max(1, min(len(specs), workers or cpus)))
        task = ray.remote(num_cpus=threads, max_calls=1,
                          runtime_env={"env_vars": worker_environment(threads, out)})(worker)
        pending = [task.remote(spec, str(out.resolve())) for spec in specs]
        records = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            records.append(ray.get(done[0]))
            report(records[-1])
        return records
    finally:
        if started:
            ray.shutdown()


def run_sweep(specs: Sequence[RunSpec], out: str | Path, backend: str = "local", workers: int | None = None,
              ray_address: str | None = None, progress: bool = True,
              worker: Worker = execute_run) -> list[dict[str, Any]]:
    """Bring every run of ``specs`` to its budget on ``backend``; write ``out/sweep.json`` (the runs and what
    happened to each) and return the records. ``worker`` is what each run does (default :func:`execute_run`)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    out = prepare_output_dir(out, "sweep directory")
    bar = progress_bar(len(specs), progress, "sweep", "run")

    def report(record: dict[str, Any]) -> None:
        label = f" {record['label']}" if record.get("label") else ""
        line = f"{record['status']:>8} {record['env']} {record['algo']}{label} seed {record['seed']}"
        if record["status"] == "failed":
            line += f": {record['error']}"
        elif record.get("eval_return") is not None:
            line += f": eval return {record['eval_return']:.1f} ({record['time_s']:.0f} s)"
        (bar.write if bar is not None else print)(line)
        if bar is not None:
            bar.update()

    start = time.perf_counter()
    try:
        if backend == "local":
            usable = len(cpu_shares(1)[0])
            records = run_local(specs, out, workers or max(1, min(len(specs), usable)), report, worker)
        else:
            records = run_ray(specs, out, workers, ray_address, report, worker)
    finally:
        if bar is not None:
            bar.close()
    order = {spec: i for i, spec in enumerate(specs)}
    records.sort(key=lambda r: order[RunSpec(r["env"], r["algo"], r["seed"], r["steps"], tuple(r["settings"]),
                                             r.get("label", ""))])
    summary = {"backend": backend, "workers": workers, "ray_address": ray_address,
               "wall_time_s": round(time.perf_counter() - start, 2), "runs": records}
    write_text_atomically(out / "sweep.json", dump_json(summary))
    return records


# ---------------------------------------------------------------------------------------------------------
# Command line.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--envs", nargs="+", required=True, metavar="ENV", help="Gymnasium task ids, e.g. Hopper-v5")
    aliases = ", ".join(f"{alias} = {name}" for alias, name in ALIASES.items())
    parser.add_argument("--algos", nargs="+", required=True, metavar="ALGO", choices=ALGORITHM_NAMES,
                        help=f"algorithms: {' '.join(ALGORITHM_NAMES)} ({aliases}; ddpg, ppo need the "
                             "'baselines' extra)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4], metavar="SEED",
                        help="seeds (default 0 1 2 3 4)")
    parser.add_argument("--steps", type=int, default=None, help=f"environment steps per run (--quick: {QUICK_STEPS})")
    parser.add_argument("--out", type=Path, required=True, help="sweep directory (created; rerun to resume)")
    parser.add_argument("--backend", choices=BACKENDS, default="local", help="local process pool or Ray")
    parser.add_argument("--workers", type=int, default=None,
                        help="runs at once (local default: one per CPU, at most one per run; ray: the cluster's)")
    parser.add_argument("--ray-address", default=None, help="address of a running Ray cluster (default: start one "
                        "locally)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a config value for every algorithm that has it (JSON or bare string); repeatable")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps with a schedule scaled to fit "
                        f"({' '.join(QUICK_SETTINGS)}); --set and --steps still apply")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.ray_address is not None and args.backend != "ray":
        raise ValueError("--ray-address needs --backend ray")
    steps = args.steps if args.steps is not None else (QUICK_STEPS if args.quick else None)
    if steps is None:
        raise ValueError("give --steps N (or --quick)")
    specs = plan(args.envs, args.algos, args.seeds, steps, args.settings, QUICK_SETTINGS if args.quick else ())
    for env_id in dict.fromkeys(args.envs):  # a bad task id fails here, not in every worker
        make_env(env_id).close()
    records = run_sweep(specs, args.out, args.backend, args.workers, args.ray_address, not args.no_progress)
    failed = [r for r in records if r["status"] == "failed"]
    counts = {s: sum(r["status"] == s for r in records) for s in ("trained", "resumed", "skipped", "busy", "failed")}
    print(f"{len(records)} runs in {args.out}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
          + f"; see {args.out / 'sweep.json'}; report with `s2ac report {args.out}`")
    for record in failed:
        print(f"failed: {record['run_dir']}: {record['error']}", file=sys.stderr)
    return 1 if failed else 0
