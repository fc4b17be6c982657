"""The Sprites study's labelled probe on codes with known answers, and its guard on held-out seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.sprites_study import CANDIDATES, code_probe, plane_eta2, study_run


def _codes(rng, factors, orientation_on_plane: bool):
    """Plane 0: scale on a circle; plane 1: orientation's turn (or noise); planes 2, 3: x and y on circles."""
    turn = lambda v, n: np.stack([np.cos(2 * np.pi * v / n), np.sin(2 * np.pi * v / n)], 1)  # noqa: E731
    planes = [turn(factors[:, 1], 6),
              turn(factors[:, 2], 40) if orientation_on_plane else rng.normal(size=(len(factors), 2)),
              turn(factors[:, 3], 32), turn(factors[:, 4], 32)]
    return np.concatenate(planes, 1) + 0.01 * rng.normal(size=(len(factors), 8))


@pytest.fixture(scope="module")
def factors():
    rng = np.random.default_rng(0)
    n = 600
    return np.stack([np.zeros(n, int), rng.integers(0, 6, n), rng.integers(0, 40, n), rng.integers(0, 32, n),
                     rng.integers(0, 32, n)], 1)


def test_each_factor_is_found_on_its_own_plane(factors):
    probe = code_probe(_codes(np.random.default_rng(1), factors, True), factors)
    for i, name in enumerate(("scale", "orientation", "x", "y")):
        assert probe[name]["r2"] > 0.8, name
        assert probe[name]["plane_eta2"][i] > 0.95 and max(np.delete(probe[name]["plane_eta2"], i)) < 0.2, name


def test_a_factor_the_code_does_not_hold_scores_no_better_than_its_mean(factors):
    probe = code_probe(_codes(np.random.default_rng(1), factors, False), factors)
    assert probe["orientation"]["r2"] < 0.05 and max(probe["orientation"]["plane_eta2"]) < 0.2
    assert probe["x"]["r2"] > 0.8


def test_eta2_of_a_plane_that_is_a_function_of_the_factor_is_one():
    values = np.repeat(np.arange(5), 20)
    codes = np.stack([values, values**2, np.random.default_rng(0).normal(size=100), np.zeros(100)], 1).astype(float)
    eta = plane_eta2(codes, values)
    assert eta[0] == pytest.approx(1.0) and eta[1] < 0.2


def test_held_out_seeds_are_refused_and_candidates_are_named():
    with pytest.raises(ValueError, match="kept for reporting"):
        study_run("claim6", 100, 10, 10)
    assert {"claim6", "predicted", "known-group", "predicted-known-group"} <= set(CANDIDATES)


def test_supervised_turn_probe_records_r2_at_every_check_and_the_summary_shows_it(tmp_path):
    from experiments.sprites_study import supervised_turn_probe, write_summary

    record = supervised_turn_probe("relu", updates=4, check_every=2, batch_size=4)
    assert [c["update"] for c in record["checks"]] == [2, 4] and record["activation"] == "relu"
    assert all(c["turn_r2"] <= 1.0 for c in record["checks"])
    (tmp_path / "supervised-turn").mkdir()
    for name in ("relu", "selu"):  # selu.json matches the study runs' s*.json: it must not be read as one
        (tmp_path / "supervised-turn" / f"{name}.json").write_text(json.dumps(
            {**record, "activation": name}))
    write_summary(tmp_path)
    text = (tmp_path / "summary.md").read_text()
    assert "| relu | 0 | 4 | " in text and "| selu | 0 | 4 | " in text and "R^2 at each check (2, 4)" in text


def test_probes_take_the_pooled_encoder_and_say_so(tmp_path, monkeypatch):
    import vae.nets
    from experiments.sprites_study import pair_table, pair_turn_probe, supervised_turn_probe

    built = []

    class Recorded(vae.nets.Encoder):  # the probes import the encoder when called: record what they build
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self.pooled)

    monkeypatch.setattr(vae.nets, "Encoder", Recorded)
    assert supervised_turn_probe("relu", updates=2, check_every=2, batch_size=4, pooled=True)["pooled"] is True
    record = pair_turn_probe("equivariance-distinct", 0, updates=2, check_every=2, batch_size=4, pooled=True)
    assert record["pooled"] is True and np.isfinite(record["checks"][0]["loss"]) and built == [True, True]
    (tmp_path / "pair-turn").mkdir()
    (tmp_path / "pair-turn" / "equivariance-distinct-pooled-2_s0.json").write_text(json.dumps(record))
    assert "| equivariance-distinct | relu, pooled | 0 | 2 | " in pair_table(tmp_path)


