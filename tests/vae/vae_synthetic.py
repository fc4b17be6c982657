"""Synthetic encoders and representations built from ground truth, for metrics with known answers.

A "perfect" encoder embeds each acted factor as an exact rotation on its own latent plane:
z = [cos(2 pi k x / n), sin(2 pi k x / n)] per factor, so each action of step s rotates its
plane by 2 pi k s / n (FlatLand, k = 1: 0.952 rad) and leaves the other planes alone.
"""

import math

import numpy as np


class TableEncoder:
    """encode_fn for a small world: looks each frame up to its factors, then embeds them."""

    def __init__(self, world, embed):
        states = world.symmetry.all_acted_states()
        frames = world.render_states(states)
        self.table = {f.tobytes(): s for f, s in zip(frames, states)}
        self.embed = embed

    def factors(self, obs):
        return np.stack([self.table[o.tobytes()] for o in obs])

    def __call__(self, obs):
        return self.embed(self.factors(obs))


def rotation_embedding(sizes, freqs=None):
    """factors (N, K) -> (N, 2K): one unit circle per factor, frequency freqs[j]."""
    freqs = np.ones(len(sizes)) if freqs is None else np.asarray(freqs)

    def embed(f):
        th = 2 * np.pi * f * freqs / np.asarray(sizes)
        return np.stack([np.cos(th), np.sin(th)], axis=-1).reshape(len(f), -1)

    return embed


def perfect_rho(signs=(-1, 1, -1, 1)):
    """rho of the perfect FlatLand encoding: left/right rotate plane 0, up/down plane 1."""
    angle = 2 * math.pi * 5 / 33
    mats = np.tile(np.eye(4), (4, 1, 1))
    for a, s in enumerate(signs):
        p = 2 * (a // 2)
        c, si = math.cos(s * angle), math.sin(s * angle)
        mats[a, p : p + 2, p : p + 2] = [[c, -si], [si, c]]
    return mats


def transformed(embed, matrix):
    """The code embed(f) @ matrix.T: any linear map of latent space (rotation, scaling, shear)."""
    m = np.asarray(matrix, dtype=float)
    return lambda f: embed(f) @ m.T


def axis_embedding(sizes):
    """factors (N, K) -> f / n: one latent per factor, a line rather than a circle."""
    return lambda f: f / np.asarray(sizes, dtype=float)


def replaced_plane(embed, plane, values):
    """Overwrite latent plane ``plane`` (dims 2p, 2p+1) by values(f) (N, 2): drop, shrink or blur a factor."""

    def out(f):
        z = embed(f)
        z[:, 2 * plane : 2 * plane + 2] = values(f)
        return z

    return out


def state_noise(sizes, scale, seed=0, dims=2):
    """values(f) (N, dims): fixed Gaussian noise per state (a deterministic encoder that carries no signal)."""
    table = scale * np.random.default_rng(seed).normal(size=(*sizes, dims))
    return lambda f: table[tuple(f.T)]
