"""How well an agent reaches goal frames by planning with its latent actions, against random actions and the oracle.

Each episode of the goal task (:class:`~flatland_env.goal.GoalWrapper`) draws a start and a goal
state; the agent plans once from the two frames (open loop) and executes the whole plan. It
succeeds when the final frame equals the goal frame. The same episodes are played by uniformly
random actions (success: the goal is reached within the horizon) and by the oracle's shortest
path, the yardstick for the plan lengths.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from agents.base import BaseAgent
from agents.planning import CALIBRATION_WALKS, METHODS, CannotPlanError
from agents.reading import DEFAULT_READER, DEFAULT_WALKS, ReaderPlanner
from flatland_env.goal import GoalWrapper
from flatland_env.registration import make_world
from flatland_env.validation import check_choice, check_nonnegative_int, check_positive_int

#: how the agent reads frames as positions: its latent planner's methods, or position readers fitted to its codes
#: (agents.reading; any agent, a beta-VAE included)
REACH_METHODS = (*METHODS, ReaderPlanner.method)


def goal_env(agent: BaseAgent, horizon: int) -> GoalWrapper:
    """The goal task on the agent's own world (FlatLandGoal-v0's task for a FlatLand agent)."""
    if agent.source.env_id is None:
        raise ValueError("the agent learned from a dataset that records no world: there is no goal task to run")
    return GoalWrapper(make_world(agent.source.env_id, **agent.source.config.env_kwargs), horizon=horizon)


def run_actions(env: GoalWrapper, actions: list[int], obs: dict) -> tuple[dict, int, bool]:
    """Execute actions until they run out, the goal is reached or the horizon cuts the episode."""
    taken = 0
    for a in actions:
        obs, _, terminated, truncated, _ = env.step(int(a))
        taken += 1
        if terminated or truncated:
            break
    return obs, taken, bool(np.array_equal(obs["observation"], obs["goal"]))


def evaluate_reaching(agent: BaseAgent, episodes: int = 1000, seed: int = 0, horizon: int = 100,
                      link_steps: int = 256, method: str = "cycle", calibration_walks: int | None = None,
                      reader: str = DEFAULT_READER) -> dict[str, Any]:
    """The agent's plans, random actions and the oracle on the same ``episodes`` (start, goal) draws.
    ``calibration_walks``: None for the method's own default (3 for the latent planner, 12 for readers)."""
    check_choice("method", method, REACH_METHODS)
    if calibration_walks is None:
        calibration_walks = DEFAULT_WALKS if method == ReaderPlanner.method else CALIBRATION_WALKS
    check_positive_int("episodes", episodes)
    check_positive_int("horizon", horizon)
    check_positive_int("calibration_walks", calibration_walks)
    check_nonnegative_int("seed", seed)
    env = goal_env(agent, horizon)
    rng = np.random.default_rng(seed)
    planner, reason, link_seconds = None, None, None
    t0 = time.perf_counter()
    try:
        if method == ReaderPlanner.method:
            planner = ReaderPlanner.build(agent, link_steps, seed, calibration_walks, reader)
        else:
            if not hasattr(agent, "planner"):  # no latent actions: plan() raises, saying why
                agent.plan(env.observation_space["observation"].sample(), env.observation_space["goal"].sample())
            planner = agent.planner(link_steps=link_steps, seed=seed, method=method,  # type: ignore[attr-defined]
                                    calibration_walks=calibration_walks)
        link_seconds = time.perf_counter() - t0
    except CannotPlanError as e:
        reason = str(e)
    rows = []
    for i in range(int(episodes)):
        obs, info = env.reset(seed=seed + i)
        start, goal, shortest = info["factors"], info["goal_factors"], int(info["distance"])
        row: dict[str, Any] = {"oracle": shortest}
        path = env.oracle.path(start, goal)
        row["oracle_success"] = run_actions(env, path, obs)[2] and len(path) == shortest
        if planner is not None:
            obs, _ = env.reset(options={"factors": start, "goal": goal})
            t0 = time.perf_counter()
            try:
                plan = planner.plan(obs["observation"], obs["goal"])
            except CannotPlanError:
                plan = None
            row["plan_seconds"] = time.perf_counter() - t0
            row["plan_length"] = None if plan is None else len(plan)
            row["success"] = plan is not None and run_actions(env, plan, obs)[2]
        obs, _ = env.reset(options={"factors": start, "goal": goal})
        _, taken, ok = run_actions(env, rng.integers(agent.spec.num_actions, size=horizon).tolist(), obs)
        row["random_success"], row["random_steps"] = ok, taken
        rows.append(row)
    env.close()
    return summarise(agent, rows, episodes, seed, horizon, planner, reason, link_seconds)


def summarise(agent: BaseAgent, rows: list[dict], episodes: int, seed: int, horizon: int, planner, reason,
              link_seconds) -> dict[str, Any]:
    oracle = np.array([r["oracle"] for r in rows], float)
    random_ok = np.array([r["random_success"] for r in rows])
    out: dict[str, Any] = {
        "algo": agent.algo, "agent_seed": agent.config.seed, "env_id": agent.source.env_id,
        "updates": agent.num_steps,
        "episodes": int(episodes), "seed": int(seed), "horizon": int(horizon),
        "oracle": {"success_rate": float(np.mean([r["oracle_success"] for r in rows])),
                   "mean_length": float(oracle.mean())},
        "random": {"success_rate": float(random_ok.mean()),
                   "mean_length_of_successes": float(np.mean([r["random_steps"] for r in rows if r["random_success"]]))
                   if random_ok.any() else None},
    }
    if planner is None:
        out["agent"] = {"can_plan": False, "reason": reason}
        return out
    planned = [r for r in rows if r["plan_length"] is not None]
    lengths = np.array([r["plan_length"] for r in planned], float)
    shortest = np.array([r["oracle"] for r in planned], float)
    seconds = np.array([r["plan_seconds"] for r in rows])
    out["agent"] = {
        "can_plan": True,
        "success_rate": float(np.mean([r["success"] for r in rows])),
        "planned_fraction": len(planned) / len(rows),
        "mean_plan_length": float(lengths.mean()) if len(planned) else None,
        "mean_oracle_length": float(shortest.mean()) if len(planned) else None,
        "excess_length_pct": float(100 * (lengths.sum() / shortest.sum() - 1)) if len(planned) else None,
        "shortest_fraction": float(np.mean(lengths == shortest)) if len(planned) else None,
        "plan_ms_mean": float(1e3 * seconds.mean()),
        "plan_ms_median": float(1e3 * np.median(seconds)),
        "link_seconds": link_seconds,
        "link": planner.report(),
    }
    return out
