"""Native vectorised symmetry worlds: N states stepped together in numpy.

``gym.make_vec("FlatLand-v0", num_envs=8)`` builds a :class:`FlatLandVectorEnv`: one
pymunk space with N shapeless bodies moved together, frames gathered from the shared
frame cache in one fancy-index. It follows Gymnasium's NEXT_STEP autoreset: the step
after a truncation ignores that env's action and returns its new episode's first frame.
Sub-env i reset with ``seed + i`` draws the same start states as ``SyncVectorEnv``
(``vectorization_mode="sync"``), so the two are interchangeable.

A template single-env world supplies the spec, parameter validation and rendering, so a
vector world never restates the geometry of its single-env twin; a world's vector env lives
in the world's own module and only adds its motion model, if any. Actions are integers for a
Discrete action space, or vectors (N, action_dim) of a Box one (a continuous group); states
are arrays of the spec's ``factor_dtype``.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from flatland_env.base import SymmetryWorld, to_obs_mode
from flatland_env.validation import check_box_array, check_choice, check_int, check_positive_int

RESET_OPTIONS = ("factors", "reset_mask")


class SymmetryVectorEnv(VectorEnv):
    """N copies of one symmetry world, stepped as arrays; actions act through ``spec.apply``."""

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        world: SymmetryWorld,
        num_envs: int,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        check_positive_int("num_envs", num_envs)
        if max_episode_steps is not None and check_int("max_episode_steps", max_episode_steps, -1) == 0:
            raise ValueError(
                f"max_episode_steps must be None, -1 (no limit) or an integer >= 1, got {max_episode_steps!r}"
            )
        check_choice("render_mode", render_mode, (None, *self.metadata["render_modes"]))
        self.world = world
        self.symmetry = world.symmetry
        self.num_envs = int(num_envs)
        self.max_episode_steps = None if max_episode_steps in (None, -1) else int(max_episode_steps)
        self.render_mode = render_mode
        self.single_observation_space = world.observation_space
        self.single_action_space = world.action_space
        self.observation_space = batch_space(world.observation_space, self.num_envs)
        self.action_space = batch_space(world.action_space, self.num_envs)
        self._action_names = np.array(self.symmetry.action_names, dtype=object)
        self._rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._factors: np.ndarray | None = None
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._pending_reset = False

    # -- world hooks -------------------------------------------------------------------
    def _transition(self, factors: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Next states of all envs; worlds with a motion model override this."""
        return self.symmetry.apply(factors, actions)

    def _on_set_states(self, envs: np.ndarray) -> None:
        """Hook for worlds that mirror the states of ``envs`` in a simulator."""

    # -- gymnasium API -------------------------------------------------------------------
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset all envs, or those of ``options["reset_mask"]``; env i is seeded with ``seed + i``."""
        options = dict(options or {})
        unknown = set(options) - set(RESET_OPTIONS)
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; allowed: {list(RESET_OPTIONS)}")
        seeds = self._seeds(seed)
        mask = self._reset_mask(options.get("reset_mask"))
        envs = np.nonzero(mask)[0]
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        for i in envs.tolist():
            if seeds[i] is not None or self._rngs[i] is None:
                self._rngs[i] = seeding.np_random(seeds[i])[0]
        if self._factors is None:
            self._factors = np.zeros((self.num_envs, self.symmetry.num_factors), dtype=self.symmetry.factor_dtype)
        if "factors" in options:
            given = self.symmetry.validate_factors(np.asarray(options["factors"]))
            self._factors[envs] = np.broadcast_to(given, (self.num_envs, self.symmetry.num_factors))[envs]
            self._on_set_states(envs)
        else:
            self._start(envs)
        self._autoreset[envs] = False
        self._pending_reset = bool(self._autoreset.any())
        return self.observe(self._factors), {"factors": self._factors.copy(), "_factors": mask}

    def step(self, actions):
        """One step of every env; envs whose episode ended last step reset instead (NEXT_STEP)."""
        actions = self._check_actions(actions)
        factors, reset, truncated = self._advance(actions)
        factors, truncated = factors.copy(), truncated.copy()
        infos = {"factors": factors, "_factors": np.ones(self.num_envs, dtype=bool)}
        if not reset.all():  # as SyncVectorEnv: a reset step's info has no action name
            names = self._names_of(actions)
            names[reset] = None
            infos.update(action_name=names, _action_name=~reset)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        return self.observe(factors), rewards, np.zeros(self.num_envs, dtype=bool), truncated, infos

    def advance(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`step` without rendering: (factors, was_reset, truncated).

        ``was_reset[i]`` marks an env that started a new episode in this call (its action
        was ignored), so ``factors[i]`` does not follow from the previous state.
        """
        factors, reset, truncated = self._advance(self._check_actions(actions))
        return factors.copy(), reset, truncated.copy()

    def rollout(self, actions) -> tuple[np.ndarray, np.ndarray]:
        """Many steps without rendering, for bulk collectors: actions (T, N) -> states (T, N, F), was_reset (T, N).

        With a Box action space the actions are vectors, (T, N, action_dim).
        """
        actions = self._check_actions(actions, leading=True)
        states = np.empty((len(actions), self.num_envs, self.symmetry.num_factors), dtype=self.symmetry.factor_dtype)
        resets = np.empty((len(actions), self.num_envs), dtype=bool)
        for t, a in enumerate(actions):
            states[t], resets[t], _ = self._advance(a)  # assignment copies
        return states, resets

    def _advance(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Move every env, then restart those whose episode ended last step; returns live arrays (callers copy)."""
        if self._factors is None:
            raise RuntimeError("call reset() before step()")
        reset = self._autoreset
        self._factors = self._transition(self._factors, actions)
        self._elapsed += 1
        if self._pending_reset:
            self._start(np.flatnonzero(reset))
        if self.max_episode_steps is None:
            self._autoreset = np.zeros(self.num_envs, dtype=bool)
            self._pending_reset = False
        else:
            self._autoreset = self._elapsed >= self.max_episode_steps
            self._pending_reset = bool(self._autoreset.any())
        return self._factors, reset, self._autoreset

    def observe(self, factors: np.ndarray) -> np.ndarray:
        """Observations of any batch of states, (..., F) -> (..., H, W, C) uint8."""
        return self.world.render_states(factors)

    def render_states(self, factors: np.ndarray) -> np.ndarray:
        """Observations of any batch of states, as the template world renders them."""
        return self.world.render_states(factors)

    @property
    def factors(self) -> np.ndarray:
        """A copy of the current ground-truth states, (num_envs, F)."""
        if self._factors is None:
            raise RuntimeError("call reset() before reading the state")
        return self._factors.copy()

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None or self._factors is None:
            return None
        return tuple(to_obs_mode(self.world.draw_states(self._factors), "rgb"))

    def close_extras(self, **kwargs: Any) -> None:
        self.world.close()

    # -- exact resume ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything the next steps depend on: states, episode clocks, autoreset flags, every generator."""
        if self._factors is None:
            raise RuntimeError("call reset() before saving the state")
        return {
            "factors": self._factors.copy(),
            "elapsed": self._elapsed.copy(),
            "autoreset": self._autoreset.copy(),
            "rngs": json.dumps([None if r is None else r.bit_generator.state for r in self._rngs]),
            "np_random": json.dumps(self.np_random.bit_generator.state),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the env continues exactly as the saved one would have."""
        factors = self.symmetry.validate_factors(np.asarray(state["factors"]))
        if factors.shape != (self.num_envs, self.symmetry.num_factors):
            raise ValueError(f"saved state holds {factors.shape[0]} envs, this vector env has {self.num_envs}")
        self._factors = factors.copy()
        self._elapsed = np.asarray(state["elapsed"], dtype=np.int64).copy()
        self._autoreset = np.asarray(state["autoreset"], dtype=bool).copy()
        self._pending_reset = bool(self._autoreset.any())
        rngs = json.loads(state["rngs"])
        self._rngs = [None if r is None else _generator(r) for r in rngs]
        self.np_random = _generator(json.loads(state["np_random"]))
        self._on_set_states(np.arange(self.num_envs))

    # -- helpers ---------------------------------------------------------------------------
    def _start(self, envs: np.ndarray) -> None:
        """Draw start states of ``envs`` from their own generators, as the single env's reset does."""
        for i in envs.tolist():
            self.world.np_random = self._rngs[i]
            self._factors[i] = self.world._sample_start()
        self._elapsed[envs] = 0
        self._on_set_states(envs)

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed must be None, an int, or a list of num_envs={self.num_envs} seeds, got {seed!r}")
        return seeds

    def _reset_mask(self, mask: Any) -> np.ndarray:
        if mask is None:
            return np.ones(self.num_envs, dtype=bool)
        if self._factors is None:
            raise RuntimeError("reset() without a reset_mask must come before a masked reset")
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ValueError(
                f"options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},), got {mask!r}"
            )
        return mask.copy()

    def _names_of(self, actions: np.ndarray) -> np.ndarray:
        """``info["action_name"]`` of checked actions: the spec's names, or the world's name of each vector."""
        if isinstance(self.single_action_space, spaces.Box):
            return np.array([self.world.action_name(a) for a in actions], dtype=object)  # num_envs rows, in step only
        return self._action_names[actions]

    def _check_actions(self, actions, leading: bool = False) -> np.ndarray:
        """Actions as int64 of shape (num_envs,), or (T, num_envs) with ``leading``; Box actions as float64 vectors."""
        if isinstance(self.single_action_space, spaces.Box):
            return self._check_box_actions(actions, leading)
        arr = np.asarray(actions)
        n = self.single_action_space.n
        ok_shape = arr.shape[-1:] == (self.num_envs,) and arr.ndim == (2 if leading else 1)
        if not ok_shape or arr.dtype.kind not in "iu":
            raise ValueError(
                f"actions must be {'(T, ' if leading else '('}{self.num_envs}) integers in [0, {n}) "
                f"({', '.join(self.symmetry.action_names)}), got {actions!r}"
            )
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            names = ", ".join(f"{i}={a}" for i, a in enumerate(self.symmetry.action_names))
            raise ValueError(f"actions must be in [0, {n}) ({names}), got {arr.tolist()}")
        return arr.astype(np.int64, copy=False)

    def _check_box_actions(self, actions: Any, leading: bool) -> np.ndarray:
        """Vectors of the Box action space, (num_envs, *shape) or (T, num_envs, *shape), as float64."""
        box = self.single_action_space
        lead = np.shape(actions)[:1] if leading and not isinstance(actions, (str, bytes)) else ()
        return check_box_array("actions", actions, (*lead, self.num_envs, *box.shape), box.low, box.high)


def _generator(state: dict[str, Any]) -> np.random.Generator:
    """A numpy Generator with the given bit-generator state (PCG64, as ``seeding.np_random`` makes)."""
    bit = getattr(np.random, state["bit_generator"])()
    bit.state = state
    return np.random.Generator(bit)
