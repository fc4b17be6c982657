"""Visual noise matches its definitions, is seeded, and shares one background per pair."""

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest

from flatland_env.transitions import TransitionCollector
from flatland_env.wrappers import (
    BackgroundNoise,
    SaltNoise,
    UniformNoise,
    add_salt_noise,
    add_uniform_noise,
    blend_backgrounds,
    corrupt_pairs,
    load_backgrounds,
    procedural_backgrounds,
)

BLACK = np.zeros((16, 64, 64, 1), np.uint8)


def test_uniform_noise_statistics():
    noisy = add_uniform_noise(BLACK, np.random.default_rng(0))
    assert abs(noisy.mean() - 0.05 * 255) < 0.1 and noisy.max() <= round(0.1 * 255) and noisy.min() == 0
    white = add_uniform_noise(BLACK + 255, np.random.default_rng(0))
    assert (white == 255).all()  # clipped


def test_salt_noise_statistics_independent_per_image():
    noisy = add_salt_noise(BLACK, np.random.default_rng(0))
    assert set(np.unique(noisy)) == {0, 255} and abs((noisy == 255).mean() - 0.1) < 0.005
    assert not np.array_equal(noisy[0], noisy[1])
    rgb = add_salt_noise(np.zeros((4, 8, 8, 3), np.uint8), np.random.default_rng(0), p=0.5)
    assert (rgb.min(-1) == rgb.max(-1)).all()  # a salted pixel is white in every channel


def test_background_blend_definition():
    bg = np.random.default_rng(0).random((1, 64, 64, 1)).astype(np.float32)
    out = blend_backgrounds(BLACK[:1], bg) / 255.0
    assert np.allclose(out, np.clip(bg - 0.1, 0, 1), atol=1 / 255)
    assert (blend_backgrounds(BLACK[:1] + 255, bg) == 255).all()


def test_procedural_backgrounds_are_seeded_textures():
    a, b = procedural_backgrounds(10, 64, 1, seed=0), procedural_backgrounds(10, 64, 1, seed=0)
    assert a.shape == (10, 64, 64, 1) and a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, procedural_backgrounds(10, 64, 1, seed=1))
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0.15
    # natural-looking: neighbouring pixels are strongly correlated, unlike white noise
    assert np.corrcoef(a[:, :, :-1].ravel(), a[:, :, 1:].ravel())[0, 1] > 0.8
    assert procedural_backgrounds(2, 32, 3).shape == (2, 32, 32, 3)


def test_pairs_share_one_background_and_are_seeded():
    batch = TransitionCollector(num_envs=2, seed=0).collect(64)
    bank = procedural_backgrounds(10, 64, 1, seed=0)
    noisy = corrupt_pairs(batch, np.random.default_rng(1), backgrounds=bank)
    off = (batch.obs == 0) & (batch.next_obs == 0)  # pixels off the disc in both frames
    assert np.array_equal(noisy.obs[off], noisy.next_obs[off]) and noisy.obs[off].std() > 10
    again = corrupt_pairs(batch, np.random.default_rng(1), uniform=0.1, salt=0.1, backgrounds=bank)
    assert np.array_equal(again.obs, corrupt_pairs(batch, np.random.default_rng(1), 0.1, 0.1, bank).obs)
    assert np.array_equal(noisy.actions, batch.actions) and np.array_equal(noisy.factors, batch.factors)
    salted = corrupt_pairs(batch, np.random.default_rng(2), salt=0.1)
    assert not np.array_equal((salted.obs == 255) & (batch.obs == 0), (salted.next_obs == 255) & (batch.next_obs == 0))


def test_background_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_backgrounds(tmp_path / "nope")
    with pytest.raises(ValueError, match="has no images"):
        load_backgrounds(tmp_path)
    rng = np.random.default_rng(0)
    iio.imwrite(tmp_path / "a.png", rng.integers(0, 256, (100, 80, 3), dtype=np.uint8))
    iio.imwrite(tmp_path / "b.png", rng.integers(0, 256, (30, 30), dtype=np.uint8))
    bank = load_backgrounds(tmp_path, 64, 1)
    assert bank.shape == (2, 64, 64, 1) and 0 <= bank.min() and bank.max() <= 1
    assert load_backgrounds(tmp_path, 32, 3).shape == (2, 32, 32, 3)
    env = BackgroundNoise(gym.make("FlatLand-v0"), backgrounds=tmp_path, seed=0)
    assert env.reset(seed=0)[0].shape == (64, 64, 1)


@pytest.mark.parametrize("wrapper", [UniformNoise, SaltNoise, BackgroundNoise])
def test_observation_wrappers_are_seeded_and_keep_the_states(wrapper):
    def run(seed):
        env = wrapper(gym.make("FlatLand-v0"))
        obs, info = env.reset(seed=seed)
        out = [obs]
        for a in (0, 1, 2, 3, 1):
            obs, *_ = env.step(a)
            out.append(obs)
        return np.stack(out), info["factors"]

    (a, fa), (b, fb) = run(0), run(0)
    plain, _ = gym.make("FlatLand-v0").reset(seed=0)
    assert np.array_equal(a, b) and np.array_equal(fa, fb) and not np.array_equal(a[0], plain)
    assert a.dtype == np.uint8 and a.shape == (6, 64, 64, 1)


def test_bad_noise_levels():
    with pytest.raises(ValueError, match="high must be a finite number in \\[0, 1\\]"):
        UniformNoise(gym.make("FlatLand-v0"), high=2.0)
    with pytest.raises(ValueError, match="p must be a finite number in \\[0, 1\\]"):
        add_salt_noise(BLACK, np.random.default_rng(0), p=-0.1)
    with pytest.raises(ValueError, match="channels must be 1"):
        procedural_backgrounds(2, 64, 2)
