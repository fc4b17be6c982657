"""FlatLand: a disc on a torus of lattice positions, the world of Painter et al. (2020).

Description:
    A white disc of radius 15 px moves on a black 64x64 frame. Each axis has 33 lattice
    positions (disc centres 16..48 px); an action moves the disc 5 px along one axis,
    modulo 33, so at the edge it jumps to the other side as in the original generator.
    Since gcd(5, 33) = 1 each action generates C_33, and the world's group is
    C_33 x C_33 acting freely on its 1,089 states, exactly, on states and on pixels.

Motion:
    The disc is a pymunk body; an action sets its velocity so that it travels one step
    over ``substeps`` physics sub-steps. The result is snapped to the lattice (and
    wrapped), so float drift can never break the group law.

Action Space:
    ``Discrete(4)``: 0 left, 1 right, 2 up, 3 down.

Observation Space:
    ``Box(0, 255, (64, 64, 1), uint8)`` (grey, as the paper used), or
    ``(64, 64, 3)`` with ``obs_mode="rgb"``. Pixels are exactly 0 or 255 (aliased disc).

Rewards:
    Always 0: this is a world to learn representations in, not a task.

Starting State:
    A uniformly random lattice position, drawn from the ``reset(seed=...)`` generator,
    or the one given by ``reset(options={"factors": [x, y]})``.

Episode End:
    Never terminates; truncated after ``max_episode_steps`` (default 1000) by the
    registration's TimeLimit.

Ground truth:
    ``info["factors"] = [x, y]`` lattice indices; ``env.unwrapped.symmetry`` is the spec.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pymunk

from flatland_env.base import SymmetryWorld, check_frame_size
from flatland_env.registration import register_goal_task, register_world
from flatland_env.spec import ActionEffect, SymmetrySpec
from flatland_env.validation import check_int
from flatland_env.vector import SymmetryVectorEnv

#: largest frame cache (grid_size^2 frames of frame_size^2 bytes) a FlatLand accepts
MAX_CACHE_BYTES = 256 * 2**20


def flatland_spec(grid_size: int = 33, step: int = 5) -> SymmetrySpec:
    """The C_n x C_n spec of FlatLand with a given lattice size and step."""
    return SymmetrySpec(
        factor_names=("x", "y"),
        factor_sizes=(grid_size, grid_size),
        actions=(
            ActionEffect("left", 0, -step),
            ActionEffect("right", 0, step),
            ActionEffect("up", 1, -step),
            ActionEffect("down", 1, step),
        ),
    )


def render_flatland_frames(grid_size: int, radius: int, frame_size: int) -> np.ndarray:
    """All n x n frames, indexed [x, y] -> (H, W, 1) uint8, drawn with pygame (aliased)."""
    import pygame

    lo = lattice_origin(grid_size, frame_size)
    surf = pygame.Surface((frame_size, frame_size))
    # Every frame is a translate of one disc stamp; draw the stamp once, shift it n*n times.
    surf.fill((0, 0, 0))
    c = frame_size // 2
    pygame.draw.circle(surf, (255, 255, 255), (c, c), radius)
    stamp = pygame.surfarray.array_red(surf).T  # (H, W), rows = y
    ys, xs = np.nonzero(stamp)
    dy, dx = ys - c, xs - c
    frames = np.zeros((grid_size, grid_size, frame_size, frame_size, 1), np.uint8)
    for ix in range(grid_size):
        for iy in range(grid_size):
            frames[ix, iy, lo + iy + dy, lo + ix + dx, 0] = 255
    return frames


def lattice_origin(grid_size: int, frame_size: int) -> int:
    """Pixel centre of lattice index 0: the lattice is centred in the frame (16 for 33/64)."""
    return (frame_size - (grid_size - 1)) // 2


class FlatLandEnv(SymmetryWorld):
    """FlatLand as a Gymnasium env; see the module docstring for the full description."""

    def __init__(
        self,
        grid_size: int = 33,
        step: int = 5,
        radius: int = 15,
        frame_size: int = 64,
        obs_mode: str = "grey",
        substeps: int = 4,
        render_mode: str | None = None,
    ) -> None:
        validate_flatland_params(grid_size, step, radius, frame_size, substeps)
        self.grid_size, self.step_size, self.radius, self.substeps = grid_size, step, radius, substeps
        self.symmetry = flatland_spec(grid_size, step)
        super().__init__(frame_size, obs_mode, render_mode)
        self._frames = _frame_cache(grid_size, radius, frame_size)
        self._motion = LatticeMotion(self.symmetry, 1, substeps)

    def draw_states(self, factors: np.ndarray) -> np.ndarray:
        return self._frames[factors[..., 0], factors[..., 1]]

    def _observe(self) -> np.ndarray:
        frame = self._frames[self._factors[0], self._factors[1]]
        return np.repeat(frame, 3, axis=-1) if self.obs_mode == "rgb" else frame.copy()

    def _on_set_state(self) -> None:
        self._motion.place(np.zeros(1, np.int64), self._factors[None])

    def _transition(self, factors: np.ndarray, action: int) -> np.ndarray:
        return self._motion.move(np.array([action]))[0]


class LatticeMotion:
    """N pymunk bodies on the torus of a lattice spec, shared by the single and vector envs.

    Each body is a point mass with no shape (no collisions). An action sets its body's
    velocity to travel the action's step along its factor in one unit of time, over
    ``substeps`` physics steps; the end position is snapped to the lattice modulo the
    factor size, so float drift can never break the group law.
    """

    def __init__(self, spec: SymmetrySpec, num_bodies: int, substeps: int) -> None:
        if spec.num_factors != 2:
            raise ValueError(f"LatticeMotion moves bodies in 2-D, got a spec with {spec.num_factors} factors")
        self._space = pymunk.Space()
        self._bodies = [pymunk.Body(1.0, float("inf")) for _ in range(num_bodies)]
        self._space.add(*self._bodies)
        velocity = [[0.0, 0.0] for _ in spec.actions]
        for v, a in zip(velocity, spec.actions):
            v[a.factor] = float(a.step)
        self._velocity = [tuple(v) for v in velocity]
        self._sizes = spec.factor_sizes
        self._substeps, self._dt = substeps, 1.0 / substeps

    def place(self, bodies: np.ndarray, factors: np.ndarray) -> None:
        """Put the given bodies at rest on the given lattice points, (len(bodies), 2)."""
        for i, (x, y) in zip(bodies.tolist(), np.asarray(factors).tolist()):
            self._bodies[i].position = (float(x), float(y))
            self._bodies[i].velocity = (0.0, 0.0)

    def move(self, actions: np.ndarray) -> np.ndarray:
        """Move body i by action ``actions[i]`` through pymunk; return the snapped (N, 2) int64 states."""
        # Plain Python over the bodies: pymunk is per-body anyway, and for N <= ~100 this
        # beats numpy's per-call overhead.
        for body, a in zip(self._bodies, actions.tolist()):
            body.velocity = self._velocity[a]
        for _ in range(self._substeps):
            self._space.step(self._dt)
        nx, ny = self._sizes
        snapped = []
        for body in self._bodies:
            x, y = body.position
            sx, sy = round(x) % nx, round(y) % ny
            if sx != x or sy != y:  # wrapped, or drifted off the lattice
                body.position = (float(sx), float(sy))
            snapped.append((sx, sy))
        return np.array(snapped, dtype=np.int64)


def validate_disc_geometry(grid_size: int, radius: int, frame_size: int) -> None:
    """Raise ValueError naming the allowed range of a bad lattice size, disc radius or frame size."""
    check_int("grid_size", grid_size, 2)
    check_int("radius", radius, 1)
    check_frame_size(frame_size)
    if frame_size < grid_size:
        raise ValueError(f"frame_size must be >= grid_size={grid_size}, got {frame_size}")
    lo = lattice_origin(grid_size, frame_size)
    hi = lo + grid_size - 1
    max_radius = min(lo, frame_size - hi)
    if radius > max_radius:
        raise ValueError(
            f"radius {radius} is too large: with frame_size={frame_size} and grid_size={grid_size} "
            f"the disc centres span {lo}..{hi} px, so the disc stays wholly visible only for "
            f"radius <= {max_radius}"
        )


def validate_flatland_params(grid_size: int, step: int, radius: int, frame_size: int, substeps: int = 4) -> None:
    """Raise ValueError naming the allowed range of any bad FlatLand parameter."""
    check_int("step", step, 1)
    check_int("substeps", substeps, 1)
    validate_disc_geometry(grid_size, radius, frame_size)
    if step >= grid_size:
        raise ValueError(f"step must be in [1, grid_size={grid_size}), got {step}")
    cache = grid_size**2 * frame_size**2
    if cache > MAX_CACHE_BYTES:
        raise ValueError(
            f"grid_size={grid_size} with frame_size={frame_size} needs a {cache / 2**20:.0f} MiB frame cache, "
            f"more than the {MAX_CACHE_BYTES // 2**20} MiB allowed; use a smaller grid or frame"
        )


@functools.lru_cache(maxsize=8)
def _frame_cache(grid_size: int, radius: int, frame_size: int) -> np.ndarray:
    """Read-only frames shared by envs with the same geometry (a frame is a pure function of state)."""
    frames = render_flatland_frames(grid_size, radius, frame_size)
    frames.setflags(write=False)
    return frames


class FlatLandVectorEnv(SymmetryVectorEnv):
    """N FlatLand discs in one pymunk space; takes FlatLandEnv's keyword arguments."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None, render_mode: str | None = None,
                 **world_kwargs: Any) -> None:
        world = FlatLandEnv(**world_kwargs)
        super().__init__(world, num_envs, max_episode_steps, render_mode)
        self._motion = LatticeMotion(self.symmetry, self.num_envs, world.substeps)

    def _transition(self, factors: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return self._motion.move(actions)

    def _on_set_states(self, envs: np.ndarray) -> None:
        self._motion.place(envs, self._factors[envs])


register_world("FlatLand-v0", FlatLandEnv, FlatLandVectorEnv)
register_goal_task("FlatLandGoal-v0", "FlatLand-v0")
