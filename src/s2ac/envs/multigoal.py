"""The multi-goal point-mass environments of Section 4.2 (after Haarnoja et al. 2017's ``MultiGoal``).

A point mass on the plane ``[-7, 7]^2`` starts at the origin. An action ``a`` (clipped to ``[-1, 1]^2``)
moves it deterministically to ``s' = clip(s + a, [-7, 7]^2)``. The reward, computed at ``s'`` with the
clipped action, is ::

    r = -(action_cost * ||a||^2 + distance_cost * min_g ||s' - g||^2)  (+ goal_reward if a goal is reached)

and the episode terminates when ``min_g ||s' - g|| < goal_radius``. Episodes last at most ``horizon`` (30)
steps: the step that reaches the horizon without reaching a goal returns ``truncated=True``. The limit is
the environment's own (``horizon``, so it holds for direct instances too and ``gym.make(id, horizon=H)``
changes it); the ids are registered without a ``TimeLimit`` wrapper (``env.spec.max_episode_steps`` is
``None``). Goals are checked at the end of a step only, as in the original: a step passing through a goal's
disc without ending in it does not reach it.

Registered ids (registration happens on ``import s2ac.envs``):

* ``s2ac/MultiGoal-v0``: goals ``(5, 0), (-5, 0), (0, 5), (0, -5)``, goal radius 1.0 as in Haarnoja et al.
  (2017) and the ``softqlearning`` code. The S2AC authors' code uses a radius of 0.5:
  ``gym.make("s2ac/MultiGoal-v0", goal_radius=0.5)``.
* ``s2ac/MultiGoalMaxEnt-v0``: the S2AC paper's goals ``G1 = (5, 0), G2 = (-4, 3), G3 = (-4, -3)``, radius
  0.5. All goals give the same reward; the left side (two goals) offers more future entropy.
* ``s2ac/MultiGoalObstacle-v0`` and ``s2ac/MultiGoalMaxEntObstacle-v0``: the same with the wall segment
  ``WALL`` from ``(-2, 0)`` to ``(0, 2)`` across the way to ``G2`` (used at test time only). A step whose
  straight segment from ``s`` to ``s'`` crosses or touches a wall leaves the agent where it was (``s' = s``);
  the action is still charged.

Every ``info`` (of ``reset`` and ``step``) has the keys

* ``"goal"``: ``int``, the index into ``env.goals`` of the goal reached by this step, ``-1`` when none
  (always ``-1`` after ``reset``);
* ``"blocked"``: ``bool``, whether a wall stopped this step (always ``False`` after ``reset``);
* ``"position"``: ``float64`` array ``(2,)``, the exact position (the observation is its ``float32`` copy);
* ``"distance"``: ``float``, the distance from the position to the nearest goal.

An episode starts at the origin plus Gaussian noise of standard deviation ``start_noise`` per coordinate,
drawn from the environment's generator (so ``reset(seed=...)`` fixes it): 0.1 for the ``MultiGoal`` ids as in
Haarnoja et al.'s environment, 0.05 for the ``MultiGoalMaxEnt`` ids as in the S2AC authors'; ``gym.make(id,
start_noise=0.0)`` starts every episode exactly at the origin. ``reset(options={"position": (x, y)})`` starts
exactly at another position, without noise (used for tests and analyses of particular states). The dynamics
have no other randomness.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

MULTIGOAL_GOALS: tuple[tuple[float, float], ...] = ((5.0, 0.0), (-5.0, 0.0), (0.0, 5.0), (0.0, -5.0))
"""Goals of Haarnoja et al. (2017)'s multi-goal environment."""
MAXENT_GOALS: tuple[tuple[float, float], ...] = ((5.0, 0.0), (-4.0, 3.0), (-4.0, -3.0))
"""Goals ``G1, G2, G3`` of the S2AC paper's max-entropy multi-goal environment (Section 4.2)."""
WALL: tuple[tuple[float, float], tuple[float, float]] = ((-2.0, 0.0), (0.0, 2.0))
"""The obstacle of the test-time variants: a segment across the way from the origin to ``G2``."""

