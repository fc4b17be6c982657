"""Independence score and D_LSBD with known answers on synthetic FlatLand encoders."""

import math

import numpy as np
import pytest
from vae_synthetic import (
    TableEncoder,
    axis_embedding,
    replaced_plane,
    rotation_embedding,
    state_noise,
    transformed,
)

from vae.metrics import d_lsbd, d_lsbd_from_grid, fit_action_maps, independence_score
from vae.metrics.independence import MAX_UNEXPLAINED
from vae.metrics.lsbd import MIN_FACTOR_SHARE, factor_dispersion

ANGLE = 2 * math.pi * 5 / 33  # 0.952: FlatLand's image-continuous rotation per step
SIZES = (33, 33)
CIRCLES = rotation_embedding(SIZES)
SEEDS = range(5)
Q = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))[0]  # a random orthogonal map
SHEAR = np.eye(4) + 0.8 * np.eye(4, k=2)  # the x plane leaks the y plane, as the `sheared` fixture


def independence_over_seeds(flatland, embed, n=300):
    enc = TableEncoder(flatland, embed)
    return [independence_score(enc, flatland, np.random.default_rng(s), n) for s in SEEDS]


EXACT = {
    "perfect": CIRCLES,
    "y-plane-x0.1": transformed(CIRCLES, np.diag([1, 1, 0.1, 0.1])),
    "planes-x3-x0.05": transformed(CIRCLES, np.diag([3, 3, 0.05, 0.05])),
    "rotated": transformed(CIRCLES, Q),
    "rotated-x10": transformed(CIRCLES, 10 * Q),
}


@pytest.mark.parametrize("embed", EXACT.values(), ids=EXACT.keys())
def test_independence_of_exactly_linear_codes_is_one_on_every_seed(flatland, embed):
    runs = independence_over_seeds(flatland, embed)
    scores = [r["independence"] for r in runs]
    assert min(scores) > 0.999 and max(scores) - min(scores) < 0.001
    assert all(r["fit_ok"] and not r["fit_problems"] and r["max_unexplained_fraction"] < 1e-12 for r in runs)
    assert all(a["angle"] == pytest.approx(ANGLE, abs=1e-6) for r in runs for a in r["actions"])


def test_shear_lowers_independence_on_every_seed(flatland):
    runs = independence_over_seeds(flatland, transformed(CIRCLES, SHEAR))
    scores = [r["independence"] for r in runs]
    assert max(scores) < 0.45 and max(scores) - min(scores) < 0.01  # 0.404 on these seeds
    assert all(r["fit_ok"] for r in runs)  # the maps are exact, only the geometry is wrong


def test_axis_aligned_code_is_flagged_as_a_poor_linear_fit(flatland):
    for embed in (axis_embedding(SIZES), transformed(axis_embedding(SIZES), np.diag([1, 0.1]))):
        for r in independence_over_seeds(flatland, embed):
            assert not r["fit_ok"] and r["max_unexplained_fraction"] > 0.6  # 0.74-0.79: jumps at the wrap
            assert r["unexplained_threshold"] == MAX_UNEXPLAINED and "unexplained" in r["fit_problems"][0]
            assert r["static_actions"] == []
            for a in r["actions"]:
                assert a["relative_residual"] == pytest.approx(a["unexplained_fraction"] * a["relative_move"])


@pytest.mark.parametrize(
    "values",
    [lambda f: np.zeros((len(f), 2)), lambda f: np.full((len(f), 2), 3.0), state_noise(SIZES, 1e-3)],
    ids=["zero", "constant", "noise-1e-3"],
)
def test_a_factor_the_code_misses_leaves_independence_undefined(flatland, values):
    for r in independence_over_seeds(flatland, replaced_plane(CIRCLES, 1, values)):
        assert math.isnan(r["independence"]) and math.isnan(r["per_symmetry_pair_max_abs_dot"]["0-1"])
        assert not r["fit_ok"] and r["static_actions"] == ["up", "down"]
        assert [a["static"] for a in r["actions"]] == [False, False, True, True]
        assert r["max_unexplained_fraction"] < 1e-4  # the x actions are still fitted (up to the noise)


