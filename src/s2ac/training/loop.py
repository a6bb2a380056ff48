"""The one off-policy training loop, shared by every algorithm.

Each environment step: act (uniformly at random for the first ``random_steps``), store the transition;
every ``update_every`` steps after ``learning_starts``, that many updates in one jitted call; every
``eval_every`` steps, an evaluation and a row in ``metrics.csv``; every ``checkpoint_every`` steps, a
checkpoint.

Runs resume exactly: every episode's reset is seeded from (seed, episode index), the checkpoint holds the
networks, optimisers, replay buffer and every random state, and on resume the current episode is rebuilt
by replaying its actions from its seeded reset. An interrupted and resumed run therefore ends with the same
weights as an uninterrupted one (on the same machine and JAX version). A run stopped before its first
checkpoint has nothing to resume: the same command (or a resume) starts it again from step 0.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from s2ac import checkpoint
from s2ac.algorithms import UnknownAlgorithmError, agent_from_description
from s2ac.algorithms.config import FORMER_NAMES
from s2ac.envs import separate_instance
from s2ac.training.evaluation import STREAM_BATCHES, STREAM_KEY, STREAM_RESET, episode_seed, evaluate
from s2ac.training.files import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    TENSORBOARD_DIR,
    prepare_output_dir,
    write_text_atomically,
)
from s2ac.training.health import DivergenceError, NonFiniteLossError, TrainingStopped, monitor_for
from s2ac.training.logger import HEALTH_COLUMNS, RunLogger
from s2ac.training.replay import ReplayBuffer
from s2ac.training.trainable import Trainable

__all__ = ["CHECKPOINT_FILE", "CONFIG_FILE", "MODEL_FILE", "DivergenceError", "NonFiniteLossError", "Trainable",
           "Trainer", "TrainingStopped", "check_total_steps", "learn", "read_description", "resume"]
# The run directory's identity: a run may be started again in a directory whose description matches these.
IDENTITY_KEYS = ("algo", "env", "seed", "config")


def check_total_steps(total_steps: object) -> int:
    """``total_steps`` if it is a positive int (a step budget), else a ValueError saying so."""
    if not isinstance(total_steps, int) or isinstance(total_steps, bool) or total_steps < 1:
        raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
    return total_steps


class Trainer:
    """The training progress of one agent: step counters, replay buffer, random states, logs."""

    def __init__(self, agent: Trainable, run_dir: str | Path | None = None, resume: bool = False):
        cfg = agent.config
        self.agent = agent
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.eval_env = separate_instance(agent.env)
        self.buffer = ReplayBuffer(cfg.buffer_size, agent.obs_dim, agent.action_dim)
        self.rng = np.random.default_rng(episode_seed(agent.seed, STREAM_BATCHES))
        self.key = jax.random.PRNGKey(episode_seed(agent.seed, STREAM_KEY))
        self.step = self.episode = self.episode_length = 0
        self.total_steps: int | None = None  # of the latest run() call, kept so that a resume can finish it
        self.episode_return = 0.0
        self.finished_returns: list[float] = []
        self.update_sums: dict[str, float] = {}
        self.update_count = 0
        self.max_abs_reward = 0.0  # the scale of the returns, for the divergence guard
        self.health = monitor_for(agent, lambda: self.max_abs_reward)
        self.time_s = 0.0
        self.history: list[dict[str, float]] = []
        self.logger: RunLogger | None = None
        self._clock = time.perf_counter()
        # The run directory holds this very run, stopped before its first checkpoint: run() starts it again.
        self.restarting = False
        self._dir_started = resume  # config.json written (on the first run() of a new run)
        if resume:
            self._load_checkpoint()
        else:
            self.obs = self._reset()
            if self.run_dir is not None:
                prepare_output_dir(self.run_dir, "run directory")  # fail now, not after the first steps
                self.restarting = self._check_run_dir()

    # --- the loop ----------------------------------------------------------------------------------------
    def run(self, total_steps: int, progress: bool = True,
            callback: Callable[[Trainer], bool | None] | None = None) -> None:
        """Train until ``total_steps`` environment steps; ``callback(trainer)`` after each step may return
        False to stop early."""
        check_total_steps(total_steps)
        if total_steps < self.step:
            raise ValueError(f"this run is already at step {self.step}; total_steps={total_steps} would go back")
        cfg = self.agent.config
        if self.run_dir is not None:
            if not self._dir_started:
                self._start_run_dir(total_steps)
            elif self.logger is None and self.step < total_steps:
                # Resumed, or closed by close(): continue the same logs. Not for a run with nothing left to
                # do, which would only leave an empty TensorBoard file behind.
                self.logger = RunLogger(self.run_dir, resume_step=self.step)
        self.total_steps = total_steps
        self._clock, self._row_step, self._row_clock = time.perf_counter(), self.step, time.perf_counter()
        bar = tqdm(total=total_steps, initial=self.step, disable=not progress, unit="step", dynamic_ncols=True,
                   desc=f"{self.agent.name} {self.agent.env_id}")
        try:
            while self.step < total_steps:
                self._env_step()
                self.step += 1
                if self.step >= cfg.learning_starts and self.step % cfg.update_every == 0:
                    self._update()
                if self.step % cfg.eval_every == 0 or self.step == total_steps:
                    row = self._evaluate_and_log()
                    bar.set_postfix(eval=f"{row['eval_return_mean']:.1f}", train=f"{row['train_return']:.1f}")
                if self.run_dir is not None and (self.step % cfg.checkpoint_every == 0 or self.step == total_steps):
                    self.save_checkpoint()
                bar.update(1)
                if callback is not None and callback(self) is False:
                    break
        finally:
            bar.close()
        if self.run_dir is not None:
            self.agent.save(self.run_dir / MODEL_FILE)
            if self.logger is not None:
                self.logger.writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer (its thread would outlive a worker process otherwise); a later
        ``run`` reopens the logs where they stopped."""
        if self.logger is not None:
            self.logger.close()
            self.logger = None

    def _env_step(self) -> None:
        agent = self.agent
        if self.step < agent.config.random_steps:
            action = self.rng.uniform(-1.0, 1.0, agent.action_dim).astype(np.float32)
        else:
            self.key, act_key = jax.random.split(self.key)
            action = np.asarray(agent.act_fn(agent.state, self.obs[None], act_key, mode="train"))[0]
        next_obs, reward, terminated, truncated, _ = agent.env.step(agent.scaler.to_env(action))
        next_obs = np.asarray(next_obs, np.float32)
        self.buffer.add(self.obs, action, float(reward), next_obs, bool(terminated))
        self.max_abs_reward = max(self.max_abs_reward, abs(float(reward)))
        self.episode_return += float(reward)
        self.episode_length += 1
        if terminated or truncated:
            self.finished_returns.append(self.episode_return)
            self.episode += 1
            self.obs = self._reset()
        else:
            self.obs = next_obs

    def _reset(self) -> np.ndarray:
        self.episode_return, self.episode_length = 0.0, 0
        obs, _ = self.agent.env.reset(seed=episode_seed(self.agent.seed, STREAM_RESET, self.episode))
        return np.asarray(obs, np.float32)

    def _update(self) -> None:
        cfg = self.agent.config
        batches = self.buffer.sample(self.rng, cfg.batch_size, cfg.update_every)
        self.key, update_key = jax.random.split(self.key)
        state, metrics = self.agent.update_fn(self.agent.state, batches, update_key)
        metrics = {name: float(value) for name, value in metrics.items()}
        try:
            self.health.observe(self.step, metrics)
        except TrainingStopped as err:  # before the new state is kept: the agent keeps its last good one
            where = "no checkpoint was written yet"
            if self.run_dir is not None and (self.run_dir / CHECKPOINT_FILE).exists():
                where = f"the last checkpoint in {self.run_dir} is intact"
            raise type(err)(f"{err}; training stopped and {where}") from None
        self.agent.state = state
        for name, value in metrics.items():
            self.update_sums[name] = self.update_sums.get(name, 0.0) + value
        self.update_count += 1

    def _evaluate_and_log(self) -> dict[str, float]:
        cfg, now = self.agent.config, time.perf_counter()
        self.time_s += now - self._clock
        self._clock = now
        result = evaluate(self.agent, self.eval_env, cfg.eval_episodes, self.agent.seed)
        means = {name: total / self.update_count for name, total in self.update_sums.items()} \
            if self.update_count else {}
        row = {"step": self.step, "eval_return_mean": result.mean, "eval_return_std": result.std,
               "train_return": float(np.mean(self.finished_returns)) if self.finished_returns else math.nan,
               "entropy": means.get("entropy", math.nan), "alpha": means.get("alpha", math.nan),
               "critic_loss": means.get("critic_loss", math.nan), "actor_loss": means.get("actor_loss", math.nan),
               "episodes": self.episode, "time_s": self.time_s,
               "steps_per_s": (self.step - self._row_step) / max(now - self._row_clock, 1e-9),
               **{name: means.get(name, math.nan) for name in HEALTH_COLUMNS}, **self.health.counts}
        self.finished_returns, self.update_sums, self.update_count = [], {}, 0
        self.history.append(row)
        if self.logger is not None:
            self.logger.log_row(row)
            if means:
                self.logger.log_scalars(self.step, means)
        # Evaluation time is not training time.
        self._clock = self._row_clock = time.perf_counter()
        self._row_step = self.step
        return row

    # --- run directory and checkpoints ---------------------------------------------------------------------
    def _check_run_dir(self) -> bool:
        """Whether ``run_dir`` holds this very run (same algorithm, environment, seed and config) stopped before
        its first checkpoint, to be started again; False for a directory without a run; ValueError for a
        directory holding a run that must not be overwritten."""
        run_dir = self.run_dir
        if not (run_dir / CONFIG_FILE).exists():
            return False
        if (run_dir / CHECKPOINT_FILE).exists():
            raise ValueError(f"{run_dir} already holds a run; continue it with `s2ac train --resume {run_dir}` "
                             "or choose another output directory")
        stored = read_description(run_dir)
        if isinstance(stored.get("config"), dict):  # written under a field's former name, it is the same config
            stored["config"] = {FORMER_NAMES.get(key, key): value for key, value in stored["config"].items()}
        mine = json.loads(json.dumps(self.agent.describe()))  # as config.json holds it (lists, not tuples)
        if all(stored.get(key) == mine[key] for key in IDENTITY_KEYS):
            return True
        differences = [f"{key} {stored.get(key)!r}, not {mine[key]!r}" for key in ("algo", "env", "seed")
                       if stored.get(key) != mine[key]]
        config = stored.get("config") if isinstance(stored.get("config"), dict) else {}
        changed = sorted(k for k in {*config, *mine["config"]} if config.get(k) != mine["config"].get(k))
        if changed and not differences:
            differences.append(f"config values {', '.join(changed)} differ")
        raise ValueError(f"{run_dir} holds another run ({'; '.join(differences)}) that stopped before its first "
                         "checkpoint; delete that directory to reuse it, or choose another output directory")

    def _start_run_dir(self, total_steps: int) -> None:
        run_dir = self.run_dir
        if self.restarting:
            # Nothing of the stopped run can be continued; its rows and events would mix with the new run's.
            warnings.warn(f"{run_dir} holds this run, stopped before its first checkpoint: starting it again from "
                          "step 0", stacklevel=3)
            (run_dir / MODEL_FILE).unlink(missing_ok=True)
            (run_dir / METRICS_FILE).unlink(missing_ok=True)
            shutil.rmtree(run_dir / TENSORBOARD_DIR, ignore_errors=True)
            self.restarting = False
        run_dir.mkdir(parents=True, exist_ok=True)
        # total_steps: the budget a restart of this run (before its first checkpoint) goes back to.
        description = {**self.agent.describe(), "total_steps": total_steps, "jax_version": jax.__version__}
        write_text_atomically(run_dir / CONFIG_FILE, json.dumps(description, indent=2) + "\n")
        self.logger = RunLogger(run_dir)
        self._dir_started = True

    def save_checkpoint(self) -> Path:
        """Write everything needed to continue this run exactly to ``run_dir/checkpoint.npz``, atomically."""
        if self.run_dir is None:
            raise ValueError("this run has no run directory to checkpoint into")
        self.time_s += time.perf_counter() - self._clock
        self._clock = time.perf_counter()
        arrays = {**checkpoint.tree_to_arrays(self.agent.state, "state/"), **self.buffer.state_dict(),
                  "trainer/key": np.asarray(self.key)}
        meta = {**self.agent.describe(), "step": self.step, "episode": self.episode,
                "episode_return": self.episode_return, "episode_length": self.episode_length,
                "finished_returns": self.finished_returns, "update_sums": self.update_sums,
                "update_count": self.update_count, "time_s": self.time_s, "total_steps": self.total_steps,
                "rng": self.rng.bit_generator.state, "max_abs_reward": self.max_abs_reward,
                "health": self.health.state_dict()}
        path = self.run_dir / CHECKPOINT_FILE
        checkpoint.write_atomically(path, arrays, meta)
        return path

    def _load_checkpoint(self) -> None:
        path = self.run_dir / CHECKPOINT_FILE
        arrays, meta = checkpoint.read(path)
        agent = self.agent
        if meta.get("algo") != agent.name or meta.get("env") != agent.env_id:
            raise checkpoint.CheckpointError(f"{path} is a {meta.get('algo')} run on {meta.get('env')}, not "
                                             f"{agent.name} on {agent.env_id}")
        agent.state = checkpoint.arrays_to_tree(agent.state, arrays, "state/", path)
        self.buffer.load_state_dict(arrays)
        self.key = jnp.asarray(arrays["trainer/key"])
        self.rng.bit_generator.state = meta["rng"]
        for name in ("step", "episode", "finished_returns", "update_sums", "update_count", "time_s", "total_steps"):
            setattr(self, name, meta[name])
        # Checkpoints written before the health monitor: the counts start at 0, the reward scale from the buffer.
        rewards = self.buffer.rewards[:len(self.buffer)]
        self.max_abs_reward = meta.get("max_abs_reward", float(np.abs(rewards).max(initial=0.0)))
        self.health.load_state_dict(meta.get("health", {}))
        self.obs = self._replay_current_episode(meta["episode_length"])
        if self.episode_return != meta["episode_return"]:
            warnings.warn(f"{agent.env_id} did not replay to the same state (return {self.episode_return} vs "
                          f"{meta['episode_return']}): it is not deterministic, so the resumed run will differ "
                          "from an uninterrupted one", stacklevel=2)

    def _replay_current_episode(self, length: int) -> np.ndarray:
        """Bring the environment back to where the checkpoint left it: the episode's seeded reset, then the
        actions it took, read back from the replay buffer."""
        obs = self._reset()
        for action in self.buffer.last_actions(length):
            obs, reward, *_ = self.agent.env.step(self.agent.scaler.to_env(action))
            obs = np.asarray(obs, np.float32)
            self.episode_return += float(reward)
            self.episode_length += 1
        return obs


