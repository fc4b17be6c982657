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


def test_a_plane_turned_three_steps_per_action_holds_the_orientation_but_the_probe_reads_no_turn(factors):
    """Why the study's runs can hold the orientation on its own plane (eta^2 near 1) with the probe's R^2 below 0: a
    plane at 3 * 2pi/10 per action (k = 3, as faithful as k = 1) puts turns 13 orientations apart side by side, so
    the probe's trees, fitting the turn's cosine and sine, find no smooth map from the plane to them."""
    rng = np.random.default_rng(2)
    turn = 2 * np.pi * factors[:, 2] / 40
    probes = {}
    for k in (1, 3):
        codes = _codes(rng, factors, True)
        codes[:, 2:4] = np.stack([np.cos(k * turn), np.sin(k * turn)], 1) + 0.1 * rng.normal(size=(len(factors), 2))
        probes[k] = code_probe(codes, factors)["orientation"]
    assert probes[1]["plane_eta2"][1] > 0.95 and probes[1]["r2"] > 0.8  # the same noise, one step: read
    assert probes[3]["plane_eta2"][1] > 0.95 and probes[3]["r2"] < 0.2


def _rotation_blocks(angles):
    out = np.zeros((8, 8, 8))
    for a in range(8):  # action 2f+1 is factor f's "+": its plane turns by the angle, every other plane stays
        out[a] = np.eye(8)
        f, sign = a // 2, 1 if a % 2 else -1
        c, s = np.cos(sign * angles[f]), np.sin(sign * angles[f])
        out[a, 2 * f:2 * f + 2, 2 * f:2 * f + 2] = [[c, -s], [s, c]]
    return out


