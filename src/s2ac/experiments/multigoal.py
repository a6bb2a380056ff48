"""Study E2: the max-entropy multigoal environment (paper Section 4.2, Figures 7, 11-17; EXPERIMENTS.md E2).

``s2ac multigoal --out DIR [--quick] [--algos ...] [--alphas ...] [--seeds ...]`` trains every algorithm of
the grid (S2AC(phi), S2AC(phi, theta), amortized S2AC, SAC, SQL, SAC-NF) for every fixed temperature alpha
and seed on ``s2ac/MultiGoalMaxEnt-v0`` (30-step episodes; S2AC with L = 10 SVGD steps, docs/math.md section 11),
with the library's own agents and training loop, then evaluates each agent:

- ``test_episodes`` (20) test trajectories from the origin, without and with the wall
  (``s2ac/MultiGoalMaxEntObstacle-v0``; the agents never saw it), the share of episodes that end at each
  goal G1, G2, G3 or at none, and the mean return;
- the policy entropy ``-mean log pi`` at the six critical states (S2AC: the closed-form ``log pi`` of its
  SVGD particles; SAC, SAC-NF: their ``log pi``; SQL has none), and over a grid of states (Figure 13);
- the smoothness of the learned ``min_k Q`` in the action at the critical states: the mean L1 norm of
  ``grad_a Q`` and of the Hessian ``d^2 Q / da^2`` over a grid of actions (Figures 14, 15);
- for S2AC(phi, theta) and amortized S2AC, ``mu_theta`` and ``sigma_theta`` at the critical states during
  training (Figure 11).

Test actions are stochastic (a trajectory set from a deterministic policy would be one trajectory 20 times):
see :data:`TEST_MODES`. The paper's multigoal hyperparameter table is lost; the budgets here are stated in
``results.json`` (``config``). This module is a thin layer over :mod:`s2ac.algorithms`; matplotlib is
imported only when plotting.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import s2ac.envs  # noqa: F401  (registers the multigoal ids with Gymnasium)
from s2ac.algorithms.presets import ALIASES, PRESETS
from s2ac.algorithms.presets import make_agent as make_preset_agent
from s2ac.envs.multigoal import MAXENT_GOALS, WALL
from s2ac.experiments.outputs import dump_json, print_summary, progress_bar, pyplot
from s2ac.training.files import prepare_output_dir
from s2ac.training.health import TrainingStopped

ENV_ID = "s2ac/MultiGoalMaxEnt-v0"
WALL_ENV_ID = "s2ac/MultiGoalMaxEntObstacle-v0"
GOAL_NAMES = ("G1", "G2", "G3")
OUTCOMES = (*GOAL_NAMES, "none")
CRITICAL_STATES: tuple[tuple[float, float], ...] = ((-3.5, -2.5), (-2.5, 0.5), (-1.0, 0.0), (0.0, 0.0), (1.0, 0.0),
                                                    (4.0, 0.0))
ALGOS = ("s2ac_phi", "s2ac_phi_theta", "s2ac_amortized", "sac", "sql", "sacnf")
ALGO_LABELS = {name: PRESETS[name].label for name in ALGOS}
S2AC_VARIANTS = {name: PRESETS[name].settings["variant"] for name in ALGOS if PRESETS[name].algo == "s2ac"}
# How each algorithm acts in the test trajectories (a ``predict`` mode): S2AC draws a particle with
# probability softmax(Q / alpha) (docs/math.md section 11), amortized S2AC uses its one-pass sampler (Fig. 17),
# the others sample their policy.
TEST_MODES = {"s2ac_phi": "softmax", "s2ac_phi_theta": "softmax", "s2ac_amortized": "amortized", "sac": "train",
              "sql": "train", "sacnf": "train"}
PLANE = (-7.0, 7.0)


@dataclass(frozen=True)
class StudyConfig:
    """Everything a run of the study depends on. :func:`make_config` builds the quick and the full grid."""

    quick: bool = False
    algos: tuple[str, ...] = ALGOS
    alphas: tuple[float, ...] = (1.0, 5.0, 20.0, 50.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    total_steps: int = 10_000
    random_steps: int = 2_000
    learning_starts: int = 1_000
    update_every: int = 50
    batch_size: int = 64
    # 100 units as in Haarnoja et al.'s multigoal networks (the paper's own table is lost); one smooth activation
    # for every algorithm, so that the Hessian smoothness measure (Figure 15) means the same for all.
    critic_hidden: tuple[int, ...] = (100, 100)
    actor_hidden: tuple[int, ...] = (100, 100)
    sampler_hidden: tuple[int, ...] = (100, 100)  # amortized S2AC's and SQL's f_psi
    activation: str = "elu"
    num_particles: int = 10
    # A fixed kernel variance: with the authors' half-mean heuristic, S2AC(phi, theta) at alpha = 1 collapsed
    # to NaN at step 2300 of this study (the bandwidth follows the particles down; README "Stability").
    bandwidth: float = 1.0
    svgd_steps: int = 10
    svgd_step_size: float = 0.1
    test_episodes: int = 20
    entropy_samples: int = 40  # log pi samples per state for the entropy estimates
    action_grid: int = 21  # actions per axis for the smoothness measures and the Q-landscape
    state_grid: int = 15  # states per axis for the entropy heatmap
    theta_log_points: int = 20  # how often mu_theta, sigma_theta are recorded during training

    def validate(self) -> None:
        """Raise a ``ValueError`` naming the first bad setting."""
        def positive_int(name: str, value: Any, minimum: int = 1) -> None:
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")

        if not self.algos:
            raise ValueError("--algos must name at least one algorithm")
        for algo in self.algos:
            if algo not in ALGOS:
                raise ValueError(f"unknown algorithm {algo!r}; expected some of {', '.join(ALGOS)}")
        if not self.alphas:
            raise ValueError("--alphas must give at least one temperature")
        for alpha in self.alphas:
            if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and math.isfinite(alpha)
                    and alpha > 0):
                raise ValueError(f"every alpha must be a positive number, got {alpha!r}")
        if not self.seeds:
            raise ValueError("--seeds must give at least one seed")
        for seed in self.seeds:
            positive_int("every seed", seed, 0)
        positive_int("total_steps", self.total_steps)
        positive_int("random_steps", self.random_steps, 0)
        positive_int("learning_starts", self.learning_starts, 0)
        for name in ("update_every", "batch_size", "test_episodes", "entropy_samples", "theta_log_points"):
            positive_int(name, getattr(self, name))
        positive_int("num_particles", self.num_particles, 2)
        positive_int("svgd_steps", self.svgd_steps, 0)
        positive_int("action_grid", self.action_grid, 2)
        positive_int("state_grid", self.state_grid, 2)
        if not self.svgd_step_size > 0:
            raise ValueError(f"svgd_step_size must be positive, got {self.svgd_step_size}")


def make_config(quick: bool = False, **overrides: Any) -> StudyConfig:
    """The full grid, or with ``quick`` a reduced one (2 alphas, 1 seed, 2000 steps, 64-unit networks).
    Any field of :class:`StudyConfig` can be overridden by name."""
    fields: dict[str, Any] = {}
    if quick:
        fields = dict(alphas=(5.0, 50.0), seeds=(0,), total_steps=2_000, random_steps=500, learning_starts=500,
                      batch_size=64, critic_hidden=(64, 64), actor_hidden=(64, 64), sampler_hidden=(64, 64),
                      action_grid=15, state_grid=11, entropy_samples=20, theta_log_points=10)
    fields.update(overrides)
    for name in ("algos", "alphas", "seeds"):
        if name in fields and fields[name] is not None:
            fields[name] = tuple(dict.fromkeys(fields[name]))  # ordered, without duplicates
    for name in ("critic_hidden", "actor_hidden", "sampler_hidden"):
        if name in fields:
            fields[name] = tuple(fields[name])
    config = StudyConfig(quick=quick, **fields)
    config.validate()
    return config


# ---------------------------------------------------------------------------------------------------------
# Agents: the library's, with the study's settings.


def agent_settings(algo: str, alpha: float, config: StudyConfig) -> dict[str, Any]:
    """The keyword overrides of the algorithm's config for this study (also written to results.json)."""
    common: dict[str, Any] = dict(
        alpha=float(alpha), autotune_alpha=False, critic_hidden=config.critic_hidden, batch_size=config.batch_size,
        activation=config.activation,
        random_steps=config.random_steps, learning_starts=config.learning_starts, update_every=config.update_every,
        eval_every=config.total_steps, eval_episodes=1, checkpoint_every=config.total_steps)
    if algo in S2AC_VARIANTS:
        common.update(variant=S2AC_VARIANTS[algo], svgd_steps=config.svgd_steps, svgd_step_size=config.svgd_step_size,
                      num_particles=config.num_particles, actor_hidden=config.actor_hidden,
                      bandwidth=config.bandwidth,
                      amortized_hidden=config.sampler_hidden)
    elif algo == "sql":
        common.update(amortized_hidden=config.sampler_hidden)
    else:
        common.update(actor_hidden=config.actor_hidden)
    return common