MULTIGOAL_ID = "s2ac/MultiGoal-v0"
MULTIGOAL_MAXENT_ID = "s2ac/MultiGoalMaxEnt-v0"
MULTIGOAL_OBSTACLE_ID = "s2ac/MultiGoalObstacle-v0"
MULTIGOAL_MAXENT_OBSTACLE_ID = "s2ac/MultiGoalMaxEntObstacle-v0"
MULTIGOAL_IDS: tuple[str, ...] = (MULTIGOAL_ID, MULTIGOAL_MAXENT_ID, MULTIGOAL_OBSTACLE_ID,
                                  MULTIGOAL_MAXENT_OBSTACLE_ID)

_SPECS: dict[str, dict[str, Any]] = {
    MULTIGOAL_ID: {"goals": MULTIGOAL_GOALS, "goal_radius": 1.0, "start_noise": 0.1},
    MULTIGOAL_MAXENT_ID: {"goals": MAXENT_GOALS, "goal_radius": 0.5, "start_noise": 0.05},
    MULTIGOAL_OBSTACLE_ID: {"goals": MULTIGOAL_GOALS, "goal_radius": 1.0, "walls": (WALL,), "start_noise": 0.1},
    MULTIGOAL_MAXENT_OBSTACLE_ID: {"goals": MAXENT_GOALS, "goal_radius": 0.5, "walls": (WALL,),
                                   "start_noise": 0.05},
}

_TOLERANCE = 1e-9


def _side(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], tol: float) -> int:
    """Which side of the line through ``a, b`` the point ``c`` lies on: ``+1`` left, ``-1`` right, ``0`` on
    the line (within ``tol``, a distance; a degenerate ``a == b`` puts every point on its "line")."""
    cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    length = float(np.hypot(b[0] - a[0], b[1] - a[1]))
    if abs(cross) <= tol * length:
        return 0
    return 1 if cross > 0 else -1


def _within_box(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], tol: float) -> bool:
    """Whether ``c`` lies in the bounding box of ``a, b`` (within ``tol``)."""
    return (min(a[0], b[0]) - tol <= c[0] <= max(a[0], b[0]) + tol
            and min(a[1], b[1]) - tol <= c[1] <= max(a[1], b[1]) + tol)


def segments_intersect(p1: Sequence[float], p2: Sequence[float], q1: Sequence[float], q2: Sequence[float],
                       tol: float = _TOLERANCE) -> bool:
    """Whether the closed segments ``[p1, p2]`` and ``[q1, q2]`` of the plane share a point.

    Crossing, touching (an endpoint on the other segment, or shared endpoints) and collinear overlapping
    segments intersect; parallel and collinear-but-disjoint ones do not. Degenerate segments (a point) are
    handled. Points within ``tol`` (a distance) of a line count as on it, so touching is robust to rounding.
    """
    p1, p2, q1, q2 = (tuple(float(v) for v in point) for point in (p1, p2, q1, q2))
    d1, d2 = _side(q1, q2, p1, tol), _side(q1, q2, p2, tol)
    d3, d4 = _side(p1, p2, q1, tol), _side(p1, p2, q2, tol)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True
    return ((d1 == 0 and _within_box(q1, q2, p1, tol)) or (d2 == 0 and _within_box(q1, q2, p2, tol))
            or (d3 == 0 and _within_box(p1, p2, q1, tol)) or (d4 == 0 and _within_box(p1, p2, q2, tol)))


def _as_walls(walls: Any) -> np.ndarray:
    """Walls as an array ``(n, 2, 2)``: accepts one segment ``((x1, y1), (x2, y2))`` or a sequence of them."""
    array = np.asarray(walls if walls is not None else (), dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 2, 2))
    if array.shape == (2, 2):
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (2, 2) or not np.all(np.isfinite(array)):
        raise ValueError(f"walls must be a segment ((x1, y1), (x2, y2)) or a sequence of them, got {walls!r}")
    return array


