"""Every registered world: Gymnasium/SB3 API checks, seeding, bad input; the exact group law on the cyclic ones.

Worlds of other groups (a continuous torus, a non-commutative finite group) test their own
group laws in their own test modules.
"""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import flatland_env

WORLD_IDS = flatland_env.symmetry_world_ids()
WORLDS = {env_id: gym.make(env_id).unwrapped for env_id in WORLD_IDS}
#: worlds with a finite list of actions (a Discrete action space)
DISCRETE_IDS = [i for i in WORLD_IDS if WORLDS[i].symmetry.is_discrete]
#: worlds whose group is a product of cyclic groups: every two actions commute, exactly, on pixels
CYCLIC_IDS = [i for i in WORLD_IDS if WORLDS[i].symmetry.is_cyclic_product]


@pytest.mark.parametrize("env_id", WORLD_IDS)
def test_gymnasium_check_env(env_id):
    env = gym.make(env_id)
    gym_check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", WORLD_IDS)
def test_sb3_check_env(env_id):
    env = gym.make(env_id)
    sb3_check_env(env, warn=False)
    env.close()


@pytest.mark.parametrize("env_id", WORLD_IDS)
def test_render_rgb_array_and_info(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    obs, info = env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == obs.shape[:2] + (3,)
    spec = env.unwrapped.symmetry
    assert info["factors"].shape == (spec.num_factors,)
    name, action = env.unwrapped.hand_actions()[0]
    _, _, _, _, info = env.step(action)
    assert isinstance(info["action_name"], str)
    if spec.is_discrete:
        assert info["action_name"] == name == spec.action_names[0]


def _frames_after(env, states, actions):
    """Frames after applying a sequence of actions (one per state) through the env's own motion."""
    out = []
    for s, seq in zip(states, actions):
        env.reset(options={"factors": s})
        obs = env._observe()
        for a in seq:
            obs, *_ = env.step(int(a))
        out.append(obs)
    return np.stack(out)


@settings(max_examples=25, deadline=None)
@given(env_id=st.sampled_from(CYCLIC_IDS), seed=st.integers(0, 2**31 - 1))
def test_group_law_on_pixels(env_id, seed):
    env = WORLDS[env_id]
    spec = env.symmetry
    rng = np.random.default_rng(seed)
    s = spec.sample_factors(rng, 1)
    a, b = (int(x) for x in rng.integers(0, spec.num_actions, 2))
    start = env.render_states(s)[0]
    # inverse: a then its inverse is the identity
    inv = spec.inverse_action(a)
    assert np.array_equal(_frames_after(env, s, [[a, inv]])[0], start)
    # order: repeating the action its order of times is the identity
    order = spec.action_order(a)
    assert np.array_equal(_frames_after(env, s, [[a] * order])[0], start)
    # commutation
    assert np.array_equal(_frames_after(env, s, [[a, b]])[0], _frames_after(env, s, [[b, a]])[0])
    # the env's motion agrees with the spec
    assert np.array_equal(env.factors, spec.apply(spec.apply(s, b), a)[0])


def test_flatland_order_33_and_1089_distinct_frames():
    env = WORLDS["FlatLand-v0"]
    spec = env.symmetry
    assert all(spec.action_order(a) == 33 for a in range(spec.num_actions))
    frames = env.render_states(spec.all_acted_states())
    assert len(np.unique(frames.reshape(len(frames), -1), axis=0)) == 1089
    s = np.array([[3, 30]])
    for a in range(4):
        seq = _frames_after(env, s, [[a] * 33])[0]
        assert np.array_equal(seq, env.render_states(s)[0])
        assert not np.array_equal(_frames_after(env, s, [[a] * 32])[0], seq)
    # the disc jumps 28 px at the edge, as in the original
    assert spec.apply(np.array([[31, 0]]), 1)[0, 0] == 3
    assert set(np.unique(frames)) == {0, 255} and (frames[0] > 0).sum() == 688


@pytest.mark.parametrize("env_id", WORLD_IDS)
def test_same_seed_same_frames_and_factors(env_id):
    def run(seed):
        env = gym.make(env_id)
        env.action_space.seed(seed)
        obs, info = env.reset(seed=seed)
        out = [(obs, info["factors"])]
        for _ in range(20):
            obs, _, _, _, info = env.step(env.action_space.sample())
            out.append((obs, info["factors"]))
        return out

    a, b, c = run(3), run(3), run(4)
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c))


@pytest.mark.parametrize("env_id", DISCRETE_IDS)
@pytest.mark.parametrize("action", [-1, 99, 1.0, "left", None, True, np.array([0, 1])])
def test_bad_actions_name_what_is_allowed(env_id, action):
    env = gym.make(env_id, disable_env_checker=True)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be"):
        env.step(action)


@pytest.mark.parametrize("env_id", WORLD_IDS)
def test_bad_reset_and_obs_mode(env_id):
    env = gym.make(env_id)
    with pytest.raises(ValueError, match="allowed: \\['factors'\\]"):
        env.reset(options={"colour": 1})
    with pytest.raises(ValueError, match="factors out of range"):
        env.reset(options={"factors": [999] * env.unwrapped.symmetry.num_factors})
    with pytest.raises(ValueError, match="obs_mode must be one of"):
        gym.make(env_id, obs_mode="hsv")
    with pytest.raises(ValueError, match="render_mode must be"):
        gym.make(env_id, render_mode="vr")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"radius": 40}, "radius 40 is too large"),
        ({"radius": 0}, "radius must be a positive integer"),
        ({"grid_size": 1}, "grid_size must be an integer >= 2"),
        ({"step": 33}, "step must be in"),
        ({"frame_size": 10}, r"frame_size must be an integer in \[16, 256\]"),
        ({"frame_size": 100_000}, r"frame_size must be an integer in \[16, 256\]"),
        ({"grid_size": 200, "frame_size": 256}, "MiB frame cache"),
        ({"substeps": 0}, "substeps must be a positive integer"),
        ({"step": 2.5}, "step must be a positive integer"),
    ],
)
def test_bad_flatland_params(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make("FlatLand-v0", **kwargs)


def test_flatland_rgb_obs():
    env = gym.make("FlatLand-v0", obs_mode="rgb")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and np.array_equal(obs[..., 0], obs[..., 2])