def read_description(run_dir: str | Path) -> dict[str, Any]:
    """The content of a run directory's ``config.json``; ValueError if it has none or it is not readable."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a run directory: it has no {CONFIG_FILE}")
    try:
        description = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a readable run description ({err})") from None
    if not isinstance(description, dict) or not all(key in description for key in IDENTITY_KEYS):
        raise ValueError(f"{path} is not a run description of s2ac: it lacks algo, env, seed or config")
    return description


def learn(agent: Trainable, total_steps: int, run_dir: str | Path | None = None, progress: bool = True,
          callback: Callable[[Trainer], bool | None] | None = None) -> Trainable:
    """Train ``agent`` until ``total_steps`` environment steps in all (a second call continues): its
    ``trainer`` (made on the first call, into ``run_dir`` if given) runs the loop. ``agent.learn(...)`` is this."""
    check_total_steps(total_steps)  # before a run directory is made for a run that cannot start
    if agent.trainer is None:
        agent.trainer = Trainer(agent, run_dir)
    elif run_dir is not None and (agent.trainer.run_dir is None or Path(run_dir) != agent.trainer.run_dir):
        raise ValueError(f"this agent is already training into {agent.trainer.run_dir or 'no run directory'}; "
                         f"a later learn() continues that run and cannot switch to {run_dir}")
    agent.trainer.run(total_steps, progress=progress, callback=callback)
    return agent


def resume(run_dir: str | Path) -> Trainable:
    """The agent of an interrupted (or finished) run directory, ready to continue with ``learn``.

    A run stopped before its first checkpoint has nothing to continue: its agent starts it again from step 0
    (``agent.trainer.restarting`` is True, ``agent.trainer.total_steps`` its original budget), and ``learn``
    says so with a warning."""
    run_dir = Path(run_dir)
    description = read_description(run_dir)
    try:
        agent = agent_from_description(description)
    except UnknownAlgorithmError:
        algo = description["algo"]
        raise ValueError(f"{run_dir} is a {algo} run, which `s2ac sweep` resumes, not this one") from None
    if (run_dir / CHECKPOINT_FILE).is_file():
        agent.trainer = Trainer(agent, run_dir, resume=True)
    else:
        agent.trainer = Trainer(agent, run_dir)
        agent.trainer.total_steps = description.get("total_steps")
    return agent