def make_agent(algo: str, alpha: float, seed: int, config: StudyConfig):
    return make_preset_agent(algo, ENV_ID, seed, **agent_settings(algo, alpha, config))


def has_theta(algo: str) -> bool:
    return algo in ("s2ac_phi_theta", "s2ac_amortized")


def train(agent, algo: str, config: StudyConfig) -> dict[str, Any] | None:
    """Train ``agent`` for the study's budget; for the learned-``q_0`` S2AC variants, return ``mu_theta`` and
    ``sigma_theta`` at the critical states at ``theta_log_points`` points of training (Figure 11)."""
    states = jnp.asarray(CRITICAL_STATES, jnp.float32)
    every = max(1, config.total_steps // config.theta_log_points)
    trace: dict[str, list] = {"steps": [], "mu": [], "sigma": []}

    def record(step: int, actor) -> None:
        mean, std = actor(states)
        trace["steps"].append(step)
        trace["mu"].append(np.asarray(mean).tolist())
        trace["sigma"].append(np.asarray(std).tolist())

    def callback(trainer) -> None:
        if trainer.step % every == 0 or trainer.step == config.total_steps:
            record(trainer.step, trainer.agent.state.actor)

    if has_theta(algo):
        record(0, agent.state.actor)
    agent.learn(config.total_steps, progress=False, callback=callback if has_theta(algo) else None)
    return trace if has_theta(algo) else None


# ---------------------------------------------------------------------------------------------------------
# Evaluation.


def rollouts(agent, env_id: str, episodes: int, mode: str, seed: int) -> dict[str, Any]:
    """``episodes`` test episodes run side by side (one batched action call per step). Returns each
    episode's positions ``(T+1, 2)`` (start included), the index of the goal it ended at (-1: none), its
    return and whether a wall ever blocked it."""
    import gymnasium as gym

    envs = [gym.make(env_id) for _ in range(episodes)]
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]).astype(np.float32)
    positions = [[o.astype(float).copy()] for o in obs]
    goals, returns, blocked = np.full(episodes, -1), np.zeros(episodes), np.zeros(episodes, bool)
    active = np.ones(episodes, bool)
    key = jax.random.PRNGKey(seed)
    while active.any():
        key, step_key = jax.random.split(key)
        actions = agent.scaler.to_env(np.asarray(agent.act_fn(agent.state, jnp.asarray(obs), step_key, mode=mode)))
        for i in np.flatnonzero(active):
            next_obs, reward, terminated, truncated, info = envs[i].step(actions[i])
            obs[i] = next_obs
            positions[i].append(np.asarray(info["position"], float))
            returns[i] += float(reward)
            blocked[i] |= bool(info["blocked"])
            if terminated or truncated:
                goals[i] = int(info["goal"])
                active[i] = False
    for env in envs:
        env.close()
    return {"positions": [np.asarray(p) for p in positions], "goals": goals, "returns": returns, "blocked": blocked}


