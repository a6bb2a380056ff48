"""Study E2: multigoal, the paper's multimodal, entropy-seeking policies (Section 4.2; EXPERIMENTS.md E2).

    s2ac multigoal --out DIR [--quick] [--parts classic maxent authors] [--algos ...] [--alphas ...]
                   [--seeds ...] [--steps N] [--workers N] [--no-train]

Three parts, each a grid of runs (one run directory per agent, trained by the sweep's process pool with per-run
locks; a rerun skips finished agents and resumes interrupted ones):

- ``classic``: Haarnoja et al.'s multigoal example on ``s2ac/MultiGoal-v0`` (four goals): SQL at their settings
  (:data:`CLASSIC_SETTINGS`; 100k steps, alpha = 10, i.e. reward scale 0.1), and S2AC(phi, theta) and SAC on
  the same schedule. Their published result is one SQL policy whose trajectories end at all four goals.
- ``maxent``: the paper's ``s2ac/MultiGoalMaxEnt-v0`` (G1 on the right, G2 and G3 on the left, which offers
  more future entropy): S2AC(phi) (the authors' multigoal variant), S2AC(phi, theta), SAC and SQL at several
  temperatures, tested also with the wall (``s2ac/MultiGoalMaxEntObstacle-v0``, never seen in training).
- ``authors``: S2AC(phi) in ``authors_compat`` mode at the authors' settings (docs/math.md sections 10-11),
  side by side with ``maxent``.

When an agent finishes, :func:`measure_run` measures its policy, keeping ``evaluation.npz`` (trajectories,
samples, Q-landscape) beside it, and the study's skeleton writes its record there (``outcome.json``); then the
study writes ``results.json``, ``summary.txt`` and the figures (:mod:`s2ac.experiments.multigoal_plots`). What
is measured per policy (the paper's claim is about policies, not seeds):

- ``test_episodes`` stochastic test episodes (each agent's ``stochastic_mode``: S2AC draws a particle with
  probability ``softmax(Q / alpha)``), with and without the wall: the share ending at each goal, the number of
  distinct goals reached and the entropy of the goal distribution;
- at the critical states, ``samples`` actions of the policy: their ``-mean log pi``, the number of separated
  modes of their distribution (:func:`find_modes`: maxima of a kernel density estimate holding at least 5% of
  the samples, with a valley between them) and, at the start, how many goals a mode points at
  (:func:`goal_modes`), against the same for the unimodal tanh-Gaussian fitted to the same samples (a wide
  unimodal policy squashed into the box has modes in its corners, between the goals' directions); a policy is
  multimodal at the start when at least two goals have a mode and more than for its fit; the same goal-mode
  counts at several kernel widths (``profile_bandwidths``: the count depends on the width, and the record shows
  how); and how the samples at the start spread over the directions of the goals;
- the smoothness of the learned ``min_k Q`` in the action (Figures 14-15) and ``q_0`` at the critical states.

Over the policies of an algorithm, :func:`alpha_trend` tests the shift claim: does the share of episodes ending
at G2 or G3 grow with alpha?
"""

from __future__ import annotations

import argparse
import functools
import io
import itertools
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from s2ac.algorithms.base import OffPolicyAgent
from s2ac.algorithms.presets import ALIASES, PRESETS
from s2ac.envs import make_env
from s2ac.envs.multigoal import (
    MAXENT_GOALS,
    MULTIGOAL_GOALS,
    MULTIGOAL_ID,
    MULTIGOAL_MAXENT_ID,
    MULTIGOAL_MAXENT_OBSTACLE_ID,
    MULTIGOAL_OBSTACLE_ID,
)
from s2ac.experiments import validation
from s2ac.experiments.outputs import print_summary
from s2ac.experiments.study import missing_line, recorded_run, train_and_collect, write_study
from s2ac.experiments.sweep import RunSpec, known_settings
from s2ac.training.evaluation import evaluate
from s2ac.training.files import MODEL_FILE, write_bytes_atomically

EVALUATION_FILE = "evaluation.npz"
# What the records hold: a record of another version is measured again from its run (2: modes located, goal modes;
# 3: kernel width 0.1, goal modes at several widths).
MEASURES_VERSION = "3"
WALL_ENVS = {MULTIGOAL_ID: MULTIGOAL_OBSTACLE_ID, MULTIGOAL_MAXENT_ID: MULTIGOAL_MAXENT_OBSTACLE_ID}
GOALS = {MULTIGOAL_ID: MULTIGOAL_GOALS, MULTIGOAL_MAXENT_ID: MAXENT_GOALS}
GOAL_NAMES = {MULTIGOAL_ID: ("G1", "G2", "G3", "G4"), MULTIGOAL_MAXENT_ID: ("G1", "G2", "G3")}
ENTROPY_SIDE = {MULTIGOAL_MAXENT_ID: ("G2", "G3")}
"""The goals on the side that offers more future entropy, where the paper says S2AC goes as alpha grows."""
# The first is the start, where a policy chooses its goal; the others are the paper's (Figure 14) or, for the
# four-goal task, points between two goals.
CRITICAL_STATES = {
    MULTIGOAL_MAXENT_ID: ((0.0, 0.0), (-3.5, -2.5), (-2.5, 0.5), (-1.0, 0.0), (1.0, 0.0), (4.0, 0.0)),
    MULTIGOAL_ID: ((0.0, 0.0), (2.5, 2.5), (-2.5, -2.5)),
}
PLANE = (-7.0, 7.0)

