"""Sprites-v0: the shape list, the orders of its actions on pixels, and frames drawn from pre-rendered masks.

The frames are checked bit for bit against the definition (every pixel centre tested against
the shape's implicit function, the renderer this world had before its masks) and each action's
order on pixels is found by stepping the world until its frames repeat.
"""

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import flatland_env  # noqa: F401  (registers the worlds)
from flatland_env.spec import ActionEffect, PixelPeriod, SymmetrySpec, spec_from_json
from flatland_env.worlds.sprites import (
    NUM_ORIENTATIONS,
    SHAPE_PERIODS,
    SHAPES,
    check_shapes,
    render_sprites,
    sprite_geometry,
    sprites_spec,
)

SIZES = (3, 6, 40, 32, 32)


def _implicit_frames(factors: np.ndarray, frame_size: int) -> np.ndarray:
    """The definition, at every pixel centre of every frame (the renderer before masks, in substance verbatim)."""
    from flatland_env.worlds.sprites import _SHAPE_TESTS

    f = np.asarray(factors, dtype=np.int64)
    n = f.shape[0]
    scale = 0.5 + 0.5 * f[:, 1] / 5
    angle = 2.0 * np.pi * f[:, 2] / 40
    margin = frame_size * 10.0 / 64.0
    span = frame_size - 2.0 * margin
    cx = margin + span * f[:, 3] / 31
    cy = margin + span * f[:, 4] / 31
    half = frame_size * 10.0 / 64.0 * scale
    grid = np.arange(frame_size) + 0.5
    px = grid[None, None, :] - cx[:, None, None]
    py = grid[None, :, None] - cy[:, None, None]
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u = (c * px + s * py) / half[:, None, None]
    v = (-s * px + c * py) / half[:, None, None]
    mask = np.zeros((n, frame_size, frame_size), dtype=bool)
    for k, inside in enumerate(_SHAPE_TESTS):
        sel = f[:, 0] == k
        if sel.any():
            mask[sel] = inside(u[sel], v[sel])
    return (mask.astype(np.uint8) * 255).reshape(n, frame_size, frame_size, 1)


def _canonical(f: np.ndarray) -> np.ndarray:
    out = f.copy()
    out[:, 2] %= np.array([SHAPE_PERIODS[s] for s in SHAPES])[out[:, 0]]
    return out


