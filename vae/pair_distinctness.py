"""Pair distinctness: every action changes the state, so the two codes of a pair must differ.

A world whose actions never leave the state as it was (every acted factor moves by a non-zero
offset) gives pairs whose two frames show different states. An encoder blind to one factor maps
a pair that changes only that factor to one code, and every objective that sees a pair only
through its codes (the latent loss, the reconstruction of a blurred sprite) is then as good as
flat in the directions that would let it see the factor: the blind encoder is a fixed point.
The hinge below is not flat there. It asks each pair's codes to lie a margin apart, relative to
the batch's spread, so the only way to satisfy it on a pair that changes a factor the code does
not hold is to start holding it. It reads no labels (docs/method.md, "Pair distinctness").
"""

from __future__ import annotations

import torch


def pair_distinctness_penalty(mu1: torch.Tensor, mu2: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over pairs of relu(margin - ||mu2 - mu1||^2 / spread), spread = E||mu - E[mu]||^2 over both codes.

    ``mu1`` and ``mu2`` are (B, L), the codes of each pair's two frames. Zero when every pair's codes lie at
    least ``margin`` times the batch's spread apart; scale-free, so it cannot be met by inflating the code. A
    linear code with each factor on its own plane moves a pair by 2(1 - cos t) r^2 for a turn t of a plane of
    radius r, so the margin should stay below that share of the spread for the world's smallest turn.
    """
    if mu1.ndim != 2 or mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 must be two (batch, latent) tensors of one shape, got {tuple(mu1.shape)} "
                         f"and {tuple(mu2.shape)}")
    codes = torch.cat([mu1, mu2]).float()
    spread = (codes - codes.mean(0)).pow(2).sum(1).mean().clamp_min(1e-8)
    apart = (mu2.float() - mu1.float()).pow(2).sum(1) / spread
    return torch.relu(margin - apart).mean()
