"""Action-selection runtime (the paper's Table 1): milliseconds per test-time action for one observation.

``s2ac runtime --out DIR [--quick] [--envs ...] [--algos ...] [--calls N] [--devices cpu gpu]`` builds SAC, SQL,
S2AC(phi, theta) and amortized S2AC from their presets (default configs, untrained networks: the time of a
call does not depend on the weights) on Hopper-v5, Walker2d-v5, HalfCheetah-v5 and Ant-v5, and times each
agent's jitted ``act_fn`` in its evaluation mode (:data:`EVAL_MODES`) on every requested device: one call is
``device_put`` of one observation, the selection, and ``block_until_ready``. Compilation and warm-up calls are
not counted; the median and the interquartile range over ``calls`` calls are reported, the algorithms of one
environment interleaved call by call (as :func:`s2ac.timing.median_ms` does) so that load from other processes
affects them alike.

Outputs in ``DIR``: ``results.json`` (the times, the machine, JAX and every agent's settings) and
``summary.txt`` (the table, also printed). JAX is imported only when the study runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import s2ac
from s2ac.algorithms.presets import ALIASES, get_preset, make_agent
from s2ac.envs import make_env
from s2ac.experiments.outputs import dump_json, print_summary, progress_bar
from s2ac.training.files import prepare_output_dir

if TYPE_CHECKING:
    import jax
    import numpy as np

    from s2ac.algorithms import OffPolicyAgent  # for annotations only

ENVS = ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Ant-v5")
# The presets of the paper's Table 1 (s2ac.algorithms.presets.PRESETS).
ALGOS = ("sac", "sql", "s2ac_phi_theta", "s2ac_amortized")
DEVICES = ("cpu", "gpu")
# The ``act_fn`` mode each algorithm acts with at test time: SAC tanh(mu(s)), SQL the highest-Q of its sampler's
# samples, S2AC(phi, theta) its config's eval_selection (max-Q particle after the SVGD steps), amortized S2AC one
# pass of its sampler f_psi. "eval" is resolved to S2AC's rule by name so that the JSON states it.
EVAL_MODES = {"sac": "eval", "sql": "eval", "s2ac_phi_theta": "eval", "s2ac_amortized": "amortized"}
CALLS = 1000
QUICK_CALLS = 200
WARMUP = 10  # calls per agent before timing: the first compiles, the rest settle caches and allocators


@dataclass(frozen=True)
class RuntimeConfig:
    """What one run of the table depends on; ``devices`` None means every backend JAX sees."""

    envs: tuple[str, ...] = ENVS
    algos: tuple[str, ...] = ALGOS
    calls: int = CALLS
    devices: tuple[str, ...] | None = None
    warmup: int = WARMUP
    quick: bool = False

    def validate(self) -> None:
        """Raise a ``ValueError`` naming the first bad setting (environments are checked when built)."""
        if not self.envs:
            raise ValueError("give at least one environment")
        if not self.algos:
            raise ValueError("give at least one algorithm")
        for algo in self.algos:
            if algo not in ALGOS:
                raise ValueError(f"unknown algorithm {algo!r} for the runtime table; expected one of "
                                 f"{', '.join(ALGOS)}")
        if len(set(self.algos)) != len(self.algos) or len(set(self.envs)) != len(self.envs):
            raise ValueError(f"repeated algorithm or environment in {self.algos} / {self.envs}")
        for name, value, low in (("calls", self.calls, 1), ("warmup", self.warmup, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.devices is not None:
            if not self.devices:
                raise ValueError("give at least one device")
            for device in self.devices:
                if device not in DEVICES:
                    raise ValueError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")


def make_config(quick: bool = False, *, envs: Sequence[str] | None = None, algos: Sequence[str] | None = None,
                calls: int | None = None, devices: Sequence[str] | None = None,
                warmup: int = WARMUP) -> RuntimeConfig:
    """The full table, or with ``quick`` one environment (Hopper-v5) and 200 calls; explicit values win."""
    config = RuntimeConfig(
        envs=tuple(envs) if envs is not None else (ENVS[:1] if quick else ENVS),
        algos=tuple(ALIASES.get(algo, algo) for algo in algos) if algos is not None else ALGOS,  # s2ac: its preset
        calls=calls if calls is not None else (QUICK_CALLS if quick else CALLS),
        devices=tuple(dict.fromkeys(devices)) if devices is not None else None,
        warmup=warmup, quick=quick)
    config.validate()
    return config


# ---------------------------------------------------------------------------------------------------------
# Devices, agents and one timed call.


def available_devices() -> dict[str, jax.Device]:
    """``{"cpu": device}`` plus ``"gpu"`` (the first GPU) when JAX sees one."""
    import jax

    found = {"cpu": jax.devices("cpu")[0]}
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:  # no GPU platform in this jaxlib, or none found
        gpus = []
    if gpus:
        found["gpu"] = gpus[0]
    return found


def resolve_devices(requested: Sequence[str] | None) -> dict[str, jax.Device]:
    """The devices to time on, by name: all present for None, else the requested ones, or a ``ValueError``."""
    present = available_devices()
    if requested is None:
        return present
    missing = [name for name in requested if name not in present]
    if missing:
        import jax

        raise ValueError(f"--devices {' '.join(missing)}: JAX sees no {missing[0].upper()} (jax {jax.__version__}, "
                         f"backends present: {', '.join(present)}); install a CUDA-enabled jaxlib or leave "
                         f"{' '.join(missing)} out")
    return {name: present[name] for name in requested}


def build_agent(preset_name: str, env: str) -> OffPolicyAgent:
    """An untrained agent of a preset (its settings on the algorithm's default config), seed 0."""
    return make_agent(preset_name, env)


def eval_mode(preset_name: str, agent: OffPolicyAgent) -> str:
    """The ``act_fn`` mode of :data:`EVAL_MODES`, with S2AC's "eval" resolved to its rule's name."""
    mode = EVAL_MODES[preset_name]
    if mode == "eval" and hasattr(agent.config, "eval_selection"):
        return agent.config.eval_selection
    return mode


def describe_selection(preset_name: str, agent: OffPolicyAgent, mode: str) -> str:
    """In words, what one action selection computes."""
    cfg = agent.config
    if preset_name == "sac":
        return "tanh(mu(s)) of the Gaussian actor"
    if preset_name == "sql":
        return f"highest min-Q of {cfg.num_particles} samples of the amortized sampler"
    if mode == "amortized":
        return "one sample of the amortized sampler f_psi (one forward pass)"
    return (f"{mode} of {cfg.num_particles} particles after {cfg.svgd_steps} SVGD steps from the actor's "
            f"truncated Gaussian")


def agent_settings(agent: OffPolicyAgent) -> dict[str, Any]:
    """The settings that decide the cost of a selection (None where the algorithm has no such part)."""
    cfg = agent.config
    uses_actor = getattr(agent.state, "actor", None) is not None
    uses_sampler = getattr(agent.state, "amortized", None) is not None
    return {"num_particles": getattr(cfg, "num_particles", None), "svgd_steps": getattr(cfg, "svgd_steps", None),
            "critic_hidden": list(cfg.critic_hidden), "num_critics": cfg.num_critics,
            "actor_hidden": list(cfg.actor_hidden) if uses_actor else None,
            "amortized_hidden": list(cfg.amortized_hidden) if uses_sampler else None,
            "activation": cfg.activation}


def on_device(tree: Any, device: jax.Device) -> Any:
    """``tree`` with its arrays committed to ``device`` (other leaves, e.g. activation functions, kept)."""
    import equinox as eqx
    import jax

    return jax.tree.map(lambda x: jax.device_put(x, device) if eqx.is_array(x) else x, tree)


def selection_call(agent: OffPolicyAgent, obs: np.ndarray, mode: str, device: jax.Device | None = None,
                   key: jax.Array | None = None) -> Callable[[], jax.Array]:
    """One test-time action selection as a zero-argument call: ``obs`` (host, ``(1, obs_dim)``) sent to
    ``device``, then the agent's jitted ``act_fn`` in ``mode`` on its state there. With ``device`` None the
    state stays where it is and the observation goes to JAX's default device."""
    import jax

    key = jax.random.PRNGKey(0) if key is None else key
    state = agent.state
    if device is not None:
        # Committed arguments make jit run on their device, so the whole selection happens there.
        state, key = on_device(state, device), jax.device_put(key, device)
    act_fn = agent.act_fn

    def call() -> jax.Array:
        return act_fn(state, jax.device_put(obs, device), key, mode=mode)

    return call


def time_calls(calls: dict[str, Callable[[], Any]], num_calls: int, warmup: int = WARMUP) -> dict[str, np.ndarray]:
    """Milliseconds of each of ``num_calls`` calls of each callable (waiting for the result), interleaved
    call by call; ``warmup`` calls each first, not counted."""
    import numpy as np

    from s2ac.timing import median_ms  # imports JAX: only when the study runs, not to build the parser

    median_ms(calls, rounds=1, warmup=warmup)  # compilation and warm-up; the one timed round is discarded
    samples = {name: np.empty(num_calls) for name in calls}
    for i in range(num_calls):
        # One round of median_ms times each callable once, and the median of one time is that time: its
        # measurement (perf_counter around the call and block_until_ready) gives the per-call samples.
        for name, ms in median_ms(calls, rounds=1, warmup=0).items():
            samples[name][i] = ms
    return samples


def summarize(samples: np.ndarray) -> dict[str, float]:
    """Median, quartiles, IQR, mean and minimum of per-call milliseconds."""
    import numpy as np

    q25, median, q75 = np.percentile(samples, [25, 50, 75])
    return {"median_ms": float(median), "q25_ms": float(q25), "q75_ms": float(q75), "iqr_ms": float(q75 - q25),
            "mean_ms": float(np.mean(samples)), "min_ms": float(np.min(samples)), "calls": int(samples.size)}


# ---------------------------------------------------------------------------------------------------------
# The study.


def machine_info(devices: dict[str, jax.Device]) -> dict[str, Any]:
    """JAX version, CPU model and count (and this process's affinity), XLA flags, the devices timed on."""
    import jax
    import jaxlib

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"jax_version": jax.__version__, "jaxlib_version": jaxlib.__version__, "s2ac_version": s2ac.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "default_backend":
            jax.default_backend(), "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "cpu_affinity": affinity,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "devices": {name: {"backend": d.platform, "device_kind": d.device_kind, "id": str(d)}
                        for name, d in devices.items()}}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_study(out: str | Path | None, config: RuntimeConfig, progress: bool = True) -> dict[str, Any]:
    """Time every (device, environment, algorithm); write ``results.json`` and ``summary.txt`` into ``out``
    (created) unless it is None; return the results."""
    import numpy as np

    config.validate()
    start = time.perf_counter()
    devices = resolve_devices(config.devices)
    envs = {}
    for env_id in config.envs:  # every environment checked before any timing: a typo fails at once
        env = make_env(env_id)
        envs[env_id] = {"obs_dim": int(env.observation_space.shape[0]), "action_dim": int(env.action_space.shape[0])}
        env.close()
    if out is not None:  # after the cheap checks of the arguments, before any measurement
        out = prepare_output_dir(out)

    algos: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    bar = progress_bar(len(config.envs) * len(devices), progress, "runtime", "env x device")
    rng = np.random.default_rng(0)
    for env_id, dims in envs.items():
        agents = {name: build_agent(name, env_id) for name in config.algos}
        modes = {name: eval_mode(name, agent) for name, agent in agents.items()}
        for name, agent in agents.items():
            algos.setdefault(name, {"label": get_preset(name).label, "algo": agent.name, "mode": modes[name],
                                    "selection": describe_selection(name, agent, modes[name]),
                                    "settings": agent_settings(agent), "config": agent.config.to_dict()})
        obs = rng.normal(size=(1, dims["obs_dim"])).astype(np.float32)
        for device_name, device in devices.items():
            calls = {name: selection_call(agent, obs, modes[name], device) for name, agent in agents.items()}
            wall, cpu = time.perf_counter(), time.process_time()
            samples = time_calls(calls, config.calls, config.warmup)
            # This process's CPU time over wall time while timing: about 1 on one free core with XLA on one
            # thread; well below 1 means other processes took the core and the times include their slices.
            share = (time.process_time() - cpu) / (time.perf_counter() - wall)
            for name, times in samples.items():
                rows.append({"device": device_name, "env": env_id, "algo": name, "label": algos[name]["label"],
                             "mode": modes[name], **summarize(times), "process_cpu_share": round(share, 3)})
            if bar is not None:
                bar.update(1)
        for agent in agents.values():
            agent.env.close()
    if bar is not None:
        bar.close()

    results = {"study": "runtime", "mode": "quick" if config.quick else "full",
               "what": "ms per test-time action selection for one observation: device_put(obs) + jitted act_fn + "
                       "block_until_ready; compilation and warm-up excluded; median and quartiles over calls",
               "calls": config.calls, "warmup": config.warmup, "envs": envs, "algos": algos,
               "machine": machine_info(devices), "results": rows,
               "wall_time_s": time.perf_counter() - start}
    if out is not None:
        (out / "results.json").write_text(dump_json(results) + "\n")
        (out / "summary.txt").write_text(format_table(results))
    return results


