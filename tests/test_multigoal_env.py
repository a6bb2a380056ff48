"""Tests of the multi-goal environments (``s2ac.envs.multigoal``): dynamics, reward, goals, time limit, the
wall and its segment-intersection test, Gymnasium's checker, registration, rendering and determinism."""

from __future__ import annotations

import itertools
import subprocess
import sys
import warnings
from fractions import Fraction

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import s2ac.envs
from s2ac.envs import (
    MAXENT_GOALS,
    MULTIGOAL_GOALS,
    MULTIGOAL_ID,
    MULTIGOAL_IDS,
    MULTIGOAL_MAXENT_ID,
    MULTIGOAL_MAXENT_OBSTACLE_ID,
    MULTIGOAL_OBSTACLE_ID,
    WALL,
    MultiGoalEnv,
    make_env,
    segments_intersect,
)
from s2ac.envs.multigoal import task_settings

INFO_KEYS = {"goal", "blocked", "position", "distance"}


def _expected_reward(position, action, goals, radius=None, goal_reward=10.0):
    position, action, goals = (np.asarray(x, dtype=np.float64) for x in (position, action, goals))
    distance = min(np.linalg.norm(position - g) for g in goals)
    reward = -(30.0 * float(np.sum(action**2)) + 1.0 * distance**2)
    if radius is not None and distance < radius:
        reward += goal_reward
    return reward


def _started_at(env: MultiGoalEnv, position) -> MultiGoalEnv:
    env.reset(options={"position": position})
    return env


# -- registration and the registered configurations --------------------------------------------------------
@pytest.mark.parametrize("env_id, goals, radius, walled", [
    (MULTIGOAL_ID, MULTIGOAL_GOALS, 1.0, False),
    (MULTIGOAL_MAXENT_ID, MAXENT_GOALS, 0.5, False),
    (MULTIGOAL_OBSTACLE_ID, MULTIGOAL_GOALS, 1.0, True),
    (MULTIGOAL_MAXENT_OBSTACLE_ID, MAXENT_GOALS, 0.5, True),
])
def test_registered_configurations(env_id, goals, radius, walled):
    env = make_env(env_id)
    base = env.unwrapped
    assert isinstance(base, MultiGoalEnv)
    np.testing.assert_array_equal(base.goals, goals)
    assert base.goal_radius == radius
    assert (base.action_cost, base.distance_cost, base.goal_reward, base.horizon) == (30.0, 1.0, 10.0, 30)
    np.testing.assert_array_equal(base.walls, [WALL] if walled else np.zeros((0, 2, 2)))
    assert env.observation_space == gym.spaces.Box(-7.0, 7.0, (2,), np.float32)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    env.close()


def test_constants():
    assert MULTIGOAL_GOALS == ((5.0, 0.0), (-5.0, 0.0), (0.0, 5.0), (0.0, -5.0))
    assert MAXENT_GOALS == ((5.0, 0.0), (-4.0, 3.0), (-4.0, -3.0))
    assert WALL == ((-2.0, 0.0), (0.0, 2.0))
    assert set(MULTIGOAL_IDS) == {"s2ac/MultiGoal-v0", "s2ac/MultiGoalMaxEnt-v0", "s2ac/MultiGoalObstacle-v0",
                                  "s2ac/MultiGoalMaxEntObstacle-v0"}


def test_registration_is_idempotent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2ac.envs.register_envs()
    # reloading (in a fresh interpreter, so that this session's classes stay as they are) neither raises nor
    # warns; the control shows that registering an id twice would warn
    script = ("import importlib, warnings, gymnasium as gym, s2ac.envs, s2ac.envs.multigoal as m\n"
              "importlib.reload(m); importlib.reload(s2ac.envs); importlib.reload(s2ac.envs)\n"
              "assert gym.make('s2ac/MultiGoalMaxEnt-v0').unwrapped.goal_radius == 0.5\n"
              "warnings.simplefilter('default')\n"
              "gym.register(id='s2ac/MultiGoal-v0', entry_point='s2ac.envs.multigoal:MultiGoalEnv')\n")
    result = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Overriding environment s2ac/MultiGoal-v0" in result.stderr
    assert result.stderr.count("WARN") == 1, result.stderr
    assert all(env_id in gym.registry for env_id in MULTIGOAL_IDS)


def test_make_kwargs_override_defaults():
    assert gym.make(MULTIGOAL_ID, goal_radius=0.5).unwrapped.goal_radius == 0.5  # the S2AC authors' radius