def test_fit_is_deterministic_and_equivariant_under_linear_maps():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 4))
    z_next = np.stack([z @ (np.eye(4) + 0.3 * rng.normal(size=(4, 4))).T for _ in range(2)])
    z_next += 0.1 * rng.normal(size=z_next.shape)  # no exact rank-2 map: the residual's weighting matters
    rho, blocks, mse = fit_action_maps(z, z_next)
    again = fit_action_maps(z, z_next)
    assert all(np.array_equal(x, y) for x, y in zip((rho, blocks, mse), again))
    assert all(np.linalg.matrix_rank(r - np.eye(4), tol=1e-9) == 2 for r in rho)
    for m, factor in ((Q, 1.0), (7.0 * np.eye(4), 49.0)):  # rotated or rescaled latents: rho -> m rho m^-1
        rho_m, blocks_m, mse_m = fit_action_maps(z @ m.T, z_next @ m.T)
        assert np.allclose(rho_m, m @ rho @ np.linalg.inv(m), atol=1e-9)
        assert np.allclose(mse_m, factor * mse, rtol=1e-9)
        assert np.allclose(np.sort(np.abs(np.linalg.eigvals(blocks_m))), np.sort(np.abs(np.linalg.eigvals(blocks))))


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
    assert all(a["angle"] == pytest.approx(ANGLE, abs=1e-9) for a in r["actions"])  # still exact rotations


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
    states = np.stack(np.meshgrid(np.arange(12), np.arange(10), indexing="ij"), -1).reshape(-1, 2)
    z = rotation_embedding((12, 10), (5, 1))(states)
    grid = z.reshape(12, 10, 4)
    assert d_lsbd_from_grid(grid)["d_lsbd"] < 1e-9
    assert d_lsbd_from_grid(grid, max_frequency=3)["d_lsbd"] > 0.5  # k = 5 excluded
    with pytest.raises(ValueError, match="finite"):
        d_lsbd_from_grid(np.full((3, 3, 2), np.nan))


def test_sampled_lines_estimate_the_full_grid(flatland, perfect, sheared):
    """Past max_grid, D_LSBD samples lines per factor: the same value for exact codes, close for a leaky one."""
    for code in (perfect, sheared):
        r = d_lsbd(code, flatland, np.random.default_rng(0), max_grid=100, num_lines=16)
        assert r["estimator"].startswith("16 random lines") and r["d_lsbd"] < 1e-9

    def leaky(f):
        z = perfect.embed(f)
        z[:, :2] *= (1 + 0.5 * np.cos(2 * np.pi * f[:, 1] / 33))[:, None]
        return z

    full = d_lsbd(TableEncoder(flatland, leaky), flatland, np.random.default_rng(0))["d_lsbd"]
    lines = d_lsbd(TableEncoder(flatland, leaky), flatland, np.random.default_rng(0), max_grid=100, num_lines=33)
    assert lines["d_lsbd"] == pytest.approx(full, abs=0.03)


