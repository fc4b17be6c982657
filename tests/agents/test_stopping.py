"""The label-free stopping rule: its decision, its measurement, that it reads no labels, and that runs record it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from agent_helpers import tiny_agent

import agents.latent_actions as latent_actions
from agents import BaseAgent
from agents.stopping import plateau_reached, relative_prediction_error
from agents.training.run import RunConfig, train

#: a rule that stops at its second check: any error counts as small, and any change as no improvement
EAGER = dict(stop_error=1e9, stop_check_every=2, stop_patience=1, stop_min_improvement=0.99, stop_probe_pairs=32,
             stop_min_move=0.0)


@pytest.mark.parametrize(
    "errors, expected",
    [
        ([0.5, 0.2, 0.05, 0.009], False),  # still falling fast
        ([0.5, 0.2, 0.0095, 0.0093, 0.0091, 0.0092], True),  # below threshold, flat for 3 checks
        ([0.5, 0.2, 0.03, 0.029, 0.029, 0.029], False),  # flat but above threshold
        ([0.009, 0.009, 0.009], False),  # too few checks to judge a plateau
        ([0.5, 0.02, 0.009, 0.0085, 0.0083, 0.0081], True),  # 10% of 0.009 is 0.0009: not beaten
        ([0.5, 0.02, 0.009, 0.0085, 0.0083, 0.0079], False),  # 0.0079 beats 0.009 by more than 10%
        ([0.5, 0.2, 0.009, 0.009, 0.009, float("nan")], False),
    ],
)
def test_plateau_decision(errors, expected):
    assert plateau_reached(errors, threshold=0.01, patience=3, min_improvement=0.1) is expected


def test_plateau_rejects_bad_settings():
    with pytest.raises(ValueError, match="patience"):
        plateau_reached([1.0, 1.0], 0.01, 0, 0.1)
    with pytest.raises(ValueError, match="min_improvement"):
        plateau_reached([1.0, 1.0], 0.01, 1, 1.5)


def test_relative_prediction_error_known_answers():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(200, 4))
    target = start @ np.diag([1.0, -1.0, 1.0, -1.0])
    assert relative_prediction_error(target, target, start) == 0.0
    # predicting the start itself: error = mean ||2 * (0, y, 0, w)||^2 against the spread of start
    expected = 4 * (start[:, [1, 3]] ** 2).sum(-1).mean() / ((start - start.mean(0)) ** 2).sum(-1).mean()
    assert relative_prediction_error(start, target, start) == pytest.approx(expected)
    assert relative_prediction_error(start, target, np.zeros_like(start)) == float("inf")
    with pytest.raises(ValueError, match="one shape"):
        relative_prediction_error(start, target[:, :2], start)


@pytest.mark.parametrize("field, value", [("stop_check_every", 0), ("stop_patience", -1), ("stop_error", -0.1),
                                          ("stop_min_improvement", 1.0), ("stop_probe_pairs", 0)])
def test_bad_stopping_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        tiny_agent(**{field: value})


def test_the_rule_stops_learn_early_and_says_why():
    agent = tiny_agent(**EAGER).learn(50, progress_bar=False)
    assert agent.num_steps == 4  # checks at updates 2 and 4; the second one completes a plateau
    assert "label-free equivariance error" in agent.stop_reason
    assert [s for s, _ in agent.self_checks] == [2, 4]
    off = tiny_agent(**{**EAGER, "stop_error": 0.0}).learn(6, progress_bar=False)
    assert off.num_steps == 6 and off.stop_reason is None and off.self_checks == []


def test_the_rule_reads_no_labels(monkeypatch):
    """The same agent measured on probe pairs whose action labels are replaced by garbage gives the same errors."""
    reference = tiny_agent(**EAGER).learn(50, progress_bar=False)

    real = latent_actions.make_pair_source

    def scrambled_labels(*args, **kwargs):
        source = real(*args, **kwargs)
        draw = source.next_batch

        def next_batch(n):
            t = draw(n)
            garbage = np.random.default_rng(123).integers(0, 1000, size=np.shape(t.actions))
            return dataclasses.replace(t, actions=garbage.astype(np.asarray(t.actions).dtype))

        source.next_batch = next_batch
        return source

    monkeypatch.setattr(latent_actions, "make_pair_source", scrambled_labels)
    scrambled = tiny_agent(**EAGER).learn(50, progress_bar=False)
    assert scrambled.self_checks == reference.self_checks
    assert scrambled.stop_reason == reference.stop_reason


def test_the_rule_does_not_change_the_training_stream():
    """Measuring draws probe pairs from a source of its own: the weights equal those of a run without the rule."""
    import torch

    measured = tiny_agent(**{**EAGER, "stop_error": 1e-12}).learn(4, progress_bar=False)  # checks, never stops
    plain = tiny_agent(**{**EAGER, "stop_error": 0.0}).learn(4, progress_bar=False)
    assert len(measured.self_checks) == 2 and measured.stop_reason is None
    for a, b in zip(measured.modules().parameters(), plain.modules().parameters()):
        assert torch.equal(a, b)


def test_checks_survive_save_and_load(tmp_path):
    agent = tiny_agent(**{**EAGER, "stop_error": 1e-12}).learn(4, progress_bar=False)
    agent.save(tmp_path / "a.pt")
    loaded = BaseAgent.load(tmp_path / "a.pt")
    assert loaded.self_checks == agent.self_checks


def test_a_run_records_why_it_stopped(tmp_path):
    agent = tiny_agent(**EAGER)
    result = train(agent, RunConfig(total_steps=40, progress=False, eval_samples=16), tmp_path / "run")
    assert result.metrics["run"]["stop_reason"].startswith("label-free equivariance error")
    assert result.metrics["num_steps"] == 4
    capped = train(tiny_agent(), RunConfig(total_steps=3, progress=False, eval_samples=16), tmp_path / "capped")
    assert capped.metrics["run"]["stop_reason"] == "reached --total-steps"


def _plateau_agent(**torus):
    """A torus agent whose rule sees a plateau of zero errors at its next check."""
    from agent_helpers import torus_agent

    agent = torus_agent(**torus, stop_error=0.015, stop_check_every=1, stop_patience=1, stop_min_improvement=0.99,
                        stop_probe_pairs=128)
    agent.self_checks = [(0, 0.0)]
    agent.num_steps = 1
    return agent


def test_the_rule_does_not_stop_while_a_latent_action_leaves_its_plane_unmoved():
    """An encoder that ignores y, with rho the identity on y's plane, has zero equivariance error: not learned."""
    static = _plateau_agent(ignore_y=True)
    static.rho.angles.data[2:] = 0.0  # y's latent actions: the identity
    assert static.self_equivariance_error() == pytest.approx(0.0, abs=1e-10)
    assert static.self_check_moves().min() == pytest.approx(0.0, abs=1e-10)
    assert static.stop_check() is None
    # the same rule on the exact torus, every latent action moving its plane, stops
    reason = _plateau_agent().stop_check()
    assert reason is not None and "moves the code" in reason
