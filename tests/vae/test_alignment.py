"""Aligning latent moves with rho's planes: known answers, recovery of a hidden turn, and exact decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import special_ortho_group

from vae.alignment import (
    best_plane_rotation,
    nearest_pairing,
    plane_alignment_score,
    plane_share,
    rotate_latent_space,
)
from vae.model import VAE


def torus_moves(n: int = 400, seed: int = 0, order=(0, 1, 2, 3)) -> np.ndarray:
    """Moves of FlatLand-like pairs on a torus whose x circle lies on axes order[0:2], y on order[2:4]."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 2 * np.pi, (2, n))
    a = rng.integers(0, 4, n)
    dx = np.select([a == 0, a == 1], [0.95, -0.95], 0.0)
    dy = np.select([a == 2, a == 3], [0.95, -0.95], 0.0)

    def embed(u, v):
        out = np.zeros((n, 4))
        out[:, list(order)] = np.stack([np.cos(u), np.sin(u), np.cos(v), np.sin(v)], 1)
        return out

    return embed(x + dx, y + dy) - embed(x, y)


def test_plane_share_known_answers():
    assert plane_share(np.array([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]])) == pytest.approx(1.0)
    assert plane_share(np.array([[1.0, 0.0, 1.0, 0.0]])) == pytest.approx(0.5)
    assert plane_share(np.array([[0.0, 3.0, 1.0, 0.0]])) == pytest.approx(0.9)
    assert plane_alignment_score(np.array([[0.0, 3.0, 1.0, 0.0]])) == pytest.approx(0.81 + 0.01)
    assert np.isnan(plane_share(np.zeros((3, 4))))  # no move says nothing
    with pytest.raises(ValueError, match="L even"):
        plane_share(np.ones((3, 3)))


def test_aligned_torus_scores_one_and_the_wrong_pairing_less():
    assert plane_share(torus_moves()) == pytest.approx(1.0)
    assert plane_share(torus_moves(order=(0, 2, 1, 3))) < 0.9


@pytest.mark.parametrize("order", [(0, 2, 1, 3), (3, 0, 1, 2)])
def test_best_rotation_finds_the_planes_of_a_wrong_pairing(order):
    moves = torus_moves(order=order)
    q, score = best_plane_rotation(moves)
    assert score == pytest.approx(1.0, abs=1e-6)
    assert plane_share(moves @ q.T) == pytest.approx(1.0, abs=1e-6)
    assert sorted(nearest_pairing(q)) == sorted([tuple(sorted(order[:2])), tuple(sorted(order[2:]))])


def test_best_rotation_undoes_a_random_turn():
    moves = torus_moves() @ special_ortho_group.rvs(4, random_state=3).T
    assert plane_share(moves) < 0.9
    q, score = best_plane_rotation(moves, seed=1)
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-9)
    assert plane_share(moves @ q.T) == pytest.approx(1.0, abs=1e-5)


def test_rotating_the_latent_space_keeps_every_decoding_of_the_means():
    torch.manual_seed(0)
    vae = VAE(latent_size=4, channels=(8, 8, 8, 8), hidden=32).eval()
    x = torch.rand(6, 1, 64, 64)
    q = torch.as_tensor(special_ortho_group.rvs(4, random_state=0), dtype=torch.float32)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        before = vae.decode(mu)
        rotate_latent_space(vae.encoder.head, vae.decoder.fc[0], q)
        mu2, logvar2 = vae.encode(x)
        torch.testing.assert_close(mu2, mu @ q.T, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(vae.decode(mu2), before, atol=1e-4, rtol=1e-4)
        # the log-variances follow the axes they mostly came from
        assert sorted(logvar2[0].tolist()) == pytest.approx(sorted(logvar[0].tolist()), abs=1e-5)


def test_rotating_refuses_a_matrix_that_is_not_orthogonal():
    vae = VAE(latent_size=4, channels=(8, 8, 8, 8), hidden=32)
    with pytest.raises(ValueError, match="orthogonal"):
        rotate_latent_space(vae.encoder.head, vae.decoder.fc[0], 2 * np.eye(4))
