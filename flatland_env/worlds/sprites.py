"""Sprites: a dSprites-like world with four cyclic symmetries, rendered procedurally.

Description:
    A white shape (square, ellipse or heart) on a black 64x64 frame, as in dSprites
    (Matthey et al. 2017), drawn here from implicit shape functions with no download.
    Factors: shape (3), scale (6 values in [0.5, 1]), orientation (40 values over a full
    turn), x (32) and y (32). Shape is drawn at reset and never acted on.

Action Space:
    ``Discrete(8)``: scale-, scale+, orientation-, orientation+, x-, x+, y-, y+; each
    moves its factor by ``offset`` (default 1; the paper's runs imply 4) with
    wrap-around, so each action generates a cyclic group of order n / gcd(n, offset).

Observation Space:
    ``Box(0, 255, (64, 64, 1), uint8)`` or ``(64, 64, 3)`` with ``obs_mode="rgb"``.

Rewards:
    Always 0.

Starting State:
    Uniformly random factors from the ``reset(seed=...)`` generator, or
    ``reset(options={"factors": [...]})``.

Episode End:
    Never terminates; truncated after ``max_episode_steps`` (default 1000).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flatland_env.base import SymmetryWorld, check_frame_size
from flatland_env.registration import register_world
from flatland_env.spec import ActionEffect, SymmetrySpec
from flatland_env.vector import SymmetryVectorEnv

SHAPES = ("square", "ellipse", "heart")
NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS = 6, 40, 32


def sprites_spec(offset: int = 1) -> SymmetrySpec:
    """Spec with factors shape, scale, orientation, x, y and 8 +/- offset actions."""
    actions = []
    for f, name in enumerate(("scale", "orientation", "x", "y"), start=1):
        actions += [ActionEffect(f"{name}-", f, -offset), ActionEffect(f"{name}+", f, offset)]
    return SymmetrySpec(
        factor_names=("shape", "scale", "orientation", "x", "y"),
        factor_sizes=(len(SHAPES), NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS, NUM_POSITIONS),
        actions=tuple(actions),
    )


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 1.0


def _ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u**2 + (v / 0.5) ** 2 <= 1.0


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    hu, hv = u * 1.1, -v * 1.1 + 0.1  # heart curve (x^2 + y^2 - 1)^3 = x^2 y^3, pointing down
    return (hu**2 + hv**2 - 1.0) ** 3 - hu**2 * hv**3 <= 0.0


#: inside-tests in the shape frame, indexed like SHAPES
_SHAPE_TESTS = (_square, _ellipse, _heart)


def render_sprites(factors: np.ndarray, frame_size: int = 64) -> np.ndarray:
    """Frames for a batch of sprite states (N, 5) -> (N, H, W, 1) uint8, vectorised."""
    f = np.asarray(factors, dtype=np.int64)
    n = f.shape[0]
    scale = 0.5 + 0.5 * f[:, 1] / (NUM_SCALES - 1)
    angle = 2.0 * np.pi * f[:, 2] / NUM_ORIENTATIONS
    margin = frame_size * 10.0 / 64.0
    span = frame_size - 2.0 * margin
    cx = margin + span * f[:, 3] / (NUM_POSITIONS - 1)
    cy = margin + span * f[:, 4] / (NUM_POSITIONS - 1)
    half = frame_size * 10.0 / 64.0 * scale  # half-size of the shape in pixels

    grid = np.arange(frame_size) + 0.5
    px = grid[None, None, :] - cx[:, None, None]
    py = grid[None, :, None] - cy[:, None, None]
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u = (c * px + s * py) / half[:, None, None]  # rotate the pixel grid into the shape frame
    v = (-s * px + c * py) / half[:, None, None]

    # Evaluate each shape's implicit function only on the frames that show that shape.
    mask = np.zeros((n, frame_size, frame_size), dtype=bool)
    for k, inside in enumerate(_SHAPE_TESTS):
        sel = f[:, 0] == k
        if sel.any():
            mask[sel] = inside(u[sel], v[sel])
    return (mask.astype(np.uint8) * 255).reshape(n, frame_size, frame_size, 1)


class SpritesEnv(SymmetryWorld):
    """dSprites-like world; see the module docstring for the full description."""

    def __init__(
        self,
        offset: int = 1,
        frame_size: int = 64,
        obs_mode: str = "grey",
        render_mode: str | None = None,
    ) -> None:
        if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 1:
            raise ValueError(f"offset must be an integer >= 1, got {offset!r}")
        if offset % NUM_SCALES == 0:
            raise ValueError(f"offset {offset} acts as the identity on the 6 scales; use an offset not divisible by 6")
        check_frame_size(frame_size)
        self.offset = int(offset)
        self.symmetry = sprites_spec(self.offset)
        super().__init__(frame_size, obs_mode, render_mode)

    def draw_states(self, factors: np.ndarray) -> np.ndarray:
        flat = factors.reshape(-1, factors.shape[-1])
        return render_sprites(flat, self.frame_size).reshape(*factors.shape[:-1], self.frame_size, self.frame_size, 1)


class SpritesVectorEnv(SymmetryVectorEnv):
    """N Sprites states stepped by the spec's cyclic law; takes SpritesEnv's keyword arguments."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None, render_mode: str | None = None,
                 **world_kwargs: Any) -> None:
        super().__init__(SpritesEnv(**world_kwargs), num_envs, max_episode_steps, render_mode)


register_world("Sprites-v0", SpritesEnv, SpritesVectorEnv)