def test_orbit_step_errors_tell_a_faithful_plane_from_one_that_flips_or_turns_by_another_angle():
    from experiments.sprites_study import orbit_step_errors

    sizes = (6, 40, 32, 32)  # a faithful code: each factor's plane at 2 pi v / size; its offset-4 step is rho's angle
    steps = [2 * np.pi * 4 / n for n in sizes]

    def faithful(f):
        return np.concatenate([np.stack([np.cos(2 * np.pi * f[:, i + 1] / n), np.sin(2 * np.pi * f[:, i + 1] / n)], 1)
                               for i, n in enumerate(sizes)], 1)

    def flipping(f):  # the orientation plane flips sign with every other orbit step instead of turning
        z = faithful(f)
        z[:, 2:4] = np.where((f[:, 2] // 4 % 2 == 0)[:, None], 1.0, -1.0) * np.array([1.0, 0.2])
        return z

    def by(key):
        return lambda errors: [e[key] for e in errors]

    median, resultant = by("median"), by("resultant")
    exact = orbit_step_errors(faithful, _rotation_blocks(steps))
    assert max(median(exact)) < 1e-6 and min(resultant(exact)) > 1 - 1e-6
    flips = orbit_step_errors(flipping, _rotation_blocks(steps))  # a sign flip per step: a steady turn by pi
    assert flips[1]["mean"] == pytest.approx(np.pi - steps[1], abs=1e-3) and flips[1]["resultant"] > 1 - 1e-6
    assert max(median(flips)[:1] + median(flips)[2:]) < 1e-6

    def scattered(f):  # the orientation plane at an angle that is no function of the turn's order along the orbit
        z = faithful(f)
        angle = np.random.default_rng(0).uniform(0, 2 * np.pi, 40)[f[:, 2]]
        z[:, 2:4] = np.stack([np.cos(angle), np.sin(angle)], 1)
        return z

    scatter = orbit_step_errors(scattered, _rotation_blocks(steps), bases=20)
    assert scatter[1]["resultant"] < 0.3 and scatter[1]["median"] > 1.0
    # rho one step ahead of a plane that turns steadily: every step misses by the same -0.1
    ahead = orbit_step_errors(faithful, _rotation_blocks([steps[0], steps[1] + 0.1, *steps[2:]]))
    assert ahead[1]["median"] == pytest.approx(0.1, abs=1e-3) and ahead[1]["mean"] == pytest.approx(-0.1, abs=1e-3)
    assert ahead[1]["resultant"] == pytest.approx(1.0, abs=1e-6)


def test_eta2_of_a_plane_that_is_a_function_of_the_factor_is_one():
    values = np.repeat(np.arange(5), 20)
    codes = np.stack([values, values**2, np.random.default_rng(0).normal(size=100), np.zeros(100)], 1).astype(float)
    eta = plane_eta2(codes, values)
    assert eta[0] == pytest.approx(1.0) and eta[1] < 0.2


def test_held_out_seeds_are_refused_and_candidates_are_named():
    with pytest.raises(ValueError, match="kept for reporting"):
        study_run("claim6", 100, 10, 10)
    assert {"claim6", "predicted", "known-group", "predicted-known-group"} <= set(CANDIDATES)


def test_claim6_recipe_runs_the_studied_candidate_with_its_budget():
    """The held-out recipe rows of claim 6 must be the settings the study tuned, not a copy that drifted."""
    from experiments.claims import CLAIM6_RECIPE_UPDATES, claim6_plans
    from experiments.sprites_study import candidate_settings

    plans = {p.name: p for p in claim6_plans((100,))}
    studied, fix = candidate_settings(f"predicted-relu-pooled-distinct-1000-decay-{CLAIM6_RECIPE_UPDATES}")
    assert not fix and plans["forward-recipe_s100"].agent == studied
    assert plans["forward-recipe_s100"].total_steps == CLAIM6_RECIPE_UPDATES
    rgrvae = plans["rgrvae-recipe_s100"]
    assert rgrvae.total_steps == CLAIM6_RECIPE_UPDATES and rgrvae.data == plans["forward-recipe_s100"].data
    for key in ("activation", "pooled_encoder", "predicted_recon", "distinct", "distinct_margin", "lr_decay_steps",
                "stop_error", "latent_size", "recon_loss"):
        assert rgrvae.agent[key] == studied[key], key


def test_a_candidate_on_ellipses_trains_on_them_and_is_scored_against_their_frames_turn():
    """An ellipse looks the same after half a turn, so with offset 4 its turn has order 5 on the frames: the study
    scores its plane against 2*pi/5, probes the turn modulo 20 orientations, and never passes the shape to the agent
    as a setting."""
    from experiments.sprites_study import _agent, _targets, candidate_settings, candidate_shape, probe_frames

    name = "ellipse-predicted-relu-pooled-distinct-1000-decay-15000"
    assert candidate_shape(name) == "ellipse" and candidate_shape("claim6") == "heart"
    assert "shape" not in candidate_settings(name)[0]
    agent, _ = _agent(name, 1)
    try:
        assert agent.source.config.env_kwargs["shapes"] == "ellipse"
        np.testing.assert_allclose(_targets(agent), [2 * np.pi / 3, 2 * np.pi / 5, np.pi / 4, np.pi / 4])
    finally:
        agent.source.close()
    frames, factors = probe_frames(200, shape="ellipse")
    assert factors[:, 2].max() < 20 and frames.shape == (200, 64, 64, 1)
    from flatland_env.worlds.sprites import render_sprites

    turned = factors.copy()
    turned[:, 2] += 20  # half a turn: the same frames
    np.testing.assert_array_equal(render_sprites(turned, 64, ("ellipse",)), frames)


def test_step_errors_of_checkpoints_are_kept_and_shown_and_other_worlds_refused(tmp_path, load_script):
    """``--step-errors`` reads trained ForwardVAE checkpoints, keeps their misses and a summary of them; a run on
    another world (here all three shapes) is refused by name, and then nothing is written."""
    from agents.forward import ForwardVAE
    from experiments.claims import HEARTS
    from flatland_env.pairs import PairSourceConfig

    def saved(env_kwargs, name):
        agent = ForwardVAE(PairSourceConfig(HEARTS["env_id"], env_kwargs=env_kwargs, num_envs=1), seed=3,
                           latent_size=8, channels=(4, 4, 4, 4), hidden=16, batch_size=4)
        agent.learn(2, progress_bar=False)
        (tmp_path / name).mkdir()
        agent.save(tmp_path / name / "checkpoint.pt")
        agent.source.close()
        return tmp_path / name

    script = load_script("study_sprites")
    hearts, shapes = saved(HEARTS["env_kwargs"], "forward_s3"), saved({"offset": 4}, "all-shapes")
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="Sprites hearts with offset 4"):
        script.main(script.Args(step_errors=[hearts, shapes], step_out=out))
    assert not out.exists()
    script.main(script.Args(step_errors=[hearts], step_out=out))
    record = json.loads((out / "forward_s3.json").read_text())
    assert (record["run"], record["seed"], record["updates"]) == ("forward_s3", 3, 2)
    assert len(record["step_errors"]) == 4 and all(0 <= e["median"] <= np.pi for e in record["step_errors"])
    assert "| forward_s3 | 3 | 2 | " in (out / "summary.md").read_text()


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