# Haarnoja et al.'s multigoal example (softqlearning, examples/multigoal_sql.py): 30-step episodes, one update
# per step once 100 transitions are stored, batch 64, 128x128 networks, Adam 3e-4, 16 samples for the soft
# value, 32 sampler particles, reward scale 0.1 (alpha = 10 here), the target network copied every 1000 steps
# (here Polyak averaging with that horizon, 1 - 1/1000), no random-action warm-up, ReLU. One update per step
# is done as the loop does it, 50 updates every 50 steps in one compiled scan: the same updates on data at most
# 50 steps older, at a fraction of the per-step dispatch cost (per-step updates ran 20x slower on one core).
CLASSIC_SETTINGS = ("random_steps=0", "learning_starts=100", "update_every=50", "batch_size=64",
                    "critic_hidden=[128,128]", "actor_hidden=[128,128]", "amortized_hidden=[128,128]",
                    "critic_lr=0.0003", "actor_lr=0.0003", "amortized_lr=0.0003", "value_samples=16",
                    "polyak=0.999", "svgd_steps=10")
# The earlier multigoal study's schedule: 100-unit networks as in Haarnoja et al., one smooth activation for
# every algorithm (the Hessian smoothness measure of Figure 15 then means the same for all), S2AC's L = 10.
MAXENT_SETTINGS = ("random_steps=2000", "learning_starts=1000", "update_every=50", "batch_size=64",
                   "critic_hidden=[100,100]", "actor_hidden=[100,100]", "amortized_hidden=[100,100]",
                   "activation=elu", "svgd_steps=10")
# The authors' code: its departures (authors_compat), its half-mean bandwidth free to follow the particles, no
# step limit; the rest are its defaults (docs/math.md section 11), which are this library's.
AUTHORS_SETTINGS = ("authors_compat=true", "svgd_steps=10", "svgd_max_move=null", "min_kernel_variance=null")


@dataclass(frozen=True)
class Part:
    """One part of the study: a task, its algorithms, temperatures and the settings every run of it gets;
    ``extra`` algorithms run only when ``--algos`` names them; ``algo_settings``: (algorithm, settings) pairs
    that only that algorithm's runs get, after the part's."""

    env: str
    algos: tuple[str, ...]
    alphas: tuple[float, ...]
    settings: tuple[str, ...]
    extra: tuple[str, ...] = ()
    algo_settings: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def settings_of(self, algo: str) -> tuple[str, ...]:
        """The settings every run of ``algo`` in this part gets."""
        return self.settings + sum((items for name, items in self.algo_settings if name == algo), ())


PARTS = {
    # SQL's 32 sampler particles are Haarnoja et al.'s.
    "classic": Part(MULTIGOAL_ID, ("sql", "s2ac_phi_theta", "sac"), (10.0,), CLASSIC_SETTINGS,
                    algo_settings=(("sql", ("num_particles=32",)),)),
    # Amortized S2AC acts with its one-pass sampler f_psi (Figure 17); SAC-NF is the paper's flow baseline.
    "maxent": Part(MULTIGOAL_MAXENT_ID, ("s2ac_phi", "s2ac_phi_theta", "sac", "sql"), (1.0, 3.0, 10.0),
                   MAXENT_SETTINGS, extra=("s2ac_amortized", "sacnf")),
    "authors": Part(MULTIGOAL_MAXENT_ID, ("s2ac_phi",), (1.0,), AUTHORS_SETTINGS),
}
STEPS = 100_000
QUICK = {"parts": ("classic", "maxent"), "algos": ("sql", "s2ac_phi_theta", "sac"), "alphas": (1.0, 10.0),
         "seeds": (0,), "steps": 1500, "test_episodes": 20, "samples": 200, "state_grid": 9}
QUICK_SETTINGS = ("random_steps=500", "learning_starts=500", "update_every=50", "eval_every=500", "eval_episodes=3",
                  "checkpoint_every=500", "critic_hidden=[64,64]", "actor_hidden=[64,64]",
                  "amortized_hidden=[64,64]")


@dataclass(frozen=True)
class Measures:
    """How each trained policy is measured (a module-level dataclass: it travels to the worker processes)."""

    test_episodes: int = 50
    samples: int = 1000  # policy samples per critical state
    # The kernel width (action units) of the mode count. The kernel's variance adds to each cluster's: four clusters
    # of std 0.15 at radius 0.6 (S2AC's particles at the start of the classic task) are four modes at widths 0.1
    # and 0.15 and three at 0.2, while at 0.05 sampling noise makes a second mode in a wide tanh-Gaussian.
    mode_bandwidth: float = 0.1
    min_mode_share: float = 0.05  # a mode holds at least this share of the samples
    profile_bandwidths: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2)  # widths of the goal-mode profile at the start
    action_grid: int = 21  # actions per axis for the Q-landscape and its smoothness
    state_grid: int = 15  # states per axis for the entropy heatmap
    grid_samples: int = 40  # policy samples per grid state


