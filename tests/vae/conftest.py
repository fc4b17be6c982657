"""Fixtures: the FlatLand world and synthetic encoders with known metric values."""

import gymnasium as gym
import numpy as np
import pytest
from vae_synthetic import TableEncoder, rotation_embedding

import flatland_env  # noqa: F401  (registers the worlds)


@pytest.fixture(scope="session")
def flatland():
    return gym.make("FlatLand-v0").unwrapped


@pytest.fixture(scope="session")
def perfect(flatland):
    return TableEncoder(flatland, rotation_embedding(flatland.symmetry.factor_sizes))


@pytest.fixture(scope="session")
def sheared(perfect, flatland):
    def embed(f):
        z = perfect.embed(f)
        z[:, :2] += 0.8 * z[:, 2:]  # the x plane leaks the y plane
        return z

    return TableEncoder(flatland, embed)


@pytest.fixture()
def random_codes():
    """Codes independent of the state: fresh noise on every call."""
    rng = np.random.default_rng(123)
    return lambda obs: rng.normal(size=(len(obs), 4))