def format_table(results: dict[str, Any]) -> str:
    """One table per device: algorithms down, environments across, ``median [IQR]`` ms per selection."""
    machine, envs = results["machine"], results["envs"]
    cells = {(r["device"], r["env"], r["algo"]): r for r in results["results"]}
    devices = list(dict.fromkeys(r["device"] for r in results["results"]))
    algos = list(dict.fromkeys(r["algo"] for r in results["results"]))
    headers = [f"{env} (d={dims['action_dim']})" for env, dims in envs.items()]
    width = max(20, *(len(h) + 2 for h in headers))
    lines = [f"Action selection time, ms per call for one observation: median [IQR] over {results['calls']} calls "
             f"(jax {machine['jax_version']})"]
    for device in devices:
        info = machine["devices"][device]
        where = (f"{machine['cpu_model']}, {machine['cpu_affinity']} of {machine['cpu_count']} cores usable"
                 if device == "cpu" else info["device_kind"])
        lines += ["", f"{device}: {where}",
                  f"{'algorithm':<18}" + "".join(h.rjust(width) for h in headers)]
        for algo in algos:
            row = f"{results['algos'][algo]['label']:<18}"
            for env in envs:
                cell = cells.get((device, env, algo))
                text = f"{cell['median_ms']:.3f} [{cell['iqr_ms']:.3f}]" if cell else "-"
                row += text.rjust(width)
            lines.append(row)
        shares = [r["process_cpu_share"] for r in results["results"] if r["device"] == device]
        lines.append(f"CPU share of this process while timing: {min(shares):.2f}-{max(shares):.2f}"
                     + (" (below 0.9: other processes shared the core; times are inflated)"
                        if device == "cpu" and min(shares) < 0.9 else ""))
    lines += ["", "what one call selects:"]
    lines += [f"  {a['label']:<16} {a['selection']}" for a in results["algos"].values()] + [""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Command line.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (created): results.json, summary.txt")
    parser.add_argument("--envs", nargs="+", default=None, metavar="ENV",
                        help=f"Gymnasium ids (default {' '.join(ENVS)}; --quick {ENVS[0]})")
    aliases = [alias for alias, name in ALIASES.items() if name in ALGOS]
    parser.add_argument("--algos", nargs="+", default=None, choices=(*aliases, *ALGOS), metavar="ALGO",
                        help=f"presets to time, among {', '.join(ALGOS)} (default all; s2ac = s2ac_phi_theta)")
    parser.add_argument("--calls", type=int, default=None,
                        help=f"timed calls per agent and device (default {CALLS}, --quick {QUICK_CALLS})")
    parser.add_argument("--devices", nargs="+", default=None, choices=DEVICES, metavar="DEVICE",
                        help="cpu and/or gpu (default: every backend JAX sees)")
    parser.add_argument("--quick", action="store_true", help=f"{ENVS[0]} only, {QUICK_CALLS} calls")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    config = make_config(args.quick, envs=args.envs, algos=args.algos, calls=args.calls, devices=args.devices)
    print_summary(args.out, run_study(args.out, config, progress=not args.no_progress))
    return 0