def goal_shares(goals: np.ndarray) -> dict[str, float]:
    """The share of episodes ending at each goal and at none; the shares sum to 1."""
    goals = np.asarray(goals)
    shares = {name: float(np.mean(goals == i)) for i, name in enumerate(GOAL_NAMES)}
    shares["none"] = float(np.mean(goals < 0))
    return shares


def state_grid(n: int) -> np.ndarray:
    xs = np.linspace(PLANE[0] + 0.5, PLANE[1] - 0.5, n)
    gx, gy = np.meshgrid(xs, xs)
    return np.stack([gx.ravel(), gy.ravel()], axis=-1)


def action_grid(n: int) -> np.ndarray:
    xs = np.linspace(-1.0, 1.0, n)
    ga, gb = np.meshgrid(xs, xs)
    return np.stack([ga.ravel(), gb.ravel()], axis=-1)


def policy_samples(agent, algo: str, states: np.ndarray, samples: int, key) -> tuple[np.ndarray, np.ndarray | None]:
    """Policy actions ``(N, k, 2)`` at ``states`` ``(N, 2)`` (k >= samples) and ``-mean log pi`` ``(N,)``
    (None for SQL, whose sampler has no density)."""
    state = agent.state
    obs = jnp.asarray(states, jnp.float32)
    if algo == "sql":
        acts = eqx.filter_jit(lambda s, o, k: s.amortized.sample(o, k, samples))(state, obs, key)
        return np.asarray(acts), None
    per_call = agent.config.num_particles if algo in S2AC_VARIANTS else 1
    repeats = max(1, math.ceil(samples / per_call))
    tiled = jnp.repeat(obs, repeats, axis=0)

    @eqx.filter_jit
    def draw(s, o, k):
        out = agent.policy(s.actor, s.critic, o, k, s.alpha)
        return out.actions, out.log_pi

    acts, log_pi = draw(state, tiled, key)
    n = states.shape[0]
    acts = np.asarray(acts).reshape(n, -1, acts.shape[-1])
    entropy = -np.asarray(log_pi).reshape(n, -1).mean(axis=1)
    return acts, entropy


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


