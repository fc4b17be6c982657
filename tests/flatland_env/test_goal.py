"""The oracle's shortest paths and the goal task: a valid Gymnasium / SB3 env, seeded, rewarding the goal."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import flatland_env  # noqa: F401
from flatland_env.goal import GoalWrapper
from flatland_env.oracle import CyclicOracle
from flatland_env.registration import make_world, symmetry_world_ids
from flatland_env.worlds.flatland import flatland_spec
from flatland_env.worlds.sprites import sprites_spec


def brute_force_distances(spec, start):
    """Breadth-first search over every state, the slow way."""
    sizes = spec.factor_sizes
    dist = {tuple(start): 0}
    frontier = [np.asarray(start)]
    while frontier:
        nxt = []
        for s in frontier:
            for a in range(spec.num_actions):
                t = spec.apply(s, a)
                if tuple(t) not in dist:
                    dist[tuple(t)] = dist[tuple(s)] + 1
                    nxt.append(t)
        frontier = nxt
    assert all(0 <= v < n for k in dist for v, n in zip(k, sizes))
    return dist


@pytest.mark.parametrize("grid, step", [(33, 5), (12, 4), (7, 1)])
def test_oracle_distances_equal_breadth_first_search(grid, step):
    spec = flatland_spec(grid, step)
    oracle = CyclicOracle(spec)
    start = np.array([3 % grid, 1])
    truth = brute_force_distances(spec, start)
    goals = np.array(list(truth))
    np.testing.assert_array_equal(oracle.distance(np.broadcast_to(start, goals.shape), goals),
                                  [truth[tuple(g)] for g in goals])
    for goal in goals[:: max(1, len(goals) // 40)]:
        path = oracle.path(start, goal)
        state = start
        for a in path:
            state = spec.apply(state, a)
        assert len(path) == truth[tuple(goal)] and np.array_equal(state, goal)
    assert oracle.diameter == max(truth.values())


def test_flatland_diameter_and_an_example():
    oracle = CyclicOracle(flatland_spec())
    assert oracle.diameter == 32  # 16 actions per axis at most: 5 * 20 = 100 = 1 mod 33
    assert oracle.path([0, 0], [5, 0]) == [1] and oracle.path([0, 0], [0, 28]) == [2]
    assert oracle.distance([0, 0], [1, 0]) == 13  # 1 = -13 * 5 mod 33 (66 - 65)


def test_oracle_refuses_what_it_cannot_answer():
    with pytest.raises(ValueError, match="product of cyclic groups"):
        CyclicOracle(make_world("RotatingCube-v0").unwrapped.symmetry)
    with pytest.raises(ValueError, match="product of cyclic groups"):
        CyclicOracle(make_world("FlatLandContinuous-v0").unwrapped.symmetry)
    oracle = CyclicOracle(sprites_spec(offset=4))
    with pytest.raises(ValueError, match="no action changes the factors"):
        oracle.distance([0, 0, 0, 0, 0], [1, 0, 0, 0, 0])  # shape is never acted on
    with pytest.raises(ValueError, match="cannot be reached"):
        oracle.distance([0, 0, 0, 0, 0], [0, 0, 1, 0, 0])  # orientation moves in steps of 4
    with pytest.raises(ValueError, match="out of range"):
        CyclicOracle(flatland_spec()).path([0, 0], [33, 0])


def test_goal_task_is_not_a_world_but_passes_both_env_checkers():
    assert "FlatLandGoal-v0" not in symmetry_world_ids()
    env = gym.make("FlatLandGoal-v0").unwrapped  # the world; the task wraps it
    assert env.symmetry.group_name == "C_33 x C_33"
    gym_check_env(gym.make("FlatLandGoal-v0").env.env, skip_render_check=True)
    sb3_check_env(GoalWrapper(make_world("FlatLand-v0"), horizon=10), warn=False)
    sb3_check_env(GoalWrapper(make_world("Sprites-v0", offset=4), observation="stacked"), warn=False)


def test_goal_is_seeded_reachable_and_different_from_the_start():
    env = gym.make("FlatLandGoal-v0", max_goal_distance=3)
    firsts = []
    for seed in (0, 0, 1):
        obs, info = env.reset(seed=seed)
        firsts.append((tuple(info["factors"]), tuple(info["goal_factors"])))
        assert 1 <= info["distance"] <= 3 and not info["is_success"]
        np.testing.assert_array_equal(obs["goal"], env.unwrapped.render_states(info["goal_factors"][None])[0])
    assert firsts[0] == firsts[1] != firsts[2]
    distances = [env.reset()[1]["distance"] for _ in range(300)]
    assert set(distances) == {1, 2, 3}


def test_reaching_the_goal_pays_one_and_terminates_walking_away_costs_and_truncates():
    env = gym.make("FlatLandGoal-v0", horizon=4, step_cost=0.05)
    oracle = CyclicOracle(flatland_spec())
    obs, info = env.reset(seed=3, options={"factors": [0, 0], "goal": [10, 0]})
    path = oracle.path(info["factors"], info["goal_factors"])
    assert path == [1, 1]
    obs, r, term, trunc, info = env.step(1)
    assert (r, term, trunc, info["distance"]) == (-0.05, False, False, 1)
    obs, r, term, trunc, info = env.step(1)
    assert (r, term, trunc, info["is_success"]) == (1.0, True, False, True)
    np.testing.assert_array_equal(obs["observation"], obs["goal"])
    env.reset(options={"factors": [0, 0], "goal": [10, 0]})
    outcomes = [env.step(0)[2:4] for _ in range(4)]
    assert outcomes == [(False, False)] * 3 + [(False, True)]


def test_bad_goal_arguments():
    world = make_world("FlatLand-v0")
    for kwargs, match in [
        (dict(horizon=0), "horizon"), (dict(horizon=2.5), "horizon"), (dict(step_cost=-0.1), "step_cost"),
        (dict(step_cost=float("nan")), "step_cost"), (dict(max_goal_distance=0), "max_goal_distance"),
        (dict(observation="pixels"), "observation"),
    ]:
        with pytest.raises(ValueError, match=match):
            GoalWrapper(world, **kwargs)
    with pytest.raises(ValueError, match="product of cyclic groups"):
        GoalWrapper(make_world("RotatingCube-v0"))
    with pytest.raises(ValueError, match="symmetry world"):
        GoalWrapper(gym.make("CartPole-v1"))
    env = GoalWrapper(world)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"goal": [40, 0]})


@pytest.mark.parametrize("region, lower", [("first-half", True), ("second-half", False)])
def test_goal_region_draws_goals_only_from_its_half(region, lower):
    env = gym.make("FlatLandGoal-v0", goal_region=region)
    half = flatland_spec().factor_sizes[0] // 2
    goals = []
    for seed in range(60):
        _, info = env.reset(seed=seed)
        goals.append(info["goal_factors"][0])
        assert not info["is_success"]
    goals = np.array(goals)
    assert np.all(goals < half) if lower else np.all(goals >= half)
    assert len(np.unique(goals)) > 5  # many goals of the half, not one
    env.close()


def test_goal_region_is_checked_and_never_loops_on_a_fixed_start():
    with pytest.raises(ValueError, match="goal_region must be one of all, first-half, second-half"):
        gym.make("FlatLandGoal-v0", goal_region="left")
    env = gym.make("FlatLandGoal-v0", goal_region="first-half", max_goal_distance=1)
    # from x = 30, one action reaches x = 30 +- 5 mod 33 (2 and 25) and y moves: the lower half holds x = 2
    _, info = env.reset(seed=0, options={"factors": np.array([30, 0])})
    assert info["goal_factors"][0] < 16
    with pytest.raises(ValueError, match="no goal of goal_region 'first-half' is within reach"):
        env.reset(seed=0, options={"factors": np.array([22, 0])})  # one action: x 17, 27 or 22, none below 16


def test_shaping_pays_each_step_toward_the_goal_and_sums_to_the_distance_covered():
    env = gym.make("FlatLandGoal-v0", shaping=1.0, max_goal_distance=None, horizon=64)
    oracle = env.get_wrapper_attr("oracle")
    _, info = env.reset(seed=4)
    path = oracle.path(info["factors"], info["goal_factors"])
    start = info["distance"]
    assert start > 2
    inverse = {0: 1, 1: 0, 2: 3, 3: 2}
    _, r_away, *_ = env.step(inverse[path[0]])  # one step back along the shortest path's first move
    _, r_back, *_ = env.step(path[0])
    assert r_away == pytest.approx(-0.01 - 1 / 32) and r_back == pytest.approx(-0.01 + 1 / 32)
    _, info = env.reset(seed=4)
    rewards = [env.step(a)[1] for a in path]
    assert rewards[-1] == pytest.approx(1.0 + 1.0 / 32)  # the goal, and its last step toward it
    assert sum(rewards[:-1]) == pytest.approx((start - 1) / 32 - 0.01 * (start - 1))
    plain = gym.make("FlatLandGoal-v0", max_goal_distance=None, horizon=64)
    plain.reset(seed=4)
    assert plain.step(path[0])[1] == pytest.approx(-0.01)
    with pytest.raises(ValueError, match="shaping"):
        gym.make("FlatLandGoal-v0", shaping=-1.0)