@dataclass(frozen=True)
class MultigoalConfig:
    """The grid: parts, and within them the algorithms (None: each part's own), temperatures of the ``maxent``
    part (None: its own), seeds, steps per run; and the measures."""

    parts: tuple[str, ...] = tuple(PARTS)
    algos: tuple[str, ...] | None = None
    alphas: tuple[float, ...] | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = STEPS
    quick: bool = False
    settings: tuple[str, ...] = ()  # --set KEY=VALUE for every run whose algorithm has KEY (after the parts')
    measures: Measures = field(default_factory=Measures)

    def __post_init__(self) -> None:
        for name in ("parts", "algos", "alphas", "seeds"):
            if getattr(self, name) is not None:  # ordered, without duplicates
                object.__setattr__(self, name, tuple(dict.fromkeys(getattr(self, name))))
        validation.check_nonempty("--parts", self.parts)
        validation.check_choices("part", self.parts, PARTS)
        if self.algos is not None:
            object.__setattr__(self, "algos", tuple(ALIASES.get(a, a) for a in self.algos))
            validation.check_nonempty("--algos", self.algos)
            offered = dict.fromkeys(a for part in PARTS.values() for a in part.algos + part.extra)
            validation.check_choices("algorithm", self.algos, offered)
        if self.alphas is not None:
            validation.check_nonempty("--alphas", self.alphas)
            for alpha in self.alphas:
                validation.check_positive("every alpha", alpha)
        validation.check_nonempty("--seeds", self.seeds)
        for seed in self.seeds:
            validation.check_int("every seed", seed, minimum=0)
        validation.check_int("--steps", self.steps)
        for item in self.settings:
            if "=" not in item:
                raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
            if item.split("=", 1)[0].strip() in ("alpha", "autotune_alpha"):
                raise ValueError(f"--set {item}: the temperatures are the study's grid; give them with --alphas")
        if self.alphas is not None and "maxent" not in self.parts:
            raise ValueError("--alphas sets the maxent part's temperatures; add maxent to --parts")
        m = self.measures
        for name in ("test_episodes", "samples", "action_grid", "state_grid", "grid_samples"):
            validation.check_int("--test-episodes" if name == "test_episodes" else name, getattr(m, name), minimum=2)
        validation.check_positive("mode_bandwidth", m.mode_bandwidth)
        for width in m.profile_bandwidths:
            validation.check_positive("profile_bandwidths", width)
        if not 0 < m.min_mode_share <= 1:
            raise ValueError(f"min_mode_share must be in (0, 1], got {m.min_mode_share!r}")
        if not self.runs():
            offered = "; ".join(f"{name}: {' '.join(PARTS[name].algos)}" for name in self.parts)
            raise ValueError(f"no run left: none of --algos {' '.join(self.algos or ())} is in the chosen parts "
                             f"({offered})")

    def runs(self) -> list[tuple[str, str, float]]:
        """(part, algorithm, alpha) of every agent per seed, in the order of :attr:`parts`."""
        out = []
        for name in self.parts:
            part = PARTS[name]
            alphas = self.alphas if self.alphas is not None and name == "maxent" else part.alphas
            algos = part.algos if self.algos is None else [a for a in part.algos + part.extra if a in self.algos]
            out += [(name, algo, float(alpha)) for alpha in alphas for algo in algos]
        return out


def plan(config: MultigoalConfig) -> list[RunSpec]:
    """Every agent, in priority order: the first part's first algorithm for every seed (by default SQL on the
    classic task: it validates the environment, SQL and the measures at once), then seed by seed the parts in
    order."""
    quick = QUICK_SETTINGS if config.quick else ()
    specs = [RunSpec(PARTS[part].env, algo, seed, config.steps,
                     PARTS[part].settings_of(algo) + quick + config.settings
                     + ("autotune_alpha=false", f"alpha={alpha}"), label=f"{part}/alpha_{alpha:g}")
             for seed in config.seeds for part, algo, alpha in config.runs()]
    specs = [replace(spec, settings=known_settings(spec.algo, spec.settings)) for spec in specs]
    unused = [item for item in config.settings if not any(item in spec.settings for spec in specs)]
    if unused:
        raise ValueError(f"--set {', '.join(unused)}: no algorithm of the study has such a setting")
    part, algo, alpha = config.runs()[0]
    first = [s for s in specs if s.label == f"{part}/alpha_{alpha:g}" and s.algo == algo]
    return first + [s for s in specs if s not in first]


# ---------------------------------------------------------------------------------------------------------
# Measuring one trained policy.


def goal_statistics(goals: np.ndarray, num_goals: int) -> dict[str, Any]:
    """From each episode's goal index (-1: none): the share per goal and of none (they sum to 1), the number of
    distinct goals reached, and the entropy (nats) of the goal distribution over the episodes that reached one."""
    goals = np.asarray(goals)
    shares = [float(np.mean(goals == g)) for g in range(num_goals)]
    reached = np.array([np.sum(goals == g) for g in range(num_goals)], float)
    p = reached[reached > 0] / reached.sum() if reached.sum() else np.zeros(0)
    return {"shares": shares, "none": float(np.mean(goals < 0)), "goals_reached": int((reached > 0).sum()),
            "goal_entropy": float(-(p * np.log(p)).sum())}


def kernel_density(points: np.ndarray, samples: np.ndarray, bandwidth: float) -> np.ndarray:
    """A Gaussian kernel density estimate of ``samples`` ``(n, d)`` (up to its normaliser) at ``points``."""
    sq = ((points[:, None, :] - samples[None, :, :]) ** 2).sum(-1)
    return np.exp(-sq / (2 * bandwidth**2)).mean(axis=1)


