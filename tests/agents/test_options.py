"""Training options beyond the defaults: lr decay, noise, k-step pairs, multi-step policy, bf16."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from agent_helpers import tiny_agent

from agents import BaseCallback, GroundTruth, PairBatch, RGrVAE
from flatland_env.pairs import split_labels


def test_cosine_lr_decay_reaches_final_fraction():
    agent = tiny_agent(lr_decay_steps=10, lr_final_frac=0.1, lr_decay_error=0.0)
    initial = [g["lr"] for g in agent.optimizer.param_groups]
    agent.learn(5, progress_bar=False)
    mid = [g["lr"] for g in agent.optimizer.param_groups]
    agent.learn(10, progress_bar=False)
    final = [g["lr"] for g in agent.optimizer.param_groups]
    for lr0, lr_mid, lr_end in zip(initial, mid, final):
        assert lr_end == pytest.approx(0.1 * lr0)
        assert 0.1 * lr0 < lr_mid < lr0
    assert agent.lr_scale() == pytest.approx(0.1)


def test_the_decay_waits_for_the_label_free_error_and_survives_a_checkpoint(tmp_path):
    from agents import BaseAgent

    waiting = tiny_agent(lr_decay_steps=4, lr_decay_error=1e-9, stop_error=0.0, stop_check_every=2,
                         stop_probe_pairs=32).learn(6, progress_bar=False)
    assert waiting.lr_decay_start is None and waiting.lr_scale() == 1.0  # the error never got that small
    started = tiny_agent(lr_decay_steps=4, lr_final_frac=0.1, lr_decay_error=1e9, stop_error=0.0,
                         stop_check_every=2, stop_probe_pairs=32).learn(2, progress_bar=False)
    assert started.lr_decay_start == 2  # the first check finds any error small enough
    started.learn(4, progress_bar=False)
    assert started.lr_scale() == pytest.approx(0.1)
    started.save(tmp_path / "a.pt")
    assert BaseAgent.load(tmp_path / "a.pt").lr_decay_start == 2


def test_gradient_clipping_bounds_a_wild_batch():
    agent = tiny_agent(grad_clip=2.0)
    agent.learn(3, progress_bar=False)
    typical = float(np.median(agent.grad_norms))
    batch, _ = split_labels(agent.source.next_batch(16))
    wild = PairBatch(np.full_like(batch.obs, 255), batch.next_obs)  # frames unlike any seen
    loss, _ = agent._loss(wild)
    agent.optimizer.zero_grad()
    (1e6 * loss).backward()  # a gradient a million times too large
    agent._clip_gradients()
    clipped = torch.sqrt(sum(p.grad.pow(2).sum() for p in agent._guard.params if p.grad is not None))
    assert float(clipped) == pytest.approx(2.0 * typical, rel=1e-3)


class Capture(BaseCallback):
    def __init__(self) -> None:
        self.seen: list[tuple[PairBatch, GroundTruth]] = []

    def on_step(self, agent, stats, batch, truth) -> bool:
        self.seen.append((batch, truth))
        return True


@pytest.mark.parametrize("noise", ["uniform", "salt", "backgrounds"])
def test_noise_reaches_the_learner(noise):
    agent = tiny_agent(data={"noise": noise})
    cap = Capture()
    agent.learn(2, callback=cap, progress_bar=False)
    batch, truth = cap.seen[0]
    clean = agent.world.render_states(truth.factors)
    changed = (batch.obs != clean).mean()
    assert 0.01 < changed
    if noise == "backgrounds":  # one background per pair: the black pixels of both frames agree
        both_black = (agent.world.render_states(truth.next_factors) == 0) & (clean == 0)
        assert np.array_equal(batch.obs[both_black], batch.next_obs[both_black])


def test_background_folder_missing_or_empty_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="nope"):
        tiny_agent(data={"noise": "backgrounds", "background_dir": str(tmp_path / "nope")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no images"):
        tiny_agent(data={"noise": "backgrounds", "background_dir": str(tmp_path / "empty")})


def test_k_step_pairs_with_multi_step_policy():
    agent = tiny_agent(data={"k": 2}, action_steps=2, discounted=True, policy_update="reinforce")
    agent.learn(3, progress_bar=False)
    assert agent.num_steps == 3
    forward = tiny_agent("forward", data={"k": 3})
    forward.learn(3, progress_bar=False)  # composes the 3 true actions of each pair
    assert forward.num_steps == 3


def test_bf16_loss_matches_float32_within_tolerance():
    """Autocast changes only the conv nets' precision: the same batch gives nearly the same loss."""
    losses = {}
    for precision in ("fp32", "bf16"):
        agent = tiny_agent("forward", precision=precision)
        batch, truth = split_labels(agent.source.next_batch(16))
        torch.manual_seed(0)
        with torch.no_grad():
            loss, _ = agent._loss(batch, truth.actions)
        losses[precision] = float(loss)
    assert math.isfinite(losses["bf16"])
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.02)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"latent_size": 3}, "even"),
        ({"gamma": -1.0}, "gamma"),
        ({"angle_lr": 0.0}, "angle_lr"),
        ({"lr_final_frac": 0.0}, "lr_final_frac"),
        ({"precision": "fp8"}, "precision"),
        ({"lr": 1e30}, "lr"),
        ({"structure": ("c+", "x")}, "structure"),
        ({"not_a_flag": 1}, "unknown hyperparameters"),
        ({"activation": "tanh"}, "activation must be one of selu, relu"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RGrVAE("FlatLand-v0", **kwargs)


@pytest.mark.parametrize(
    "env_id, message", [("CartPole-v9", "not registered"), ("CartPole-v1", "not a symmetry world")]
)
def test_unknown_or_foreign_env_id_names_the_worlds(env_id, message):
    with pytest.raises(ValueError, match=f"{message}.*FlatLand-v0"):
        RGrVAE(env_id)


def test_relu_backbone_has_no_selu_and_survives_a_checkpoint(tmp_path):
    from agents import BaseAgent

    agent = tiny_agent("forward", activation="relu")
    kinds = {type(m) for m in agent.vae.modules()}
    assert torch.nn.ReLU in kinds and torch.nn.SELU not in kinds
    assert torch.nn.SELU in {type(m) for m in tiny_agent("forward").vae.modules()}  # the default stays SELU
    agent.learn(2, progress_bar=False)
    agent.save(tmp_path / "a.pt")
    loaded = BaseAgent.load(tmp_path / "a.pt")
    assert loaded.config.activation == "relu"
    frames = np.zeros((2, 64, 64, 1), np.uint8)
    np.testing.assert_allclose(loaded.encode(frames), agent.encode(frames), atol=1e-6)
