"""Label-free diagnostics on codes with known answers, and the verdict a run writes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from agent_helpers import tiny_agent, torus_agent

from agents.diagnostics import action_moves, diagnose, diagnose_codes, sequence_products
from agents.training.evaluation import verdict
from vae.groups import GroupRepresentation


def torus(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 2 * np.pi, (2, n))
    a = rng.integers(0, 4, n)
    theta = 2 * np.pi * 5 / 33
    dx = np.select([a == 0, a == 1], [theta, -theta], 0.0)
    dy = np.select([a == 2, a == 3], [theta, -theta], 0.0)

    def embed(u, v):
        return np.stack([np.cos(u), np.sin(u), np.cos(v), np.sin(v)], 1)

    return embed(x, y), embed(x + dx, y + dy), a, theta


def matrices(theta, structure=("c+", "c-")):
    rep = GroupRepresentation(4, structure)
    rep.angles.data[:] = rep.angles.new_tensor([theta, -theta, theta, -theta])
    return rep.matrices().detach().numpy()


def test_a_perfect_code_and_policy():
    z1, z2, a, theta = torus()
    d = diagnose_codes(matrices(theta), z1, z2, a)
    assert d["plane_share"] == pytest.approx(1.0)
    assert d["best_error"] == pytest.approx(0.0, abs=1e-12) and d["policy_error"] == pytest.approx(0.0, abs=1e-12)
    assert d["agreement"] == 1.0 and d["latent_actions_used"] == 4
    assert d["spread"] == pytest.approx(2.0, rel=0.1)  # two unit circles
    # each rotation moves half the code (one of two unit circles) by 2 (1 - cos theta)
    assert d["smallest_move"] == pytest.approx(2 * (1 - math.cos(theta)) / d["spread"], rel=1e-6)


def test_a_wrong_policy_and_a_static_plane_show():
    z1, z2, a, theta = torus()
    wrong = diagnose_codes(matrices(theta), z1, z2, (a + 2) % 4)  # picks the other plane
    assert wrong["agreement"] == 0.0 and wrong["policy_error"] > 0.3 and wrong["best_error"] < 1e-12
    static = matrices(theta)
    static[2:] = np.eye(4)  # plane 1's latent actions do nothing
    assert diagnose_codes(static, z1, z2, a)["smallest_move"] == 0.0
    np.testing.assert_allclose(action_moves(static, z1)[2:], 0.0)


def test_sequences_compose_in_order_and_commuting_orders_agree():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(3, 2, 2))
    p = sequence_products(m, 2)
    for a1 in range(3):
        for a2 in range(3):
            np.testing.assert_allclose(p[np.ravel_multi_index((a1, a2), (3, 3))], m[a2] @ m[a1])
    z1, _, _, theta = torus()
    mats = matrices(theta)
    z2 = z1 @ (mats[0] @ mats[2]).T  # two steps: x+ and y+
    d = diagnose_codes(mats, z1, z2, np.tile([2, 0], (len(z1), 1)))  # the same two in the other order
    assert d["agreement"] == 1.0 and d["policy_error"] == pytest.approx(0.0, abs=1e-12)


def test_an_agent_with_an_exact_code_is_judged_learned():
    agent = torus_agent()
    pairs = agent.probe_pairs()
    assert diagnose(agent, pairs.obs, pairs.next_obs)["plane_share"] == pytest.approx(1.0, abs=1e-6)
    v = verdict(agent, None)
    assert v["learned"] and v["label_free"]["learned"] and v["problems"] == []


def test_an_untrained_agent_is_judged_not_learned_with_reasons():
    agent = tiny_agent(stop_probe_pairs=64)
    v = verdict(agent, {"passed": {"action_accuracy": False, "angles": False, "equivariance": False,
                                   "all": False}})
    assert not v["learned"] and v["problems"]
    assert "criteria (a)-(c) not met" in v["summary"]


def test_plane_norm_change_is_zero_for_rotations_of_any_length_and_large_for_mixed_planes():
    from agents.diagnostics import MAX_PLANE_NORM_CHANGE, plane_norm_change

    z1, _, _, theta = torus()
    mats = matrices(theta)
    two_steps = z1 @ (mats[0] @ mats[2]).T  # x+ then y+: a move across both planes, still rotations
    assert plane_norm_change(z1, two_steps) == pytest.approx(0.0, abs=1e-12)
    swap = [0, 2, 1, 3]  # the same torus with x on axes (0, 2) and y on (1, 3)
    x1, x2, _, _ = torus()
    assert plane_norm_change(x1[:, swap], x2[:, swap]) > MAX_PLANE_NORM_CHANGE
