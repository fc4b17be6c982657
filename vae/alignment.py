"""Aligning a code's latent moves with the planes that a group representation rotates (docs/method.md).

A linearly disentangled code moves each action's pairs inside one latent plane. The planes
of :class:`~vae.groups.GroupRepresentation` are fixed, (0, 1), (2, 3), ...; an encoder may
learn a good torus whose circles lie on other axes, for example (0, 2) and (1, 3), or on a
rotated mix. No latent rotation of ρ can then explain a move. Rotating the latent space is
free for a VAE: it changes neither the reconstruction, nor the KL of the means, and only
reshuffles the diagonal posterior variances. So a learner may turn its code onto ρ's planes
whenever its own pairs show that another orientation fits them better. Everything here uses
frame pairs only, never action labels.

- :func:`plane_share`: how much of each move lies in its main plane (1: all of it).
- :func:`plane_alignment_score`: a smooth version, the mean over pairs of Σ_p share_p².
- :func:`best_plane_rotation`: the orthogonal Q that maximises the score of Q·moves.
- :func:`rotate_latent_space`: turn a VAE's code by Q in place, its decoding of the means unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def _plane_energy(moves: torch.Tensor) -> torch.Tensor:
    """Share of each move's squared length on each plane, (N, P); rows of zero moves are dropped first."""
    energy = moves.reshape(moves.shape[0], -1, 2).pow(2).sum(-1)
    return energy / energy.sum(-1, keepdim=True).clamp_min(1e-12)


def _as_moves(moves: np.ndarray | torch.Tensor) -> torch.Tensor:
    m = torch.as_tensor(np.asarray(moves, dtype=np.float64) if not torch.is_tensor(moves) else moves).double()
    if m.ndim != 2 or m.shape[1] % 2 or m.shape[1] < 2:
        raise ValueError(f"moves must be latent differences of shape (N, L) with L even, got {tuple(m.shape)}")
    keep = m.pow(2).sum(1) > 1e-12 * max(float(m.pow(2).sum(1).max()) if m.numel() else 0.0, 1e-30)
    return m[keep]


def plane_share(moves: np.ndarray | torch.Tensor) -> float:
    """Mean over moves of the fraction of the squared move that lies in its main plane, in [1/P, 1].

    1 means every move rotates one plane only, as a linearly disentangled code's must; a code
    whose factors mix the planes scores lower. NaN when there is no non-zero move.
    """
    m = _as_moves(moves)
    return float(_plane_energy(m).max(-1).values.mean()) if len(m) else math.nan


def plane_alignment_score(moves: np.ndarray | torch.Tensor) -> float:
    """Mean over moves of Σ_p share_p², the smooth objective :func:`best_plane_rotation` maximises."""
    m = _as_moves(moves)
    return float(_plane_energy(m).pow(2).sum(-1).mean()) if len(m) else math.nan


def _plane_pairings(size: int) -> list[list[int]]:
    """Every way to group the axes 0..size-1 into planes, as axis orders (plane p = positions 2p, 2p+1).

    There are (size - 1)!! of them: 3 for size 4, 105 for size 8.
    """
    def pairings(axes: list[int]):
        if not axes:
            yield []
            return
        first, rest = axes[0], axes[1:]
        for j in rest:
            for tail in pairings([a for a in rest if a != j]):
                yield [first, j, *tail]

    return list(pairings(list(range(size))))


