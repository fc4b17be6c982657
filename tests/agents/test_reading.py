"""Planning without latent actions: cycles found from frames, readers fitted to codes, refusals with a reason."""

import json

import gymnasium as gym
import numpy as np
import pytest
from agent_helpers import N, tiny_agent, torus_agent

import flatland_env  # noqa: F401
from agents.planning import CannotPlanError
from agents.reading import ReaderPlanner, find_cycles
from flatland_env.oracle import CyclicOracle
from flatland_env.registration import make_world


def test_cycles_come_from_frames_alone_and_the_world_comes_back_to_its_start():
    env = make_world("FlatLand-v0", max_episode_steps=1000)
    obs, _ = env.reset(seed=3)
    start = env.unwrapped.factors.copy()
    cycles, sightings, steps = find_cycles(env, obs, 4, ("left", "right", "up", "down"))
    assert [(c.order, c.actions, c.steps) for c in cycles] == [(N, (0, 1), (1, N - 1)), (N, (2, 3), (1, N - 1))]
    assert steps == len(sightings) == 4 * N
    np.testing.assert_array_equal(env.unwrapped.factors, start)
    # every sighting's position is its true offset from the start, in generator steps (left moves x by -1)
    for frame, seen in sightings[::7]:
        (cycle, position), = seen.items()
        now, _ = env.reset(options={"factors": start})
        for _ in range(position):
            now = env.step(cycles[cycle].actions[0])[0]
        np.testing.assert_array_equal(now, frame)


def test_readers_plan_shortest_paths_on_an_exact_torus_without_using_rho():
    agent = torus_agent()
    agent.rho.angles.data[:] = 0.0  # rho says nothing: the readers must not need it
    planner = ReaderPlanner.build(agent, calibration_walks=12, reader="svm")
    report = planner.report()
    assert report["method"] == "readers" and report["env_steps"] == report["calibration_frames"] > 256 + 4 * N
    world = make_world("FlatLand-v0").unwrapped
    rng = np.random.default_rng(0)
    starts, goals = rng.integers(0, N, (100, 2)), rng.integers(0, N, (100, 2))
    plans = planner.plan_batch(world.render_states(starts), world.render_states(goals))
    assert [len(p) for p in plans] == list(CyclicOracle(agent.spec).distance(starts, goals))
    env = make_world("FlatLand-v0")
    for start, goal, plan in list(zip(starts, goals, plans))[:30]:
        env.reset(options={"factors": start})
        for a in plan:
            env.step(a)
        np.testing.assert_array_equal(env.unwrapped.factors, goal)
    frame = world.render_states(starts[:1])[0]
    assert planner.plan(frame, frame) == []


def test_a_beta_vae_is_put_through_the_same_calibration_instead_of_being_refused(tmp_path, load_script):
    agent = tiny_agent("vae")
    planner = ReaderPlanner.build(agent, calibration_walks=1, link_steps=8, reader="nearest")
    world = make_world("FlatLand-v0").unwrapped
    start, goal = world.render_states(np.array([[0, 0], [10, 3]]))
    plan = planner.plan(start, goal)
    assert all(0 <= a < 4 for a in plan) and len(plan) <= 2 * (N // 2)
    path = tmp_path / "vae.pt"
    agent.save(path)
    out = tmp_path / "vae.json"
    assert load_script("reach_goal").main([str(path), "--episodes", "3", "--method", "readers", "--reader", "nearest",
                                           "--calibration-walks", "1", "--link-steps", "8", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["agent"]["can_plan"] and saved["agent"]["link"]["reader"] == "nearest"
    assert load_script("reach_goal").main([str(path), "--method", "telepathy"]) == 2
    assert load_script("reach_goal").main([str(path), "--reader", "svm"]) == 2  # readers belong to --method readers


def test_calibrated_features_through_readers_count_signed_own_steps_and_take_a_beta_vae():
    from agents.sb3 import CalibratedGroupFeatures, FrozenFeatureObservation

    agent = torus_agent()
    env = FrozenFeatureObservation(gym.make("FlatLandGoal-v0"), agent, kind="read")
    oracle = env.get_wrapper_attr("oracle")
    for seed in range(20):
        got, info = env.reset(seed=seed)
        path = oracle.path(info["factors"], info["goal_factors"])
        for plane, generator in enumerate((0, 2)):  # left and up number their cycles: s counts their steps
            steps = path.count(generator) - path.count(generator + 1)
            assert np.arctan2(got[2 * plane + 1], got[2 * plane]) == pytest.approx(2 * np.pi * steps / N, abs=1e-5)
    features = CalibratedGroupFeatures(tiny_agent("vae"), calibration="readers", calibration_walks=1)
    assert features.features_dim == 4
    with pytest.raises(ValueError, match="calibration must be one of rho, readers"):
        CalibratedGroupFeatures(agent, calibration="labels")


class ShiftWorld:
    """A cycle of 6 states drawn as one pixel's value, with actions +1 and +2: the second does not generate it."""

    def __init__(self) -> None:
        self.state = 0

    def step(self, action: int):
        self.state = (self.state + (1, 2)[action]) % 6
        return np.full((1, 1, 1), self.state, np.uint8), 0.0, False, False, {}


def test_an_action_whose_step_does_not_generate_its_cycle_is_refused_by_name():
    with pytest.raises(CannotPlanError, match="'plus two' visits only 3 of the 6 frames that 'plus one' goes round"):
        find_cycles(ShiftWorld(), np.zeros((1, 1, 1), np.uint8), 2, ("plus one", "plus two"))


def test_reader_planning_is_refused_with_a_reason():
    with pytest.raises(CannotPlanError, match="not a product of cyclic groups"):
        ReaderPlanner.build(tiny_agent("vae", data=dict(env_id="RotatingCube-v0")))
    with pytest.raises(ValueError, match="reader must be one of nearest, logistic, svm, mlp"):
        ReaderPlanner.build(torus_agent(), reader="oracle")
    with pytest.raises(ValueError, match="calibration_walks"):
        ReaderPlanner.build(torus_agent(), calibration_walks=0)
