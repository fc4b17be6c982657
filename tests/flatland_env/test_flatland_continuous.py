"""FlatLandContinuous: the torus group law on anti-aliased pixels, sub-pixel motion, bad input, clear refusals.

The API checkers, seeding and bad reset options run for every world in test_worlds.py; the collector's
and the pair sources' pairs of this world in test_continuous_pairs.py.
"""

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence

import flatland_env
from flatland_env import spec_from_json
from flatland_env.play import play
from flatland_env.torus import TorusSpec
from flatland_env.worlds.flatland_continuous import (
    FlatLandContinuousEnv,
    FlatLandContinuousVectorEnv,
    flatland_continuous_spec,
)
from vae.metrics import evaluate
from vae.metrics.sampling import resolve_world

ROOT = Path(__file__).resolve().parents[2]
ENV = FlatLandContinuousEnv()
SPEC = ENV.symmetry
PX = 2.0 / 33.0  # one pixel in action units (half a turn = 16.5 px)


def _frame_after(start, actions):
    """The observation after stepping the env from ``start`` through ``actions``."""
    obs, _ = ENV.reset(options={"factors": np.asarray(start, dtype=np.float64)})
    for a in actions:
        obs, *_ = ENV.step(np.asarray(a, dtype=np.float32))
    return obs.astype(np.int64)


def _starts(n, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 33.0, (n, 2))


def test_spaces_spec_and_json_round_trip():
    assert ENV.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert ENV.observation_space.shape == (64, 64, 1)
    assert gym.make("FlatLandContinuous-v0", obs_mode="rgb").observation_space.shape == (64, 64, 3)
    assert (SPEC.group_name, SPEC.is_abelian, SPEC.is_discrete, SPEC.is_cyclic_product) == \
        ("SO(2) x SO(2)", True, False, False)
    assert SPEC.factor_sizes == (33.0, 33.0) and SPEC.action_names == ("dx", "dy") and SPEC.action_dim == 2
    assert SPEC.describe()["group"] == "SO(2) x SO(2)"
    back = spec_from_json(SPEC.to_json())
    assert isinstance(back, TorusSpec) and back == SPEC
    # FlatLand's step of 5 px is 10/33 half turns; any finite displacement is a group element in apply
    assert np.allclose(SPEC.apply(np.array([3.0, 30.0]), np.array([10 / 33, 0.0])), [8.0, 30.0])
    assert np.allclose(SPEC.apply(np.array([3.0, 0.0]), np.array([5.0, -0.5])), [3.0 + 82.5 - 66.0, 33.0 - 8.25])
    assert np.allclose(SPEC.inverse_action(np.array([0.25, -1.0])), [-0.25, 1.0])


def test_wrap_stays_in_range_and_seam_is_flatlands():
    # a tiny negative displacement from 0 must land on 0.0, not on the period 33.0 (np.mod rounds up to it)
    assert SPEC.apply(np.array([0.0, 0.0]), np.array([-1e-18, 0.0]))[0] == 0.0
    s = SPEC.sample_factors(np.random.default_rng(0), 10_000)
    assert s.dtype == np.float64 and s.min() >= 0.0 and s.max() < 33.0
    # the disc leaves at 33 px and comes back at 0, as on FlatLand's lattice
    after = SPEC.apply(np.array([32.9, 1.0]), np.array([0.2 * PX, 0.0]))
    assert np.allclose(after, [0.1, 1.0])
    assert np.array_equal(_frame_after([32.9, 1.0], [[0.2 * PX, 0.0]]), ENV.render_states(after[None])[0])


def test_disc_centre_is_flatlands_and_edges_are_anti_aliased():
    flat = gym.make("FlatLand-v0").unwrapped
    for x, y in [(0, 0), (7, 21), (32, 32)]:
        smooth = ENV.render_states(np.array([[x, y]], dtype=np.float64))[0, ..., 0].astype(np.float64)
        lattice = flat.render_states(np.array([[x, y]]))[0, ..., 0].astype(np.float64)
        for img in (smooth, lattice):  # the same torus: intensity centroid at 16 + x, 16 + y
            rows, cols = np.indices(img.shape) + 0.5  # pixel j spans [j, j + 1)
            centroid = (np.sum(cols * img) / img.sum(), np.sum(rows * img) / img.sum())
            assert np.allclose(centroid, (16 + x, 16 + y), atol=0.05)
        rim = (smooth > 0) & (smooth < 255)  # at lattice points, the same disc up to pygame's rasterising of its rim
        assert np.array_equal((smooth > 127) & ~rim, (lattice > 0) & ~rim)
    frame = ENV.render_states(np.array([[10.3, 4.6]]))[0]
    assert frame.dtype == np.uint8 and ((frame > 0) & (frame < 255)).sum() > 40  # a grey rim, not a hard edge