def best_plane_rotation(
    moves: np.ndarray | torch.Tensor, restarts: int = 8, iterations: int = 150, seed: int = 0, max_pairings: int = 105,
    refine: int = 8,
) -> tuple[np.ndarray, float]:
    """The orthogonal Q (L, L) maximising :func:`plane_alignment_score` of ``moves @ Q.T``, and that score.

    Q = exp(A) P with A skew-symmetric, started from every grouping of the axes into planes
    (P a permutation, while there are at most ``max_pairings``) and ``restarts`` random
    rotations; the ``refine`` best starts are refined by Adam and the best result wins. The score is invariant to
    rotations inside a plane and to the order of the planes, so Q is unique only up to those.
    """
    m = _as_moves(moves)
    size = m.shape[1]
    if len(m) == 0:
        return np.eye(size), math.nan
    gen = torch.Generator().manual_seed(seed)
    starts = []
    pairings = _plane_pairings(size)
    if len(pairings) <= max_pairings:
        starts += [torch.eye(size, dtype=torch.float64)[order] for order in pairings]
    else:
        starts.append(torch.eye(size, dtype=torch.float64))
    for _ in range(restarts):
        q, r = torch.linalg.qr(torch.randn(size, size, generator=gen, dtype=torch.float64))
        starts.append(q * torch.sign(torch.diagonal(r)))

    def score(q: torch.Tensor) -> torch.Tensor:
        return _plane_energy(m @ q.T).pow(2).sum(-1).mean()

    # refine only the most promising starts: their scores already separate the basins
    ranked = sorted(starts, key=lambda q: -float(score(q)))[:refine]
    best_q, best = torch.eye(size, dtype=torch.float64), float(score(torch.eye(size, dtype=torch.float64)))
    for start in ranked:
        with torch.enable_grad():
            q = _refine(start, score, iterations)
        s = float(score(q))
        if s > best:
            best_q, best = q.detach(), s
    return best_q.numpy(), best


def _refine(start: torch.Tensor, score, iterations: int) -> torch.Tensor:
    """Adam ascent of ``score`` over rotations exp(A)·start, A skew-symmetric."""
    size = start.shape[0]
    a = torch.zeros(size, size, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([a], lr=0.05)
    for _ in range(iterations):
        loss = -score(torch.matrix_exp(a - a.T) @ start)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (torch.matrix_exp(a - a.T) @ start).detach()


@torch.no_grad()
def rotate_latent_space(encoder_head: nn.Linear, decoder_input: nn.Linear, q: np.ndarray | torch.Tensor) -> None:
    """Turn the code by the orthogonal ``q``: new means are q·μ and the decoder reads q⁻¹ = qᵀ of them.

    ``encoder_head`` maps to [μ, log σ²] (2L outputs), ``decoder_input`` takes the L latents.
    The decoding of every mean is unchanged. The log-variances move with the axis each new
    axis mostly came from (the nearest permutation of q): the posterior stays diagonal, so
    it cannot follow a rotation exactly.
    """
    size = decoder_input.in_features
    q = torch.as_tensor(np.asarray(q), dtype=encoder_head.weight.dtype, device=encoder_head.weight.device)
    if q.shape != (size, size) or not torch.allclose(q @ q.T, torch.eye(size, dtype=q.dtype, device=q.device),
                                                     atol=1e-4):
        raise ValueError(f"q must be an orthogonal ({size}, {size}) matrix")
    if encoder_head.out_features != 2 * size:
        raise ValueError(f"the encoder head must output 2 * {size} values (means, log-variances)")
    from scipy.optimize import linear_sum_assignment

    _, source = linear_sum_assignment(q.abs().cpu().numpy(), maximize=True)
    w, b = encoder_head.weight, encoder_head.bias
    w[:size] = q @ w[:size]
    w[size:] = w[size:][torch.as_tensor(source, device=w.device)]
    if b is not None:
        b[:size] = q @ b[:size]
        b[size:] = b[size:][torch.as_tensor(source, device=b.device)]
    decoder_input.weight.copy_(decoder_input.weight @ q.T)


def nearest_pairing(q: np.ndarray) -> list[tuple[int, int]]:
    """Which old axes each plane of ``Q`` mostly draws on: a readable summary of a rotation, e.g. [(0, 2), (1, 3)]."""
    q = np.abs(np.asarray(q))
    out = []
    for p in range(q.shape[0] // 2):
        weight = q[2 * p] ** 2 + q[2 * p + 1] ** 2
        out.append(tuple(sorted(int(i) for i in np.argsort(weight)[-2:])))
    return out


__all__ = ["plane_share", "plane_alignment_score", "best_plane_rotation", "rotate_latent_space", "nearest_pairing"]