def _random_states(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.stack([rng.integers(0, s, n) for s in SIZES], axis=-1)


# -- frames ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("frame_size", [16, 17, 23, 31, 32, 33, 47, 48, 63, 64, 65, 96, 100, 127, 128, 201, 255, 256])
def test_frames_are_bit_identical_to_the_implicit_definition(frame_size):
    rng = np.random.default_rng(frame_size)
    f = _random_states(rng, max(60, int(1500 * (64 / frame_size) ** 2)))
    f[:6, 3:] = [[0, 0], [31, 31], [0, 31], [31, 0], [15, 16], [30, 1]]  # the edges of the frame clip the sprite
    expected = _implicit_frames(_canonical(f), frame_size)
    assert np.array_equal(render_sprites(f, frame_size), expected)
    assert all(np.array_equal(render_sprites(f[i:i + 1], frame_size), expected[i:i + 1]) for i in range(30))


def test_batches_with_repeated_states_and_single_states_draw_the_same_frames():
    f = _random_states(np.random.default_rng(0), 300)
    f = np.concatenate([f, f[::-1], f[:50]])  # a batch of pairs shares states, as a rollout's pairs do
    f[::7, 2] = (f[::7, 2] + 20) % 40  # another orientation with the same frame for squares and ellipses
    expected = _implicit_frames(_canonical(f), 64)
    assert np.array_equal(render_sprites(f), expected)
    assert all(np.array_equal(render_sprites(f[i:i + 1])[0], expected[i]) for i in range(0, len(f), 37))


@pytest.mark.slow
def test_frames_are_bit_identical_at_every_frame_size():
    rng = np.random.default_rng(1)
    for frame_size in range(16, 257):
        f = _random_states(rng, max(8, int(300 * (64 / frame_size) ** 2)))
        expected = _implicit_frames(_canonical(f), frame_size)
        assert np.array_equal(render_sprites(f, frame_size), expected), frame_size
        assert np.array_equal(render_sprites(f[:1], frame_size), expected[:1]), frame_size


def test_each_shape_list_draws_its_own_shapes():
    f = _random_states(np.random.default_rng(2), 200)
    for shapes in [("heart",), ("ellipse", "square"), SHAPES]:
        local = f.copy()
        local[:, 0] %= len(shapes)
        ids = np.array([SHAPES.index(s) for s in shapes])[local[:, 0]]
        expected = _implicit_frames(_canonical(np.column_stack([ids, local[:, 1:]])), 64)
        assert np.array_equal(render_sprites(local, 64, shapes), expected)
        env = gym.make("Sprites-v0", shapes=shapes).unwrapped
        assert np.array_equal(env.render_states(local), expected)


def test_geometry_is_what_the_definition_computes():
    centre, half, cos, sin = sprite_geometry(64)
    assert centre[0] == 10.0 and centre[-1] == 54.0 and np.allclose(np.diff(centre), 44 / 31)
    assert list(half) == [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert np.allclose(np.arctan2(sin, cos) % (2 * np.pi), 2 * np.pi * np.arange(40) / 40)


# -- orders on pixels -----------------------------------------------------------------------------------------------
def _orbit_frames(env, state: np.ndarray, action: int, steps: int) -> np.ndarray:
    """The frames of ``state`` and of ``steps`` repeats of ``action``, stepped through the env itself."""
    obs, _ = env.reset(options={"factors": state})
    frames = [obs]
    for _ in range(steps):
        frames.append(env.step(action)[0])
    return np.stack(frames)


def _first_return(frames: np.ndarray) -> int:
    """Steps until the first frame comes back, bit for bit."""
    return next(k for k in range(1, len(frames)) if np.array_equal(frames[k], frames[0]))


def _period(frames: np.ndarray, order: int) -> int:
    """The least k after which the whole sequence of frames repeats (k divides the declared ``order``)."""
    return next(k for k in range(1, order + 1)
                if order % k == 0 and all(np.array_equal(frames[j + k], frames[j]) for j in range(order)))


@pytest.mark.parametrize("offset", [1, 4])
def test_each_actions_order_on_pixels_is_the_specs_answer_per_shape(offset):
    env = gym.make("Sprites-v0", offset=offset).unwrapped
    spec = env.symmetry
    rng = np.random.default_rng(offset)
    early = total = 0
    for shape in range(len(SHAPES)):
        for action in range(spec.num_actions):
            for state in _random_states(rng, 4):
                state[0] = shape
                order = spec.action_order(action)
                frames = _orbit_frames(env, state, action, 2 * order)
                expected = spec.pixel_action_order(action, state)
                assert _period(frames, order) == expected, (SHAPES[shape], spec.action_names[action], state)
                first = _first_return(frames)
                assert expected % first == 0  # the start frame never comes back at a step that is not a period's
                early += first != expected
                total += 1
    # Low resolution can draw two neighbouring orientations of a shape alike (at 64 px: 162 of the 491,520
    # ellipse and heart states, under the offset-1 orientation actions only); from such a state the start
    # frame comes back early, though the orbit's frames repeat only after the period.
    assert early <= total // 50


def _fingerprints(frame_size: int) -> np.ndarray:
    """Two 64-bit hashes of the frame of every state, shaped like the grid of states."""
    states = np.stack(np.meshgrid(*[np.arange(n) for n in SIZES], indexing="ij"), axis=-1).reshape(-1, 5)
    weights = np.random.default_rng(0).integers(1, 2**63, size=(2, frame_size**2 // 64), dtype=np.uint64) | 1
    out = np.empty((len(states), 2), np.uint64)
    for i in range(0, len(states), 8192):
        words = np.packbits(render_sprites(states[i:i + 8192], frame_size).reshape(-1, frame_size**2) > 0, axis=1)
        words = words.view(np.uint64)
        out[i:i + 8192] = np.stack([(words * w).sum(axis=1) for w in weights], axis=-1)
    return out.reshape(*SIZES, 2)


@pytest.mark.slow
@pytest.mark.parametrize("offset", [1, 4])
def test_every_state_at_64_px_has_the_order_on_pixels_the_spec_says(offset):
    """Exhaustively: at each state, each action's frames repeat after the spec's order and not after a divisor."""
    fp = _fingerprints(64)
    spec = sprites_spec(offset)
    states = np.stack(np.meshgrid(*[np.arange(n) for n in SIZES], indexing="ij"), axis=-1)
    for action in range(1, spec.num_actions, 2):  # a "-" action has the order of its "+"
        axis, step, order = spec.actions[action].factor, spec.actions[action].step, spec.action_order(action)
        expected = spec.pixel_action_order(action, states)

        def repeats_after(k):  # per state: does its whole orbit's sequence of frames repeat after k actions?
            same = (np.roll(fp, -k * step, axis=axis) == fp).all(axis=-1)
            return np.logical_and.reduce([np.roll(same, -j * step, axis=axis) for j in range(order)])

        for k in sorted(set(expected.ravel().tolist())):
            assert repeats_after(k)[expected == k].all(), (spec.action_names[action], k)
            for q in (2, 3, 5):  # no smaller period: the orders here are products of 2, 3 and 5
                if k % q == 0:
                    assert not repeats_after(k // q)[expected == k].any(), (spec.action_names[action], k, q)


def test_the_spec_says_where_the_declared_group_is_not_the_pixel_group():
    spec = sprites_spec(4)
    assert not spec.declared_group_is_pixel_group
    orders = spec.describe()["pixel_orders"]
    assert orders["orientation+"] == {"square": 5, "ellipse": 5, "heart": 10}
    assert set(orders) == {"orientation-", "orientation+"}
    assert spec.describe()["pixel_continuous_angles"]["orientation+"] == pytest.approx(
        {"square": 2 * np.pi * 4 / 10, "ellipse": 2 * np.pi * 4 / 20, "heart": 2 * np.pi * 4 / 40})
    states = np.array([[0, 2, 13, 5, 6], [1, 2, 13, 5, 6], [2, 2, 13, 5, 6]])
    assert spec.pixel_action_order(3, states).tolist() == [5, 5, 10]
    assert spec.pixel_action_order(3, states[0]) == 5 and isinstance(spec.pixel_action_order(3, states[0]), int)
    assert spec.pixel_action_order(5, states).tolist() == [8, 8, 8]  # x: as declared
    assert spec.pixel_canonical(states)[:, 2].tolist() == [3, 13, 13]
    assert sprites_spec(1).pixel_orders()["orientation-"] == {"square": 10, "ellipse": 20, "heart": 40}
    assert sprites_spec(10, ("square",)).pixel_action_order(3, [0, 0, 7, 0, 0]) == 1  # a quarter turn: no change


@pytest.mark.parametrize("offset", [1, 4, 7])
def test_hearts_alone_make_the_declared_group_the_pixel_group(offset):
    spec = sprites_spec(offset, ("heart",))
    assert spec.declared_group_is_pixel_group and spec.pixel_periods == () and spec.factor_sizes[0] == 1
    assert spec.describe()["declared_group_is_pixel_group"] and "pixel_orders" not in spec.describe()
    states = spec.sample_factors(np.random.default_rng(0), 50)
    for a in range(spec.num_actions):
        assert np.all(spec.pixel_action_order(a, states) == spec.action_order(a))
        assert np.all(spec.pixel_continuous_angle(a, states) == spec.continuous_angle(a))
    assert sprites_spec(offset, ("square", "ellipse")).declared_group_is_pixel_group is False


def test_a_spec_with_pixel_periods_survives_json_and_one_without_keeps_its_json():
    spec = sprites_spec(4, ("ellipse", "heart"))
    again = spec_from_json(spec.to_json())
    assert again == spec and again.pixel_periods == (PixelPeriod(2, 0, (20, 40), ("ellipse", "heart")),)
    assert "pixel_periods" not in json.loads(sprites_spec(4, ("heart",)).to_json())
    flat = gym.make("FlatLand-v0").unwrapped.symmetry
    assert "pixel_periods" not in json.loads(flat.to_json()) and flat.declared_group_is_pixel_group


@pytest.mark.parametrize(
    "periods, match",
    [
        (PixelPeriod(1, 0, (5, 4)), "one divisor of 12 per value"),
        (PixelPeriod(1, 0, (3,)), "one divisor of 12 per value"),
        (PixelPeriod(1, 1, (3, 4)), "two different factors"),
        (PixelPeriod(1, 0, (3, 4), ("a",)), "labels must name"),
        (PixelPeriod(0, 1, tuple([2] * 12)), "which an action changes"),
    ],
)
def test_bad_pixel_periods_say_what_is_wrong(periods, match):
    with pytest.raises(ValueError, match=match):
        SymmetrySpec(("kind", "angle"), (2, 12), (ActionEffect("turn", 1, 1),), (periods,))


# -- the shapes option ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shapes", [("circle",), (), ("heart", "heart"), 5, ["square", None]])
def test_bad_shapes_name_the_allowed_values(shapes):
    with pytest.raises(ValueError, match=r"shapes must be a non-empty tuple of distinct names from \('square'"):
        gym.make("Sprites-v0", shapes=shapes)


def test_shapes_may_be_given_as_a_comma_separated_string():
    assert check_shapes("heart") == ("heart",) and check_shapes("square, heart") == ("square", "heart")
    assert gym.make("Sprites-v0", shapes="heart").unwrapped.symmetry == sprites_spec(1, ("heart",))


@pytest.mark.parametrize("kwargs", [{}, {"shapes": ("heart",)}, {"shapes": ("ellipse", "heart"), "offset": 4}])
def test_gymnasium_and_sb3_check_env_pass(kwargs):
    env = gym.make("Sprites-v0", **kwargs)
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env, warn=False)
    env.close()


def test_the_vector_env_takes_the_shape_list_and_draws_as_the_single_env():
    vec = gym.make_vec("Sprites-v0", num_envs=3, shapes=("heart",))
    obs, info = vec.reset(seed=0)
    assert np.all(info["factors"][:, 0] == 0)
    single = gym.make("Sprites-v0", shapes=("heart",)).unwrapped
    for _ in range(5):
        obs, _, _, _, info = vec.step(vec.action_space.sample())
        assert np.array_equal(obs, single.render_states(info["factors"]))


def test_a_square_is_drawn_alike_a_quarter_turn_apart_and_a_heart_is_not():
    env = gym.make("Sprites-v0").unwrapped
    states = np.array([[k, 5, r, 7, 20] for k in range(3) for r in (3, 3 + NUM_ORIENTATIONS // 4)])
    frames = env.render_states(states)
    assert np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[4], frames[5])
