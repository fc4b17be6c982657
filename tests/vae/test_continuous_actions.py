"""Angle R^2 and equivariance on a continuous torus, on codes with a known answer."""

from types import SimpleNamespace

import numpy as np
import pytest

from flatland_env.torus import TorusSpec
from vae.metrics import evaluate
from vae.metrics.continuous_actions import angle_r2, continuous_action_metrics, factor_turns, wrap_angle

SPEC = TorusSpec(factor_names=("x", "y"), factor_sizes=(33.0, 33.0), action_names=("dx", "dy"))


class StateFrames:
    """A torus world whose 'frames' are its states, so a model can read them exactly."""

    symmetry = SPEC

    def render_states(self, factors):
        return np.asarray(factors, dtype=np.float64).reshape(-1, 1, 2, 1)


def circle_code(factors, winding=(1, 1), planes=(0, 1), radius=(1.0, 2.0)):
    """Factor f on plane planes[f], at angle winding[f] * 2 pi x_f / period."""
    f = np.asarray(factors).reshape(-1, 2)
    z = np.zeros((len(f), 4))
    for i in range(2):
        t = winding[i] * 2 * np.pi * f[:, i] / 33.0
        z[:, 2 * planes[i]], z[:, 2 * planes[i] + 1] = radius[i] * np.cos(t), radius[i] * np.sin(t)
    return z


def test_a_linear_code_scores_one_with_its_planes_and_windings_found():
    rng = np.random.default_rng(0)
    moves = rng.uniform(-1, 1, (500, 2)) * np.pi
    angles = wrap_angle(np.stack([-3 * moves[:, 1], moves[:, 0]], 1))  # plane 0: y, winding -3; plane 1: x
    out = angle_r2(angles, moves)
    assert out["min_r2"] == pytest.approx(1.0)
    assert [(r["plane"], r["winding"]) for r in out["per_factor"]] == [(1, 1), (0, -3)]


def test_noise_lowers_it_and_unrelated_angles_score_near_zero_or_below():
    rng = np.random.default_rng(1)
    moves = rng.uniform(-1, 1, (2000, 2)) * np.pi
    noisy = wrap_angle(moves + rng.normal(0, 0.3, moves.shape))
    assert 0.9 < angle_r2(noisy, moves)["min_r2"] < 0.98
    assert angle_r2(rng.uniform(-np.pi, np.pi, (2000, 2)), moves)["min_r2"] < 0.05


def test_the_world_turn_per_action_unit_is_half_a_turn():
    np.testing.assert_allclose(factor_turns(SPEC), [np.pi, np.pi])


def test_an_exact_model_scores_r2_one_and_no_equivariance_error():
    def predict(z, actions):  # rho(a) with W = pi * I, on planes (1, 0) for (x, y)
        out = z.copy()
        for plane, f in ((1, 0), (0, 1)):
            t = np.pi * actions[:, f]
            x, y = z[:, 2 * plane], z[:, 2 * plane + 1]
            out[:, 2 * plane], out[:, 2 * plane + 1] = np.cos(t) * x - np.sin(t) * y, np.sin(t) * x + np.cos(t) * y
        return out

    model = SimpleNamespace(encode=lambda frames: circle_code(frames, planes=(1, 0)), predict_latents=predict)
    out = continuous_action_metrics(model, StateFrames(), np.random.default_rng(2), 400)
    assert out["min_r2"] == pytest.approx(1.0)
    assert out["relative_equivariance_error"] == pytest.approx(0.0, abs=1e-12)
    assert [r["plane"] for r in out["per_factor"]] == [1, 0]

    wrong = SimpleNamespace(encode=model.encode, predict_latents=lambda z, a: predict(z, 0.5 * a))
    assert continuous_action_metrics(wrong, StateFrames(), np.random.default_rng(2), 400)[
        "relative_equivariance_error"] > 0.1


