"""How much each latent plane's turn depends on where the pair starts, or on the other planes' turns.

On a continuous torus a random policy draws each action independently of the state, and each
action component independently of the others (FlatLandContinuous-v0: uniform in the action box).
In a linear disentangled code, plane p turns by k u_f d_f for its factor's move d_f, so its turn
is independent of the code the pair starts from and of every other plane's turn. A code that
traverses its circle unevenly (angle g(x) with g not linear) turns by g(x + d) - g(x), whose
spread changes with x; a code that shears its factors across planes (angles x + y and y) turns
two planes together. Neither is visible to the latent loss once the turn of each pair is read in
closed form (docs/method.md, "Continuous latent actions"), and both are visible here, without
labels.

:func:`turn_independence_penalty` is the sum of squared correlations over a batch between each
plane's turn features (theta, theta^2) and (a) the harmonics cos(m phi), sin(m phi) of every
plane's starting angle phi, m = 1..harmonics, and (b) the turn features of every other plane.
Zero in expectation for a linear disentangled code; a batch of B pairs has a noise floor of
about one over B per correlation.
"""

from __future__ import annotations

import torch

from vae.continuous_planes import plane_rotation_angles


def _correlations(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlations between the columns of a (B, m) and b (B, n), (m, n)."""
    a = (a - a.mean(0)) / a.std(0, unbiased=False).clamp_min(1e-6)
    b = (b - b.mean(0)) / b.std(0, unbiased=False).clamp_min(1e-6)
    return a.T @ b / a.shape[0]


def turn_independence_penalty(mu1: torch.Tensor, mu2: torch.Tensor, harmonics: int = 2) -> torch.Tensor:
    """Sum of squared correlations of each plane's turn with the starting angles and with the other planes' turns.

    ``mu1``, ``mu2``: (B, L) codes of a batch of pairs, L even, B >= 2.
    """
    if mu1.shape != mu2.shape or mu1.ndim != 2 or mu1.shape[1] % 2 or mu1.shape[0] < 2:
        raise ValueError(f"mu1 and mu2 must both be (batch >= 2, even L), got {tuple(mu1.shape)} and "
                         f"{tuple(mu2.shape)}")
    if harmonics < 1:
        raise ValueError(f"harmonics must be a positive int, got {harmonics!r}")
    mu1, mu2 = mu1.float(), mu2.float()
    theta = plane_rotation_angles(mu1, mu2)  # (B, P)
    phi = torch.atan2(mu1[:, 1::2], mu1[:, 0::2])  # (B, P)
    planes = theta.shape[1]
    turn = torch.cat([theta, theta.pow(2)], 1)  # (B, 2P): columns p and P + p belong to plane p
    start = torch.cat([f(m * phi) for m in range(1, harmonics + 1) for f in (torch.cos, torch.sin)], 1)
    on_state = _correlations(turn, start).pow(2).sum()
    owner = torch.arange(2 * planes, device=mu1.device) % planes
    other = owner[:, None] != owner[None, :]  # features of two different planes
    between = (_correlations(turn, turn).pow(2) * other).sum() / 2
    return on_state + between