# -- dynamics ----------------------------------------------------------------------------------------------
def test_starts_at_origin_with_consistent_info():
    env = MultiGoalEnv()
    obs, info = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == (2,)
    np.testing.assert_array_equal(obs, [0.0, 0.0])
    assert set(info) == INFO_KEYS
    assert info["goal"] == -1 and info["blocked"] is False
    np.testing.assert_array_equal(info["position"], [0.0, 0.0])
    assert info["distance"] == pytest.approx(5.0)
    _, _, _, _, step_info = env.step(np.array([0.1, 0.2], np.float32))
    assert set(step_info) == INFO_KEYS
    assert type(step_info["goal"]) is int and type(step_info["blocked"]) is bool


def test_moves_by_the_action():
    env = MultiGoalEnv()
    env.reset()
    position = np.zeros(2)
    for action in ([0.3, -0.4], [-1.0, 1.0], [0.25, 0.5], [0.0, 0.0]):
        obs, _, _, _, info = env.step(np.asarray(action, np.float32))
        position = position + np.asarray(action, np.float32).astype(np.float64)
        np.testing.assert_allclose(info["position"], position)
        np.testing.assert_array_equal(obs, position.astype(np.float32))
        np.testing.assert_array_equal(env.position, info["position"])


def test_out_of_range_actions_are_clipped():
    env = MultiGoalEnv()
    env.reset()
    _, reward, _, _, info = env.step(np.array([2.0, -3.0]))
    np.testing.assert_array_equal(info["position"], [1.0, -1.0])
    assert reward == pytest.approx(_expected_reward([1.0, -1.0], [1.0, -1.0], MULTIGOAL_GOALS))
    _, reward, _, _, info = env.step(np.array([0.5, -100.0]))
    np.testing.assert_array_equal(info["position"], [1.5, -2.0])
    assert reward == pytest.approx(_expected_reward([1.5, -2.0], [0.5, -1.0], MULTIGOAL_GOALS))