def find_modes(samples: np.ndarray, bandwidth: float, min_share: float, valley: float = 0.5,
               resolution: int = 41) -> np.ndarray:
    """The locations ``(k, 2)`` of the separated modes of actions ``samples`` ``(n, 2)`` in ``[-1, 1]^2``
    (:func:`count_modes` counts them): the maxima of their kernel density
    estimate (width ``bandwidth``) on a grid over the box, each with the samples in its basin of ascent; a maximum
    counts if its basin holds at least ``min_share`` of the samples, and two count as one unless the density along
    the segment between them falls below ``valley`` times the lower peak (sampling noise on a flat density makes
    small bumps; it does not make valleys)."""
    samples = np.asarray(samples, float)
    axis = np.linspace(-1.0, 1.0, resolution)
    cells = np.stack([g.ravel() for g in np.meshgrid(axis, axis, indexing="ij")], axis=-1)
    density = kernel_density(cells, samples, bandwidth).reshape(resolution, resolution)
    # Every cell points to its highest neighbour (itself included); following the pointers climbs to a maximum.
    padded = np.pad(density, 1, constant_values=-np.inf)
    index = np.pad(np.arange(resolution**2).reshape(resolution, resolution), 1, constant_values=-1)
    shifts = [(i, j) for i in range(3) for j in range(3)]
    neighbours = np.stack([padded[i:i + resolution, j:j + resolution] for i, j in shifts])
    indices = np.stack([index[i:i + resolution, j:j + resolution] for i, j in shifts])
    up = np.take_along_axis(indices, neighbours.argmax(0)[None], 0)[0].ravel()
    while not np.array_equal(up[up], up):
        up = up[up]
    cell = np.clip(np.rint((samples + 1.0) / 2.0 * (resolution - 1)).astype(int), 0, resolution - 1)
    peaks, counts = np.unique(up[cell[:, 0] * resolution + cell[:, 1]], return_counts=True)
    peaks = peaks[counts >= min_share * len(samples)]
    if len(peaks) <= 1:
        return cells[peaks] if len(peaks) else cells[[int(np.argmax(density))]]
    group = list(range(len(peaks)))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    heights = density.ravel()[peaks]
    t = np.linspace(0.0, 1.0, 21)[:, None]
    for i in range(len(peaks)):
        for j in range(i + 1, len(peaks)):
            path = (1 - t) * cells[peaks[i]] + t * cells[peaks[j]]
            if kernel_density(path, samples, bandwidth).min() >= valley * min(heights[i], heights[j]):
                group[root(i)] = root(j)
    # Each group of peaks is one mode, at its highest peak.
    best: dict[int, int] = {}
    for i in range(len(peaks)):
        r = root(i)
        if r not in best or heights[i] > heights[best[r]]:
            best[r] = i
    return cells[peaks[sorted(best.values())]]


def count_modes(samples: np.ndarray, bandwidth: float, min_share: float) -> int:
    """How many separated modes :func:`find_modes` finds."""
    return len(find_modes(samples, bandwidth, min_share))


def goal_modes(modes: np.ndarray, goals: np.ndarray, start: np.ndarray, radius: float = 0.5) -> int:
    """How many goals have a mode pointing at them: within ``radius`` of the action that heads from ``start``
    toward the goal at full speed (the goal's direction scaled onto the box's boundary). A tanh-squashed wide
    Gaussian has its modes in the box's corners, between the goals' directions: they count for no goal."""
    directions = goals - start
    on_box = directions / np.abs(directions).max(axis=1, keepdims=True)
    near = np.linalg.norm(modes[:, None, :] - on_box[None, :, :], axis=-1) < radius
    return int(near.any(axis=0).sum())


def gaussian_fit_modes(samples: np.ndarray, bandwidth: float, min_share: float, seed: int) -> np.ndarray:
    """:func:`find_modes` for as many draws of the unimodal policy closest to ``samples``: a Gaussian fitted to
    their ``atanh`` (mean and covariance), squashed by ``tanh`` as SAC's policy is. A wide unimodal policy
    squashed into the box piles its mass into the box's corners and can have several modes: this says how many."""
    pre_squash = np.arctanh(np.clip(np.asarray(samples, float), -0.999, 0.999))
    cov = np.cov(pre_squash.T) + 1e-9 * np.eye(pre_squash.shape[1])
    draws = np.random.default_rng(seed).multivariate_normal(pre_squash.mean(0), cov, len(pre_squash))
    return find_modes(np.tanh(draws), bandwidth, min_share)


def nearest_goal(actions: np.ndarray, goals: np.ndarray, start: np.ndarray) -> np.ndarray:
    """For each of ``actions`` ``(n, 2)`` at ``start``, the index of the goal it points most nearly (cosine) toward."""
    directions = goals - start
    directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    return np.argmax(actions @ directions.T, axis=1)


def direction_shares(actions: np.ndarray, goals: np.ndarray, start: np.ndarray,
                     weights: np.ndarray | None = None) -> list[float]:
    """The share of ``actions`` ``(n, 2)`` at ``start`` pointing most nearly (cosine) toward each goal;
    with ``weights`` ``(n,)`` (summing to 1), the weight of those actions instead of their count."""
    nearest = nearest_goal(actions, goals, start)
    if weights is None:  # counted, not summed, so that the shares are exact fractions of n
        return [float(np.mean(nearest == g)) for g in range(len(goals))]
    return [float(np.sum(np.asarray(weights, float)[nearest == g])) for g in range(len(goals))]


