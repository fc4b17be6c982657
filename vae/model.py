"""The VAE / beta-VAE and its loss (docs/method.md, "The backbone").

Loss per batch: a reconstruction term summed over pixels and batch-averaged, plus
beta * KL(q(z|x) || N(0, I)) summed over latent dims and batch-averaged. The reconstruction
term is the paper's squared error of sigmoid(logits), or the Bernoulli negative
log-likelihood (binary cross-entropy with logits), whose gradient on a pixel the decoder
has written off stays near 1 where the squared error's shrinks with the sigmoid's slope:
what small objects such as sprites need. With a capacity
C > 0 the KL term becomes beta * |KL - C * min(1, step / leadin)| (Burgess et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vae.nets import Decoder, Encoder


@dataclass
class VAEOutput:
    logits: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor


class VAE(nn.Module):
    """Encoder + decoder with the reparameterisation trick (mean at evaluation)."""

    def __init__(
        self,
        in_channels: int = 1,
        latent_size: int = 4,
        channels: tuple[int, ...] = (32, 32, 32, 32),
        hidden: int = 256,
        frame_size: int = 64,
        output_selu: bool = False,
        logvar_bounds: tuple[float, float] | None = None,
        activation: str = "selu",
        pooled_encoder: bool = False,
    ) -> None:
        super().__init__()
        self.latent_size = latent_size
        self.encoder = Encoder(in_channels, latent_size, channels, hidden, frame_size, output_selu, logvar_bounds,
                               activation, pooled_encoder)
        self.decoder = Decoder(in_channels, latent_size, tuple(reversed(channels)), hidden, frame_size, activation)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x)

    def sample(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Reparameterised sample in training, the mean at evaluation."""
        if not self.training:
            return mu
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + eps * torch.exp(0.5 * logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        mu, logvar = self.encode(x)
        z = self.sample(mu, logvar, generator)
        return VAEOutput(self.decode(z), mu, logvar, z)


#: the reconstruction terms a VAE can be trained with
ReconLoss = Literal["squared", "bernoulli"]
RECON_LOSSES: tuple[str, ...] = ("squared", "bernoulli")


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, kind: ReconLoss = "squared",
                        weight: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over pixels of the reconstruction term, averaged over the batch, in float32.

    ``squared``: (sigmoid(logits) - x)^2, the paper's. ``bernoulli``: -log p(x | logits) of
    independent Bernoulli pixels (x in [0, 1]), as dSprites work in disentanglement_lib uses.
    ``weight``: per-pixel weights, broadcast against ``x`` (None: every pixel counts once).
    """
    logits = logits.float()
    if kind == "squared":
        per_pixel = (torch.sigmoid(logits) - x).pow(2)
    elif kind == "bernoulli":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x.float(), reduction="none")
    else:
        raise ValueError(f"recon_loss must be one of {RECON_LOSSES}, got {kind!r}")
    if weight is not None:
        per_pixel = per_pixel * weight
    return per_pixel.flatten(1).sum(1).mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dims, batch-averaged."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()


def vae_loss(
    out: VAEOutput,
    x: torch.Tensor,
    beta: float = 1.0,
    capacity: float = 0.0,
    capacity_leadin: int = 1,
    step: int = 0,
    recon_loss: ReconLoss = "squared",
) -> dict[str, torch.Tensor]:
    """The (beta-)VAE loss, optionally with KL capacity annealing; returns its parts."""
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if capacity < 0 or capacity_leadin < 1:
        raise ValueError(f"capacity must be >= 0 and capacity_leadin >= 1, got {capacity}, {capacity_leadin}")
    recon = reconstruction_loss(out.logits, x, recon_loss)
    kl = kl_divergence(out.mu.float(), out.logvar.float())
    if capacity > 0:
        c = capacity * min(1.0, step / capacity_leadin)
        kl_term = beta * (kl - c).abs()
    else:
        kl_term = beta * kl
    return {"loss": recon + kl_term, "recon": recon, "kl": kl}