def test_position_is_clipped_at_the_boundary():
    env = _started_at(MultiGoalEnv(), (6.5, -6.8))
    obs, reward, _, _, info = env.step(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(info["position"], [7.0, -7.0])
    assert env.observation_space.contains(obs)
    # the reward is computed at the clipped position, with the full (clipped) action
    assert reward == pytest.approx(_expected_reward([7.0, -7.0], [1.0, -1.0], MULTIGOAL_GOALS))
    _, _, _, _, info = env.step(np.array([1.0, 0.5]))
    np.testing.assert_array_equal(info["position"], [7.0, -6.5])


@pytest.mark.parametrize("action", [np.zeros(3), np.zeros((2, 2)), np.array([np.nan, 0.0]), np.array([0.0, np.inf])])
def test_bad_actions_raise(action):
    env = MultiGoalEnv()
    env.reset()
    with pytest.raises(ValueError):
        env.step(action)


@pytest.mark.parametrize("kwargs", [{"goals": []}, {"goals": [[1.0, 2.0, 3.0]]}, {"goal_radius": 0.0},
                                    {"horizon": 0}, {"horizon": 2.5}, {"walls": [[0.0, 1.0]]},
                                    {"render_mode": "human"}, {"bound": -1.0}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        MultiGoalEnv(**kwargs)


def test_bad_start_positions_raise():
    env = MultiGoalEnv(walls=WALL)
    for position in [(8.0, 0.0), (0.0, 1.0, 2.0), (-1.0, 1.0)]:  # outside the plane, not 2-D, on the wall
        with pytest.raises(ValueError):
            env.reset(options={"position": position})


# -- reward and goals --------------------------------------------------------------------------------------
@pytest.mark.parametrize("goals", [MULTIGOAL_GOALS, MAXENT_GOALS])
def test_reward_formula(goals):
    rng = np.random.default_rng(0)
    env = MultiGoalEnv(goals=goals, goal_radius=0.5)
    starts = [(0.0, 0.0), (2.0, -1.0), (-3.0, 2.5), (4.2, 0.3), (-6.5, 6.5)] + list(rng.uniform(-6, 6, (10, 2)))
    for start in starts:
        action = rng.uniform(-1, 1, 2).astype(np.float32)
        _started_at(env, start)
        _, reward, terminated, _, info = env.step(action)
        end = np.clip(np.asarray(start) + action.astype(np.float64), -7, 7)
        np.testing.assert_allclose(info["position"], end)
        assert reward == pytest.approx(_expected_reward(end, action.astype(np.float64), goals, radius=0.5))
        assert info["distance"] == pytest.approx(min(np.linalg.norm(end - np.asarray(g)) for g in goals))
        assert terminated == (info["distance"] < 0.5)


@pytest.mark.parametrize("env_id", [MULTIGOAL_ID, MULTIGOAL_MAXENT_ID])
def test_goal_reached_exactly_within_the_radius(env_id):
    env = gym.make(env_id).unwrapped
    radius, goals = env.goal_radius, env.goals
    action = np.array([0.25, -0.5])
    for index, goal in enumerate(goals):
        for direction in ((1.0, 0.0), (0.6, -0.8), (-1.0, 0.0)):
            direction = np.asarray(direction)
            for offset, reached in ((radius - 1e-6, True), (radius + 1e-6, False)):
                end = goal + offset * direction
                _started_at(env, end - action)
                _, reward, terminated, truncated, info = env.step(action)
                np.testing.assert_allclose(info["position"], end, atol=1e-12)
                assert terminated is reached and truncated is False
                assert info["goal"] == (index if reached else -1)
                bonus = 10.0 if reached else 0.0
                assert reward == pytest.approx(-(30 * action @ action + offset**2) + bonus)


def test_goal_radius_one_versus_half():
    action = np.array([0.5, 0.0])
    for radius, reached in ((1.0, True), (0.5, False)):
        env = gym.make(MULTIGOAL_ID, goal_radius=radius).unwrapped
        _started_at(env, (3.75, 0.0))  # ends at (4.25, 0), 0.75 from the goal (5, 0)
        _, reward, terminated, _, info = env.step(action)
        assert terminated is reached
        assert info["goal"] == (0 if reached else -1)
        assert reward == pytest.approx(-(30 * 0.25 + 0.75**2) + (10.0 if reached else 0.0))


def test_coefficients_are_parameters():
    env = MultiGoalEnv(goals=[(1.0, 1.0)], goal_radius=0.2, action_cost=2.0, distance_cost=3.0, goal_reward=7.0)
    env.reset()
    _, reward, terminated, _, _ = env.step(np.array([0.5, 0.0]))
    assert not terminated and reward == pytest.approx(-(2.0 * 0.25 + 3.0 * (0.25 + 1.0)))
    _, reward, terminated, _, info = env.step(np.array([0.45, 1.0]))
    assert terminated and info["goal"] == 0
    assert reward == pytest.approx(-(2.0 * (0.45**2 + 1.0) + 3.0 * 0.05**2) + 7.0)


def test_greedy_walk_reaches_the_goal():
    env = gym.make(MULTIGOAL_MAXENT_ID, start_noise=0.0)
    obs, _ = env.reset(seed=0)
    for _ in range(30):
        obs, reward, terminated, truncated, info = env.step(np.clip(np.array([-4.0, 3.0]) - obs, -1, 1))
        if terminated or truncated:
            break
    assert terminated and info["goal"] == 1
    assert reward == pytest.approx(-30.0 * 1.0 + 10.0)  # the last step (-1, 0) lands exactly on G2


# -- time limit --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", MULTIGOAL_IDS)
def test_episodes_are_truncated_after_30_steps(env_id):
    env = gym.make(env_id)
    for _ in range(2):  # the count restarts on reset
        env.reset()
        for t in range(1, 31):
            _, _, terminated, truncated, _ = env.step(np.array([0.1, 0.0], np.float32) * (-1) ** t)
            assert terminated is False
            assert truncated is (t == 30)


def test_horizon_argument_and_no_limit():
    env = gym.make(MULTIGOAL_ID, horizon=5)
    env.reset()
    assert [env.step(np.zeros(2, np.float32))[3] for _ in range(5)] == [False] * 4 + [True]
    env = MultiGoalEnv(horizon=None)
    env.reset()
    assert not any(env.step(np.zeros(2))[3] for _ in range(100))


def test_reaching_a_goal_on_the_last_step_terminates_without_truncation():
    env = _started_at(MultiGoalEnv(horizon=1), (4.5, 0.0))
    _, _, terminated, truncated, _ = env.step(np.array([0.5, 0.0]))
    assert terminated is True and truncated is False


# -- the wall ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", [MULTIGOAL_OBSTACLE_ID, MULTIGOAL_MAXENT_OBSTACLE_ID])
@pytest.mark.parametrize("start, action, blocked", [
    ((-0.6, 0.7), (-0.6, 0.7), True),    # straight across the wall
    ((0.0, 0.0), (-1.0, 1.0), True),     # ends exactly on the wall (at (-1, 1))
    ((0.5, 1.5), (-1.0, 1.0), True),     # passes exactly through the wall's end (0, 2)
    ((-2.5, 0.5), (1.0, -1.0), True),    # passes through the other end (-2, 0)
    ((-1.5, 1.0), (-1.0, 0.5), False),   # starts behind the wall and moves away from it
    ((-0.6, 0.7), (1.0, 0.0), False),    # beside it
    ((1.0, 1.5), (-1.0, 1.0), False),    # past the wall's end
    ((-2.5, -0.2), (1.0, -0.5), False),  # below the wall's other end
    ((-1.0, 0.5), (0.4, 0.4), False),    # parallel to the wall
])
def test_wall_blocks_steps_that_cross_or_touch_it(env_id, start, action, blocked):
    env = gym.make(env_id).unwrapped
    _started_at(env, start)
    obs, reward, _, _, info = env.step(np.asarray(action, np.float32))
    end = np.asarray(start) if blocked else np.asarray(start) + np.asarray(action, np.float32)
    assert info["blocked"] is blocked
    np.testing.assert_allclose(info["position"], end)
    np.testing.assert_allclose(obs, end.astype(np.float32))
    # a blocked step is still charged for its action, and the distance cost is that of the unchanged position
    assert reward == pytest.approx(_expected_reward(end, np.asarray(action, np.float32), env.goals, env.goal_radius))
    # without the wall the same step goes through
    free = gym.make(env_id.replace("Obstacle", "")).unwrapped
    _started_at(free, start)
    _, _, _, _, info = free.step(np.asarray(action, np.float32))
    assert info["blocked"] is False


def test_wall_stops_the_greedy_way_to_g2():
    env = gym.make(MULTIGOAL_MAXENT_OBSTACLE_ID, start_noise=0.0)
    obs, _ = env.reset()
    blocked = []
    for _ in range(30):
        obs, _, terminated, truncated, info = env.step(np.clip(np.array([-4.0, 3.0]) - obs, -1, 1))
        blocked.append(info["blocked"])
        assert not terminated
    assert truncated and all(blocked)
    np.testing.assert_array_equal(obs, [0.0, 0.0])


def test_walls_argument_takes_one_or_several_segments():
    assert MultiGoalEnv(walls=WALL).walls.shape == (1, 2, 2)
    env = MultiGoalEnv(walls=[WALL, ((1.0, -1.0), (1.0, 1.0))])
    assert env.walls.shape == (2, 2, 2)
    env.reset()
    _, _, _, _, info = env.step(np.array([1.0, 0.0]))
    assert info["blocked"] is True


# -- segment intersection ----------------------------------------------------------------------------------
@pytest.mark.parametrize("p1, p2, q1, q2, expected", [
    ((0, 0), (2, 2), (0, 2), (2, 0), True),          # crossing
    ((0, 0), (1, 0), (0, 1), (1, 1), False),         # parallel
    ((0, 0), (1, 1), (2, 2), (3, 3), False),         # collinear, disjoint
    ((0, 0), (2, 2), (1, 1), (3, 3), True),          # collinear, overlapping
    ((0, 0), (3, 0), (1, 0), (2, 0), True),          # collinear, one inside the other
    ((0, 0), (1, 1), (1, 1), (2, 0), True),          # shared endpoint
    ((0, 0), (2, 0), (1, 0), (1, 5), True),          # T: an endpoint on the other segment
    ((0, 0), (1, 1), (1, 1), (2, 2), True),          # collinear, touching at an endpoint
    ((0, 0), (2, 0), (1, 1e-6), (1, 5), False),      # almost touching, outside the tolerance
    ((0, 0), (2, 0), (1, 1e-12), (1, 5), True),      # touching within the tolerance
    ((0, 0), (1, 0), (2, -1), (2, 1), False),        # the line would cross, the segment does not
    ((-2, 0), (0, 2), (-0.6, 0.7), (-1.2, 1.4), True),
    ((1, 1), (1, 1), (0, 0), (2, 2), True),          # a point on a segment
    ((1, 1.5), (1, 1.5), (0, 0), (2, 2), False),     # a point off it
    ((1, 1), (1, 1), (1, 1), (1, 1), True),          # the same point
    ((1, 1), (1, 1), (1, 2), (1, 2), False),         # two points
])
def test_segments_intersect_cases(p1, p2, q1, q2, expected):
    for a, b, c, d in [(p1, p2, q1, q2), (p2, p1, q1, q2), (q1, q2, p1, p2), (q2, q1, p2, p1)]:
        assert segments_intersect(a, b, c, d) is expected
        assert segments_intersect(np.asarray(a, np.float32), b, np.asarray(c), d) is expected


def _reference_intersect(p1, p2, q1, q2) -> bool:
    """Exact rational reference by solving ``p1 + t (p2 - p1) = q1 + u (q2 - q1)`` (a different method)."""
    p1, p2, q1, q2 = ([Fraction(v) for v in point] for point in (p1, p2, q1, q2))
    r = (p2[0] - p1[0], p2[1] - p1[1])
    s = (q2[0] - q1[0], q2[1] - q1[1])
    w = (q1[0] - p1[0], q1[1] - p1[1])
    denominator = r[0] * s[1] - r[1] * s[0]
    if denominator != 0:
        t = (w[0] * s[1] - w[1] * s[0]) / denominator
        u = (w[0] * r[1] - w[1] * r[0]) / denominator
        return 0 <= t <= 1 and 0 <= u <= 1
    if w[0] * r[1] - w[1] * r[0] != 0 or w[0] * s[1] - w[1] * s[0] != 0:
        return False  # parallel, on different lines (or one segment a point off the other's line)
    # collinear (or degenerate): the segments meet if their points' hulls overlap, axis by axis
    return all(max(min(p1[i], p2[i]), min(q1[i], q2[i])) <= min(max(p1[i], p2[i]), max(q1[i], q2[i]))
               for i in range(2))


def test_segments_intersect_against_exact_reference():
    rng = np.random.default_rng(1)
    # small integer grids produce many collinear, touching and degenerate configurations
    points = rng.integers(-2, 3, size=(3000, 4, 2)).astype(float) / 2
    for p1, p2, q1, q2 in points:
        assert segments_intersect(p1, p2, q1, q2) == _reference_intersect(p1, p2, q1, q2), (p1, p2, q1, q2)


# -- Gymnasium's checker, make_env ---------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", MULTIGOAL_IDS)
@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_gymnasium_env_checker(env_id, render_mode):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(gym.make(env_id, render_mode=render_mode).unwrapped)
        check_env(gym.make(env_id, render_mode=render_mode))
    # the only warning is the checker's advice to check the unwrapped environment (done above as well)
    messages = [str(w.message) for w in caught if "is different from the unwrapped version" not in str(w.message)]
    assert messages == []


@pytest.mark.parametrize("env_id", MULTIGOAL_IDS)
def test_make_env(env_id):
    env = s2ac.envs.make_env(env_id, render_mode="rgb_array")
    assert s2ac.envs.env_name(env) == env_id
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.render().shape[2] == 3


# -- rendering ---------------------------------------------------------------------------------------------
def test_render_shows_the_trajectory():
    env = gym.make(MULTIGOAL_MAXENT_OBSTACLE_ID, render_mode="rgb_array", start_noise=0.0)
    env.reset()
    first = env.render()
    assert first.ndim == 3 and first.shape[2] == 3 and first.dtype == np.uint8
    assert first.shape[0] >= 100 and first.shape[1] >= 100
    for action in ([1.0, 0.0], [1.0, -0.5], [1.0, -0.5]):
        env.step(np.asarray(action, np.float32))
    moved = env.render()
    assert moved.shape == first.shape
    assert np.count_nonzero(np.any(moved != first, axis=-1)) > 100
    env.reset()
    np.testing.assert_array_equal(env.render(), first)  # the trajectory is that of the current episode
    env.close()


def test_render_shows_goals_and_wall():
    plain = gym.make(MULTIGOAL_MAXENT_ID, render_mode="rgb_array")
    walled = gym.make(MULTIGOAL_MAXENT_OBSTACLE_ID, render_mode="rgb_array")
    other = gym.make(MULTIGOAL_ID, render_mode="rgb_array")
    for env in (plain, walled, other):
        env.reset()
    assert np.any(plain.render() != walled.render())
    assert np.any(plain.render() != other.render())


def test_render_without_mode_returns_none():
    env = MultiGoalEnv()
    env.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert env.render() is None


# -- determinism -------------------------------------------------------------------------------------------
def test_reset_and_steps_are_deterministic():
    rng = np.random.default_rng(2)
    actions = rng.uniform(-1.2, 1.2, (30, 2)).astype(np.float32)
    runs = []
    # Without start noise the seed changes nothing; with it, the same seed gives the same episode.
    for seed, noise in ((0, 0.0), (0, 0.0), (123, 0.0), (None, 0.0), (5, 0.1), (5, 0.1)):
        env = gym.make(MULTIGOAL_OBSTACLE_ID, start_noise=noise)
        obs, info = env.reset(seed=seed)
        run = [(obs.tolist(), info["goal"], info["blocked"])]
        for action in actions:
            obs, reward, terminated, truncated, info = env.step(action)
            run.append((obs.tolist(), reward, terminated, truncated, info["goal"], info["blocked"]))
            if terminated or truncated:
                break
        runs.append(run)
    assert all(run == runs[0] for run in runs[1:4]) and runs[4] == runs[5] and runs[4] != runs[0]


def test_reset_restarts_the_episode():
    env = MultiGoalEnv()
    env.reset(seed=5)
    for _ in range(10):
        env.step(np.array([0.3, 0.3]))
    obs, info = env.reset()
    np.testing.assert_array_equal(obs, [0.0, 0.0])
    assert info["goal"] == -1 and info["blocked"] is False
    obs, _, _, _, _ = env.step(np.array([0.3, 0.3]))
    np.testing.assert_allclose(obs, [0.3, 0.3])


def test_all_registered_envs_in_one_rollout():
    for env_id in MULTIGOAL_IDS:
        env = gym.make(env_id)
        env.reset(seed=0)
        env.action_space.seed(0)
        for _ in range(30):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            assert env.observation_space.contains(obs) and np.isfinite(reward)
            if terminated or truncated:
                break
        assert terminated or truncated


def test_action_grid_moves():
    grid = list(itertools.product([-1.0, 0.0, 1.0], repeat=2))
    env = MultiGoalEnv()
    for action in grid:
        env.reset()
        _, _, _, _, info = env.step(np.asarray(action))
        np.testing.assert_array_equal(info["position"], action)


def test_import_s2ac_registers_the_environments_without_jax():
    """A user's ``import s2ac; gymnasium.make("s2ac/MultiGoal-v0")`` works, and does not start JAX."""
    code = ("import sys, gymnasium, s2ac; env = gymnasium.make('s2ac/MultiGoalMaxEnt-v0'); "
            "print(env.spec.id, 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["s2ac/MultiGoalMaxEnt-v0", "False"]


@pytest.mark.parametrize("env_id, std", [(MULTIGOAL_ID, 0.1), (MULTIGOAL_MAXENT_ID, 0.05),
                                         (MULTIGOAL_OBSTACLE_ID, 0.1), (MULTIGOAL_MAXENT_OBSTACLE_ID, 0.05)])
def test_start_noise_defaults_to_each_reference_and_is_seeded(env_id, std):
    env = gym.make(env_id).unwrapped
    assert env.start_noise == std  # Haarnoja et al.'s 0.1, the S2AC authors' 0.05
    starts = np.array([env.reset(seed=i)[0] for i in range(2000)], float)
    assert np.std(starts, axis=0) == pytest.approx([std, std], rel=0.1)
    assert np.abs(np.mean(starts, axis=0)).max() < 4 * std / np.sqrt(2000)
    np.testing.assert_array_equal(env.reset(seed=7)[0], env.reset(seed=7)[0])
    assert not np.array_equal(env.reset(seed=7)[0], env.reset(seed=8)[0])
    np.testing.assert_array_equal(env.reset(seed=7, options={"position": (1.0, 2.0)})[0], [1.0, 2.0])
    np.testing.assert_array_equal(gym.make(env_id, start_noise=0.0).reset(seed=3)[0], [0.0, 0.0])


@pytest.mark.parametrize("noise", [-0.1, float("nan"), "0.1"])
def test_bad_start_noise_is_rejected(noise):
    with pytest.raises(ValueError, match="start_noise must be a non-negative number"):
        MultiGoalEnv(start_noise=noise)


def test_task_settings_are_what_each_id_builds_its_environment_with():
    for env_id in MULTIGOAL_IDS:
        env = gym.make(env_id).unwrapped
        assert env.goal_radius == task_settings(env_id)["goal_radius"]
    with pytest.raises(ValueError, match="unknown multi-goal task 'Hopper-v5'"):
        task_settings("Hopper-v5")
