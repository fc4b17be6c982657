"""Action estimation (Hungarian matching) and the relative equivariance error."""

import numpy as np
import pytest
from vae_synthetic import perfect_rho

from vae.metrics import action_estimation, equivariance_error, match_actions
from vae.metrics.action_estimation import balanced_actions


def test_permuted_labels_are_matched_exactly():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 4, 500)
    perm = np.array([2, 0, 3, 1])
    r = match_actions(true, perm[true], 4, 4)
    assert r["accuracy"] == 1.0 and r["accuracy_in_sample"] == 1.0
    assert r["mapping"].tolist() == perm.tolist()
    assert r["confusion"].sum() == 500


def test_more_latent_than_true_actions_and_noise():
    rng = np.random.default_rng(1)
    true = rng.integers(0, 4, 1000)
    latent = np.array([5, 1, 7, 3])[true]
    noisy = np.where(rng.random(1000) < 0.1, rng.integers(0, 8, 1000), latent)
    r = match_actions(true, noisy, 4, 8)
    assert r["mapping"].tolist() == [5, 1, 7, 3]
    assert r["confusion"].shape == (4, 8)
    assert 0.85 < r["accuracy"] < 0.95


def test_fewer_latent_than_true_actions_leave_some_unmatched():
    r = match_actions(np.array([0, 1, 2, 2]), np.array([0, 0, 1, 1]), 3, 2)
    assert r["accuracy_in_sample"] == 0.75 and sorted(r["mapping"].tolist()) == [-1, 0, 1]
    # Held out: the even half (true 0, 2) maps 0 -> 0, 2 -> 1 and scores the odd half (1, 2) 1 of 2; the
    # odd half maps 1 -> 0, 2 -> 1 and scores the even half 1 of 2.
    assert r["accuracy"] == 0.5 and r["chance"] == 0.5


def test_random_and_constant_guessers_score_chance_held_out():
    rng = np.random.default_rng(2)
    true = rng.integers(0, 4, 20_000)
    rand = match_actions(true, rng.integers(0, 4, 20_000), 4, 4)
    assert abs(rand["accuracy"] - 0.25) < 0.01 and abs(rand["chance"] - 0.25) < 0.01
    small = match_actions(true[:400], rng.integers(0, 4, 400), 4, 4)
    assert small["accuracy_in_sample"] > small["accuracy"] + 0.02  # the full-sample matching flatters noise
    const = match_actions(true, np.zeros_like(true), 4, 1)
    assert const["chance"] == np.bincount(true).max() / true.size
    assert abs(const["accuracy"] - const["chance"]) < 0.01


def test_balanced_actions_fill_both_halves_equally():
    a = balanced_actions(np.random.default_rng(0), 4, 1000)
    assert np.bincount(a[0::2]).tolist() == [125] * 4 and np.bincount(a[1::2]).tolist() == [125] * 4
    assert np.bincount(balanced_actions(np.random.default_rng(0), 3, 7)).tolist() in ([3, 2, 2], [2, 3, 2], [2, 2, 3])
    with pytest.raises(ValueError, match="num_actions"):
        balanced_actions(np.random.default_rng(0), 0, 10)


def test_action_estimation_chance_on_flatland(flatland):
    guess = np.random.default_rng(7)
    rand = action_estimation(lambda o, n: guess.integers(0, 4, len(o)), flatland, np.random.default_rng(0), 2000)
    assert rand["chance"] == 0.25 and abs(rand["accuracy"] - 0.25) < 0.03
    const = action_estimation(lambda o, n: np.zeros(len(o), dtype=int), flatland, np.random.default_rng(0), 2000)
    assert const["accuracy"] == 0.25 == const["chance"]  # both halves balanced: exactly chance
    assert const["confusion"].tolist() == [[500]] * 4  # full-sample confusion, num_latent inferred as 1


def test_action_estimation_on_flatland(flatland, perfect):
    perm = np.array([3, 2, 1, 0])

    def infer(obs, nxt):  # read the true action from the factor change, then relabel
        d = (perfect.factors(nxt) - perfect.factors(obs)) % 33
        true = np.where(d[:, 0] == 28, 0, np.where(d[:, 0] == 5, 1, np.where(d[:, 1] == 28, 2, 3)))
        return perm[true]

    r = action_estimation(infer, flatland, np.random.default_rng(0), 400)
    assert r["accuracy"] == 1.0 and r["mapping"].tolist() == perm.tolist() and r["chance"] == 0.25
    assert "accuracy_mirror" not in r  # a commutative world: its pairs have no second labelling


def test_equivariance_of_a_perfect_representation_is_zero(flatland, perfect):
    r = equivariance_error(perfect, flatland, np.random.default_rng(0), perfect_rho(), num_states=300)
    assert r["relative_error"] < 1e-20
    # The same rho with actions swapped within each symmetry is far from equivariant.
    bad = equivariance_error(perfect, flatland, np.random.default_rng(0), perfect_rho(), [1, 0, 3, 2], 300)
    assert bad["relative_error"] > 0.1
    # A permuted latent action set with the matching map is perfect again.
    perm = np.array([2, 3, 0, 1])
    mats = np.empty((4, 4, 4))
    mats[perm] = perfect_rho()
    assert equivariance_error(perfect, flatland, np.random.default_rng(0), mats, perm, 100)["relative_error"] < 1e-20


def test_bad_arguments(flatland, perfect):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="1-D integer"):
        match_actions(np.array([0.5]), np.array([0]))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        match_actions(np.array([0, 4]), np.array([0, 1]), num_true=4)
    with pytest.raises(ValueError, match="as many"):
        match_actions(np.array([0, 1]), np.array([0]))
    with pytest.raises(ValueError, match="action_matrices"):
        equivariance_error(perfect, flatland, rng, np.eye(4))
    with pytest.raises(ValueError, match="action_map"):
        equivariance_error(perfect, flatland, rng, perfect_rho(), [0, 1, 2])
    with pytest.raises(ValueError, match="identity action map"):
        equivariance_error(perfect, flatland, rng, perfect_rho()[:2])
    with pytest.raises(ValueError, match="L=6"):
        equivariance_error(perfect, flatland, rng, np.tile(np.eye(6), (4, 1, 1)), num_states=5)
    with pytest.raises(ValueError, match="infer_fn"):
        action_estimation(None, flatland, rng)
    with pytest.raises(ValueError, match="one latent action id per transition"):
        action_estimation(lambda o, n: np.zeros((len(o), 2), dtype=int), flatland, rng, 10)
