"""Backbone VAE: shapes, loss parts, and the one obs -> tensor conversion."""

import numpy as np
import pytest
import torch

from vae.model import VAE, kl_divergence, reconstruction_loss, vae_loss
from vae.preprocess import obs_to_tensor, tensor_to_frames


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return VAE(in_channels=1, latent_size=4)


def test_shapes_and_mean_at_evaluation(model):
    x = torch.rand(3, 1, 64, 64)
    model.train()
    out = model(x, generator=torch.Generator().manual_seed(0))
    assert out.logits.shape == x.shape and out.mu.shape == out.logvar.shape == out.z.shape == (3, 4)
    assert not torch.equal(out.z, out.mu)
    model.eval()
    out = model(x)
    assert torch.equal(out.z, out.mu)


def test_loss_parts():
    x = torch.rand(2, 1, 8, 8)
    logits = torch.zeros_like(x)
    expected = ((0.5 - x) ** 2).flatten(1).sum(1).mean()
    assert torch.allclose(reconstruction_loss(logits, x), expected)
    zeros = torch.zeros(2, 4)
    assert kl_divergence(zeros, zeros).item() == 0.0
    mu = torch.ones(2, 4)
    assert kl_divergence(mu, zeros).item() == pytest.approx(2.0)  # 0.5 * sum mu^2 over 4 dims


def test_bernoulli_loss_is_the_cross_entropy_and_keeps_a_written_off_pixel_s_gradient():
    x = torch.rand(2, 1, 8, 8)
    logits = torch.randn(2, 1, 8, 8)
    p = torch.sigmoid(logits)
    expected = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1).mean()
    assert torch.allclose(reconstruction_loss(logits, x, "bernoulli"), expected, atol=1e-5)
    # a bright pixel the decoder paints black: squared error's gradient shrinks with the sigmoid's slope
    dark = torch.full((1, 1, 1, 1), -6.0, requires_grad=True)
    grads = {}
    for kind in ("squared", "bernoulli"):
        (g,) = torch.autograd.grad(reconstruction_loss(dark, torch.ones(1, 1, 1, 1), kind), dark)
        grads[kind] = abs(g.item())
    assert grads["bernoulli"] > 0.99 and grads["squared"] < 0.01
    with pytest.raises(ValueError, match="recon_loss must be one of"):
        reconstruction_loss(logits, x, "poisson")


def test_vae_loss_beta_and_capacity(model):
    x = torch.rand(2, 1, 64, 64)
    model.eval()
    out = model(x)
    plain = vae_loss(out, x, beta=1.0)
    assert torch.allclose(plain["loss"], plain["recon"] + plain["kl"])
    beta4 = vae_loss(out, x, beta=4.0)
    assert torch.allclose(beta4["loss"], plain["recon"] + 4 * plain["kl"])
    cap = vae_loss(out, x, beta=2.0, capacity=5.0, capacity_leadin=10, step=5)
    assert torch.allclose(cap["loss"], plain["recon"] + 2 * (plain["kl"] - 2.5).abs())
    with pytest.raises(ValueError, match="beta"):
        vae_loss(out, x, beta=-1.0)
    with pytest.raises(ValueError, match="capacity"):
        vae_loss(out, x, capacity=-1.0)


def test_obs_to_tensor_contract():
    obs = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    t = obs_to_tensor(obs)
    assert t.shape == (2, 3, 64, 64) and t.dtype == torch.float32
    assert t.min() >= 0 and t.max() <= 1
    assert torch.allclose(t[1, 2], torch.from_numpy(obs[1, :, :, 2]).float() / 255)
    assert obs_to_tensor(obs[0]).shape == (1, 3, 64, 64)
    assert np.array_equal(tensor_to_frames(t), obs)
    assert obs_to_tensor(torch.from_numpy(obs)).shape == (2, 3, 64, 64)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 64, 64, 1), np.float32), "uint8"),
        (np.zeros((64, 64), np.uint8), "shape"),
        ([[0, 1]], "numpy array or torch tensor"),
        (torch.zeros(1, 8, 8, 1), "uint8"),
    ],
)
def test_obs_to_tensor_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        obs_to_tensor(bad)


def test_bad_network_arguments():
    with pytest.raises(ValueError, match="latent_size"):
        VAE(latent_size=0)
    with pytest.raises(ValueError, match="divisible"):
        VAE(frame_size=60)


def _heart() -> torch.Tensor:
    """A Sprites-v0 heart clear of the frame's edges, (1, 1, 64, 64) in [0, 1]."""
    from flatland_env.worlds.sprites import render_sprites

    frame = render_sprites(np.array([[0, 3, 8, 8, 8]]), 64, ("heart",))
    return torch.as_tensor(frame, dtype=torch.float32).permute(0, 3, 1, 2) / 255


def test_pooled_encoder_sees_a_sprite_the_same_wherever_it_sits():
    """The pooled view is the maxima of the last two conv maps: a shift by the last map's stride (16 px) moves the
    sprite's responses between cells but leaves their maxima as they were, while the flattened map changes. (The
    conv biases are zeroed so that the black background answers like the zero padding at the frame's edge.)"""
    from vae.nets import Encoder

    torch.manual_seed(0)
    encoder = Encoder(1, 8, activation="relu", pooled=True).eval()
    with torch.no_grad():
        for layer in encoder.convs:
            if isinstance(layer, torch.nn.Conv2d):
                layer.bias.zero_()
        heart = _heart()
        here, there = encoder.features(heart), encoder.features(torch.roll(heart, (16, 16), (2, 3)))
    pooled = 32 + 32
    assert here.shape == (1, 512 + pooled)
    assert torch.allclose(here[:, -pooled:], there[:, -pooled:], atol=1e-6)
    assert not torch.allclose(here[:, :-pooled], there[:, :-pooled], atol=1e-3)


def test_pooled_encoder_is_off_by_default_and_keeps_the_flat_encoder_s_state_dict_keys():
    """Checkpoints of the flat encoder load unchanged: its parameter names and shapes are the paper's."""
    from vae.nets import Encoder

    flat, pooled = Encoder(1, 8), Encoder(1, 8, pooled=True)
    assert not flat.pooled
    flat_shapes = {k: tuple(v.shape) for k, v in flat.state_dict().items()}
    assert flat_shapes["fc.1.weight"] == (256, 512) and "fc.3.weight" in flat_shapes
    assert {k: tuple(v.shape) for k, v in pooled.state_dict().items()}["fc.1.weight"] == (256, 512 + 64)
    assert set(flat_shapes) == set(pooled.state_dict())