def test_inverse_full_turn_and_commutation_on_pixels():
    rng = np.random.default_rng(1)
    for start in _starts(6):
        home = ENV.render_states(start[None])[0].astype(np.int64)
        a, b = rng.uniform(-1, 1, 2).astype(np.float32), rng.uniform(-1, 1, 2).astype(np.float32)
        assert np.abs(_frame_after(start, [a, -a]) - home).max() <= 1
        assert np.abs(_frame_after(start, [[1, 1], [1, 1]]) - home).max() <= 1  # 2 x 16.5 px: a full turn
        assert np.abs(_frame_after(start, [a, b]) - _frame_after(start, [b, a])).max() <= 1
    right_quarter = dict(ENV.hand_actions())["right 1/4"]
    start = np.array([5.3, 17.8])
    assert np.abs(_frame_after(start, [right_quarter] * 132) - _frame_after(start, [])).max() <= 1  # 33 px


def test_sub_pixel_moves_are_visible_and_frames_change_continuously():
    start = np.array([12.2, 20.7])
    still = _frame_after(start, [])
    assert np.array_equal(_frame_after(start, [[0.0, 0.0]]), still)
    assert np.abs(_frame_after(start, [[0.25 * PX, 0.0]]) - still).max() >= 32
    assert np.abs(_frame_after(start, [[0.0, 0.25 * PX]]) - still).max() >= 32
    # 255 grey levels per pixel per px of motion at most (+1 for rounding), everywhere off the seam
    xs = np.arange(0.0, 32.5, 0.05)
    sweep = ENV.render_states(np.stack([xs, np.full_like(xs, 9.4)], axis=1)).astype(np.int64)
    steps = np.abs(np.diff(sweep, axis=0)).reshape(len(xs) - 1, -1).max(axis=1)
    assert steps.max() <= 255 * 0.05 + 1 and steps.min() > 0
    for d in (0.01, 0.1):
        assert np.abs(_frame_after(start, [[d * PX, d * PX]]) - still).max() <= 255 * d * np.sqrt(2) + 1


@pytest.mark.parametrize("action", [np.array([np.nan, 0.0]), [np.inf, 0.0], np.zeros(3), np.zeros((1, 2)), 0.5,
                                    "left", None, True, [1.5, 0.0], np.array([True, False]), np.array(0.3)])
def test_bad_actions_name_what_is_allowed(action):
    env = gym.make("FlatLandContinuous-v0", disable_env_checker=True)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be a \(dx, dy\) displacement"):
        env.step(action)


def test_bad_factors_and_params():
    with pytest.raises(ValueError, match="factors out of range"):
        ENV.reset(options={"factors": [33.0, 0.0]})
    with pytest.raises(ValueError, match="factors must be finite"):
        ENV.reset(options={"factors": [np.nan, 0.0]})
    with pytest.raises(ValueError, match="last dimension 2"):
        SPEC.apply(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="continuous: its actions are displacement vectors"):
        _ = SPEC.num_actions
    with pytest.raises(ValueError, match="infinitely many states"):
        SPEC.all_acted_states()
    with pytest.raises(ValueError, match="period of factor 'x'"):
        TorusSpec(("x",), (0.0,), ("dx",))
    for kwargs, match in [({"radius": 40}, "radius 40 is too large"),
                          ({"grid_size": 1}, "grid_size must be an integer >= 2"),
                          ({"radius": 2.5}, "radius must be a positive integer"),
                          ({"frame_size": 10}, "frame_size must")]:
        with pytest.raises(ValueError, match=match):
            gym.make("FlatLandContinuous-v0", **kwargs)
    assert flatland_continuous_spec(21).factor_sizes == (21.0, 21.0)


