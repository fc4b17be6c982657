"""A goal-reaching task on any symmetry world whose group is a product of cyclic groups.

:class:`GoalWrapper` shows the agent the current frame and a goal frame; the goal is a state
drawn at reset (from the env's own ``np_random``, so ``reset(seed=...)`` fixes start and goal)
among those the world's actions can reach, optionally within ``max_goal_distance`` actions.
Reaching it (all factors equal) gives reward 1 and ends the episode; every other step costs
``step_cost``; the episode is truncated after ``horizon`` steps. ``info`` holds the oracle's
shortest distance to the goal (:mod:`flatland_env.oracle`), the factors of both states and
``is_success`` (the key stable-baselines3 reads for success rates).

With goals anywhere the reward is sparse: a random walk on FlatLand's 33 x 33 torus rarely ends
on the goal within the horizon. ``shaping`` > 0 adds the potential-based term
``shaping * (d - d') / diameter`` each step (Ng, Harada and Russell 1999, with the potential
minus the oracle's shortest distance d to the goal over the world's diameter, and discount 1):
a step along a shortest path earns ``shaping / diameter``, and over an episode the terms sum to
``shaping * (d_start - d_end) / diameter``, so they change which policy is best by nothing but a
bonus for ending nearer the goal.

``goal_region`` splits the goals for a generalisation test: ``"first-half"`` draws only goals
whose first factor (FlatLand's x) lies in the lower half of its cycle (below n // 2: 16 of 33
positions), ``"second-half"`` only those in the upper half (the other 17); an explicit ``goal``
option at reset is not held to the region; ``"all"`` (the default) draws from every reachable state. A policy
trained on one half and tested on the other has never been rewarded at the test goals.

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
#: which goals a task draws: any, or those whose first factor lies in the lower or upper half of its cycle
GOAL_REGIONS = ("all", "first-half", "second-half")
#: random starts drawn at most, looking for one with a goal of the region within reach
MAX_START_DRAWS = 100


class GoalWrapper(gym.Wrapper):
    """Reach a goal frame: Dict(observation, goal) of frames (or both stacked along channels)."""

    def __init__(
        self,
        env: gym.Env,
        horizon: int = 100,
        step_cost: float = 0.01,
        max_goal_distance: int | None = None,
        observation: str = "dict",
        goal_region: str = "all",
        shaping: float = 0.0,
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
        self.goal_region = check_choice("goal_region", goal_region, GOAL_REGIONS)
        self.shaping = check_number("shaping", shaping, 0.0, 10.0)
        self._distance = 0
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
            goals = self._goals_from(start)
            draws = 0
            while len(goals) == 0:  # no goal of the region within reach of this start: draw another start
                if "factors" in options:
                    raise ValueError(f"no goal of goal_region {self.goal_region!r} is within reach of the start "
                                     f"{start.tolist()}")
                if draws == MAX_START_DRAWS:
                    raise ValueError(f"no goal of goal_region {self.goal_region!r} was within reach of "
                                     f"{MAX_START_DRAWS} random starts")
                draws += 1
                obs, info = self.env.reset(options=options or None)
                start = np.asarray(info["factors"])
                goals = self._goals_from(start)
            self._goal = goals[self.env.unwrapped.np_random.integers(len(goals))]
        else:
            self._goal = self.oracle.spec.validate_factors(np.asarray(goal))
            self.oracle.distance(start, self._goal)  # ValueError if unreachable
        self._goal_frame = self.env.unwrapped.render_states(self._goal[None])[0]
        self._t = 0
        info = self._info(info)
        self._distance = info["distance"]
        return self._pack(obs), info

    def in_region(self, factors: np.ndarray) -> np.ndarray:
        """Whether each state (rows of factors) is a goal of this task's ``goal_region``."""
        first = np.asarray(factors)[..., 0]
        half = self.oracle.spec.factor_sizes[0] // 2
        if self.goal_region == "first-half":
            return first < half
        if self.goal_region == "second-half":
            return first >= half
        return np.ones(first.shape, bool)

    def _goals_from(self, start: np.ndarray) -> np.ndarray:
        goals = (start + self._offsets) % np.asarray(self.oracle.spec.factor_sizes)
        return goals[self.in_region(goals)]

    def step(self, action):
        if self._goal is None:
            raise RuntimeError("call reset() before step()")
        obs, _, terminated, truncated, info = self.env.step(action)
        self._t += 1
        info = self._info(info)
        reached = info["is_success"]
        reward = 1.0 if reached else -self.step_cost
        if self.shaping:
            reward += self.shaping * (self._distance - info["distance"]) / self.oracle.diameter
        self._distance = info["distance"]
        return self._pack(obs), reward, bool(terminated or reached), bool(truncated or self._t >= self.horizon), info


def make_goal_env(
    world_id: str = "FlatLand-v0",
    horizon: int = 100,
    step_cost: float = 0.01,
    max_goal_distance: int | None = None,
    observation: str = "dict",
    goal_region: str = "all",
    shaping: float = 0.0,
    **world_kwargs: Any,
) -> GoalWrapper:
    """The goal task on a registered symmetry world (the entry point of ``FlatLandGoal-v0``)."""
    env = make_world(world_id, disable_env_checker=True, **world_kwargs)
    return GoalWrapper(env, horizon, step_cost, max_goal_distance, observation, goal_region, shaping)
