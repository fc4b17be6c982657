"""Shared surface of every symmetry world: a group acting on a factor state, seen as frames.

A concrete world supplies its spec (:class:`~flatland_env.spec.GroupSpec`), how to draw any
batch of factor states, and (optionally) how an action moves the state. Everything else,
action validation, ``info["factors"]``, seeding, the observation channels and the render
modes, lives here once.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from flatland_env.spec import GroupSpec
from flatland_env.validation import check_choice, check_int

OBS_MODES = ("grey", "rgb")

#: largest frame side a world accepts: frames are cached or drawn in batches, so memory grows as its square
MAX_FRAME_SIZE = 256


def check_frame_size(frame_size: Any, minimum: int = 16) -> int:
    """Return ``frame_size`` or raise a ValueError naming the allowed range."""
    return check_int("frame_size", frame_size, minimum, MAX_FRAME_SIZE)


def check_obs_mode(obs_mode: str) -> str:
    """Return ``obs_mode`` or raise a ValueError naming the allowed modes."""
    return check_choice("obs_mode", obs_mode, OBS_MODES)


def observation_space(frame_size: int, obs_mode: str) -> spaces.Box:
    """The uint8 HWC frame space of one world: 1 channel for grey, 3 for rgb."""
    channels = 1 if check_obs_mode(obs_mode) == "grey" else 3
    return spaces.Box(0, 255, (frame_size, frame_size, channels), np.uint8)


def to_obs_mode(frames: np.ndarray, obs_mode: str) -> np.ndarray:
    """Frames (..., H, W, 1 or 3) as the observations of ``obs_mode``: grey repeated for rgb, rgb averaged for grey."""
    if obs_mode == "rgb" and frames.shape[-1] == 1:
        return np.repeat(frames, 3, axis=-1)
    if obs_mode == "grey" and frames.shape[-1] == 3:
        return np.rint(frames.mean(axis=-1, keepdims=True)).astype(np.uint8)
    return frames


class SymmetryWorld(gym.Env):
    """A Gymnasium env whose actions are elements of a known group acting on its state."""

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 15}

    #: set by subclasses in __init__
    symmetry: GroupSpec

    #: agent settings (an agent Config's field -> value) that suit this world better than the agents' defaults,
    #: which were tuned on FlatLand; ``scripts/train_agent.py`` applies those the user did not set, and says so
    agent_settings: ClassVar[dict[str, Any]] = {}

    def __init__(self, frame_size: int, obs_mode: str = "grey", render_mode: str | None = None) -> None:
        check_obs_mode(obs_mode)
        check_choice("render_mode", render_mode, (None, *self.metadata["render_modes"]))
        self.frame_size = check_frame_size(frame_size)
        self.obs_mode = obs_mode
        self.render_mode = render_mode
        self.observation_space = observation_space(self.frame_size, obs_mode)
        self.action_space = self._make_action_space()
        self._factors: np.ndarray | None = None
        self._window = None
        self._clock = None

    # -- to be provided by a world --------------------------------------------------
    def draw_states(self, factors: np.ndarray) -> np.ndarray:
        """The world's own drawing of validated states: (..., num_factors) -> (..., H, W, 1 or 3) uint8."""
        raise NotImplementedError

    def _make_action_space(self) -> spaces.Space:
        """One discrete action per spec action; worlds with continuous actions override this."""
        return spaces.Discrete(self.symmetry.num_actions)

    def hand_actions(self) -> list[tuple[str, Any]]:
        """(name, env action) pairs a person can play (scripts/play.py); one per discrete action by default."""
        return list(zip(self.symmetry.action_names, range(self.symmetry.num_actions)))

    def action_name(self, action: Any) -> str:
        """A readable name of a checked action, for ``info["action_name"]``; continuous worlds override this."""
        return self.symmetry.action_names[action]

    def _transition(self, factors: np.ndarray, action: Any) -> np.ndarray:
        """Next state after ``action``; worlds with a motion model override this."""
        return self.symmetry.apply(factors, action)

    def _sample_start(self) -> np.ndarray:
        return self.symmetry.sample_factors(self.np_random, 1)[0]

    # -- gymnasium API ------------------------------------------------------------
    def render_states(self, factors: np.ndarray) -> np.ndarray:
        """Observations of any batch of states, (..., num_factors) -> (..., H, W, C) uint8, C as the obs mode."""
        return to_obs_mode(self.draw_states(self.symmetry.validate_factors(factors)), self.obs_mode)

    @property
    def factors(self) -> np.ndarray:
        """A copy of the current ground-truth state."""
        if self._factors is None:
            raise RuntimeError("call reset() before reading the state")
        return self._factors.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"factors"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; allowed: ['factors']")
        if "factors" in options:
            self._factors = self.symmetry.validate_factors(np.asarray(options["factors"]))
            self._on_set_state()
        else:
            self._factors = self._sample_start()
            self._on_set_state()
        if self.render_mode == "human":
            self.render()
        return self._observe(), {"factors": self._factors.copy()}

    def step(self, action):
        if self._factors is None:
            raise RuntimeError("call reset() before step()")
        a = self._check_action(action)
        self._factors = self._transition(self._factors, a)
        if self.render_mode == "human":
            self.render()
        info = {"factors": self._factors.copy(), "action_name": self.action_name(a)}
        return self._observe(), 0.0, False, False, info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array' or 'human'")
            return None
        frame = self._frame_rgb()
        if self.render_mode == "rgb_array":
            return frame
        return self._show(frame)

    def close(self) -> None:
        if self._window is not None:
            import pygame

            pygame.display.quit()
            self._window = None

    # -- helpers -------------------------------------------------------------------
    def _on_set_state(self) -> None:
        """Hook for worlds that mirror the state in a simulator."""

    def _observe(self) -> np.ndarray:
        return self.render_states(self._factors[None])[0]

    def _frame_rgb(self) -> np.ndarray:
        return to_obs_mode(self.draw_states(self.factors[None])[0], "rgb")

    def _check_action(self, action) -> Any:
        if isinstance(action, np.ndarray) and action.shape == ():
            action = action.item()
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise ValueError(
                f"action must be an integer in [0, {self.action_space.n}) "
                f"({', '.join(self.symmetry.action_names)}), got {action!r} of type {type(action).__name__}"
            )
        if not 0 <= int(action) < self.action_space.n:
            raise ValueError(
                f"action must be in [0, {self.action_space.n}) "
                f"({', '.join(f'{i}={n}' for i, n in enumerate(self.symmetry.action_names))}), got {action}"
            )
        return int(action)

    def _show(self, frame: np.ndarray, scale: int = 8) -> None:
        import pygame

        size = (frame.shape[1] * scale, frame.shape[0] * scale)
        if self._window is None:
            pygame.display.init()
            self._window = pygame.display.set_mode(size)
            pygame.display.set_caption(type(self).__name__)
            self._clock = pygame.time.Clock()
        surf = pygame.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        self._window.blit(pygame.transform.scale(surf, size), (0, 0))
        pygame.event.pump()
        pygame.display.flip()
        self._clock.tick(self.metadata["render_fps"])
