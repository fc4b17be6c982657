"""Pair distinctness: every action changes the state, so the two codes of a pair must differ.

A world whose actions never leave the state as it was (every acted factor moves by a non-zero
offset) gives pairs whose two frames show different states. An encoder blind to one factor maps
a pair that changes only that factor to nearly one code. The latent loss is smallest there
(nothing to predict), and its pull on a turned pair sums to the same at every orientation, so it
does not lead the encoder towards the factor. The hinge below pays for such a pair instead: it
asks each pair's codes to lie a margin apart, relative to the batch's spread, and a pair that
changes only an unseen factor can meet it only if the code starts to see that factor. It uses the
distance, not its square, so its push on a pair whose codes nearly coincide does not fade with
their difference (it has no direction where they coincide exactly). It reads no labels
(docs/method.md, "Pair distinctness").
"""

from __future__ import annotations

import torch

#: added under the square root, so the distance's gradient is finite (zero), not NaN, where a pair's codes coincide
_EPS = 1e-8


def pair_distinctness_penalty(mu1: torch.Tensor, mu2: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over pairs of relu(margin - ||mu2 - mu1|| / rms), rms = sqrt(E||mu - E[mu]||^2) over both codes.

    ``mu1`` and ``mu2`` are (B, L), the codes of each pair's two frames. Zero when every pair's codes lie at
    least ``margin`` times the code's root-mean-square spread apart; scale-free, so it cannot be met by
    inflating the code. A linear code with each factor on its own plane moves a pair by sqrt(2(1 - cos t)) r
    for a turn t of a plane of radius r, so the margin should stay below that share of the rms for the world's
    smallest turn.
    """
    if mu1.ndim != 2 or mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 must be two (batch, latent) tensors of one shape, got {tuple(mu1.shape)} "
                         f"and {tuple(mu2.shape)}")
    codes = torch.cat([mu1, mu2]).float()
    spread = (codes - codes.mean(0)).pow(2).sum(1).mean().clamp_min(1e-8)
    apart = ((mu2.float() - mu1.float()).pow(2).sum(1) + _EPS).sqrt() / spread.sqrt()
    return torch.relu(margin - apart).mean()
