"""Independence score and D_LSBD with known answers on synthetic FlatLand encoders."""

import math

import numpy as np
import pytest
from vae_synthetic import TableEncoder, rotation_embedding

from vae.metrics import d_lsbd, d_lsbd_from_grid, fit_action_maps, independence_score

ANGLE = 2 * math.pi * 5 / 33  # 0.952: FlatLand's image-continuous rotation per step


def test_perfect_encoder_independence_and_angles(flatland, perfect):
    r = independence_score(perfect, flatland, np.random.default_rng(0), 300)
    assert r["independence"] > 0.999
    for a in r["actions"]:
        assert a["angle"] == pytest.approx(ANGLE, abs=1e-3)
        assert a["realised_order"] == 33 and a["cycle_order"] == 33
        assert a["nearest_faithful"]["k"] == 5 and a["nearest_faithful"]["error"] < 1e-3
        assert abs(a["continuous_angle"]) == pytest.approx(ANGLE)
        assert a["latent_mse"] < 1e-6 and a["image_mse"] is None
    assert r["matrices"].shape == (4, 4, 4)


def test_shear_lowers_independence(flatland, sheared):
    r = independence_score(sheared, flatland, np.random.default_rng(0), 300)
    assert r["independence"] < 0.7
    assert all(a["angle"] == pytest.approx(ANGLE, abs=1e-3) for a in r["actions"])  # still exact rotations


def test_orthogonal_mixing_keeps_independence_and_lsbd(flatland, perfect):
    q = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))[0]
    mixed = TableEncoder(flatland, lambda f: perfect.embed(f) @ q.T)
    assert independence_score(mixed, flatland, np.random.default_rng(0), 300)["independence"] > 0.999
    assert d_lsbd(mixed, flatland, np.random.default_rng(0))["d_lsbd"] < 1e-9


def test_other_frequency_is_found(flatland):
    # y embedded at frequency 7: each up/down step rotates by 2*pi*35/33 = 2*pi*2/33 (mod 2*pi).
    enc = TableEncoder(flatland, rotation_embedding((33, 33), (1, 7)))
    lsbd = d_lsbd(enc, flatland, np.random.default_rng(0))
    assert lsbd["d_lsbd"] < 1e-9
    assert [abs(f["k"]) for f in lsbd["per_factor"]] == [1, 7]
    assert lsbd["per_factor"][1]["angle_per_action"]["up"] == pytest.approx(2 * math.pi * 2 / 33)
    ind = independence_score(enc, flatland, np.random.default_rng(0), 300)
    up = ind["actions"][2]
    assert up["angle"] == pytest.approx(2 * math.pi * 2 / 33, abs=1e-3)
    assert up["realised_order"] == 33 and up["nearest_faithful"]["k"] == 2


def test_image_error_of_a_perfect_decoder_is_zero(flatland, perfect):
    def decode(z):
        th = np.arctan2(z[:, 1::2], z[:, 0::2])
        return flatland.render_states(np.round(th / (2 * math.pi) * 33).astype(int) % 33)

    r = independence_score(perfect, flatland, np.random.default_rng(0), 100, decode_fn=decode)
    assert all(a["image_mse"] == pytest.approx(0.0, abs=1e-12) for a in r["actions"])


def test_d_lsbd_perfect_sheared_and_leaky(flatland, perfect, sheared):
    rng = np.random.default_rng(0)
    r = d_lsbd(perfect, flatland, rng)
    assert r["d_lsbd"] < 1e-9
    assert [abs(f["k"]) for f in r["per_factor"]] == [1, 1]
    assert r["per_factor"][0]["angle_per_action"]["right"] == pytest.approx(ANGLE)
    # A linear shear keeps invariant (non-orthogonal) subspaces: still LSBD by definition.
    assert d_lsbd(sheared, flatland, rng)["d_lsbd"] < 1e-9

    def leaky(f):  # the x circle's radius depends on y: not equivariant in any basis
        z = perfect.embed(f)
        z[:, :2] *= 1 + 0.5 * np.cos(2 * np.pi * f[:, 1:] / 33)
        return z

    leak = d_lsbd(TableEncoder(flatland, leaky), flatland, rng)
    assert leak["d_lsbd"] == pytest.approx(1 / 9, abs=1e-6)  # var(r) / E[r^2] for r = 1 + cos/2


def test_d_lsbd_of_random_codes_is_near_one_per_factor(flatland, random_codes):
    assert d_lsbd(random_codes, flatland, np.random.default_rng(0))["d_lsbd"] > 1.8


def test_d_lsbd_frequency_bound_and_grid_errors():
    z = rotation_embedding((12, 10), (5, 1))(np.stack(np.meshgrid(np.arange(12), np.arange(10), indexing="ij"), -1).reshape(-1, 2))
    grid = z.reshape(12, 10, 4)
    assert d_lsbd_from_grid(grid)["d_lsbd"] < 1e-9
    assert d_lsbd_from_grid(grid, max_frequency=3)["d_lsbd"] > 0.5  # k = 5 excluded
    with pytest.raises(ValueError, match="finite"):
        d_lsbd_from_grid(np.full((3, 3, 2), np.nan))


def test_fit_action_maps_recovers_a_rotation_in_a_hidden_plane():
    rng = np.random.default_rng(0)
    L, theta = 6, 0.7
    q = np.linalg.qr(rng.normal(size=(L, L)))[0]
    m = np.eye(L)
    m[3:5, 3:5] = [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
    rho = q @ m @ q.T
    z = rng.normal(size=(400, L))
    fitted, blocks, mse = fit_action_maps(z, (z @ rho.T)[None], rng)
    assert mse[0] < 1e-8
    assert np.allclose(fitted[0], rho, atol=1e-4)
    assert abs(np.angle(np.linalg.eigvals(blocks[0]))).max() == pytest.approx(theta, abs=1e-4)


def test_bad_arguments(flatland, perfect):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        independence_score(perfect, flatland, 0)
    with pytest.raises(ValueError, match="symmetry world"):
        independence_score(perfect, object(), rng)
    with pytest.raises(ValueError, match="callable"):
        independence_score("encoder", flatland, rng)
    with pytest.raises(ValueError, match="num_states"):
        independence_score(perfect, flatland, rng, 0)
    with pytest.raises(ValueError, match=r"shape \(N, L\)"):
        independence_score(lambda obs: np.zeros(len(obs)), flatland, rng, 10)
    with pytest.raises(ValueError, match="max_grid"):
        d_lsbd(perfect, flatland, rng, max_grid=100)