def test_a_code_that_is_not_linear_in_the_position_scores_lower():
    def bent(frames):  # the angle runs with x^2: a code that turns, but not by the same angle for every step
        f = np.asarray(frames).reshape(-1, 2)
        return circle_code(np.stack([f[:, 0] ** 2 / 33.0, f[:, 1]], 1))

    out = continuous_action_metrics(SimpleNamespace(encode=bent), StateFrames(), np.random.default_rng(3), 1000)
    assert out["per_factor"][1]["r2"] == pytest.approx(1.0)
    assert out["per_factor"][0]["r2"] < 0.9  # below the 0.95 that a learned torus is held to
    assert "relative_equivariance_error" not in out


def test_the_suite_runs_it_on_a_continuous_world_and_skips_the_discrete_metrics_by_name():
    model = SimpleNamespace(encode=circle_code, decode=lambda z: z)
    out = evaluate(model, StateFrames(), num_samples=100, progress=False)
    assert out["continuous_actions"]["min_r2"] == pytest.approx(1.0)
    assert "continuous" in out["dci"]["skipped"]


def test_a_finite_world_is_refused_by_name():
    import flatland_env  # noqa: F401  (registers the worlds)
    from flatland_env import make_world

    with pytest.raises(ValueError, match="continuous group"):
        continuous_action_metrics(SimpleNamespace(encode=circle_code), make_world("FlatLand-v0"),
                                  np.random.default_rng(0))


def test_a_plane_whose_angle_never_changes_explains_nothing():
    rng = np.random.default_rng(4)
    moves = rng.uniform(-1, 1, (500, 2)) * np.pi
    out = angle_r2(np.stack([moves[:, 0], np.full(500, 0.3)], 1), moves)
    assert out["per_factor"][0]["r2"] == pytest.approx(1.0) and out["per_factor"][1]["r2"] == 0.0
    dead = SimpleNamespace(encode=lambda frames: np.tile([0.3, -0.2, 1.0, 0.5], (len(frames), 1)))
    assert continuous_action_metrics(dead, StateFrames(), np.random.default_rng(5), 200)["min_r2"] == 0.0


def test_a_two_fold_cover_fits_but_is_not_faithful():
    model = SimpleNamespace(encode=lambda frames: circle_code(frames, winding=(2, 1)))
    out = continuous_action_metrics(model, StateFrames(), np.random.default_rng(6), 400)
    assert out["min_r2"] == pytest.approx(1.0) and out["per_factor"][0]["winding"] == 2 and not out["faithful"]


def test_the_representation_the_matched_planes_imply_fits_a_linear_code_exactly_whatever_its_planes_and_signs():
    """A model with no rho of action vectors (RGrVAE, the beta-VAE) is scored by the turns its matched planes imply:
    zero for a linear code, planes swapped and a factor wound backwards included."""
    code = lambda frames: circle_code(frames, winding=(-1, 1), planes=(1, 0))  # noqa: E731
    out = continuous_action_metrics(SimpleNamespace(encode=code), StateFrames(), np.random.default_rng(4), 400)
    assert out["implied_relative_equivariance_error"] == pytest.approx(0.0, abs=1e-12)
    assert "relative_equivariance_error" not in out


def test_the_implied_representation_misses_a_radius_that_changes_or_a_plane_that_moves_unmatched():
    def radius_runs_with_y(frames):  # x's plane turns rightly, but its radius changes when y moves
        f = np.asarray(frames).reshape(-1, 2)
        z = circle_code(f)
        z[:, :2] *= (1.5 + np.cos(2 * np.pi * f[:, 1:] / 33.0))
        return z

    def spare_plane_holds_x(frames):  # a third plane that also moves with x: the implied rho leaves it be
        f = np.asarray(frames).reshape(-1, 2)
        return np.concatenate([circle_code(f), circle_code(f)[:, :2]], 1)

    for encode in (radius_runs_with_y, spare_plane_holds_x):
        out = continuous_action_metrics(SimpleNamespace(encode=encode), StateFrames(), np.random.default_rng(5), 400)
        assert out["min_r2"] > 0.99 and out["implied_relative_equivariance_error"] > 0.1
