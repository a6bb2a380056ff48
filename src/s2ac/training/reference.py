"""Reference baselines: DDPG and PPO from sbx (the JAX sibling of stable-baselines3), or from stable-baselines3
itself where sbx is not installed, trained into the same run directories as the library's agents.

An optional extra: ``pip install 's2ac[baselines]'``. A run directory holds ``config.json``, ``metrics.csv``
(evaluations by :func:`s2ac.training.evaluation.evaluate`, the same seeded initial states as our agents),
TensorBoard events, ``checkpoint.npz`` (the model's zip and, for DDPG, its replay buffer, as byte arrays) and,
at the end of a call, ``model.npz`` (the model's zip), so that reports and sweeps treat these runs like ours.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import s2ac
from s2ac import checkpoint
from s2ac.envs import make_env, separate_instance
from s2ac.training.evaluation import episode_seed, evaluate
from s2ac.training.files import CHECKPOINT_FILE, CONFIG_FILE, MODEL_FILE, write_text_atomically
from s2ac.training.logger import COLUMNS, RunLogger

REFERENCE_ALGOS: dict[str, str] = {"ddpg": "DDPG", "ppo": "PPO"}  # our name -> the libraries' class name
OFF_POLICY = frozenset({"ddpg"})  # these have a replay buffer to checkpoint
LIBRARIES = ("sbx", "stable_baselines3")  # in order of preference
INSTALL_HINT = "pip install 's2ac[baselines]'"
MODEL_KEY, BUFFER_KEY = "reference/model_zip", "reference/replay_buffer"


@dataclass(frozen=True)
class Library:
    """An imported baseline library: ``name`` (a key of :data:`LIBRARIES`), its module and version."""

    name: str
    module: ModuleType
    version: str

    def algorithm(self, algo: str) -> type:
        """The library's class for our ``algo`` name (``"ddpg"`` or ``"ppo"``)."""
        return getattr(self.module, REFERENCE_ALGOS[algo])


def import_library(name: str | None = None) -> Library:
    """The baseline library ``name`` (``"sbx"`` or ``"stable_baselines3"``), or by default sbx where it imports,
    else stable-baselines3. ``ImportError`` naming the extra to install when neither (or ``name``) imports."""
    if name is not None and name not in LIBRARIES:
        raise ValueError(f"unknown baseline library {name!r}; expected one of {', '.join(LIBRARIES)}")
    errors = []
    for candidate in (name,) if name is not None else LIBRARIES:
        try:
            module = importlib.import_module(candidate)
        except ImportError as err:  # sbx may also fail to import with an incompatible JAX: try the next one
            errors.append(f"{candidate}: {err}")
            if name is None and not (isinstance(err, ModuleNotFoundError) and err.name == candidate):
                warnings.warn(f"{candidate} is installed but does not import ({err}); trying the next library",
                              stacklevel=2)
            continue
        return Library(candidate, module, str(getattr(module, "__version__", "unknown")))
    wanted = name or " or ".join(LIBRARIES)
    raise ImportError(f"the reference baselines (DDPG, PPO) need {wanted}, which is not installed or does not "
                      f"import; install the optional extra with `{INSTALL_HINT}` ({'; '.join(errors)})")


class ReferencePolicy:
    """Adapter giving a baseline model the ``predict(obs, mode, key)`` of our agents, for ``evaluate``: always
    the model's deterministic action (``mode`` and ``key`` are ignored)."""

    def __init__(self, model: Any):
        self.model = model

    def predict(self, obs: np.ndarray, mode: str = "eval", key: Any = None) -> np.ndarray:
        return self.model.predict(obs, deterministic=True)[0]


