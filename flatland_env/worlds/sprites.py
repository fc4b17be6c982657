"""Sprites: a dSprites-like world with four cyclic symmetries, rendered procedurally.

Description:
    A white shape (square, ellipse or heart) on a black 64x64 frame, as in dSprites
    (Matthey et al. 2017), drawn here from implicit shape functions with no download.
    Factors: shape (one of ``shapes``, default all three), scale (6 values in [0.5, 1]),
    orientation (40 values over a full turn), x (32) and y (32). Shape is drawn at reset and
    never acted on.

Action Space:
    ``Discrete(8)``: scale-, scale+, orientation-, orientation+, x-, x+, y-, y+; each
    moves its factor by ``offset`` (default 1; the paper's runs imply 4) with
    wrap-around, so each action generates a cyclic group of order n / gcd(n, offset) on states.

Pixels:
    A square looks the same after a quarter turn (10 orientations) and an ellipse after a half
    turn (20), so on the frames the orientation actions have order p / gcd(p, offset) with p
    the shape's period: with offset 4, 5 for squares and ellipses and 10 for hearts. Each
    orientation is drawn modulo its shape's period, so these repeats are exact on pixels. The
    spec says so (``pixel_action_order``, ``declared_group_is_pixel_group``); with
    ``shapes=("heart",)`` the declared group is the group acting on the frames.

Observation Space:
    ``Box(0, 255, (64, 64, 1), uint8)`` or ``(64, 64, 3)`` with ``obs_mode="rgb"``.

Rewards:
    Always 0.

Starting State:
    Uniformly random factors from the ``reset(seed=...)`` generator, or
    ``reset(options={"factors": [...]})``.

Episode End:
    Never terminates; truncated after ``max_episode_steps`` (default 1000).

Drawing:
    A pixel is white when its centre lies inside the shape. Sprite centres fall between pixels
    (x moves 44/31 px per step on a 64 px frame), so the frames cannot be shifted copies of a
    few stamps. Instead each (shape, scale, orientation) is pre-rendered once per frame size,
    with interval bounds of the shape's function, into the cells of its bounding box that are
    inside at every sub-pixel phase of the centre (placed by integer shifts) and the few edge
    cells whose colour depends on the phase; only those are evaluated per frame, with the same
    floating-point expressions, so the frames are bit-identical to evaluating every pixel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from flatland_env.base import SymmetryWorld, check_frame_size
from flatland_env.registration import register_world
from flatland_env.spec import ActionEffect, PixelPeriod, SymmetrySpec
from flatland_env.validation import check_positive_int
from flatland_env.vector import SymmetryVectorEnv

SHAPES = ("square", "ellipse", "heart")
#: orientations (of 40) after which each shape looks the same: a quarter turn, a half turn, a full turn
SHAPE_PERIODS = {"square": 10, "ellipse": 20, "heart": 40}
NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS = 6, 40, 32

#: bytes of padded frames drawn at once (fits a core's cache); larger batches are drawn in chunks
CHUNK_BYTES = 1 << 20
#: a box's interval bound must clear the boundary by this much to decide a cell (float error is ~1e-13)
BOUND_MARGIN = 1e-7


def check_shapes(shapes: Any) -> tuple[str, ...]:
    """``shapes`` as a tuple of distinct names from :data:`SHAPES`; a string may list them separated by commas."""
    names = tuple(n.strip() for n in shapes.split(",")) if isinstance(shapes, str) else shapes
    if (not isinstance(names, (tuple, list)) or not names or len(set(map(str, names))) != len(names)
            or any(n not in SHAPES for n in names)):
        raise ValueError(f"shapes must be a non-empty tuple of distinct names from {SHAPES}, got {shapes!r}")
    return tuple(names)


def sprites_spec(offset: int = 1, shapes: Sequence[str] | str = SHAPES) -> SymmetrySpec:
    """Spec with factors shape, scale, orientation, x, y, 8 +/- offset actions, and each shape's pixel period."""
    check_positive_int("offset", offset)
    if offset % NUM_SCALES == 0:
        raise ValueError(f"offset {offset} acts as the identity on the 6 scales; use an offset not divisible by 6")
    shapes = check_shapes(shapes)
    actions = []
    for f, name in enumerate(("scale", "orientation", "x", "y"), start=1):
        actions += [ActionEffect(f"{name}-", f, -int(offset)), ActionEffect(f"{name}+", f, int(offset))]
    periods = tuple(SHAPE_PERIODS[s] for s in shapes)
    pixel = () if set(periods) == {NUM_ORIENTATIONS} else (PixelPeriod(2, 0, periods, shapes),)
    return SymmetrySpec(
        factor_names=("shape", "scale", "orientation", "x", "y"),
        factor_sizes=(len(shapes), NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS, NUM_POSITIONS),
        actions=tuple(actions),
        pixel_periods=pixel,
    )


