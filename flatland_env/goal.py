"""A goal-reaching task on any symmetry world whose group is a product of cyclic groups.

:class:`GoalWrapper` shows the agent the current frame and a goal frame; the goal is a state
drawn at reset (from the env's own ``np_random``, so ``reset(seed=...)`` fixes start and goal)
among those the world's actions can reach, optionally within ``max_goal_distance`` actions.
Reaching it (all factors equal) gives reward 1 and ends the episode; every other step costs
``step_cost``; the episode is truncated after ``horizon`` steps. ``info`` holds the oracle's
shortest distance to the goal (:mod:`flatland_env.oracle`), the factors of both states and
``is_success`` (the key stable-baselines3 reads for success rates).

``FlatLandGoal-v0`` is this task on FlatLand (registered in ``flatland_env/worlds/flatland.py``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from flatland_env.oracle import CyclicOracle
from flatland_env.registration import make_world
from flatland_env.validation import check_choice, check_number, check_positive_int

OBSERVATIONS = ("dict", "stacked")


class GoalWrapper(gym.Wrapper):
    """Reach a goal frame: Dict(observation, goal) of frames (or both stacked along channels)."""

    def __init__(
        self,
        env: gym.Env,
        horizon: int = 100,
        step_cost: float = 0.01,
        max_goal_distance: int | None = None,
        observation: str = "dict",
    ) -> None:
        super().__init__(env)
        world = env.unwrapped
        if not hasattr(world, "symmetry") or not hasattr(world, "render_states"):
            raise ValueError(f"GoalWrapper needs a symmetry world (flatland_env), got {type(world).__name__}")
        self.oracle = CyclicOracle(world.symmetry)  # ValueError for groups that are not cyclic products
        check_positive_int("horizon", horizon)
        if check_number("step_cost", step_cost, 0.0, 1.0) == 1.0:
            raise ValueError(f"step_cost must be a number in [0, 1), got {step_cost!r}")
        if max_goal_distance is not None:
            check_positive_int("max_goal_distance", max_goal_distance)
        check_choice("observation", observation, OBSERVATIONS)
        self.horizon, self.step_cost = int(horizon), float(step_cost)
        self.max_goal_distance, self.observation_mode = max_goal_distance, observation
        self._offsets = self.oracle.reachable_offsets(max_goal_distance)
        if len(self._offsets) == 0:
            raise ValueError("this world's actions reach no state other than the start: there is no goal to draw")
        frame = env.observation_space
        if observation == "dict":
            self.observation_space = spaces.Dict({"observation": frame, "goal": frame})
        else:
            low = np.concatenate([frame.low, frame.low], axis=-1)
            high = np.concatenate([frame.high, frame.high], axis=-1)
            self.observation_space = spaces.Box(low, high, dtype=frame.dtype)
        self._goal: np.ndarray | None = None
        self._goal_frame: np.ndarray | None = None
        self._t = 0

    @property
    def goal_factors(self) -> np.ndarray:
        if self._goal is None:
            raise RuntimeError("call reset() before reading the goal")
        return self._goal.copy()

    def _pack(self, frame: np.ndarray) -> Any:
        if self.observation_mode == "dict":
            return {"observation": frame, "goal": self._goal_frame.copy()}
        return np.concatenate([frame, self._goal_frame], axis=-1)

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        factors = np.asarray(info["factors"])
        return {**info, "goal_factors": self._goal.copy(), "distance": self.oracle.distance(factors, self._goal),
                "is_success": bool(np.array_equal(factors, self._goal))}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """``options``: ``factors`` (start state) and ``goal`` (goal state), each optional."""
        options = dict(options or {})
        goal = options.pop("goal", None)
        obs, info = self.env.reset(seed=seed, options=options or None)
        start = np.asarray(info["factors"])
        if goal is None:
            offset = self._offsets[self.env.unwrapped.np_random.integers(len(self._offsets))]
            self._goal = (start + offset) % np.asarray(self.oracle.spec.factor_sizes)
        else:
            self._goal = self.oracle.spec.validate_factors(np.asarray(goal))
            self.oracle.distance(start, self._goal)  # ValueError if unreachable
        self._goal_frame = self.env.unwrapped.render_states(self._goal[None])[0]
        self._t = 0
        return self._pack(obs), self._info(info)

    def step(self, action):
        if self._goal is None:
            raise RuntimeError("call reset() before step()")
        obs, _, terminated, truncated, info = self.env.step(action)
        self._t += 1
        info = self._info(info)
        reached = info["is_success"]
        reward = 1.0 if reached else -self.step_cost
        return self._pack(obs), reward, bool(terminated or reached), bool(truncated or self._t >= self.horizon), info


def make_goal_env(
    world_id: str = "FlatLand-v0",
    horizon: int = 100,
    step_cost: float = 0.01,
    max_goal_distance: int | None = None,
    observation: str = "dict",
    **world_kwargs: Any,
) -> GoalWrapper:
    """The goal task on a registered symmetry world (the entry point of ``FlatLandGoal-v0``)."""
    env = make_world(world_id, disable_env_checker=True, **world_kwargs)
    return GoalWrapper(env, horizon, step_cost, max_goal_distance, observation)
