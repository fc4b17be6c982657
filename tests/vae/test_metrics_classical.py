"""Classical disentanglement metrics: hand-computable cases, and perfect, axis-aligned and random FlatLand codes."""

import math

import gymnasium as gym
import numpy as np
import pytest
from vae_synthetic import TableEncoder

from vae.metrics import (
    beta_vae_score,
    dci,
    dci_from_samples,
    factor_vae_score,
    mig,
    mig_from_samples,
    modularity_explicitness,
    sap,
    sap_from_samples,
)
from vae.metrics.dci import dci_from_importance
from vae.metrics.modularity import explicitness_from_samples, modularity_from_mi


def grid(*sizes, repeat=1):
    """Every combination of factor values, each ``repeat`` times: factors are exactly independent and uniform."""
    g = np.stack(np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij"), -1).reshape(-1, len(sizes))
    return np.tile(g, (repeat, 1))


def axis_code(f):
    """One latent per factor (x / 33, y / 33) and two constant latents."""
    return np.concatenate([f / 33.0, np.zeros((len(f), 2))], axis=1)


def run_all(enc, world, n=600):
    rng = lambda i: np.random.default_rng(i)  # noqa: E731
    return {
        "beta_vae": beta_vae_score(enc, world, rng(0), num_train=150, num_eval=100, batch_size=32)["eval_accuracy"],
        "factor_vae": factor_vae_score(enc, world, rng(1), num_train=150, num_eval=100, batch_size=32)["eval_accuracy"],
        "mig": mig(enc, world, rng(2), 5 * n)["mig"],  # plug-in MI is biased upwards at small n
        "dci": dci(enc, world, rng(3), n, n // 2),
        "sap": sap(enc, world, rng(4), n, n // 2)["sap"],
        "mod": modularity_explicitness(enc, world, rng(5), n, n // 2),
    }


def test_perfect_rotation_codes(flatland, perfect):
    r = run_all(perfect, flatland)
    assert r["beta_vae"] == 1.0 and r["factor_vae"] == 1.0
    assert r["dci"]["disentanglement"] > 0.9 and r["dci"]["informativeness_test"] > 0.95
    assert r["dci"]["completeness"] == pytest.approx(0.5, abs=0.1)  # two latents per factor: 1 - log 2 / log 4
    assert r["mod"]["modularity"] > 0.95 and r["mod"]["explicitness_test"] > 0.9
    # Each factor lives on a plane of two informative latents: MIG / SAP gaps are small by design.
    assert r["mig"] < 0.3 and r["sap"] < 0.1


def test_axis_aligned_codes_score_high_on_gap_metrics(flatland):
    enc = TableEncoder(flatland, axis_code)
    r = run_all(enc, flatland)
    assert r["mig"] > 0.7 and r["sap"] < 0.1  # 1-D linear classifiers barely separate 33 positions
    assert sap(enc, flatland, np.random.default_rng(0), 300, 150, continuous_factors=True)["sap"] > 0.9
    assert r["dci"]["disentanglement"] > 0.95 and r["dci"]["completeness"] > 0.95


def test_random_codes_are_at_chance(flatland, random_codes):
    r = run_all(random_codes, flatland)
    assert abs(r["beta_vae"] - 0.5) < 0.15 and abs(r["factor_vae"] - 0.5) < 0.15  # two factors
    assert r["mig"] < 0.03 and r["sap"] < 0.03
    assert r["dci"]["disentanglement"] < 0.15 and r["dci"]["informativeness_test"] < 0.1  # 33 classes
    assert abs(r["mod"]["explicitness_test"] - 0.5) < 0.1


class FactorStamped:
    """A world whose frames carry their own factors in the first pixels, so an encoder can copy them."""

    def __init__(self, world):
        self.world = world.unwrapped
        self.symmetry = self.world.symmetry

    def render_states(self, factors):
        frames = np.array(self.world.render_states(factors))
        frames[:, 0, : factors.shape[1], 0] = factors
        return frames


def test_real_sprites_world_with_all_five_factors_and_a_copying_code():
    world = FactorStamped(gym.make("Sprites-v0"))
    enc = lambda obs: obs[:, 0, :5, 0].astype(float)  # noqa: E731  (shape, scale, orientation, x, y)
    # 1,000 states: every value of every factor seen at least twice (a forest leaf holds 2 states at least),
    # so each factor is read from its own latent only.
    r = dci(enc, world, np.random.default_rng(0), 1000, 100)
    assert np.allclose(r["importance_matrix"], np.eye(5), atol=1e-6)
    assert r["disentanglement"] == pytest.approx(1.0, abs=1e-6) and r["completeness"] == pytest.approx(1.0, abs=1e-6)


# Hand-computable values -----------------------------------------------------------------------


def test_beta_vae_and_factor_vae_of_one_latent_per_factor_are_exactly_one(flatland):
    enc = TableEncoder(flatland, axis_code)
    for seed in range(2):
        b = beta_vae_score(enc, flatland, np.random.default_rng(seed), num_train=100, num_eval=100, batch_size=16)
        assert b == {"train_accuracy": 1.0, "eval_accuracy": 1.0}  # |z1 - z2| is 0 exactly on the fixed factor
        f = factor_vae_score(enc, flatland, np.random.default_rng(seed), num_train=100, num_eval=100, batch_size=16)
        assert f == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 2}  # the zero latents pruned
    # With two factors the beta-VAE score cannot see a missing one: "y fixed" is the batch whose
    # x-latent differs, "x fixed" the one whose features are all 0, so a code of x alone also scores 1.
    x_only = TableEncoder(flatland, lambda f: np.stack([f[:, 0] / 33.0, np.zeros(len(f))], axis=1))
    assert beta_vae_score(x_only, flatland, np.random.default_rng(0), 100, 100, 16)["eval_accuracy"] == 1.0


def test_mig_on_a_balanced_table():
    f = grid(4, 4, repeat=5)  # H(x) = H(y) = log 4; any code of x alone has I(code; y) = 0 exactly
    copy = mig_from_samples(f.astype(float), f)
    assert copy["mig"] == pytest.approx(1.0) and copy["mutual_info"] == pytest.approx(np.diag([math.log(4)] * 2))
    coarse = mig_from_samples(np.stack([f[:, 0], f[:, 0] // 2], 1).astype(float), f)
    assert coarse["per_factor"] == pytest.approx([0.5, 0.0])  # (log 4 - log 2) / log 4 for x; y not encoded
    assert coarse["mig"] == pytest.approx(0.25)
    assert mig_from_samples(np.stack([f[:, 0], f[:, 0]], 1).astype(float), f)["mig"] == pytest.approx(0.0)


def test_dci_from_importance_by_hand():
    r = dci_from_importance(np.array([[0.5, 0.0], [0.5, 0.0], [0.0, 1.0]]))
    assert r["disentanglement"] == pytest.approx(1.0, abs=1e-9)  # every latent serves one factor
    # factor 0 spread evenly over 2 of 3 latents: 1 - log 2 / log 3; factor 1 on one latent: 1; equal weights
    assert r["completeness"] == pytest.approx(0.5 * (1 - math.log(2) / math.log(3)) + 0.5, abs=1e-9)
    assert dci_from_importance(np.zeros((3, 2))) == pytest.approx({"disentanglement": 0.0, "completeness": 0.0})
    with pytest.raises(ValueError, match="non-negative"):
        dci_from_importance(np.array([[-1.0, 1.0]]))


@pytest.mark.parametrize("estimator", ["random_forest", "gradient_boosting"])
def test_dci_of_a_code_that_copies_the_factors(estimator):
    f = grid(6, 5, repeat=4)
    z = np.concatenate([f.astype(float), np.zeros((len(f), 1))], axis=1)
    r = dci_from_samples(z, f, z, f, estimator)
    assert np.allclose(r["importance_matrix"], [[1, 0], [0, 1], [0, 0]], atol=1e-3)
    assert r["disentanglement"] > 0.999 and r["completeness"] > 0.999
    assert r["informativeness_train"] == 1.0 and r["informativeness_test"] == 1.0


def test_sap_on_two_binary_factors():
    f = grid(2, 2, repeat=50)
    z = 2.0 * f - 1
    # Each latent predicts its factor perfectly; the other latent is independent of it on a balanced
    # table, so every classifier of it is right exactly half the time: gap 1 - 1/2 per factor.
    assert sap_from_samples(z, f, z, f)["score_matrix"] == pytest.approx(np.array([[1.0, 0.5], [0.5, 1.0]]))
    assert sap_from_samples(z, f, z, f)["sap"] == pytest.approx(0.5)
    # Continuous variant: R^2 is 1 for the copy and exactly 0 for the independent latent.
    assert sap_from_samples(z, f, z, f, continuous_factors=True)["sap"] == pytest.approx(1.0)


def test_modularity_and_explicitness_by_hand():
    assert modularity_from_mi(np.array([[1.0, 0.0], [0.0, 2.0]])) == 1.0
    # row 0 splits evenly (delta 1 -> 0); row 1: 1 - 1^2 / 3^2; row 2 carries nothing (0)
    assert modularity_from_mi(np.array([[1.0, 1.0], [3.0, 1.0], [0.0, 0.0]])) == pytest.approx((0 + 8 / 9 + 0) / 3)
    f = grid(3, 2, repeat=10)
    onehot = 5.0 * np.eye(3)[f[:, 0]]
    z = np.concatenate([onehot, f[:, 1:].astype(float)], axis=1)
    assert explicitness_from_samples(z, f, z, f) == (1.0, 1.0)  # every value separable from the rest
    const = np.ones((len(f), 2))
    assert explicitness_from_samples(const, f, const, f) == (0.5, 0.5)  # constant scores: AUC exactly 1/2


def test_explicitness_does_not_depend_on_the_latent_scale(flatland):
    rng = np.random.default_rng(0)
    f_tr, f_te = flatland.symmetry.sample_factors(rng, 600), flatland.symmetry.sample_factors(rng, 300)
    scores = [explicitness_from_samples(s * axis_code(f_tr), f_tr, s * axis_code(f_te), f_te) for s in (0.1, 1, 10)]
    assert scores[0] == pytest.approx(scores[1], rel=1e-6) and scores[2] == pytest.approx(scores[1], rel=1e-6)
    assert scores[1][1] > 0.9
    mod = [
        modularity_explicitness(
            TableEncoder(flatland, lambda x, s=s: s * axis_code(x)), flatland, np.random.default_rng(0), 600, 300
        )
        for s in (0.1, 10)
    ]
    assert mod[0]["explicitness_test"] == pytest.approx(mod[1]["explicitness_test"], rel=1e-6)


def test_bad_arguments(flatland, perfect):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="num_train"):
        beta_vae_score(perfect, flatland, rng, num_train=0)
    with pytest.raises(ValueError, match="estimator"):
        dci(perfect, flatland, rng, 20, 10, estimator="svm")
    with pytest.raises(ValueError, match="num_bins"):
        mig(perfect, flatland, rng, 20, num_bins=1)
    with pytest.raises(ValueError, match="Generator"):
        sap(perfect, flatland, None)