def train_reference(name: str, env_id: str, seed: int, total_steps: int, run_dir: str | Path,
                    settings: dict[str, Any] | None = None, eval_every: int = 5000, eval_episodes: int = 10,
                    checkpoint_every: int = 10000, progress: bool = False, library: str | None = None) -> list[dict]:
    """Train the reference baseline ``name`` (``"ddpg"`` or ``"ppo"``) on ``env_id`` to ``total_steps``
    environment steps in ``run_dir``; returns the ``metrics.csv`` rows written by this call.

    The model is the library's (sbx by default, else stable-baselines3; ``library`` picks one) with its own
    defaults; ``settings`` (JSON values, recorded in ``config.json``) override its keyword arguments, e.g.
    ``{"policy_kwargs": {"net_arch": [64, 64]}, "buffer_size": 100000}``; for DDPG, ``"action_noise": 0.1``
    gives Gaussian exploration noise of that standard deviation in the normalised action space (the libraries
    default to none). Training runs in chunks up to the next multiple of ``eval_every``; after each chunk the
    model is evaluated (``eval_episodes`` episodes, deterministic actions) and a row is logged, and a
    checkpoint is written when a multiple of ``checkpoint_every`` was passed, and at the end. PPO learns in
    whole rollouts, so its rows fall at the first rollout boundary at or after each target step. Schedules
    see each chunk as a whole ``learn`` call: keep learning rates constant (the defaults are).

    Called on a ``run_dir`` with a checkpoint, it continues from the checkpoint's step (rows logged after it
    are dropped); a run whose checkpoint is at ``total_steps`` or beyond returns ``[]`` at once. Resuming is
    not bitwise exact: the interrupted episode is restarted and random states are reseeded from (seed,
    step). Checkpoints hold pickles (the libraries' format): resume only run directories you trust.

    Raises ``ValueError`` for an unknown name, bad arguments or settings, or a ``run_dir`` holding another
    run (algorithm, environment, seed or settings); ``ImportError`` naming ``pip install 's2ac[baselines]'``
    when no baseline library is installed.
    """
    if name not in REFERENCE_ALGOS:
        raise ValueError(f"unknown reference baseline {name!r}; expected one of {', '.join(REFERENCE_ALGOS)}")
    for label, value, low in (("seed", seed, 0), ("total_steps", total_steps, 1), ("eval_every", eval_every, 1),
                              ("eval_episodes", eval_episodes, 1), ("checkpoint_every", checkpoint_every, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{label} must be an integer >= {low}, got {value!r}")
    settings = dict(settings or {})
    _check_settings(settings)
    run_dir = Path(run_dir)

    meta = _existing_run(run_dir, name, env_id, seed, settings)
    if meta is not None and int(meta["step"]) >= total_steps:
        return []  # finished: nothing to import or load
    lib = import_library(meta["library"] if meta is not None else library)
    if meta is not None and meta.get("library_version") != lib.version:
        warnings.warn(f"{run_dir} was written by {lib.name} {meta.get('library_version')}, resuming with "
                      f"{lib.version}", stacklevel=2)

    env = make_env(env_id)
    eval_env = separate_instance(env)
    cls = lib.algorithm(name)
    if meta is None:
        model = _build(cls, lib, name, env, seed, settings)
        step, time_s = 0, 0.0
        _write_config(run_dir, name, env_id, seed, settings, lib, env, eval_every, eval_episodes, checkpoint_every)
        logger = RunLogger(run_dir)
    else:
        arrays, meta = checkpoint.read(run_dir / CHECKPOINT_FILE)
        model = cls.load(io.BytesIO(arrays[MODEL_KEY].tobytes()), env=env)
        if name in OFF_POLICY:
            model.load_replay_buffer(io.BytesIO(arrays[BUFFER_KEY].tobytes()))
        step, time_s = int(meta["step"]), float(meta.get("time_s", 0.0))
        # load() resets the environment on the next learn(); seed it (and the libraries' generators) so that
        # a resumed run is reproducible, though not identical to an uninterrupted one.
        model.set_random_seed(episode_seed(seed, step))
        logger = RunLogger(run_dir, resume_step=step)

    def save_checkpoint() -> None:
        arrays = {MODEL_KEY: _model_bytes(model)}
        if name in OFF_POLICY:
            buffer = io.BytesIO()
            model.save_replay_buffer(buffer)
            arrays[BUFFER_KEY] = np.frombuffer(buffer.getvalue(), np.uint8)
        checkpoint.write_atomically(run_dir / CHECKPOINT_FILE, arrays, {
            **_identity(name, env_id, seed, settings, lib), "step": step, "total_steps": total_steps,
            "time_s": time_s, "eval_every": eval_every, "eval_episodes": eval_episodes,
            "checkpoint_every": checkpoint_every})

    from tqdm.auto import tqdm

    rows: list[dict] = []
    policy = ReferencePolicy(model)
    bar = tqdm(total=total_steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True,
               desc=f"{name} {env_id}")
    try:
        while step < total_steps:
            target = min((step // eval_every + 1) * eval_every, total_steps)
            start = time.perf_counter()
            model.learn(target - step, reset_num_timesteps=False)
            elapsed = time.perf_counter() - start
            previous, step = step, int(model.num_timesteps)
            time_s += elapsed
            result = evaluate(policy, eval_env, eval_episodes, seed)
            row = {"step": step, "eval_return_mean": result.mean, "eval_return_std": result.std,
                   "time_s": time_s, "steps_per_s": (step - previous) / max(elapsed, 1e-9)}
            logger.log_row(row)
            rows.append({**{column: math.nan for column in COLUMNS}, **row})
            if step // checkpoint_every > previous // checkpoint_every or step >= total_steps:
                save_checkpoint()
            bar.update(step - previous)
            bar.set_postfix(eval=f"{result.mean:.1f}")
        checkpoint.write_atomically(run_dir / MODEL_FILE, {MODEL_KEY: _model_bytes(model)},
                                    {**_identity(name, env_id, seed, settings, lib), "step": step})
    finally:
        bar.close()
        logger.close()
    return rows


def load_reference(path: str | Path, env: Any = None) -> Any:
    """The sbx/stable-baselines3 model of a reference run: a run directory (its ``model.npz``, else its
    checkpoint) or one of those files. ``env`` (an id or instance) defaults to the run's environment."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE if (path / MODEL_FILE).is_file() else path / CHECKPOINT_FILE
    arrays, meta = checkpoint.read(path)
    if meta.get("algo") not in REFERENCE_ALGOS or MODEL_KEY not in arrays:
        raise checkpoint.CheckpointError(f"{path} does not hold a reference baseline (DDPG, PPO) model")
    lib = import_library(meta["library"])
    return lib.algorithm(meta["algo"]).load(io.BytesIO(arrays[MODEL_KEY].tobytes()),
                                            env=make_env(env if env is not None else meta["env"]))


def _check_settings(settings: dict[str, Any]) -> None:
    reserved = sorted({"env", "seed"} & settings.keys())
    if reserved:
        raise ValueError(f"settings may not set {', '.join(reserved)}: they are arguments of train_reference")
    try:
        json.dumps(settings)
    except TypeError as err:
        raise ValueError(f"settings must be JSON values (they are recorded in config.json): {err}") from err


def _build(cls: type, lib: Library, name: str, env: Any, seed: int, settings: dict[str, Any]) -> Any:
    """A new model with the library's defaults, ``settings`` translated to its keyword arguments."""
    kwargs: dict[str, Any] = {"policy": "MlpPolicy", "verbose": 0, **settings}
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])  # JSON has no tuples; the libraries want one
    noise = kwargs.get("action_noise")
    if isinstance(noise, int | float) and not isinstance(noise, bool):
        if name not in OFF_POLICY:
            raise ValueError(f"action_noise is a setting of DDPG, not of {name}")
        noise_module = importlib.import_module("stable_baselines3.common.noise")
        dim = env.action_space.shape[0]
        kwargs["action_noise"] = noise_module.NormalActionNoise(np.zeros(dim), float(noise) * np.ones(dim))
    try:
        return cls(env=env, seed=seed, **kwargs)
    except TypeError as err:  # an unknown keyword: name it as a settings error
        raise ValueError(f"invalid settings for {lib.name} {REFERENCE_ALGOS[name]}: {err}") from err


def _model_bytes(model: Any) -> np.ndarray:
    buffer = io.BytesIO()
    model.save(buffer)
    return np.frombuffer(buffer.getvalue(), np.uint8)


def _identity(name: str, env_id: str, seed: int, settings: dict[str, Any], lib: Library) -> dict[str, Any]:
    return {"algo": name, "env": env_id, "seed": seed, "settings": settings, "library": lib.name,
            "library_version": lib.version, "reference": True}


def _write_config(run_dir: Path, name: str, env_id: str, seed: int, settings: dict[str, Any], lib: Library,
                  env: Any, eval_every: int, eval_episodes: int, checkpoint_every: int) -> None:
    import jax

    description = {"algo": name, "preset": name, "env": env_id, "seed": seed,
                   "config": {"settings": settings, "library": lib.name, "library_version": lib.version,
                              "eval_every": eval_every, "eval_episodes": eval_episodes,
                              "checkpoint_every": checkpoint_every},
                   "obs_dim": int(env.observation_space.shape[0]), "action_dim": int(env.action_space.shape[0]),
                   "reference": True, "s2ac_version": s2ac.__version__, "jax_version": jax.__version__}
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomically(run_dir / CONFIG_FILE, json.dumps(description, indent=2) + "\n")


def _existing_run(run_dir: Path, name: str, env_id: str, seed: int, settings: dict[str, Any]) -> dict | None:
    """The checkpoint metadata of the run in ``run_dir`` to continue, or None to start one; ``ValueError`` if
    ``run_dir`` holds a different run. A run stopped before its first checkpoint is started again."""
    described = None
    if (run_dir / CONFIG_FILE).is_file():
        try:
            described = json.loads((run_dir / CONFIG_FILE).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{run_dir / CONFIG_FILE} is not valid JSON: {err}") from err
        _check_same(run_dir / CONFIG_FILE, described, described.get("config", {}).get("settings", {}),
                    name, env_id, seed, settings)
    if not (run_dir / CHECKPOINT_FILE).is_file():
        return None
    meta = checkpoint.read_meta(run_dir / CHECKPOINT_FILE)
    if described is None or not meta.get("reference"):
        raise ValueError(f"{run_dir} holds a checkpoint but no reference-baseline config.json: not a run of "
                         "train_reference")
    _check_same(run_dir / CHECKPOINT_FILE, meta, meta.get("settings", {}), name, env_id, seed, settings)
    return meta


def _check_same(path: Path, found: dict, found_settings: dict, name: str, env_id: str, seed: int,
                settings: dict[str, Any]) -> None:
    if found.get("algo") != name or found.get("env") != env_id or found.get("seed") != seed:
        raise ValueError(f"{path} belongs to a {found.get('algo')} run on {found.get('env')} with seed "
                         f"{found.get('seed')}, not {name} on {env_id} with seed {seed}: choose another run_dir")
    # Settings compared through JSON, as they were recorded (tuples become lists).
    if settings and json.loads(json.dumps(settings)) != found_settings:
        raise ValueError(f"{path} was trained with settings {found_settings}, not {settings}")
