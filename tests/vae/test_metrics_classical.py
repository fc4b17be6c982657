"""Classical disentanglement metrics: perfect, axis-aligned and random FlatLand codes."""

import gymnasium as gym
import numpy as np
import pytest
from vae_synthetic import TableEncoder

from vae.metrics import beta_vae_score, dci, factor_vae_score, mig, modularity_explicitness, sap


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
    assert r["beta_vae"] > 0.99 and r["factor_vae"] > 0.99
    assert r["dci"]["disentanglement"] > 0.9 and r["dci"]["informativeness_test"] > 0.95
    assert r["dci"]["completeness"] == pytest.approx(0.5, abs=0.1)  # two latents per factor: 1 - log 2 / log 4
    assert r["mod"]["modularity"] > 0.95 and r["mod"]["explicitness_test"] > 0.9
    # Each factor lives on a plane of two informative latents: MIG / SAP gaps are small by design.
    assert 0.0 <= r["mig"] < 0.3 and 0.0 <= r["sap"] < 0.1


def test_axis_aligned_codes_score_high_on_gap_metrics(flatland):
    enc = TableEncoder(flatland, lambda f: np.concatenate([f / 33.0, np.zeros((len(f), 2))], axis=1))
    r = run_all(enc, flatland)
    assert r["mig"] > 0.7 and 0.0 <= r["sap"] < 0.1  # 1-D linear classifiers barely separate 33 positions
    assert sap(enc, flatland, np.random.default_rng(0), 300, 150, continuous_factors=True)["sap"] > 0.9
    assert r["dci"]["disentanglement"] > 0.95 and r["dci"]["completeness"] > 0.95


def test_random_codes_are_at_chance(flatland, random_codes):
    r = run_all(random_codes, flatland)
    assert abs(r["beta_vae"] - 0.5) < 0.15 and abs(r["factor_vae"] - 0.5) < 0.15  # two factors
    assert r["mig"] < 0.03 and r["sap"] < 0.03
    assert r["dci"]["disentanglement"] < 0.15 and r["dci"]["informativeness_test"] < 0.1  # 33 classes
    assert abs(r["mod"]["explicitness_test"] - 0.5) < 0.1


def test_real_sprites_world_runs_with_all_five_factors():
    world = gym.make("Sprites-v0")  # an env is accepted as well as the unwrapped world
    enc = lambda obs: obs.reshape(len(obs), -1)[:, ::700].astype(float)  # noqa: E731
    r = dci(enc, world, np.random.default_rng(0), 60, 30)
    assert r["importance_matrix"].shape[1] == 5  # shape, scale, orientation, x, y
    assert 0 <= r["disentanglement"] <= 1


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
