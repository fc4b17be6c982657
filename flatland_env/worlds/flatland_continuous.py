"""FlatLandContinuous: FlatLand's disc on the same torus, at any real position, moved by any displacement.

Description:
    The disc of FlatLand (radius 15 px, white on a black 64x64 frame) on the same torus:
    positions x, y in [0, 33) px, disc centre 16 + x (and 16 + y) px, wrapping at 33
    exactly like FlatLand's lattice (the disc jumps back 33 px at the edge). Here the state
    is real (float64) and an action is a displacement vector of any size, so the group is
    the continuous torus SO(2) x SO(2) (``TorusSpec``), not C_33 x C_33. FlatLand's
    lattice states are the integer points of this world, its actions the displacements
    (+-10/33, 0) and (0, +-10/33).

    Frames are anti-aliased: each pixel's grey level is the disc's coverage of that pixel,
    ``clip(radius + 0.5 - distance, 0, 1)`` (distance from the pixel centre to the disc
    centre), so at a lattice point the frame is FlatLand's disc with a grey rim. Sub-pixel
    moves are visible (a 0.25 px move changes rim pixels by up to ~64 grey levels) and a
    frame changes continuously with the state, by at most 255 grey levels per pixel per px
    of motion, except across the wrap seam.

Action Space:
    ``Box(-max_move, max_move, (2,), float32)``: (dx, dy) in units of half a turn of the
    torus (16.5 px). With the default ``max_move=1`` the box holds every group element and
    Gymnasium's and Stable-Baselines3's checkers accept it. FlatLand's step of 5 px is
    10/33 = 0.303; 1 px is 2/33. An action outside the box, NaN, or of another shape is
    refused with a ValueError.

    ``max_move`` < 1 is for learning from a random policy: a uniform move over the whole
    box takes the disc to a uniformly random place, independent of where it was, so the
    two frames of a pair say nothing about each other and a pair is worth two unrelated
    frames to a learner that is not told the action (docs/method.md, "Continuous latent
    actions"). With smaller moves a pair shows how the frame changes near its start.

Observation Space:
    ``Box(0, 255, (64, 64, 1), uint8)``, or ``(64, 64, 3)`` with ``obs_mode="rgb"``.

Rewards:
    Always 0: this is a world to learn representations in, not a task.

Starting State:
    A uniformly random point of the torus, drawn from the ``reset(seed=...)`` generator,
    or the one given by ``reset(options={"factors": [x, y]})`` (floats in [0, 33)).

Episode End:
    Never terminates; truncated after ``max_episode_steps`` (default 1000) by the
    registration's TimeLimit.

Ground truth:
    ``info["factors"] = [x, y]`` float64 px; ``env.unwrapped.symmetry`` is the
    ``TorusSpec``. ``gym.make_vec`` builds :class:`FlatLandContinuousVectorEnv`, so the
    transition collector and the pair sources serve its pairs (the action vectors as
    labels, float32 (B, k, 2)). ForwardVAE learns it with plane angles linear in the action
    vector, RGrVAE infers each pair's plane turns in closed form, and the beta-VAE learns its
    frames; the metrics that sample discrete states and actions refuse it naming its group,
    and the metric suite scores it by each factor's angle R^2 instead (docs/metrics.md,
    "Continuous actions"). It is here for continuous control and for models of continuous
    symmetries.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from flatland_env.base import SymmetryWorld
from flatland_env.registration import register_world
from flatland_env.torus import TorusSpec
from flatland_env.validation import check_number
from flatland_env.vector import SymmetryVectorEnv
from flatland_env.worlds.flatland import lattice_origin, validate_disc_geometry

#: states drawn per numpy pass (each holds a few float64 frames)
DRAW_CHUNK = 256


def flatland_continuous_spec(grid_size: int = 33) -> TorusSpec:
    """The SO(2) x SO(2) spec of a torus of ``grid_size`` px per turn, actions (dx, dy) in half turns."""
    return TorusSpec(factor_names=("x", "y"), factor_sizes=(float(grid_size), float(grid_size)),
                     action_names=("dx", "dy"))


def render_discs(centres: np.ndarray, radius: float, frame_size: int) -> np.ndarray:
    """Anti-aliased discs at real pixel centres (N, 2) -> (N, H, W, 1) uint8, in numpy chunks.

    Pixel (row i, column j) covers [j, j + 1) x [i, i + 1), so its centre is (j + 0.5, i + 0.5):
    FlatLand's convention, where the disc of radius 15 centred at 16 px covers pixels 1..30.
    Its grey level is the disc's approximate coverage ``clip(radius + 0.5 - distance, 0, 1)``.
    """
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    grid = np.arange(frame_size, dtype=np.float64) + 0.5
    out = np.empty((len(centres), frame_size, frame_size, 1), np.uint8)
    for lo in range(0, len(centres), DRAW_CHUNK):
        c = centres[lo : lo + DRAW_CHUNK]
        dx = grid[None, None, :] - c[:, 0, None, None]
        dy = grid[None, :, None] - c[:, 1, None, None]
        coverage = np.clip(radius + 0.5 - np.sqrt(dx * dx + dy * dy), 0.0, 1.0)
        out[lo : lo + DRAW_CHUNK, ..., 0] = np.rint(coverage * 255.0)
    return out


class FlatLandContinuousEnv(SymmetryWorld):
    """FlatLand with real positions and displacement actions; see the module docstring."""

    #: ForwardVAE's grid refit of W (its rows can stop in local minima of the periodic loss; docs/method.md,
    #: "Continuous latent actions"; the README's continuous table has the held-out runs with and without it), and
    #: RGrVAE's options that act on a finite list of latent actions turned off (it infers each pair's turns)
    agent_settings: ClassVar[dict[str, Any]] = {"refit_every": 250, "stop_error": 0.0, "realign": False,
                                                "restart_after": 0}

    #: hand-play moves in px: arrows move 1 px, digits 1..4 a quarter pixel
    HAND_STEPS = ((1.0, ("left", "right", "up", "down")), (0.25, ("left 1/4", "right 1/4", "up 1/4", "down 1/4")))

    def __init__(
        self,
        grid_size: int = 33,
        radius: int = 15,
        frame_size: int = 64,
        obs_mode: str = "grey",
        render_mode: str | None = None,
        max_move: float = 1.0,
    ) -> None:
        validate_disc_geometry(grid_size, radius, frame_size)
        self.max_move = check_number("max_move", max_move, 0.0, 1.0, low_open=True)
        self.grid_size, self.radius = int(grid_size), int(radius)
        self.symmetry = flatland_continuous_spec(self.grid_size)
        self.origin = float(lattice_origin(self.grid_size, frame_size))
        super().__init__(frame_size, obs_mode, render_mode)

    def draw_states(self, factors: np.ndarray) -> np.ndarray:
        flat = factors.reshape(-1, 2)
        frames = render_discs(self.origin + flat, self.radius, self.frame_size)
        return frames.reshape(*factors.shape[:-1], *frames.shape[1:])

    def _make_action_space(self) -> spaces.Box:
        return spaces.Box(-self.max_move, self.max_move, (2,), np.float32)

    def _check_action(self, action: Any) -> np.ndarray:
        """A finite (dx, dy) in [-max_move, max_move] half turns as float64, else a ValueError saying what is
        allowed."""
        m = self.max_move
        allowed = f"a (dx, dy) displacement: 2 finite numbers in [-{m:g}, {m:g}], in half turns of the torus (16.5 px)"
        arr = np.asarray(action) if isinstance(action, (np.ndarray, list, tuple)) else None
        if arr is None or arr.shape != (2,) or arr.dtype.kind not in "iuf":
            raise ValueError(f"action must be {allowed}; got {action!r} of type {type(action).__name__}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"action must be {allowed}; got non-finite {arr.tolist()}")
        if np.any(np.abs(arr) > np.float32(m)):
            held = " (that box already holds every move)" if m == 1.0 else f" (max_move={m:g})"
            raise ValueError(f"action must be {allowed}{held}; got {arr.tolist()}")
        return arr

    def action_name(self, action: np.ndarray) -> str:
        dx, dy = action * self.symmetry.action_scale
        return f"move ({dx:+.3f}, {dy:+.3f}) px"

    def hand_actions(self) -> list[tuple[str, Any]]:
        """Arrows move 1 px, keys 1..4 move 1/4 px (left, right, up, down): sub-pixel motion by hand."""
        scale = self.symmetry.action_scale
        out = []
        for px, names in self.HAND_STEPS:
            for name, (dx, dy) in zip(names, ((-px, 0.0), (px, 0.0), (0.0, -px), (0.0, px))):
                move = np.clip([dx / scale[0], dy / scale[1]], -self.max_move, self.max_move)
                out.append((name, move.astype(np.float32)))
        return out


class FlatLandContinuousVectorEnv(SymmetryVectorEnv):
    """N continuous discs moved together by the torus spec; takes FlatLandContinuousEnv's keyword arguments."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None, render_mode: str | None = None,
                 **world_kwargs: Any) -> None:
        super().__init__(FlatLandContinuousEnv(**world_kwargs), num_envs, max_episode_steps, render_mode)


register_world("FlatLandContinuous-v0", FlatLandContinuousEnv, FlatLandContinuousVectorEnv)