# -- the shapes: inside-tests in the shape frame (u, v), and interval bounds of them over boxes ------------------------
def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 1.0


def _ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u**2 + (v / 0.5) ** 2 <= 1.0


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    hu, hv = u * 1.1, -v * 1.1 + 0.1  # heart curve (x^2 + y^2 - 1)^3 = x^2 y^3, pointing down
    return (hu**2 + hv**2 - 1.0) ** 3 - hu**2 * hv**3 <= 0.0


def _heart_fast(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """:func:`_heart` with products for its cubes (``pow`` is ~100x slower), deferring to it near the boundary.

    The two values differ by a few ulps of the cubed terms, so they can only fall on different
    sides of 0 where the value is within 1e-9 of those terms' size; there ``_heart`` decides.
    """
    hu, hv = u * 1.1, -v * 1.1 + 0.1
    hu2, hv2 = hu**2, hv**2
    a = hu2 + hv2 - 1.0
    cube, prod = a * a * a, hu2 * (hv2 * hv)
    value = cube - prod
    inside = value <= 0.0
    near = np.abs(value) <= 1e-9 * (np.abs(cube) + np.abs(prod) + 1.0)
    if near.any():
        inside[near] = _heart(u[near], v[near])
    return inside


Array = np.ndarray


def _magnitude(lo: Array, hi: Array) -> tuple[Array, Array]:
    """Bounds of |t| for t in [lo, hi]."""
    top = np.maximum(np.abs(lo), np.abs(hi))
    return np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi))), top


def _square_bounds(ulo: Array, uhi: Array, vlo: Array, vhi: Array) -> tuple[Array, Array]:
    (u0, u1), (v0, v1) = _magnitude(ulo, uhi), _magnitude(vlo, vhi)
    return np.maximum(u1, v1) < 1.0 - BOUND_MARGIN, np.maximum(u0, v0) > 1.0 + BOUND_MARGIN


def _ellipse_bounds(ulo: Array, uhi: Array, vlo: Array, vhi: Array) -> tuple[Array, Array]:
    (u0, u1), (v0, v1) = _magnitude(ulo, uhi), _magnitude(2 * vlo, 2 * vhi)
    return u1**2 + v1**2 < 1.0 - BOUND_MARGIN, u0**2 + v0**2 > 1.0 + BOUND_MARGIN


def _heart_bounds(ulo: Array, uhi: Array, vlo: Array, vhi: Array) -> tuple[Array, Array]:
    (a0, a1), (b0, b1) = _magnitude(1.1 * ulo, 1.1 * uhi), _magnitude(-1.1 * vhi + 0.1, -1.1 * vlo + 0.1)
    c0, c1 = (-1.1 * vhi + 0.1) ** 3, (-1.1 * vlo + 0.1) ** 3  # hv^3 is increasing in hv
    corners = np.stack([a0**2 * c0, a0**2 * c1, a1**2 * c0, a1**2 * c1])
    lo, hi = (a0**2 + b0**2 - 1.0) ** 3 - corners.max(0), (a1**2 + b1**2 - 1.0) ** 3 - corners.min(0)
    return hi < -BOUND_MARGIN, lo > BOUND_MARGIN


#: per shape, indexed like SHAPES: the exact inside-test, the one edge cells use, and (surely inside, surely outside)
#: over boxes [ulo, uhi] x [vlo, vhi] of the shape frame
_SHAPE_TESTS = (_square, _ellipse, _heart)
_EDGE_TESTS = (_square, _ellipse, _heart_fast)
_SHAPE_BOUNDS: tuple[Callable[[Array, Array, Array, Array], tuple[Array, Array]], ...] = (
    _square_bounds, _ellipse_bounds, _heart_bounds)