def q_smoothness(agent, config: StudyConfig) -> dict[str, Any]:
    """The Q-landscape over the action grid at the critical states and its smoothness measures: the mean over
    the grid of ``||grad_a Q||_1`` and of the entry-wise L1 norm of the Hessian, per state."""
    grid = jnp.asarray(action_grid(config.action_grid), jnp.float32)
    q, grad, hess = _q_derivatives(agent.state.critic, jnp.asarray(CRITICAL_STATES, jnp.float32), grid)
    grad_l1 = np.abs(np.asarray(grad)).sum(-1).mean(-1)
    hess_l1 = np.abs(np.asarray(hess)).sum((-1, -2)).mean(-1)
    return {"q": np.asarray(q).reshape(len(CRITICAL_STATES), config.action_grid, config.action_grid),
            "grad_l1": grad_l1, "hessian_l1": hess_l1}


def evaluate_agent(agent, algo: str, seed: int, config: StudyConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record of one trained agent (results.json) and the arrays the figures need."""
    mode = TEST_MODES[algo]
    plain = rollouts(agent, ENV_ID, config.test_episodes, mode, seed)
    wall = rollouts(agent, WALL_ENV_ID, config.test_episodes, mode, seed)
    states = np.concatenate([np.asarray(CRITICAL_STATES), state_grid(config.state_grid)])
    particles, entropy = policy_samples(agent, algo, states, config.entropy_samples,
                                        jax.random.PRNGKey(10_000 + seed))
    smooth = q_smoothness(agent, config)
    k = len(CRITICAL_STATES)
    record = {
        "test_mode": mode,
        "goal_shares": goal_shares(plain["goals"]),
        "goal_shares_wall": goal_shares(wall["goals"]),
        "mean_return": float(plain["returns"].mean()),
        "mean_return_wall": float(wall["returns"].mean()),
        "mean_length": float(np.mean([len(p) - 1 for p in plain["positions"]])),
        "blocked_share_wall": float(wall["blocked"].mean()),
        "entropy": None if entropy is None else _floats(entropy[:k]),
        "entropy_mean": None if entropy is None else _float(entropy[:k].mean()),
        "grad_l1": _floats(smooth["grad_l1"]),
        "hessian_l1": _floats(smooth["hessian_l1"]),
        "grad_l1_mean": _float(smooth["grad_l1"].mean()),
        "hessian_l1_mean": _float(smooth["hessian_l1"].mean()),
        "trajectories": [np.round(p, 3).tolist() for p in plain["positions"]],
    }
    arrays = {"plain": plain, "wall": wall, "particles": particles[:k, :config.num_particles],
              "entropy_grid": None if entropy is None else entropy[k:], "q": smooth["q"]}
    return record, arrays


def _float(value: Any) -> float | None:
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def _floats(values: Any) -> list[float | None]:
    return [_float(v) for v in np.asarray(values).ravel()]


# ---------------------------------------------------------------------------------------------------------
# The study.


def run_study(out_dir: str | Path, config: StudyConfig | None = None, *, progress: bool = True,
              plots: bool = True) -> dict[str, Any]:
    """Train and evaluate the grid, write ``results.json``, ``summary.txt`` and the figures into ``out_dir``
    and return the results (the content of results.json)."""
    config = make_config() if config is None else config
    config.validate()
    out = prepare_output_dir(out_dir)
    start = time.perf_counter()
    grid = [(a, alpha, s) for a in config.algos for alpha in config.alphas for s in config.seeds]
    bar = progress_bar(len(grid), progress, "E2 agents", "agent")
    records, arrays, failed = [], {}, []
    for algo, alpha, seed in grid:
        if bar is not None:
            bar.set_postfix_str(f"{algo} alpha={alpha:g} seed={seed}")
        t0 = time.perf_counter()
        agent = make_agent(algo, alpha, seed, config)
        try:
            trace = train(agent, algo, config)
        except TrainingStopped as err:  # one diverged agent must not cost the rest of the grid
            failed.append({"algo": algo, "alpha": float(alpha), "seed": seed, "error": str(err)})
            if bar is not None:
                bar.update()
            continue
        t1 = time.perf_counter()
        record, arr = evaluate_agent(agent, algo, seed, config)
        history = agent.trainer.history
        record = {"algo": algo, "alpha": float(alpha), "seed": seed, "train_time_s": round(t1 - t0, 2),
                  "eval_time_s": round(time.perf_counter() - t1, 2),
                  "final_eval_return": _float(history[-1]["eval_return_mean"]) if history else None,
                  **record, "theta_trace": trace}
        records.append(record)
        arrays[(algo, float(alpha), seed)] = arr
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    results: dict[str, Any] = {
        "study": "E2: max-entropy multigoal (paper Section 4.2)",
        "mode": "quick" if config.quick else "full",
        "env": ENV_ID,
        "wall_env": WALL_ENV_ID,
        "critical_states": [list(s) for s in CRITICAL_STATES],
        "outcomes": list(OUTCOMES),
        "test_modes": {a: TEST_MODES[a] for a in config.algos},
        "config": dataclasses.asdict(config),
        "agent_settings": {a: agent_settings(a, config.alphas[0], config) for a in config.algos},
        "agent_settings_note": "alpha is each run's own; the other values hold for every run of the algorithm",
        "measures": {
            "entropy": "-mean log pi over policy samples at each critical state (S2AC: closed-form log pi of the "
                       "SVGD particles; SAC/SAC-NF: their log pi; SQL: null)",
            "grad_l1": "mean over an action grid on [-1,1]^2 of ||grad_a min_k Q(s,a)||_1, per critical state",
            "hessian_l1": "mean over the action grid of the entry-wise L1 norm of the Hessian of min_k Q in a",
        },
        "jax_version": jax.__version__,
        "jax_backend": jax.default_backend(),
        "runs": records,
        "failed": failed,
        "aggregate": aggregate(records),
    }
    results["figures"] = make_figures(out, results, arrays, config) if plots else []
    results["wall_time_s"] = round(time.perf_counter() - start, 2)
    summary = format_summary(results)
    (out / "summary.txt").write_text(summary)
    (out / "results.json").write_text(dump_json(results))
    return results


def aggregate(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Means over seeds per (algorithm, alpha)."""
    rows = []
    keys = list(dict.fromkeys((r["algo"], r["alpha"]) for r in records))
    for algo, alpha in keys:
        sel = [r for r in records if r["algo"] == algo and r["alpha"] == alpha]

        def mean(field: str, sel=sel) -> float | None:
            vals = [r[field] for r in sel if r[field] is not None]
            return _float(np.mean(vals)) if vals else None

        rows.append({"algo": algo, "alpha": alpha, "seeds": len(sel),
                     "goal_shares": {o: _float(np.mean([r["goal_shares"][o] for r in sel])) for o in OUTCOMES},
                     "goal_shares_wall": {o: _float(np.mean([r["goal_shares_wall"][o] for r in sel]))
                                          for o in OUTCOMES},
                     "mean_return": mean("mean_return"), "mean_return_wall": mean("mean_return_wall"),
                     "entropy_mean": mean("entropy_mean"), "grad_l1_mean": mean("grad_l1_mean"),
                     "hessian_l1_mean": mean("hessian_l1_mean")})
    return rows


def format_summary(results: dict[str, Any]) -> str:
    cfg = results["config"]
    lines = [f"{results['study']} ({results['mode']}): {len(results['runs'])} runs, {cfg['total_steps']} steps each, "
             f"seeds {cfg['seeds']}, {cfg['test_episodes']} test episodes per agent",
             "goal shares G1 G2 G3 none (mean over seeds); H = mean entropy at the critical states; |dQ|, |d2Q| = "
             "smoothness measures", ""]
    header = (f"{'algorithm':<16} {'alpha':>7} | {'G1':>5} {'G2':>5} {'G3':>5} {'none':>5} | wall: {'G1':>5} "
              f"{'G2':>5} {'G3':>5} {'none':>5} | {'return':>8} {'H':>7} {'|dQ|':>8} {'|d2Q|':>8}")
    lines += [header, "-" * len(header)]

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for row in results["aggregate"]:
        g, w = row["goal_shares"], row["goal_shares_wall"]
        lines.append(f"{ALGO_LABELS[row['algo']]:<16} {row['alpha']:>7g} | "
                     + " ".join(f"{g[o]:>5.2f}" for o in OUTCOMES) + " | wall: "
                     + " ".join(f"{w[o]:>5.2f}" for o in OUTCOMES)
                     + f" | {fmt(row['mean_return'], '>8.1f')} {fmt(row['entropy_mean'], '>7.2f'):>7} "
                       f"{fmt(row['grad_l1_mean'], '>8.2f'):>8} {fmt(row['hessian_l1_mean'], '>8.2f'):>8}")
    for run in results.get("failed", []):
        lines.append(f"{ALGO_LABELS[run['algo']]:<16} {run['alpha']:>7g} | seed {run['seed']} failed: {run['error']}")
    lines += ["", f"wall time {results.get('wall_time_s', float('nan')):.1f} s; figures: "
              f"{', '.join(results['figures']) or 'none'}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Figures (matplotlib imported here only).

OUTCOME_COLORS = {"G1": "C0", "G2": "C1", "G3": "C2", "none": "0.5"}


def _plane(ax, wall: bool = False) -> None:
    from matplotlib.patches import Circle

    for name, goal in zip(GOAL_NAMES, MAXENT_GOALS, strict=True):
        ax.add_patch(Circle(goal, 0.5, color=OUTCOME_COLORS[name], alpha=0.35, lw=0))
        ax.text(goal[0], goal[1] + 0.7, name, ha="center", fontsize=7)
    if wall:
        (x0, y0), (x1, y1) = WALL
        ax.plot([x0, x1], [y0, y1], color="k", lw=3)
    ax.plot([0], [0], "k+", ms=6)
    ax.set_xlim(*PLANE)
    ax.set_ylim(*PLANE)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=6)


def _suptitle(fig, title: str) -> None:
    """The figure's title, wrapped to its width (a one-column grid is narrower than most titles)."""
    import textwrap

    fig.suptitle(textwrap.fill(title, max(30, int(fig.get_figwidth() * 13))), fontsize=10)


def _first_seed(arrays, algo: str, alpha: float, seeds) -> Any:
    return arrays.get((algo, float(alpha), seeds[0]))


def plot_trajectories(path: Path, arrays, config: StudyConfig, which: str, algos: tuple[str, ...],
                      title: str) -> None:
    """Fig. 7 (``which="plain"``), the wall variant (Fig. 16) or Fig. 17 (amortized only): rows algorithms,
    columns alphas, the first seed's test trajectories coloured by the goal they end at."""
    plt = pyplot()
    rows, cols = len(algos), len(config.alphas)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols + 0.6, 2.4 * rows + 0.6), squeeze=False)
    for i, algo in enumerate(algos):
        for j, alpha in enumerate(config.alphas):
            ax = axes[i, j]
            _plane(ax, wall=which == "wall")
            arr = _first_seed(arrays, algo, alpha, config.seeds)
            if arr is not None:
                roll = arr[which]
                for pos, goal in zip(roll["positions"], roll["goals"], strict=True):
                    color = OUTCOME_COLORS[OUTCOMES[goal] if goal >= 0 else "none"]
                    ax.plot(pos[:, 0], pos[:, 1], color=color, lw=0.8, alpha=0.8)
                shares = goal_shares(roll["goals"])
                ax.set_title(f"{ALGO_LABELS[algo]}, a={alpha:g}\n" + " ".join(f"{o}:{shares[o]:.2f}"
                                                                              for o in OUTCOMES), fontsize=7)
    _suptitle(fig, title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_goal_shares(path: Path, results: dict[str, Any], key: str, title: str) -> None:
    """Fig. 12 (``key="goal_shares"``) or Fig. 16 (``"goal_shares_wall"``): share per outcome vs alpha, one
    panel per algorithm, mean over seeds."""
    plt = pyplot()
    algos = list(dict.fromkeys(r["algo"] for r in results["aggregate"]))
    fig, axes = plt.subplots(1, len(algos), figsize=(3.0 * len(algos), 3.0), squeeze=False, sharey=True)
    for ax, algo in zip(axes[0], algos, strict=True):
        rows = sorted((r for r in results["aggregate"] if r["algo"] == algo), key=lambda r: r["alpha"])
        xs = np.arange(len(rows))
        bottom = np.zeros(len(rows))
        for o in OUTCOMES:
            vals = np.array([r[key][o] for r in rows])
            ax.bar(xs, vals, bottom=bottom, color=OUTCOME_COLORS[o], label=o, width=0.7)
            bottom += vals
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{r['alpha']:g}" for r in rows], fontsize=7)
        ax.set_xlabel("alpha")
        ax.set_title(ALGO_LABELS[algo], fontsize=9)
    axes[0, 0].set_ylabel("share of test episodes")
    axes[0, -1].legend(fontsize=7, loc="upper right")
    _suptitle(fig, title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_entropy_heatmap(path: Path, arrays, config: StudyConfig, algos: list[str]) -> None:
    """Fig. 13: the policy entropy estimate over a grid of states, rows algorithms, columns alphas."""
    plt = pyplot()
    n = config.state_grid
    xs = np.linspace(PLANE[0] + 0.5, PLANE[1] - 0.5, n)
    fig, axes = plt.subplots(len(algos), len(config.alphas), figsize=(2.9 * len(config.alphas), 2.6 * len(algos)),
                             squeeze=False)
    for i, algo in enumerate(algos):
        for j, alpha in enumerate(config.alphas):
            ax = axes[i, j]
            arr = _first_seed(arrays, algo, alpha, config.seeds)
            if arr is not None and arr["entropy_grid"] is not None:
                im = ax.pcolormesh(xs, xs, arr["entropy_grid"].reshape(n, n), shading="nearest", cmap="viridis")
                fig.colorbar(im, ax=ax, shrink=0.8).ax.tick_params(labelsize=6)
            _plane(ax)
            ax.set_title(f"{ALGO_LABELS[algo]}, a={alpha:g}", fontsize=8)
    _suptitle(fig, "Fig. 13: policy entropy -mean log pi over the plane (first seed)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_q_landscape(path: Path, arrays, config: StudyConfig, alpha: float) -> None:
    """Fig. 14: ``min_k Q(s, .)`` over the action square at the six critical states with the policy's
    samples (S2AC: the final SVGD particles), rows algorithms."""
    plt = pyplot()
    algos = config.algos
    n = config.action_grid
    xs = np.linspace(-1.0, 1.0, n)
    k = len(CRITICAL_STATES)
    fig, axes = plt.subplots(len(algos), k, figsize=(2.1 * k, 2.1 * len(algos) + 0.5), squeeze=False)
    for i, algo in enumerate(algos):
        arr = _first_seed(arrays, algo, alpha, config.seeds)
        for j, st in enumerate(CRITICAL_STATES):
            ax = axes[i, j]
            if arr is not None:
                ax.contourf(xs, xs, arr["q"][j], levels=15, cmap="RdBu_r")
                pts = arr["particles"][j]
                ax.scatter(pts[:, 0], pts[:, 1], s=8, c="k", edgecolors="white", linewidths=0.3)
            ax.set_xlim(-1, 1)
            ax.set_ylim(-1, 1)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=5)
            if i == 0:
                ax.set_title(f"s=({st[0]:g},{st[1]:g})", fontsize=8)
            if j == 0:
                ax.set_ylabel(ALGO_LABELS[algo], fontsize=8)
    _suptitle(fig, f"Fig. 14: Q-landscape over actions and policy samples at the critical states, alpha={alpha:g}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_smoothness(path: Path, results: dict[str, Any]) -> None:
    """Fig. 15: the two smoothness measures (mean over the critical states and seeds) vs alpha."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    algos = list(dict.fromkeys(r["algo"] for r in results["aggregate"]))
    for c, algo in enumerate(algos):
        rows = sorted((r for r in results["aggregate"] if r["algo"] == algo), key=lambda r: r["alpha"])
        for ax, key in zip(axes, ("grad_l1_mean", "hessian_l1_mean"), strict=True):
            ax.plot([r["alpha"] for r in rows], [np.nan if r[key] is None else r[key] for r in rows], marker="o",
                    color=f"C{c}", label=ALGO_LABELS[algo])
    for ax, name in zip(axes, ("mean ||grad_a Q||_1", "mean ||hess_a Q||_1"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("alpha")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    _suptitle(fig, "Fig. 15: smoothness of the learned Q in the action at the critical states")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_theta(path: Path, results: dict[str, Any]) -> None:
    """Fig. 11: ``mu_theta`` (both components) and ``sigma_theta`` (mean of the components) at the critical
    states during training; rows (algorithm, alpha) of the first seed."""
    plt = pyplot()
    seed0 = results["config"]["seeds"][0]
    runs = [r for r in results["runs"] if r["theta_trace"] is not None and r["seed"] == seed0]
    fig, axes = plt.subplots(len(runs), 3, figsize=(11, 2.4 * len(runs) + 0.6), squeeze=False)
    for i, r in enumerate(runs):
        steps = np.array(r["theta_trace"]["steps"])
        mu, sigma = np.array(r["theta_trace"]["mu"]), np.array(r["theta_trace"]["sigma"])
        for s, st in enumerate(CRITICAL_STATES):
            label = f"({st[0]:g},{st[1]:g})"
            axes[i, 0].plot(steps, mu[:, s, 0], color=f"C{s}", label=label)
            axes[i, 1].plot(steps, mu[:, s, 1], color=f"C{s}")
            axes[i, 2].plot(steps, sigma[:, s].mean(-1), color=f"C{s}")
        for ax, name in zip(axes[i], ("mu_theta x", "mu_theta y", "sigma_theta (mean)"), strict=True):
            ax.set_title(f"{ALGO_LABELS[r['algo']]}, a={r['alpha']:g}: {name}", fontsize=8)
            ax.tick_params(labelsize=6)
            ax.grid(alpha=0.3)
        axes[i, 0].legend(fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("environment step")
    _suptitle(fig, "Fig. 11: the learned initial distribution q_0 = N(mu_theta, sigma_theta) at the critical states")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def make_figures(out: Path, results: dict[str, Any], arrays, config: StudyConfig) -> list[str]:
    """Write the study's figures into ``out``; return their file names."""
    names = []

    def save(name: str, fn, *args) -> None:
        fn(out / name, *args)
        names.append(name)

    save("fig7_trajectories.png", plot_trajectories, arrays, config, "plain", config.algos,
         "Fig. 7: test trajectories from the origin (first seed), coloured by the goal reached")
    save("fig12_goal_shares.png", plot_goal_shares, results, "goal_shares",
         "Fig. 12: share of test episodes ending at each goal vs alpha")
    save("fig16_goal_shares_wall.png", plot_goal_shares, results, "goal_shares_wall",
         "Fig. 16: share of test episodes ending at each goal with the wall (never seen in training)")
    save("fig16_trajectories_wall.png", plot_trajectories, arrays, config, "wall", config.algos,
         "Fig. 16: test trajectories with the wall (first seed)")
    with_entropy = [a for a in config.algos if a in S2AC_VARIANTS]
    if with_entropy:
        save("fig13_entropy_heatmap.png", plot_entropy_heatmap, arrays, config, with_entropy)
    for alpha in config.alphas:
        save(f"fig14_q_landscape_alpha{alpha:g}.png", plot_q_landscape, arrays, config, alpha)
    save("fig15_smoothness.png", plot_smoothness, results)
    if any(r["theta_trace"] is not None for r in results["runs"]):
        save("fig11_theta.png", plot_theta, results)
    if "s2ac_amortized" in config.algos:
        save("fig17_amortized.png", plot_trajectories, arrays, config, "plain", ("s2ac_amortized",),
             "Fig. 17: amortized S2AC test trajectories (one-pass sampler f_psi), first seed")
    return names


# ---------------------------------------------------------------------------------------------------------
# Command line.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (created): figures, results.json, "
                        "summary.txt")
    parser.add_argument("--quick", action="store_true", help="a reduced grid (2 alphas, 1 seed, 2000 steps, "
                        "64-unit networks)")
    parser.add_argument("--algos", nargs="+", default=None, metavar="ALGO",
                        help=f"algorithms to train (default all: {' '.join(ALGOS)}; s2ac = s2ac_phi_theta)")
    parser.add_argument("--alphas", nargs="+", type=float, default=None, metavar="ALPHA",
                        help="fixed temperatures (default 1 5 20 50; --quick 5 50)")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED",
                        help="seeds (default 0 1 2; --quick 0)")
    parser.add_argument("--steps", type=int, default=None, help="environment steps per agent (default 10000, "
                        "--quick 2000)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> StudyConfig:
    overrides: dict[str, Any] = {}
    for name in ("algos", "alphas", "seeds"):
        if getattr(args, name) is not None:
            overrides[name] = tuple(getattr(args, name))
    if "algos" in overrides:
        overrides["algos"] = tuple(ALIASES.get(algo, algo) for algo in overrides["algos"])  # s2ac: its preset
    if args.steps is not None:
        overrides["total_steps"] = args.steps
    return make_config(args.quick, **overrides)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    print_summary(args.out, run_study(args.out, config, progress=not args.no_progress))
    return 0
