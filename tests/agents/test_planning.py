"""Planning with latent actions: exact on a known torus encoder, refused where it cannot work, runs on tiny agents."""

import json

import numpy as np
import pytest
from agent_helpers import N, tiny_agent, torus_agent

import flatland_env  # noqa: F401
from agents.planning import CannotPlanError, LatentPlanner
from flatland_env.oracle import CyclicOracle
from flatland_env.registration import make_world


@pytest.mark.parametrize("k, angle_error", [(1, 0.0), (1, 0.05), (4, -0.03)])
def test_plans_on_an_exact_torus_encoder_are_shortest_and_reach_the_goal(k, angle_error):
    agent = torus_agent(k, angle_error=angle_error)
    planner = agent.planner()
    assert [link.latent_action for link in planner.links] == [0, 1, 2, 3]  # left right up down, as rho ordered them
    assert [link.order for link in planner.links] == [N] * 4
    walked = 256 + 3 * 4 * N  # link walk, then 3 cycles per action
    assert walked + 2 * 5 <= planner.env_steps <= walked + 2 * 5 * N  # and 1..33 other-plane steps before 5 of 6
    assert [link.units for link in planner.links] == [(-5 * k) % N, 5 * k % N, (-5 * k) % N, 5 * k % N]
    env, oracle = make_world("FlatLand-v0"), CyclicOracle(agent.spec)
    rng = np.random.default_rng(0)
    starts, goals = rng.integers(0, N, (200, 2)), rng.integers(0, N, (200, 2))
    world = env.unwrapped
    plans = planner.plan_batch(world.render_states(starts), world.render_states(goals))
    assert [len(p) for p in plans] == list(oracle.distance(starts, goals))
    for start, goal, plan in list(zip(starts, goals, plans))[:50]:
        env.reset(options={"factors": start})
        for a in plan:
            env.step(a)
        np.testing.assert_array_equal(world.factors, goal)
    frame = world.render_states(starts[:1])[0]
    assert agent.plan(frame, frame) == []
    assert agent.planner() is planner  # cached until the agent trains further


def test_the_calibrated_cycle_absorbs_an_unevenly_spaced_circle_that_plain_arithmetic_trips_on():
    agent = torus_agent(warp=0.15)  # up to 0.15 rad off: more than half a unit, 2*pi/66 = 0.095
    world = make_world("FlatLand-v0").unwrapped
    starts = np.stack([np.arange(N), np.zeros(N, int)], 1)
    goals = np.stack([(np.arange(N) * 7 + 3) % N, np.zeros(N, int)], 1)
    frames, goal_frames = world.render_states(starts), world.render_states(goals)
    shortest = list(CyclicOracle(agent.spec).distance(starts, goals))
    assert [len(p) for p in agent.planner().plan_batch(frames, goal_frames)] == shortest
    wrong = [len(p) for p in agent.planner(method="arithmetic").plan_batch(frames, goal_frames)]
    assert sum(a != b for a, b in zip(wrong, shortest)) >= 5
    with pytest.raises(ValueError, match="method must be one of"):
        agent.planner(method="guess")


def test_the_correction_reads_a_plane_whose_angle_shifts_with_the_other_factor():
    agent = torus_agent(cross=0.12)  # x's angle moves with y by up to 0.12 rad: more than half a unit (0.095)
    world = make_world("FlatLand-v0").unwrapped
    rng = np.random.default_rng(3)
    starts, goals = rng.integers(0, N, (300, 2)), rng.integers(0, N, (300, 2))
    frames, goal_frames = world.render_states(starts), world.render_states(goals)
    shortest = list(CyclicOracle(agent.spec).distance(starts, goals))
    planner = agent.planner()
    assert [len(p) for p in planner.plan_batch(frames, goal_frames)] == shortest
    x_plane = next(c for c in planner.planes if c.plane == 0)
    x_plane.correction[:] = 0.0  # the calibrated angles alone: one table for every y
    wrong = [len(p) for p in planner.plan_batch(frames, goal_frames)]
    assert sum(a != b for a, b in zip(wrong, shortest)) >= 20
    with pytest.raises(ValueError, match="calibration_walks"):
        LatentPlanner.build(agent, calibration_walks=0)


def test_planning_is_refused_with_a_reason():
    with pytest.raises(CannotPlanError, match="no latent actions"):
        tiny_agent("vae").plan(np.zeros((64, 64, 1), np.uint8), np.zeros((64, 64, 1), np.uint8))
    with pytest.raises(CannotPlanError, match="not disentangled enough"):
        torus_agent(mix=0.5).planner()
    with pytest.raises(CannotPlanError, match="not a product of cyclic groups"):
        tiny_agent("rgrvae", data=dict(env_id="RotatingCube-v0")).planner()
    with pytest.raises(CannotPlanError, match="not a rotation"):
        tiny_agent("rgrvae", structure=("free",), tie_angles=False).planner()


def test_bad_planning_input():
    agent = torus_agent()
    frame = np.zeros((64, 64, 1), np.uint8)
    with pytest.raises(ValueError, match="one uint8 frame of shape"):
        agent.plan(frame[None], frame)
    with pytest.raises(ValueError, match="one uint8 frame of shape"):
        agent.plan(frame.astype(np.float32), frame)
    with pytest.raises(ValueError, match="link_steps"):
        LatentPlanner.build(agent, link_steps=0)
    with pytest.raises(ValueError, match="both have shape"):
        agent.planner().plan_batch(frame[None], frame[None, :32])


def test_a_tiny_trained_agent_links_and_plans_or_says_why_not():
    agent = tiny_agent("rgrvae").learn(10, progress_bar=False)
    world = make_world("FlatLand-v0").unwrapped
    start, goal = world.render_states(np.array([[0, 0], [10, 3]]))
    try:
        plan = agent.plan(start, goal)
    except CannotPlanError as e:
        assert "plane" in str(e) or "rotation" in str(e)
    else:
        assert all(isinstance(a, int) and 0 <= a < 4 for a in plan) and len(plan) <= 2 * N


def test_reaching_goals_with_plans_random_actions_and_the_oracle(tmp_path, load_script):
    from acting.reaching import evaluate_reaching

    record = evaluate_reaching(torus_agent(), episodes=30, seed=1, horizon=40)
    assert record["agent"]["success_rate"] == 1.0 and record["agent"]["excess_length_pct"] == 0.0
    assert record["oracle"]["success_rate"] == 1.0
    assert record["agent"]["mean_plan_length"] == record["oracle"]["mean_length"] > 5
    assert record["random"]["success_rate"] < 0.5  # 40 random steps rarely hit one state of 1,089
    agent = tiny_agent("vae")
    path = tmp_path / "vae.pt"
    agent.save(path)
    out = tmp_path / "acting" / "vae.json"
    assert load_script("reach_goal").main([str(path), "--episodes", "5", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["agent"] == {"can_plan": False, "reason": saved["agent"]["reason"]}
    assert "no latent actions" in saved["agent"]["reason"] and saved["oracle"]["success_rate"] == 1.0
    assert load_script("reach_goal").main([str(tmp_path / "missing.pt")]) == 2
    with pytest.raises(ValueError, match="episodes"):
        evaluate_reaching(agent, episodes=0)