def test_actions_that_generate_a_subgroup_are_measured_on_their_orbits():
    """A 10-cycle acted on by +-2: orbits {0,2,4,6,8} and {1,3,5,7,9}, each a C_5; a code rotating by 2*pi*q/5
    per action on each orbit, with a different phase per orbit, is exactly LSBD."""
    x = np.arange(10)
    orbit, t = x % 2, (x // 2)
    angle = 2 * np.pi * 2 * t / 5 + np.pi * orbit  # q = 2 per action; the two orbits start half a turn apart
    lines = np.stack([np.cos(angle), np.sin(angle)], -1)[None]  # one line, (1, 10, 2)
    row = factor_dispersion(lines, step=2)
    assert (row["orbit_order"], row["orbits"], abs(row["q"]), row["k"]) == (5, 2, 2, None)
    assert row["dispersion"] < 1e-12
    assert factor_dispersion(lines, step=1)["dispersion"] > 0.3  # read as one 10-cycle it does not rotate


def test_fit_action_maps_recovers_a_rotation_in_a_hidden_plane():
    rng = np.random.default_rng(0)
    L, theta = 6, 0.7
    q = np.linalg.qr(rng.normal(size=(L, L)))[0]
    m = np.eye(L)
    m[3:5, 3:5] = [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
    rho = q @ m @ q.T
    z = rng.normal(size=(400, L))
    fitted, blocks, mse = fit_action_maps(z, (z @ rho.T)[None])
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
        d_lsbd(perfect, flatland, rng, max_grid=0)
    with pytest.raises(ValueError, match="num_lines"):
        d_lsbd(perfect, flatland, rng, num_lines=1)
    with pytest.raises(ValueError, match="max_unexplained"):
        independence_score(perfect, flatland, rng, 10, max_unexplained=-0.1)
    with pytest.raises(ValueError, match="min_relative_move"):
        independence_score(perfect, flatland, rng, 10, min_relative_move=float("nan"))
    with pytest.raises(ValueError, match=r"z_next \(A, N, L\)"):
        fit_action_maps(np.zeros((5, 4)), np.zeros((2, 4, 4)))


def test_a_constant_code_represents_nothing(flatland):
    const = TableEncoder(flatland, lambda f: np.ones((len(f), 4)))
    r = independence_score(const, flatland, np.random.default_rng(0), 50)
    assert math.isnan(r["independence"]) and not r["fit_ok"] and len(r["static_actions"]) == 4
    assert d_lsbd(const, flatland, np.random.default_rng(0))["d_lsbd"] == 2.0


MISSING = {
    "constant": lambda f: np.full((len(f), 2), 3.0),
    "collapsed-1e-6": lambda f: 1e-6 * CIRCLES(f)[:, 2:],
    "noise-1e-3": state_noise(SIZES, 1e-3),
}


@pytest.mark.parametrize("values", MISSING.values(), ids=MISSING.keys())
def test_d_lsbd_scores_a_missing_or_collapsed_factor_as_dispersion_one(flatland, values):
    r = d_lsbd(TableEncoder(flatland, replaced_plane(CIRCLES, 1, values)), flatland, np.random.default_rng(0))
    x, y = r["per_factor"]
    assert x["represented"] and x["dispersion"] < 1e-9 and x["variance_share"] > 0.99
    assert not y["represented"] and y["dispersion"] == 1.0 and y["k"] is None and y["variance_share"] < MIN_FACTOR_SHARE
    assert y["angle_per_action"] == {"up": None, "down": None}
    assert r["d_lsbd"] == pytest.approx(1.0, abs=1e-9) and r["unrepresented_factors"] == ["y"]


def test_d_lsbd_keeps_small_but_represented_factors_and_linear_invariance(flatland):
    a = np.random.default_rng(3).normal(size=(4, 4))  # a random invertible (non-orthogonal) map
    for m in (np.diag([1, 1, 0.1, 0.1]), a):
        r = d_lsbd(TableEncoder(flatland, transformed(CIRCLES, m)), flatland, np.random.default_rng(0))
        assert r["d_lsbd"] < 1e-9 and r["unrepresented_factors"] == []

    def warped(f):  # the x circle's radius depends on y: 1/9 = var(r) / E[r^2] for r = 1 + cos/2
        z = CIRCLES(f)
        z[:, :2] *= 1 + 0.5 * np.cos(2 * np.pi * f[:, 1:] / 33)
        return z

    # x's dependence spans one plane, so its dispersion is invariant; y's spans both planes, so its two
    # leading principal directions (and its dispersion) depend on the metric.
    same = d_lsbd(TableEncoder(flatland, warped), flatland, np.random.default_rng(0))
    mixed = d_lsbd(TableEncoder(flatland, transformed(warped, a)), flatland, np.random.default_rng(0))
    assert [f["dispersion"] for f in same["per_factor"]] == pytest.approx([1 / 9, 0.0], abs=1e-6)
    assert mixed["per_factor"][0]["dispersion"] == pytest.approx(1 / 9, abs=1e-6)


def test_d_lsbd_of_a_line_code_is_at_least_one_half_per_factor(flatland):
    # x / 33 on one latent per factor: no second direction to whiten, the factor lies on a line.
    r = d_lsbd(TableEncoder(flatland, axis_embedding(SIZES)), flatland, np.random.default_rng(0))
    assert all(0.5 <= f["dispersion"] < 1 and f["represented"] for f in r["per_factor"])
    # A cosine line is the best a line can do: exactly 1/2 at k = 1.
    grid = np.stack(np.meshgrid(np.arange(33), np.arange(33), indexing="ij"), -1).reshape(-1, 2)
    cos_line = np.cos(2 * np.pi * grid / 33).reshape(33, 33, 2)
    assert [f["dispersion"] for f in d_lsbd_from_grid(cos_line)["per_factor"]] == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="min_share"):
        d_lsbd_from_grid(cos_line, min_share=1.5)