def rollouts(agent: OffPolicyAgent, env_id: str, episodes: int, seed: int,
             mode: str | None = None) -> dict[str, np.ndarray]:
    """Test episodes through the library's :func:`evaluate`, acting with ``mode`` (default: the agent's
    ``stochastic_mode``, the study's): positions ``(E, T+1, 2)`` (NaN after the end), the goal each ended at
    (-1: none), returns and whether a wall ever blocked it."""
    env = make_env(env_id)
    try:
        result = evaluate(agent, env, episodes, seed, mode=mode or agent.stochastic_mode, record_infos=True)
    finally:
        env.close()
    longest = max(len(infos) for infos in result.infos)
    positions = np.full((episodes, longest, 2), np.nan)
    for i, infos in enumerate(result.infos):
        positions[i, :len(infos)] = [info["position"] for info in infos]
    return {"positions": positions, "goals": np.array([infos[-1]["goal"] for infos in result.infos]),
            "returns": result.returns,
            "blocked": np.array([any(info["blocked"] for info in infos) for infos in result.infos])}


@eqx.filter_jit
def _q_derivatives(critic, states: jax.Array, actions: jax.Array):
    """``min_k Q``, ``grad_a`` and Hessian in ``a`` at every (state, action) pair: ``(N, G)``, ``(N, G, d)``,
    ``(N, G, d, d)``."""
    def q(s, a):
        return critic.min_q(s[None, :], a[None, :])[0]

    over_actions = lambda f: jax.vmap(f, in_axes=(None, 0))  # noqa: E731
    over_both = lambda f: jax.vmap(over_actions(f), in_axes=(0, None))  # noqa: E731
    return (over_both(q)(states, actions), over_both(jax.grad(q, argnums=1))(states, actions),
            over_both(jax.hessian(q, argnums=1))(states, actions))


def axis_points(n: int, low: float, high: float) -> np.ndarray:
    return np.linspace(low, high, n)


def grid(n: int, low: float, high: float) -> np.ndarray:
    """``n x n`` points of ``[low, high]^2`` ``(n*n, 2)``, x fastest."""
    gx, gy = np.meshgrid(axis_points(n, low, high), axis_points(n, low, high))
    return np.stack([gx.ravel(), gy.ravel()], axis=-1)


