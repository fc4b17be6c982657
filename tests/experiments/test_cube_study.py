"""The cube study on free codes: the exact mirror ambiguity, the objectives' records, slow features' span."""

import pytest
import torch

from experiments.cube_study import (
    OBJECTIVES,
    align_to_rotations,
    cluster_turns,
    free_code_run,
    label_free_estimate,
    mirror_codes,
    run_slow_turns,
    run_study,
    slowness_run,
    transitions,
)
from flatland_env.worlds.cube import cube_spec


def test_both_codes_are_exactly_equivariant_and_only_the_labels_tell_them_apart():
    scores = mirror_codes(seed=3)
    world, mirror = scores["world code g M"], scores["mirror code g^-1 M"]
    assert world["latent_error"] < 1e-10 and mirror["latent_error"] < 1e-10
    assert world["accuracy"] == 1.0 and mirror["accuracy_mirror"] == 1.0
    chance = pytest.approx(1 / 6, abs=1e-4)
    assert world["accuracy_mirror"] == chance and mirror["accuracy"] == chance
    assert world["separation"] > 0.5 and mirror["separation"] > 0.5  # 24 distinct codes
    g, a, h, b = transitions()
    assert len(g) == 144 and len(set(zip(g, h))) == 144


def test_slow_features_find_the_span_of_the_group_elements_on_which_every_action_is_linear():
    r = slowness_run(seed=0, steps=2000)
    assert r["in_span"] > 0.99 and r["linear_residual_world"] < 0.02 and r["linear_residual_mirror"] < 0.02
    short = slowness_run(seed=0, steps=50)  # not yet: the test can fail
    assert short["in_span"] < 0.9
    # without labels, the slow codes turned into rotations give turns that name one of the two labellings exactly
    e = r["estimate"]
    assert e["rotation_residual"] < 0.01 and e["turn_spread"] < 0.02
    assert max(e["accuracy"], e["accuracy_mirror"]) == 1.0 and min(e["accuracy"], e["accuracy_mirror"]) < 0.2
    assert short["estimate"]["rotation_residual"] > 0.05


def test_alignment_recovers_rotations_from_mixed_codes_and_the_turns_cluster_into_the_actions():
    g, a, h, b = transitions()
    elements = torch.tensor(cube_spec().elements, dtype=torch.float64).reshape(24, 9)
    mix = torch.linalg.qr(torch.randn(9, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64))[0]
    codes = 5.0 * elements @ mix + 2.0  # vec(g), turned in R^9, scaled and shifted
    rotations, _, residual = align_to_rotations(codes, seed=0)
    assert residual < 1e-8
    dets = torch.linalg.det(rotations.double())
    assert torch.allclose(dets, torch.ones(24, dtype=torch.float64), atol=1e-4)
    labels, spread = cluster_turns(rotations, g, h)
    assert spread < 1e-8 and len(set(labels.tolist())) == 6
    estimate = label_free_estimate(codes)
    assert max(estimate["accuracy"], estimate["accuracy_mirror"]) == 1.0
    noise = label_free_estimate(torch.randn(24, 9, generator=torch.Generator().manual_seed(2)))
    assert noise["rotation_residual"] > 0.1 and max(noise["accuracy"], noise["accuracy_mirror"]) < 0.6


def test_free_code_runs_are_seeded_and_refuse_what_is_not_allowed(tmp_path):
    a, b = free_code_run("latent-loss", 1, steps=30), free_code_run("latent-loss", 1, steps=30)
    assert a == b and set(a) >= {"accuracy", "accuracy_mirror", "latent_error", "separation"}
    with pytest.raises(ValueError, match="objective must be one of"):
        free_code_run("nope", 0)
    with pytest.raises(ValueError, match="tuning seeds"):
        run_study([100], out=tmp_path)
    record = run_study([0], steps=20, out=tmp_path)
    assert [r["objective"] for r in record["free_codes"]] == list(OBJECTIVES)
    assert "The pairs do not fix the labelling" in (tmp_path / "summary.md").read_text()


def test_slow_turn_runs_keep_every_seed_and_say_which_labelling_each_found(tmp_path):
    run_slow_turns([7], num_pairs=300, out=tmp_path)
    records = run_slow_turns([101], num_pairs=300, out=tmp_path)
    assert [r["seed"] for r in records] == [7, 101]
    assert all(len(r["slow_eigenvalues"]) == 12 for r in records)
    summary = (tmp_path / "summary.md").read_text()
    assert "## Tuning seeds" in summary and "## Held-out seeds" in summary
    assert any(word in summary for word in ("| world |", "| mirror |", "| neither |"))
