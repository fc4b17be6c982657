"""The predicted-frame loss (``predicted_recon``): x2 decoded from rho(a) z1 joins the loss with its weight."""

from __future__ import annotations

import pytest
import torch
from agent_helpers import tiny_agent

from flatland_env.pairs import split_labels


def _loss_pair(model: str, weight: float):
    """The loss of one batch with the term off and with it at ``weight``, from the same random state."""
    agent = tiny_agent(model, precision="fp32")
    batch, truth = split_labels(agent.source.next_batch(8))
    labels = (truth.actions,) if agent.uses_labels else ()
    state = agent.generator.get_state()
    agent.modules().train()
    off, _ = agent._loss(batch, *labels)
    agent.config.predicted_recon = weight
    agent.generator.set_state(state)
    on, stats = agent._loss(batch, *labels)
    return float(off.detach()), float(on.detach()), stats


@pytest.mark.parametrize("model, weight", [("forward", 2.0), ("rgrvae", 0.5)])
def test_the_weighted_reconstruction_of_x2_from_the_prediction_joins_the_loss(model, weight):
    """ForwardVAE predicts with the true actions, RGrVAE with the latent actions its policy chose."""
    off, on, stats = _loss_pair(model, weight)
    assert stats["predicted_recon"] > 0
    assert on - off == pytest.approx(weight * float(stats["predicted_recon"]), rel=1e-4)


def test_off_by_default_as_in_the_paper():
    agent = tiny_agent("forward")
    assert agent.config.predicted_recon == 0.0
    batch, truth = split_labels(agent.source.next_batch(8))
    assert "predicted_recon" not in agent.train_step(batch, truth.actions)


def test_the_predicted_frame_moves_the_angles():
    """With the latent loss off, the angles learn only through the decoded prediction of x2."""
    agent = tiny_agent("forward", gamma=0.0, predicted_recon=1.0, angle_lr=0.05, precision="fp32")
    before = agent.rho.effective_angles().detach().clone()
    agent.learn(5, progress_bar=False)
    assert not torch.allclose(before, agent.rho.effective_angles().detach())
    still = tiny_agent("forward", gamma=0.0, angle_lr=0.05, precision="fp32")
    before = still.rho.effective_angles().detach().clone()
    still.learn(5, progress_bar=False)
    assert torch.allclose(before, still.rho.effective_angles().detach())


def test_a_negative_weight_is_a_clear_error():
    with pytest.raises(ValueError, match="predicted_recon"):
        tiny_agent("forward", predicted_recon=-1.0)


def test_the_change_weight_counts_the_pixels_that_differ_between_the_frames():
    """Each pixel where x1 and x2 differ counts 1 + change_weight; with x1 == x2 nothing changes."""
    from vae.model import reconstruction_loss

    agent = tiny_agent("forward", precision="fp32", predicted_recon=1.0, change_weight=9.0)
    z = torch.zeros(2, agent.config.latent_size)
    with torch.no_grad():
        logits = agent.vae.decode(z).float()
    x2 = torch.zeros_like(logits)
    x1 = x2.clone()
    x1[:, :, :4, :4] = 1.0  # 16 pixels per channel differ
    plain = reconstruction_loss(logits, x2)
    with torch.no_grad():
        assert float(agent.predicted_frame_loss(z, x2, x2)) == pytest.approx(float(plain), rel=1e-5)
        changed = float(agent.predicted_frame_loss(z, x2, x1))
    mask = (x1 != x2).float()
    extra = 9.0 * float((torch.sigmoid(logits).pow(2) * mask).flatten(1).sum(1).mean())
    assert changed == pytest.approx(float(plain) + extra, rel=1e-5) and extra > 0
    with pytest.raises(ValueError, match="change_weight"):
        tiny_agent("forward", change_weight=-1.0)
    with pytest.raises(ValueError, match="predicted-frame loss, which is off"):
        tiny_agent("forward", change_weight=1.0)