def measure_policy(agent: OffPolicyAgent, env_id: str, seed: int,
                   m: Measures) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The measures of one trained agent on ``env_id`` (see the module's documentation): its record and the
    arrays the figures need."""
    goals = np.asarray(GOALS[env_id])
    names = GOAL_NAMES[env_id]
    plain = rollouts(agent, env_id, m.test_episodes, seed)
    wall = rollouts(agent, WALL_ENVS[env_id], m.test_episodes, seed)
    critical = np.asarray(CRITICAL_STATES[env_id], np.float32)
    key_critical, key_grid = jax.random.split(jax.random.PRNGKey(10_000 + seed))
    actions, log_pi = agent.sample(critical, m.samples, key_critical)
    states = grid(m.state_grid, PLANE[0] + 0.5, PLANE[1] - 0.5)
    _, grid_log_pi = agent.sample(states, m.grid_samples, key_grid)
    q, grad, hess = _q_derivatives(agent.state.critic, jnp.asarray(critical),
                                   jnp.asarray(grid(m.action_grid, -1.0, 1.0), jnp.float32))
    modes = [find_modes(a, m.mode_bandwidth, m.min_mode_share) for a in actions]
    baseline = [gaussian_fit_modes(a, m.mode_bandwidth, m.min_mode_share, seed) for a in actions]
    start_goal_modes = goal_modes(modes[0], goals, critical[0])
    fit_goal_modes = goal_modes(baseline[0], goals, critical[0])
    origin_directions = direction_shares(actions[0], goals, critical[0])
    profile = [[width, goal_modes(find_modes(actions[0], width, m.min_mode_share), goals, critical[0]),
                goal_modes(gaussian_fit_modes(actions[0], width, m.min_mode_share, seed), goals, critical[0])]
               for width in m.profile_bandwidths]
    q0 = agent.initial_distribution(critical)
    plain_goals, wall_goals = goal_statistics(plain["goals"], len(goals)), goal_statistics(wall["goals"], len(goals))
    record = {
        "test_mode": agent.stochastic_mode, "goal_names": list(names),
        "goal_shares": dict(zip(names, plain_goals["shares"], strict=True)) | {"none": plain_goals["none"]},
        "goals_reached": plain_goals["goals_reached"], "goal_entropy": plain_goals["goal_entropy"],
        "goal_shares_wall": dict(zip(names, wall_goals["shares"], strict=True)) | {"none": wall_goals["none"]},
        "goals_reached_wall": wall_goals["goals_reached"], "goal_entropy_wall": wall_goals["goal_entropy"],
        "mean_return": float(plain["returns"].mean()), "mean_return_wall": float(wall["returns"].mean()),
        "blocked_share_wall": float(wall["blocked"].mean()),
        "critical_states": critical.tolist(),
        "entropy": None if log_pi is None else (-log_pi.mean(axis=1)).tolist(),
        "modes": [len(x) for x in modes], "gaussian_fit_modes": [len(x) for x in baseline],
        "modes_at_start": np.round(modes[0], 3).tolist(),
        "gaussian_fit_modes_at_start": np.round(baseline[0], 3).tolist(),
        "goal_modes_at_start": start_goal_modes, "gaussian_fit_goal_modes_at_start": fit_goal_modes,
        "multimodal_at_start": bool(start_goal_modes >= 2 and start_goal_modes > fit_goal_modes),
        "goal_modes_by_bandwidth": profile,
        "start_direction_shares": dict(zip(names, origin_directions, strict=True)),
        "grad_l1": np.abs(np.asarray(grad)).sum(-1).mean(-1).tolist(),
        "hessian_l1": np.abs(np.asarray(hess)).sum((-1, -2)).mean(-1).tolist(),
        "q0_mean": None if q0 is None else q0[0].tolist(), "q0_std": None if q0 is None else q0[1].tolist(),
    }
    arrays = {"positions": plain["positions"], "goals": plain["goals"], "positions_wall": wall["positions"],
              "goals_wall": wall["goals"], "samples": actions,
              "q": np.asarray(q).reshape(len(critical), m.action_grid, m.action_grid),
              "entropy_grid": (np.full(len(states), np.nan) if grid_log_pi is None
                               else -grid_log_pi.mean(axis=1))}
    return record, arrays


def measure_run(spec: RunSpec, run_dir: Path, record: dict[str, Any], measures: Measures) -> dict[str, Any]:
    """The study's reading of a finished run (the ``analyse`` step of :func:`study.recorded_run`): load its
    final agent, measure it, keep the arrays in ``evaluation.npz``. A failed run is recorded as such."""
    fields: dict[str, Any] = {"part": spec.label.split("/")[0], "alpha": float(spec.label.split("alpha_")[1])}
    if record["status"] == "failed" or not (run_dir / MODEL_FILE).is_file():
        return {**fields, "measured": False}
    start = time.perf_counter()
    agent = OffPolicyAgent.load(run_dir / MODEL_FILE)
    measured, arrays = measure_policy(agent, spec.env, spec.seed, measures)
    buffer = _npz_bytes(arrays)
    write_bytes_atomically(run_dir / EVALUATION_FILE, buffer)
    return {**fields, **measured, "measured": True, "measure_time_s": round(time.perf_counter() - start, 1)}


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------------
# Results and summary.


def aggregate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (part, algorithm, alpha): the seeds, and over them the mean goal shares, goals reached, goal entropy,
    the number of policies multimodal at the start, the mean return and entropy at the start."""
    rows = []
    for part, algo, alpha in dict.fromkeys((r["part"], r["algo"], r["alpha"]) for r in runs):
        mine = [r for r in runs if (r["part"], r["algo"], r["alpha"]) == (part, algo, alpha) and r["measured"]]
        if not mine:
            continue
        mean = lambda key, mine=mine: _mean([r[key] for r in mine])  # noqa: E731
        shares = lambda key, mine=mine: {g: _mean([r[key][g] for r in mine]) for g in mine[0][key]}  # noqa: E731
        rows.append({"part": part, "algo": algo, "alpha": alpha, "env": mine[0]["env"], "seeds": len(mine),
                     "goal_shares": shares("goal_shares"), "goal_shares_wall": shares("goal_shares_wall"),
                     "goals_reached": mean("goals_reached"), "goals_reached_wall": mean("goals_reached_wall"),
                     "goal_entropy": mean("goal_entropy"), "mean_return": mean("mean_return"),
                     "multimodal_policies": sum(r["multimodal_at_start"] for r in mine),
                     "goal_modes_at_start": [r["goal_modes_at_start"] for r in mine],
                     "gaussian_fit_goal_modes_at_start": [r["gaussian_fit_goal_modes_at_start"] for r in mine],
                     "goal_modes_by_bandwidth": [r["goal_modes_by_bandwidth"] for r in mine],
                     "entropy_at_start": _mean([r["entropy"][0] if r["entropy"] else None for r in mine]),
                     "grad_l1_mean": _mean([_mean(r["grad_l1"]) for r in mine]),
                     "hessian_l1_mean": _mean([_mean(r["hessian_l1"]) for r in mine])})
    return rows


TREND_PERMUTATIONS = 100_000
"""Splits of the policies over the alphas the shift test enumerates; beyond that (a grid larger than 3 alphas x
4 seeds) it draws this many at random, seeded."""


def _split_count(sizes: list[int]) -> int:
    """How many distinct splits of ``sum(sizes)`` policies over groups of these sizes there are (multinomial)."""
    return math.factorial(sum(sizes)) // math.prod(math.factorial(n) for n in sizes)


def _splits(sizes: list[int]) -> np.ndarray:
    """Every distinct assignment of group labels ``0..len(sizes)-1``, ``sizes[i]`` of label ``i``, to
    ``sum(sizes)`` places: one row per split."""
    rows: list[np.ndarray] = []

    def fill(labels: np.ndarray, free: tuple[int, ...], group: int) -> None:
        if group == len(sizes) - 1:
            labels[list(free)] = group
            rows.append(labels.copy())
            return
        for chosen in itertools.combinations(free, sizes[group]):
            labels[list(chosen)] = group
            fill(labels, tuple(k for k in free if k not in chosen), group + 1)

    fill(np.zeros(sum(sizes), dtype=np.int8), tuple(range(sum(sizes))), 0)
    return np.stack(rows)


def kendall_trend_test(groups: list[np.ndarray], rng: np.random.Generator) -> tuple[float, float]:
    """Kendall's tau-b between the group index (the alpha's rank) and the values, and its one-sided permutation
    p-value: the share of splits of the pooled values over groups of the same sizes whose tau is at least as large
    (the Jonckheere-Terpstra test). Exact over every split when there are at most ``TREND_PERMUTATIONS`` of them,
    else over that many random splits (the observed one counted in). Any group may hold a single value."""
    values = np.concatenate(groups)
    sizes = [len(g) for g in groups]
    observed = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)])
    upper = np.triu_indices(len(values), 1)
    value_signs = np.sign(values[upper[0]] - values[upper[1]]).astype(np.int64)

    def concordance(labels: np.ndarray) -> np.ndarray:  # sum over pairs of sign(label diff) * sign(value diff)
        labels = np.atleast_2d(labels).astype(np.int64)
        chunks = [np.sign(rows[:, upper[0]] - rows[:, upper[1]]) @ value_signs  # in chunks: bounded memory
                  for rows in np.array_split(labels, max(1, len(labels) // 10_000))]
        return np.concatenate(chunks)

    pairs = len(value_signs)
    label_ties = sum(n * (n - 1) // 2 for n in sizes)
    value_ties = pairs - np.count_nonzero(value_signs)
    score = concordance(observed)[0]
    tau = float(score / math.sqrt((pairs - label_ties) * (pairs - value_ties)))
    # The tau-b denominator is the same for every split (the label and value multisets are fixed): compare scores.
    if _split_count(sizes) <= TREND_PERMUTATIONS:
        null = concordance(_splits(sizes))
        return tau, float(np.mean(null >= score))
    null = concordance(np.stack([rng.permutation(observed) for _ in range(TREND_PERMUTATIONS)]))
    return tau, float((np.sum(null >= score) + 1) / (TREND_PERMUTATIONS + 1))


def alpha_trend(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's shift claim, tested per (part, algorithm) on a task with an entropy side and two alphas or more:
    each policy's share of test episodes ending at G2 or G3, per alpha (one value per seed: the policy is the unit,
    not the episode), Kendall's tau between alpha and that share, and its one-sided permutation p-value
    (:func:`kendall_trend_test`), with the smallest p-value the design allows. The policies are independent: a seed
    number shares nothing across alphas but its random stream."""
    rows = []
    for part, algo in dict.fromkeys((r["part"], r["algo"]) for r in runs):
        mine = sorted((r for r in runs if (r["part"], r["algo"]) == (part, algo) and r["measured"]),
                      key=lambda r: r["seed"])
        side = ENTROPY_SIDE.get(mine[0]["env"]) if mine else None
        alphas = sorted({r["alpha"] for r in mine})
        if side is None or len(alphas) < 2:
            continue
        seeds = [[r["seed"] for r in mine if r["alpha"] == alpha] for alpha in alphas]
        shares = [[sum(r["goal_shares"][g] for g in side) for r in mine if r["alpha"] == alpha] for alpha in alphas]
        groups = [np.asarray(s, dtype=float) for s in shares]
        splits = _split_count([len(g) for g in groups])
        constant = np.ptp(np.concatenate(groups)) == 0  # tau is undefined: nothing to rank
        tau, p_value = (None, None) if constant else kendall_trend_test(groups, np.random.default_rng(0))
        rows.append({"part": part, "algo": algo, "goals": list(side), "alphas": alphas, "seeds": seeds,
                     "shares": shares, "means": [float(np.mean(g)) for g in groups],
                     "kendall_tau": tau, "p_value": p_value,
                     "exact": splits <= TREND_PERMUTATIONS, "smallest_p_value": 1 / splits})
    return rows


def _mean(values: list[Any]) -> float | None:
    """The mean of the finite values (a diverged agent's are None in its record); None if there is none."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_summary(results: dict[str, Any]) -> str:
    cfg = results["config"]
    measured = sum(r["measured"] for r in results["runs"])
    lines = [f"Multigoal study (E2): {measured} agents measured, {cfg['steps']} steps each, "
             f"{cfg['measures']['test_episodes']} stochastic test episodes per agent",
             "shares: test episodes ending at each goal / none (mean over seeds); reached: distinct goals (mean); "
             "H(goal): entropy of the goal distribution; goal modes: per seed, goals a mode of the policy at the "
             f"start points at, v those of its tanh-Gaussian fit (kernel width {cfg['measures']['mode_bandwidth']:g}; "
             "'by width': the same at other widths); multimodal: policies with at least two goal modes and more "
             "than the fit (of seeds)", ""]
    for part in dict.fromkeys(r["part"] for r in results["aggregate"]):
        rows = [r for r in results["aggregate"] if r["part"] == part]
        lines.append(f"[{part}] {rows[0]['env']}")
        for r in rows:
            shares = " ".join(f"{g}:{v:.2f}" for g, v in r["goal_shares"].items())
            wall = " ".join(f"{g}:{v:.2f}" for g, v in r["goal_shares_wall"].items())
            modes = ",".join(f"{a}v{b}" for a, b in zip(r["goal_modes_at_start"],
                                                          r["gaussian_fit_goal_modes_at_start"],
                                                          strict=True))
            lines.append(f"  {PRESETS[r['algo']].label:<16} alpha {r['alpha']:<5g} seeds {r['seeds']} | {shares} | "
                         f"reached {r['goals_reached']:.1f} H(goal) {r['goal_entropy']:.2f} | multimodal "
                         f"{r['multimodal_policies']}/{r['seeds']} goal modes {modes} | H(pi) at start "
                         f"{_fmt(r['entropy_at_start'], '.2f')} | return {r['mean_return']:.1f} | wall: {wall}")
            lines.append(f"  {'':<16} goal modes by width: " + "; ".join(
                " ".join(f"{width:g}:{a}v{b}" for width, a, b in seed) for seed in r["goal_modes_by_bandwidth"]))
        lines.append("")
    for t in results.get("alpha_trend", []):
        by_alpha = " | ".join(f"alpha {a:g}: {m:.2f} (seeds {','.join(map(str, seeds))}: "
                              f"{' '.join(f'{v:.2f}' for v in shares)})"
                              for a, m, seeds, shares in zip(t["alphas"], t["means"], t["seeds"], t["shares"],
                                                             strict=True))
        test = ("all shares equal: no test" if t["kendall_tau"] is None
                else f"Kendall tau {t['kendall_tau']:.2f}, one-sided {'exact ' if t['exact'] else ''}permutation "
                     f"p = {t['p_value']:.2g} (the smallest this design allows: {t['smallest_p_value']:.2g})")
        lines.append(f"[{t['part']}] {PRESETS[t['algo']].label}: share at {'+'.join(t['goals'])} against alpha, "
                     f"mean: {by_alpha}; {test}")
    if results.get("alpha_trend"):
        lines.append("")
    failed = [r for r in results["runs"] if not r["measured"]]
    for r in failed:
        lines.append(f"failed: {r['run_dir']}: {r.get('error')}")
    if results["missing"]:
        lines.append(missing_line(results["missing"], "agent"))
    lines.append(f"figures: {', '.join(results.get('figures', [])) or 'none'}")
    if results.get("without_arrays"):
        lines.append(f"{len(results['without_arrays'])} agents have their record but no {EVALUATION_FILE} (e.g. "
                     "restored from results/multigoal): the figures drawn from their arrays were skipped")
    return "\n".join(lines) + "\n"


def run_study(config: MultigoalConfig, out: str | Path, workers: int | None = None, progress: bool = True,
              train: bool = True, plots: bool = True) -> dict[str, Any]:
    """Train and measure what is missing (unless ``train`` is False), then write ``results.json``,
    ``summary.txt`` and the figures from every agent measured so far; the others are listed as missing."""
    start = time.perf_counter()
    worker = functools.partial(recorded_run, analyse=functools.partial(measure_run, measures=config.measures),
                               version=MEASURES_VERSION)
    runs, missing = train_and_collect(plan(config), out, worker, train=train, workers=workers, progress=progress,
                                      version=MEASURES_VERSION)
    results = {"study": "E2: multigoal (paper Section 4.2)", "config": asdict(config),
               "parts": {name: asdict(PARTS[name]) for name in config.parts},
               "critical_states": {env: list(map(list, states)) for env, states in CRITICAL_STATES.items()},
               "jax_backend": jax.default_backend(), "wall_time_s": round(time.perf_counter() - start, 1),
               "runs": runs, "missing": missing, "aggregate": aggregate(runs), "alpha_trend": alpha_trend(runs),
               "without_arrays": [r["run_dir"] for r in runs
                                  if r["measured"] and not (Path(r["run_dir"]) / EVALUATION_FILE).is_file()]}
    if plots:
        from s2ac.experiments import multigoal_plots  # matplotlib only when figures are asked for

        return write_study(out, results, format_summary, multigoal_plots.make_figures)
    return write_study(out, results, format_summary)


# ---------------------------------------------------------------------------------------------------------
# Command line.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="study directory (rerun to resume)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke test: parts classic and maxent, {' '.join(QUICK['algos'])}, alpha 1 and 10, "
                             f"seed 0, {QUICK['steps']} steps, 64-unit networks")
    parser.add_argument("--parts", nargs="+", default=None, choices=list(PARTS),
                        help="parts of the study, in priority order (default: classic maxent authors)")
    parser.add_argument("--algos", nargs="+", default=None, metavar="ALGO",
                        help="keep only these algorithms of each part (s2ac = s2ac_phi_theta)")
    parser.add_argument("--alphas", nargs="+", type=float, default=None, metavar="ALPHA",
                        help=f"temperatures of the maxent part (default {' '.join(map(str, PARTS['maxent'].alphas))})")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED", help="seeds (default 0 1 2)")
    parser.add_argument("--steps", type=int, default=None, help=f"environment steps per agent (default {STEPS})")
    parser.add_argument("--test-episodes", type=int, default=None, help="stochastic test episodes per agent "
                        "(default 50)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a config value for every agent whose algorithm has it (after the parts' own); "
                             "repeatable")
    parser.add_argument("--workers", type=int, default=None, help="agents trained at once (default: one per CPU)")
    parser.add_argument("--no-train", action="store_true",
                        help="train nothing: write the results of the agents finished so far (the others are listed)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> MultigoalConfig:
    base = dict(QUICK) if args.quick else {}
    measures = {k: base.pop(k) for k in ("test_episodes", "samples", "state_grid") if k in base}
    if args.test_episodes is not None:
        measures["test_episodes"] = args.test_episodes
    given = {name: tuple(v) if isinstance(v, list) else v
             for name in ("parts", "algos", "alphas", "seeds", "steps") if (v := getattr(args, name)) is not None}
    return MultigoalConfig(**{**base, **given}, quick=args.quick, settings=tuple(args.settings),
                           measures=Measures(**measures))


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    results = run_study(config, args.out, args.workers, not args.no_progress, train=not args.no_train)
    print_summary(args.out, results)
    return 0