def test_the_discrete_metrics_refuse_it_up_front_rgrvae_names_its_options_and_the_suite_skips_them_by_name():
    import agents

    with pytest.raises(ValueError, match=r"metrics sample discrete states.*SO\(2\) x SO\(2\)"):
        resolve_world(gym.make("FlatLandContinuous-v0"))

    class Model:
        def encode(self, obs):
            return np.zeros((len(obs), 2))

    out = evaluate(Model(), ENV, num_samples=20, progress=False)
    assert "SO(2) x SO(2)" in out["dci"]["skipped"] and "continuous_actions" in out["seconds"]
    with pytest.raises(ValueError, match=r"continuous group, SO\(2\) x SO\(2\)\).*must be off.*stop_error"):
        agents.RGrVAE("FlatLandContinuous-v0")


def test_native_vector_env_matches_sync_across_autoresets():
    native = flatland_env.make_vector_world("FlatLandContinuous-v0", 3, max_episode_steps=4)
    sync = gym.make_vec("FlatLandContinuous-v0", num_envs=3, vectorization_mode="sync", max_episode_steps=4)
    assert isinstance(native, FlatLandContinuousVectorEnv) and native.action_space == sync.action_space
    assert data_equivalence(native.reset(seed=7), sync.reset(seed=7))
    rng = np.random.default_rng(0)
    for _ in range(10):  # float64 states and the action names of vectors, equal to the single envs' bit for bit
        actions = rng.uniform(-1, 1, (3, 2)).astype(np.float32)
        assert data_equivalence(native.step(actions), sync.step(actions))
    states, resets = native.rollout(np.full((2, 3, 2), 0.5, np.float32))
    assert states.dtype == np.float64 and states.shape == (2, 3, 2) and resets.shape == (2, 3)
    for bad in (np.zeros((3, 3)), np.full((3, 2), 1.5), np.full((3, 2), np.nan), "left"):
        with pytest.raises(ValueError, match=r"actions must be real numbers of shape \(3, 2\), each in \[-1, 1\]"):
            native.step(bad)


def test_hand_play_moves_by_whole_and_quarter_pixels(tmp_path):
    shot = tmp_path / "continuous.png"
    start = play("FlatLandContinuous-v0", scale=2, seed=0, keys="space", max_frames=2)
    moved = play("FlatLandContinuous-v0", scale=2, seed=0, keys="right right 2 2 4 up", screenshot=shot)
    assert moved.steps == 6 and moved.last_action == "up" and shot.stat().st_size > 0
    assert all(isinstance(f, float) for f in moved.factors)
    assert np.allclose(np.subtract(moved.factors, start.factors), [2.5, -0.75], atol=1e-5)


def test_play_cli_on_the_continuous_world(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "play.py"), "--headless", "--env", "FlatLandContinuous-v0",
         "--keys", "left 1", "--seed", "0", "--screenshot", str(tmp_path / "shot.png")],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert "steps=2" in out.stdout and (tmp_path / "shot.png").is_file()


def test_max_move_shrinks_the_box_the_random_policy_draws_from_and_hand_moves_stay_inside_it():
    from flatland_env.pairs import PairSourceConfig, make_pair_source

    env = gym.make("FlatLandContinuous-v0", max_move=0.3)
    assert env.action_space == gym.spaces.Box(-0.3, 0.3, (2,), np.float32)
    env.reset(seed=0)
    env.step(np.array([0.3, -0.3], np.float32))
    with pytest.raises(ValueError, match=r"in \[-0.3, 0.3\].*max_move=0.3"):
        env.step(np.array([0.5, 0.0], np.float32))
    assert all(np.abs(a).max() <= 0.3 for _, a in env.unwrapped.hand_actions())
    source = make_pair_source(PairSourceConfig("FlatLandContinuous-v0", env_kwargs={"max_move": 0.05}, num_envs=2),
                              seed=0)
    batch = source.next_batch(256)
    assert np.abs(batch.actions).max() <= 0.05 and np.abs(batch.actions).max() > 0.04
    moved = np.abs((batch.next_factors - batch.factors + 16.5) % 33 - 16.5)  # px, the short way round
    assert moved.max() <= 0.05 * 16.5 + 1e-6
    source.close()
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match="max_move must be a finite number in"):
            gym.make("FlatLandContinuous-v0", max_move=bad)
