"""Group-relation error: world relations computed in the spec, and learned rho measured against them."""

import math

import gymnasium as gym
import numpy as np
import pytest
from vae_synthetic import perfect_rho

import flatland_env  # noqa: F401  (registers the worlds)
from flatland_env.relations import world_relations
from vae.metrics import evaluate, relation_errors
from vae.metrics.group_relations import word_matrix


def _spec(env_id):
    return gym.make(env_id).unwrapped.symmetry


def _apply_word(spec, word):
    """The cube's element reached from the identity by a word, by the spec's own action table."""
    g = 0
    for a in word:
        g = int(spec.table[a, g])
    return g


def test_cube_relations_hold_in_the_world_itself():
    spec = _spec("RotatingCube-v0")
    rels = world_relations(spec)
    for rel in rels:  # every relation is true of the world: both words reach the same element
        assert _apply_word(spec, rel.lhs) == _apply_word(spec, rel.rhs), rel
    kinds = [r.kind for r in rels]
    assert kinds.count("order") == 6 and kinds.count("inverse") == 6 and kinds.count("commutator") == 15
    # the world's non-commuting pairs get a non-empty commutator word, the commuting ones the empty word
    non_commuting = {r.actions for r in rels if r.kind == "commutator" and r.rhs}
    assert non_commuting == set(spec.non_commuting_pairs())


def test_the_cube_matrices_obey_every_relation_and_do_not_commute():
    spec = _spec("RotatingCube-v0")
    mats = np.asarray(spec.action_matrices, dtype=float)
    out = relation_errors(mats, world_relations(spec), spec.action_names)
    assert out["max_error"] < 1e-12
    pairs = [[spec.action_names[a] for a in p] for p in spec.non_commuting_pairs()]
    assert out["learned_non_commuting"] == out["world_non_commuting"] == pairs


def test_plane_quarter_turns_on_the_cube_fail_the_commutator_relations_only():
    """Quarter turns of one plane per axis (commuting, and no representation of the cube's group at all): orders
    and inverses hold, the commutator relations do not."""
    spec = _spec("RotatingCube-v0")
    mats = np.tile(np.eye(6), (6, 1, 1))
    for a in range(6):
        p, s = 2 * (a // 2), (1 if a % 2 == 0 else -1)
        mats[a, p:p + 2, p:p + 2] = [[0, -s], [s, 0]]
    out = relation_errors(mats, world_relations(spec), spec.action_names)
    assert out["max_error_by_kind"]["order"] < 1e-12 and out["max_error_by_kind"]["inverse"] < 1e-12
    assert out["max_error_by_kind"]["commutator"] > 0.5
    assert out["learned_non_commuting"] == [] and len(out["world_non_commuting"]) == 12


def test_flatland_order_error_grows_with_the_angle_error():
    spec = _spec("FlatLand-v0")
    rels = world_relations(spec)
    assert relation_errors(perfect_rho(), rels, spec.action_names)["max_error"] < 1e-9
    eps = 0.004  # each action off by eps: 33 actions are off by 33 eps
    angle = 2 * math.pi * 5 / 33 + eps
    mats = perfect_rho()
    for a, s in enumerate((-1, 1, -1, 1)):
        p = 2 * (a // 2)
        mats[a, p:p + 2, p:p + 2] = [[math.cos(s * angle), -math.sin(s * angle)],
                                     [math.sin(s * angle), math.cos(s * angle)]]
    out = relation_errors(mats, rels, spec.action_names)
    assert out["max_error_by_kind"]["order"] == pytest.approx(2 * math.sin(33 * eps / 2), rel=1e-6)
    assert out["max_error_by_kind"]["inverse"] < 1e-9 and out["max_error_by_kind"]["commutator"] < 1e-9


def test_latent_actions_are_read_through_the_action_map_and_unmatched_ones_left_out():
    spec = _spec("FlatLand-v0")
    rels = world_relations(spec)
    perm = [2, 3, 0, 1]
    mats = perfect_rho()[np.argsort(perm)]  # latent action perm[a] is true action a
    assert relation_errors(mats, rels, spec.action_names, perm)["max_error"] < 1e-9
    out = relation_errors(perfect_rho(), rels, spec.action_names, [0, 1, 2, -1])
    assert {r["relation"] for r in out["relations"] if r["error"] is None} == {
        "order(down)", "inverse(up)", "inverse(down)", "commutator(left, down)", "commutator(right, down)",
        "commutator(up, down)", "commutator(left, up)", "commutator(right, up)"}  # up's inverse word is down


def test_words_are_done_left_to_right():
    a, b = np.array([[0.0, -1], [1, 0]]), np.array([[1.0, 0], [0, -1]])
    np.testing.assert_allclose(word_matrix(np.stack([a, b]), (0, 1)), b @ a)
    np.testing.assert_allclose(word_matrix(np.stack([a, b]), ()), np.eye(2))


def test_the_suite_runs_it_and_continuous_worlds_are_refused_naming_why(flatland, perfect):
    class Model:
        encode = staticmethod(perfect)
        action_representations = staticmethod(perfect_rho)

    r = evaluate(Model(), flatland, num_samples=100, seed=0, metrics=["group_relations"])
    assert r["group_relations"]["max_error"] < 1e-9
    cont = gym.make("FlatLandContinuous-v0").unwrapped
    with pytest.raises(ValueError, match="continuous"):
        world_relations(cont.symmetry)


def test_bad_matrices_get_a_clear_error():
    spec = _spec("FlatLand-v0")
    with pytest.raises(ValueError, match="A_latent, L, L"):
        relation_errors(np.zeros((4, 4)), world_relations(spec), spec.action_names)
    with pytest.raises(ValueError, match="action_map"):
        relation_errors(perfect_rho(), world_relations(spec), spec.action_names, [0, 1, 2, 9])


def test_a_true_commutative_image_obeys_every_relation_and_only_the_commuting_check_tells():
    """Every quarter turn -> a half turn of one plane: the cube's group through its abelianisation C_2. It is a
    representation, so every relation holds; only the learned commutators (all I) tell it from the cube's."""
    from agents.training.evaluation import relation_acceptance

    spec = _spec("RotatingCube-v0")
    mats = np.tile(np.diag([-1.0, -1.0, 1.0]), (6, 1, 1))
    out = relation_errors(mats, world_relations(spec), spec.action_names)
    assert out["max_error"] < 1e-12 and out["learned_non_commuting"] == []
    suite = {"action_estimation": {"accuracy": 1.0}, "equivariance": {"relative_error": 0.0}, "group_relations": out}
    passed = relation_acceptance(suite)["passed"]
    assert passed["group_relations"] and not passed["non_commuting"] and not passed["all"]