def test_the_pair_objectives_are_least_for_a_plane_holding_the_turn_and_not_for_an_invariant():
    """The pair-turn probe asks whether gradient descent finds the turn; for that to mean anything, a plane holding
    the turn must score the objective's least value, and one holding a feature no action changes must not."""
    import torch

    from experiments.sprites_study import pair_objective

    rng = np.random.default_rng(0)
    n = 4000
    orientation, factor = rng.integers(0, 40, n), rng.integers(1, 5, n)
    step = rng.choice([-1, 1], n) * 4
    after = np.where(factor == 2, (orientation + step) % 40, orientation)
    turn = torch.as_tensor(np.where(factor == 2, 2 * np.pi * step / 40, 0.0), dtype=torch.float32)
    circle = lambda v, n: torch.as_tensor(np.stack([np.cos(2 * np.pi * v / n), np.sin(2 * np.pi * v / n)], 1),  # noqa: E731
                                          dtype=torch.float32)
    invariant = circle(rng.integers(0, 4, n), 4)  # x mod 4, say: no action of offset 4 changes it
    missed_plain, _ = pair_objective("equivariance", invariant, invariant, turn)
    missed_distinct, _ = pair_objective("equivariance-distinct", invariant, invariant, turn)
    assert float(missed_distinct) > float(missed_plain) + 1  # the hinge pays for each turned pair kept in place
    for objective in ("equivariance", "equivariance-distinct"):
        held, _ = pair_objective(objective, circle(orientation, 40), circle(after, 40), turn)
        missed, relative = pair_objective(objective, invariant, invariant, turn)
        twice, _ = pair_objective(objective, circle(orientation, 20), circle(after, 20), turn)  # the turn doubled
        assert float(held) < 0.01 < float(relative) and float(missed) > 0.05, objective
        assert float(twice) > float(held) + 0.05, objective


def test_pair_turn_probe_records_every_check_refuses_held_out_seeds_and_the_summary_shows_it(tmp_path):
    import json

    from experiments.sprites_study import PAIR_DIR, pair_turn_probe, write_summary

    record = pair_turn_probe("equivariance", 0, updates=4, check_every=2, batch_size=4)
    assert [c["update"] for c in record["checks"]] == [2, 4] and record["objective"] == "equivariance"
    assert all(c["turn_r2"] <= 1.0 and np.isfinite(c["loss"]) for c in record["checks"])
    with pytest.raises(ValueError, match="kept for reporting"):
        pair_turn_probe("equivariance", 100, updates=2, check_every=1)
    with pytest.raises(ValueError, match="objective must be one of"):
        pair_turn_probe("contrastive", 0, updates=2, check_every=1)
    with pytest.raises(ValueError, match="1 <= check_every <= updates"):
        pair_turn_probe("equivariance", 0, updates=2)  # checks every 500: it would measure nothing
    (tmp_path / PAIR_DIR).mkdir()
    for c in record["checks"]:
        c["update"] *= 500  # as if every 1,000 updates
    (tmp_path / PAIR_DIR / "equivariance-4_s0.json").write_text(json.dumps(record))
    write_summary(tmp_path)
    text = (tmp_path / "summary.md").read_text()
    assert "| equivariance | relu | 0 | 4 | " in text and "Can a pair objective find the turn?" in text
    assert all(0.0 <= c["turn_eta2"] <= 1.0 for c in record["checks"]) and record["pooled"] is False


def test_every_kept_study_run_names_a_candidate_and_every_kept_probe_an_objective():
    """A kept run can be rerun only while its candidate (or probe objective) is still defined."""
    from pathlib import Path

    from experiments.sprites_study import CANDIDATES, PAIR_DIR, PAIR_OBJECTIVES, SUPERVISED_DIR

    root = Path(__file__).resolve().parents[2] / "results" / "tuning" / "sprites"
    runs = [p for p in root.iterdir() if p.is_dir() and p.name not in (SUPERVISED_DIR, PAIR_DIR)]
    assert runs
    assert not [p.name for p in runs if p.name.rsplit("-", 1)[0] not in CANDIDATES]
    probes = [json.loads(p.read_text())["objective"] for p in (root / PAIR_DIR).glob("*.json")]
    assert probes and set(probes) <= set(PAIR_OBJECTIVES)
