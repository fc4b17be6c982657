"""The native vector envs: same results as SyncVectorEnv, NEXT_STEP autoreset, seeding, bad input."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode

import flatland_env
from flatland_env.vector import SymmetryVectorEnv
from flatland_env.worlds.flatland import FlatLandVectorEnv

WORLD_IDS = flatland_env.symmetry_world_ids()
#: worlds with discrete actions, which the generic vector env steps through spec.apply
DISCRETE_IDS = [i for i in WORLD_IDS if gym.make(i).unwrapped.symmetry.is_discrete]


def test_make_vec_defaults_to_native_and_sync_still_works():
    env = gym.make_vec("FlatLand-v0", num_envs=8)
    assert isinstance(env, FlatLandVectorEnv) and env.max_episode_steps == 1000
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    sync = gym.make_vec("FlatLand-v0", num_envs=2, vectorization_mode="sync")
    assert isinstance(sync, gym.vector.SyncVectorEnv)


@pytest.mark.parametrize("env_id", DISCRETE_IDS)
def test_native_matches_sync_across_autoresets(env_id):
    native = gym.make_vec(env_id, num_envs=3, max_episode_steps=4)
    sync = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync", max_episode_steps=4)
    assert native.observation_space == sync.observation_space and native.action_space == sync.action_space
    assert data_equivalence(native.reset(seed=7), sync.reset(seed=7))
    rng = np.random.default_rng(0)
    for _ in range(14):
        actions = rng.integers(0, native.single_action_space.n, 3)
        assert data_equivalence(native.step(actions), sync.step(actions))
    mask = np.array([True, False, True])
    (obs_n, info_n), (obs_s, info_s) = (e.reset(seed=3, options={"reset_mask": mask}) for e in (native, sync))
    assert np.array_equal(obs_n, obs_s) and np.array_equal(info_n["_factors"], mask)
    assert np.array_equal(info_n["factors"][mask], info_s["factors"][mask])  # rows off the mask: undefined


def test_next_step_autoreset_semantics():
    env = gym.make_vec("FlatLand-v0", num_envs=2, max_episode_steps=3)
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space
    spec = env.unwrapped.symmetry
    prev = info["factors"]
    for t in range(1, 4):
        obs, rew, term, trunc, info = env.step(np.array([1, 3]))
        assert np.array_equal(info["factors"], spec.apply(prev, np.array([1, 3])))
        assert not term.any() and trunc.tolist() == [t == 3] * 2 and rew.dtype == np.float64
        prev = info["factors"]
    obs, _, _, trunc, info = env.step(np.array([1, 3]))  # the reset step: action ignored
    assert not trunc.any() and "action_name" not in info
    assert np.array_equal(obs, env.unwrapped.observe(info["factors"]))


def test_same_seed_same_rollout_and_vector_wrappers_work():
    def run(seed):
        env = gym.wrappers.vector.RecordEpisodeStatistics(gym.make_vec("FlatLand-v0", num_envs=4, max_episode_steps=5))
        out = [env.reset(seed=seed)[0]]
        rng = np.random.default_rng(seed)
        for _ in range(12):
            out.append(env.step(rng.integers(0, 4, 4))[0])
        return np.stack(out)

    assert np.array_equal(run(1), run(1)) and not np.array_equal(run(1), run(2))


def test_reset_with_factors_and_rollout():
    env = FlatLandVectorEnv(num_envs=2)
    _, info = env.reset(options={"factors": [[0, 0], [32, 32]]})
    assert info["factors"].tolist() == [[0, 0], [32, 32]]
    states, resets = env.rollout(np.array([[1, 1], [3, 3]]))
    assert states.tolist() == [[[5, 0], [4, 32]], [[5, 5], [4, 4]]] and not resets.any()
    frames = env.render()
    assert frames is None
    env = FlatLandVectorEnv(num_envs=2, render_mode="rgb_array")
    env.reset(seed=0)
    assert len(env.render()) == 2 and env.render()[0].shape == (64, 64, 3)


@pytest.mark.parametrize(
    "actions",
    [np.array([0, 4]), np.array([0, -1]), np.array([0.0, 1.0]), np.array([0]), [[0, 1]], "left"],
)
def test_bad_actions(actions):
    env = FlatLandVectorEnv(num_envs=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be"):
        env.step(actions)


def test_bad_vector_params():
    with pytest.raises(ValueError, match="num_envs must be"):
        FlatLandVectorEnv(num_envs=0)
    with pytest.raises(ValueError, match="max_episode_steps must be"):
        FlatLandVectorEnv(num_envs=1, max_episode_steps=0)
    with pytest.raises(ValueError, match="radius 40 is too large"):
        gym.make_vec("FlatLand-v0", num_envs=2, radius=40)
    env = FlatLandVectorEnv(num_envs=2)
    with pytest.raises(ValueError, match="allowed: \\['factors', 'reset_mask'\\]"):
        env.reset(options={"bogus": 1})
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([0, 0]))
    with pytest.raises(ValueError, match="render_mode must be"):
        FlatLandVectorEnv(num_envs=1, render_mode="human")
    assert isinstance(env, SymmetryVectorEnv)
