"""ForwardVAE on a continuous torus (FlatLandContinuous-v0): rho(a) = R(W a) trains, learns, round-trips,
evaluates; the agents that need a finite list of actions refuse the world by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from agent_helpers import tiny_agent

from agents import BaseAgent
from agents.training.evaluation import evaluate_agent
from flatland_env.pairs import split_labels
from vae.continuous_planes import LinearPlaneRepresentation
from vae.metrics.continuous_actions import continuous_action_metrics

CONTINUOUS = {"env_id": "FlatLandContinuous-v0"}


@pytest.fixture(scope="module")
def agent():
    return tiny_agent("forward", data=CONTINUOUS)


def test_it_trains_on_action_vectors_and_round_trips(agent, tmp_path):
    assert isinstance(agent.rho, LinearPlaneRepresentation) and agent.rho.weights.shape == (2, 2)
    fast = agent.optimizer.param_groups[1]
    assert fast["params"] == [agent.rho.weights] and fast["lr"] == agent.config.angle_lr
    start = agent.rho.weights.detach().clone()
    batch, truth = split_labels(agent.source.next_batch(agent.config.batch_size))
    assert truth.actions.dtype.kind == "f" and truth.actions.shape == (16, 1, 2)
    stats = agent.train_step(batch, truth.actions)
    assert np.isfinite(stats["loss"]) and np.isfinite(stats["pred"])
    assert not torch.equal(agent.rho.weights.detach(), start)
    path = tmp_path / "ckpt.pt"
    agent.save(path)
    loaded = BaseAgent.load(path)
    assert isinstance(loaded.rho, LinearPlaneRepresentation)
    z, a = agent.encode(batch.obs), truth.actions[:, 0]
    np.testing.assert_array_equal(loaded.encode(batch.obs), z)
    np.testing.assert_array_equal(loaded.predict_latents(z, a), agent.predict_latents(z, a))
    loaded.learn(2, progress_bar=False)  # and resumes
    assert loaded.num_steps == agent.num_steps + 2


def test_a_short_run_measurably_learns():
    """100 updates of a tiny network halve the equivariance error of rho with the true action vectors."""
    agent = tiny_agent("forward", data=CONTINUOUS)
    before = continuous_action_metrics(agent, agent.world, np.random.default_rng(0), 300)
    agent.learn(100, progress_bar=False)
    after = continuous_action_metrics(agent, agent.world, np.random.default_rng(0), 300)
    assert after["relative_equivariance_error"] < 0.5 * before["relative_equivariance_error"]


def test_evaluation_writes_the_continuous_criteria_and_a_verdict(agent, tmp_path):
    record = evaluate_agent(agent, tmp_path, num_samples=100, progress=False)
    acc = record["acceptance"]
    assert set(acc["passed"]) == {"angle_r2", "equivariance", "all"}
    assert acc["min_angle_r2"] == record["metrics"]["continuous_actions"]["min_r2"]
    assert record["verdict"]["learned"] == acc["passed"]["all"]
    assert "continuous" in record["metrics"]["action_estimation"]["skipped"]
    assert [row["plane"] for row in record["latent_actions"]] == [0, 1]


def test_what_needs_a_finite_list_of_actions_is_refused_by_name(agent):
    with pytest.raises(ValueError, match="learns discrete actions.*use forward, vae"):
        tiny_agent("rgrvae", data=CONTINUOUS)
    with pytest.raises(ValueError, match="stop_error"):
        tiny_agent("forward", data=CONTINUOUS, stop_error=0.01)
    with pytest.raises(ValueError, match="group"):
        tiny_agent("forward", data=CONTINUOUS, group="so3")
    with pytest.raises(ValueError, match="no finite list"):
        agent.action_representations()
    with pytest.raises(ValueError, match="vectors, not classes"):
        agent.infer_actions(np.zeros((1, 64, 64, 1), np.uint8), np.zeros((1, 64, 64, 1), np.uint8))
    finite = tiny_agent("forward")
    with pytest.raises(ValueError, match="only a continuous world"):
        finite.predict_latents(np.zeros((1, 4)), np.zeros((1, 2)))


def test_the_beta_vae_trains_on_it_too():
    vae = tiny_agent("vae", data=CONTINUOUS)
    vae.learn(2, progress_bar=False)
    assert vae.num_steps == 2