def sprite_geometry(frame_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per factor value: centre in px (of x or y), half-size in px (of scale), cos and sin (of orientation).

    These float expressions define the frames; every renderer and test takes them from here.
    """
    margin = frame_size * 10.0 / 64.0
    span = frame_size - 2.0 * margin
    centre = margin + span * np.arange(NUM_POSITIONS) / (NUM_POSITIONS - 1)
    half = frame_size * 10.0 / 64.0 * (0.5 + 0.5 * np.arange(NUM_SCALES) / (NUM_SCALES - 1))
    angle = 2.0 * np.pi * np.arange(NUM_ORIENTATIONS) / NUM_ORIENTATIONS
    return centre, half, np.cos(angle), np.sin(angle)


# -- pre-rendered masks ----------------------------------------------------------------------------------------------
def _cell_classes(shape: int, cos: np.ndarray, sin: np.ndarray, half: float, radius: int) -> np.ndarray:
    """Per orientation and cell (dy, dx) around the pixel holding the centre: 0 outside, 1 inside, 2 it depends.

    Cell (dy, dx) is the pixel whose centre lies at (dx + 0.5 - fx, dy + 0.5 - fy) from the
    sprite's centre, (fx, fy) in [0, 1)^2 the centre's sub-pixel phase: somewhere in the unit
    box around (dx, dy). A cell is decided when interval bounds of the shape's function over
    that box (over its quarters, then sixteenths, where undecided) clear the boundary.
    """
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    o, dy, dx = np.meshgrid(np.arange(len(cos)), k, k, indexing="ij")
    classes = np.full(o.shape, 2, np.int8)
    todo = np.ones(o.shape, bool)
    for m in (1, 2, 4):
        idx = np.nonzero(todo)
        sub = (np.arange(m) + 0.5) / m - 0.5
        px, py = dx[idx][:, None, None] + sub[None, None, :], dy[idx][:, None, None] + sub[None, :, None]
        c, s = cos[o[idx]][:, None, None], sin[o[idx]][:, None, None]
        r = (np.abs(c) + np.abs(s)) * 0.5 / m / half  # reach of u and v over a box of side 1/m
        u, v = (c * px + s * py) / half, (-s * px + c * py) / half
        inside, outside = _SHAPE_BOUNDS[shape](u - r, u + r, v - r, v + r)
        inside, outside = inside.all(axis=(1, 2)), outside.all(axis=(1, 2))
        classes[tuple(i[inside] for i in idx)] = 1
        classes[tuple(i[outside] for i in idx)] = 0
        todo[tuple(i[inside | outside] for i in idx)] = False
    if (classes[:, [0, -1], :] != 0).any() or (classes[:, :, [0, -1]] != 0).any():
        raise AssertionError(f"a {SHAPES[shape]} of half-size {half} px reaches beyond {radius} px")
    return classes


@dataclass(frozen=True)
class SpriteMasks:
    """Every sprite of one frame size and shape list, pre-rendered per key (shape, scale, orientation).

    Key k = (shape * 6 + scale) * 40 + orientation, the orientation taken modulo the shape's
    period. Its cells are ``len[k]`` entries from ``start[k]`` of the flat arrays, each a column
    offset ``dx`` from the pixel holding the centre and a flat offset ``dy * W + dx`` into a frame
    padded by ``pad`` rows above and below: ``core`` cells are inside at every sub-pixel phase,
    ``edge`` cells (also given by ``dy``) are decided per frame. Columns are clipped, not padded,
    so that the padded frames crop into the output as contiguous blocks.
    """

    frame_size: int
    pad: int
    shape_ids: np.ndarray  # (len(shapes),) index into SHAPES
    periods: np.ndarray  # (len(shapes),) orientation period
    centre: np.ndarray
    anchor: np.ndarray  # floor(centre): the pixel holding the centre, per x or y
    half: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    core_start: np.ndarray
    core_len: np.ndarray
    core_dx: np.ndarray
    core_off: np.ndarray
    edge_start: np.ndarray
    edge_len: np.ndarray
    edge_dx: np.ndarray
    edge_dy: np.ndarray
    edge_off: np.ndarray


@functools.lru_cache(maxsize=8)
def sprite_masks(frame_size: int, shapes: tuple[str, ...] = SHAPES) -> SpriteMasks:
    """The pre-rendered sprites of a frame size and shape list, built once per process (~0.3 s at 64 px)."""
    centre, half, cos, sin = sprite_geometry(frame_size)
    cells: dict[str, list[np.ndarray]] = {"core": [], "edge": []}
    empty = np.zeros((0, 2), np.int64)
    for shape in shapes:
        period = SHAPE_PERIODS[shape]
        for h in half:
            radius = int(np.ceil(1.6 * h)) + 2
            classes = _cell_classes(SHAPES.index(shape), cos[:period], sin[:period], h, radius)
            for o in range(NUM_ORIENTATIONS):
                for name, cls in (("core", 1), ("edge", 2)):
                    cells[name].append(np.argwhere(classes[o] == cls) - radius if o < period else empty)
    anchor = np.floor(centre).astype(np.int64)
    dy = np.concatenate(cells["core"] + cells["edge"])[:, 0]
    pad = int(max(0, -(anchor.min() + dy.min()), anchor.max() + dy.max() - (frame_size - 1)))
    flat = {}
    for name, lists in cells.items():
        lens = np.array([len(c) for c in lists], dtype=np.int64)
        yx = np.concatenate(lists)
        flat[name] = dict(start=np.cumsum(lens) - lens, len=lens, dx=yx[:, 1], dy=yx[:, 0],
                          off=(yx[:, 0] * frame_size + yx[:, 1]).astype(np.int32))
    core, edge = flat["core"], flat["edge"]
    return SpriteMasks(
        frame_size, pad, np.array([SHAPES.index(s) for s in shapes]), np.array([SHAPE_PERIODS[s] for s in shapes]),
        centre, anchor, half, cos, sin, core["start"], core["len"], core["dx"], core["off"],
        edge["start"], edge["len"], edge["dx"], edge["dy"], edge["off"],
    )


def _ranges(start: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start[i], start[i] + lens[i])``."""
    return np.arange(int(lens.sum())) + np.repeat(start - (np.cumsum(lens) - lens), lens)


def _draw(m: SpriteMasks, f: np.ndarray, out: np.ndarray) -> None:
    """Draw states ``f`` (n, 5) into ``out`` (n, H, W): core cells by shifts, edge cells by the shape's function."""
    n, size = len(f), m.frame_size
    o = f[:, 2] % m.periods[f[:, 0]]
    key = (f[:, 0] * NUM_SCALES + f[:, 1]) * NUM_ORIENTATIONS + o
    ax, ay = m.anchor[f[:, 3]], m.anchor[f[:, 4]]
    base = np.arange(n) * ((size + 2 * m.pad) * size) + (ay + m.pad) * size + ax
    buf = np.zeros(n * (size + 2 * m.pad) * size, np.uint8)
    lens = m.core_len[key]
    cells = _ranges(m.core_start[key], lens)
    col = np.repeat(ax, lens) + m.core_dx[cells]
    buf[(np.repeat(base, lens) + m.core_off[cells])[(col >= 0) & (col < size)]] = 255

    lens = m.edge_len[key]
    cells = _ranges(m.edge_start[key], lens)
    col = np.repeat(ax, lens) + m.edge_dx[cells]
    # the expressions of the definition, at the edge pixels only: (column + 0.5) - centre, rotate, divide
    px = (col + 0.5) - np.repeat(m.centre[f[:, 3]], lens)
    py = (np.repeat(ay, lens) + m.edge_dy[cells] + 0.5) - np.repeat(m.centre[f[:, 4]], lens)
    c, s = np.repeat(m.cos[o], lens), np.repeat(m.sin[o], lens)
    h = np.repeat(m.half[f[:, 1]], lens)
    u, v = (c * px + s * py) / h, (-s * px + c * py) / h
    shape = np.repeat(f[:, 0], lens)
    inside = np.zeros(len(cells), bool)
    for k, sid in enumerate(m.shape_ids.tolist()):
        sel = shape == k
        inside[sel] = _EDGE_TESTS[sid](u[sel], v[sel])
    inside &= (col >= 0) & (col < size)
    buf[(np.repeat(base, lens) + m.edge_off[cells])[inside]] = 255
    out[...] = buf.reshape(n, size + 2 * m.pad, size)[:, m.pad:m.pad + size]


def _draw_one(m: SpriteMasks, f: np.ndarray, out: np.ndarray) -> None:
    """:func:`_draw` for one state (a single env's step), with slices for gathers: a third of the numpy calls."""
    shape, scale, o, x, y = f.tolist()
    o, size = o % int(m.periods[shape]), m.frame_size
    key = (shape * NUM_SCALES + scale) * NUM_ORIENTATIONS + o
    ax, ay = int(m.anchor[x]), int(m.anchor[y])
    base = (ay + m.pad) * size + ax
    buf = np.zeros((size + 2 * m.pad) * size, np.uint8)
    cells = slice(m.core_start[key], m.core_start[key] + m.core_len[key])
    col = ax + m.core_dx[cells]
    buf[base + m.core_off[cells][(col >= 0) & (col < size)]] = 255
    cells = slice(m.edge_start[key], m.edge_start[key] + m.edge_len[key])
    col = ax + m.edge_dx[cells]
    px, py = (col + 0.5) - m.centre[x], (ay + m.edge_dy[cells] + 0.5) - m.centre[y]
    c, s, h = m.cos[o], m.sin[o], m.half[scale]
    inside = _EDGE_TESTS[m.shape_ids[shape]]((c * px + s * py) / h, (-s * px + c * py) / h)
    buf[base + m.edge_off[cells][inside & (col >= 0) & (col < size)]] = 255
    out[...] = buf.reshape(size + 2 * m.pad, size)[m.pad:m.pad + size]


def render_sprites(factors: np.ndarray, frame_size: int = 64, shapes: Sequence[str] | str = SHAPES) -> np.ndarray:
    """Frames of a batch of sprite states (N, 5) -> (N, H, W, 1) uint8, the shape factor indexing ``shapes``.

    A pixel is 255 when its centre is inside the shape (see the module's "Drawing"); each
    orientation is drawn modulo its shape's period, so a square's frame repeats exactly after a
    quarter turn. A large batch draws each distinct state once (a rollout's pairs share most).
    """
    f = np.array(factors, dtype=np.int64).reshape(-1, 5)
    m = sprite_masks(check_frame_size(frame_size), check_shapes(shapes))
    f[:, 2] %= m.periods[f[:, 0]]
    inverse = None
    if len(f) >= 64:
        keys = np.ravel_multi_index(f.T, (len(m.periods), NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS, NUM_POSITIONS))
        unique, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        if len(unique) < 0.9 * len(f):  # else gathering the copies would cost about what it saves
            f, inverse = f[first], inv
    out = np.empty((len(f), frame_size, frame_size, 1), np.uint8)
    if len(f) == 1:
        _draw_one(m, f[0], out[0, ..., 0])
        return out
    step = max(1, CHUNK_BYTES // ((frame_size + 2 * m.pad) * frame_size))
    for i in range(0, len(f), step):
        _draw(m, f[i:i + step], out[i:i + step, ..., 0])
    return out if inverse is None else out[inverse]


class SpritesEnv(SymmetryWorld):
    """dSprites-like world; see the module docstring for the full description."""

    #: one latent plane per acted factor (scale, orientation, x, y); sprites cover 1-10 % of the frame, where the
    #: squared error's gradient on a pixel the decoder has written off vanishes and the Bernoulli one does not
    agent_settings: ClassVar[dict[str, Any]] = {"latent_size": 8, "recon_loss": "bernoulli"}

    def __init__(
        self,
        offset: int = 1,
        frame_size: int = 64,
        obs_mode: str = "grey",
        render_mode: str | None = None,
        shapes: Sequence[str] | str = SHAPES,
    ) -> None:
        self.symmetry = sprites_spec(offset, shapes)
        check_frame_size(frame_size)
        self.offset, self.shapes = int(offset), check_shapes(shapes)
        super().__init__(frame_size, obs_mode, render_mode)

    def draw_states(self, factors: np.ndarray) -> np.ndarray:
        frames = render_sprites(factors.reshape(-1, factors.shape[-1]), self.frame_size, self.shapes)
        return frames.reshape(*factors.shape[:-1], self.frame_size, self.frame_size, 1)


class SpritesVectorEnv(SymmetryVectorEnv):
    """N Sprites states stepped by the spec's cyclic law; takes SpritesEnv's keyword arguments."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None, render_mode: str | None = None,
                 **world_kwargs: Any) -> None:
        super().__init__(SpritesEnv(**world_kwargs), num_envs, max_episode_steps, render_mode)


register_world("Sprites-v0", SpritesEnv, SpritesVectorEnv)