class MultiGoalEnv(gym.Env):
    """A 2-D point mass that should reach one of several goals; see the module's documentation.

    Args:
        goals: goal positions ``(k, 2)``.
        goal_radius: reaching a goal means ending a step strictly closer than this to it.
        action_cost: the coefficient of ``||a||^2``.
        distance_cost: the coefficient of the squared distance to the nearest goal.
        goal_reward: the bonus for reaching a goal.
        horizon: the episode length; ``None`` for no limit.
        walls: one segment ``((x1, y1), (x2, y2))`` or a sequence of them (default none); a step that would
            cross or touch one is cancelled.
        bound: the plane is ``[-bound, bound]^2``.
        max_action: actions are clipped to ``[-max_action, max_action]^2``.
        start_noise: standard deviation of the Gaussian noise added to the origin at ``reset`` (0: none).
        render_mode: ``None`` or ``"rgb_array"``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, goals: Sequence[Sequence[float]] = MULTIGOAL_GOALS, goal_radius: float = 1.0,
                 action_cost: float = 30.0, distance_cost: float = 1.0, goal_reward: float = 10.0,
                 horizon: int | None = 30, walls: Any = (), bound: float = 7.0, max_action: float = 1.0,
                 start_noise: float = 0.0, render_mode: str | None = None):
        self.goals = np.asarray(goals, dtype=np.float64)
        if self.goals.ndim != 2 or self.goals.shape[1] != 2 or len(self.goals) == 0:
            raise ValueError(f"goals must be a non-empty list of 2-D points, got {goals!r}")
        if not goal_radius > 0:
            raise ValueError(f"goal_radius must be positive, got {goal_radius}")
        if horizon is not None and not (isinstance(horizon, int | np.integer) and horizon > 0):
            raise ValueError(f"horizon must be a positive integer or None, got {horizon!r}")
        if not (bound > 0 and max_action > 0):
            raise ValueError(f"bound and max_action must be positive, got {bound}, {max_action}")
        if not (isinstance(start_noise, int | float) and np.isfinite(start_noise) and start_noise >= 0):
            raise ValueError(f"start_noise must be a non-negative number, got {start_noise!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, "
                             f"got {render_mode!r}")
        self.goal_radius = float(goal_radius)
        self.action_cost = float(action_cost)
        self.distance_cost = float(distance_cost)
        self.goal_reward = float(goal_reward)
        self.horizon = None if horizon is None else int(horizon)
        self.walls = _as_walls(walls)
        self.bound = float(bound)
        self.max_action = float(max_action)
        self.start_noise = float(start_noise)
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(-self.bound, self.bound, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-self.max_action, self.max_action, shape=(2,), dtype=np.float32)
        self._position = np.zeros(2)
        self._steps = 0
        self._trajectory: list[np.ndarray] = [self._position.copy()]
        self._figure: Any = None

    # -- dynamics ------------------------------------------------------------------------------------------
    @property
    def position(self) -> np.ndarray:
        """The current position (a copy, float64)."""
        return self._position.copy()

    def goal_distances(self, position: Sequence[float]) -> np.ndarray:
        """Distances from ``position`` to each goal."""
        return np.linalg.norm(self.goals - np.asarray(position, dtype=np.float64), axis=-1)

    def blocked(self, start: Sequence[float], end: Sequence[float]) -> bool:
        """Whether the straight move from ``start`` to ``end`` crosses or touches a wall."""
        return any(segments_intersect(start, end, wall[0], wall[1]) for wall in self.walls)

    def _observation(self) -> np.ndarray:
        return self._position.astype(np.float32)

    def _info(self, goal: int, blocked: bool) -> dict[str, Any]:
        return {"goal": int(goal), "blocked": bool(blocked), "position": self._position.copy(),
                "distance": float(self.goal_distances(self._position).min())}

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        start = np.zeros(2)
        if self.start_noise > 0:
            start = np.clip(self.start_noise * self.np_random.standard_normal(2), -self.bound, self.bound)
        if options and options.get("position") is not None:
            start = np.asarray(options["position"], dtype=np.float64).reshape(-1)
            if start.shape != (2,) or not np.all(np.abs(start) <= self.bound):
                raise ValueError(f"options['position'] must be a point of [-{self.bound}, {self.bound}]^2, "
                                 f"got {options['position']!r}")
            if self.blocked(start, start):
                raise ValueError(f"options['position'] {options['position']!r} lies on a wall")
        self._position = start
        self._steps = 0
        self._trajectory = [start.copy()]
        return self._observation(), self._info(-1, False)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (2,):
            raise ValueError(f"expected a 2-D action, got shape {np.shape(action)}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"non-finite action {action}")
        action = np.clip(action, -self.max_action, self.max_action)
        start = self._position
        end = np.clip(start + action, -self.bound, self.bound)
        blocked = self.blocked(start, end)
        if blocked:
            end = start.copy()
        self._position = end
        self._steps += 1
        self._trajectory.append(end.copy())

        distances = self.goal_distances(end)
        nearest = int(np.argmin(distances))
        reward = -(self.action_cost * float(action @ action) + self.distance_cost * float(distances[nearest]) ** 2)
        terminated = bool(distances[nearest] < self.goal_radius)
        if terminated:
            reward += self.goal_reward
        truncated = bool(not terminated and self.horizon is not None and self._steps >= self.horizon)
        info = self._info(nearest if terminated else -1, blocked)
        return self._observation(), float(reward), terminated, truncated, info

    # -- rendering -----------------------------------------------------------------------------------------
    def render(self) -> np.ndarray | None:
        """An image ``(H, W, 3)`` ``uint8`` of the plane: the goals (discs of the goal radius), the walls and
        this episode's trajectory (positions since ``reset``); ``None`` unless ``render_mode="rgb_array"``."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array' to the "
                            "environment's constructor (or gym.make) to get images")
            return None
        if self._figure is None:
            self._figure = self._make_figure()
        figure, axes, path, head, background = self._figure
        trajectory = np.asarray(self._trajectory)
        path.set_data(trajectory[:, 0], trajectory[:, 1])
        head.set_data(trajectory[-1:, 0], trajectory[-1:, 1])
        # Blitting: the static plane (axes, goals, walls) is drawn once; each frame restores it and draws the path.
        figure.canvas.restore_region(background)
        axes.draw_artist(path)
        axes.draw_artist(head)
        return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()

    def _make_figure(self) -> tuple[Any, Any, Any, Any, Any]:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Circle

        figure = Figure(figsize=(4, 4), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_axes((0.08, 0.06, 0.9, 0.9))
        axes.set_xlim(-self.bound, self.bound)
        axes.set_ylim(-self.bound, self.bound)
        axes.set_aspect("equal")
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.2)
        for goal in self.goals:
            axes.add_patch(Circle(tuple(goal), self.goal_radius, color="tab:red", alpha=0.35, lw=0))
            axes.plot(*goal, "x", color="tab:red", ms=6, mew=2)
        for wall in self.walls:
            axes.plot(wall[:, 0], wall[:, 1], "-", color="black", lw=4, solid_capstyle="butt")
        (path,) = axes.plot([], [], "-", color="tab:blue", lw=1.5, marker=".", ms=4, animated=True)
        (head,) = axes.plot([], [], "o", color="tab:blue", ms=7, animated=True)
        figure.canvas.draw()
        return figure, axes, path, head, figure.canvas.copy_from_bbox(figure.bbox)

    def close(self) -> None:
        self._figure = None
        super().close()


def task_settings(env_id: str) -> dict[str, Any]:
    """The settings a registered multi-goal id builds its environment with (goals, goal_radius, walls, ...)."""
    if env_id not in _SPECS:
        raise ValueError(f"unknown multi-goal task {env_id!r}; expected one of {', '.join(MULTIGOAL_IDS)}")
    return dict(_SPECS[env_id])


def register_envs() -> None:
    """Registers the four multi-goal ids with Gymnasium; idempotent (ids already registered are kept)."""
    for env_id, kwargs in _SPECS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="s2ac.envs.multigoal:MultiGoalEnv", kwargs=dict(kwargs))
