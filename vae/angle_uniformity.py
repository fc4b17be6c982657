"""How far each latent plane's code angles are from evenly spread: a label-free prior for uniformly visited orbits.

When the states along a factor are visited uniformly (a random walk on a finite cyclic group
is, from a uniform start) and the code is linear, the angles of that factor's plane are
evenly spread around the circle. A code that drew the factor as an arc, a line bent until
its ends nearly meet with a gap where the object crosses the frame's edge, is not; on pairs
k actions apart a latent path of N = k steps can explain a crossing of that gap by extra or
opposite steps, so nothing else closes it (docs/method.md, "k-step pairs").

:func:`angle_uniformity_penalty` is the squared circular Wasserstein-2 distance between a
batch's angles and the uniform distribution: sort the angles, subtract the uniform
quantiles, and take the variance of what is left (the mean is the best rotation, which
costs nothing). It is zero exactly when the sorted angles are evenly spaced.
"""

from __future__ import annotations

import math

import torch


def angle_uniformity_penalty(codes: torch.Tensor) -> torch.Tensor:
    """Sum over planes (axes 2p, 2p+1) of Var_i(phi_(i) - u_i), in rad^2.

    ``codes`` is (B, L) with L even; phi_(1) <= ... <= phi_(B) are the plane's code angles in
    (-pi, pi], and u_i = -pi + 2*pi*(i - 1/2)/B the uniform quantiles. B angles drawn from the
    uniform distribution score about (2*pi)^2 / (12B) on average (0.05 at B = 64), the noise
    floor of a batch; an arc of 222 degrees, evenly spaced, scores 0.44.
    """
    if codes.ndim != 2 or codes.shape[1] % 2 or codes.shape[0] < 2:
        raise ValueError(f"codes must be (batch >= 2, even latent size), got shape {tuple(codes.shape)}")
    planes = codes.float().reshape(codes.shape[0], -1, 2)
    angles = torch.atan2(planes[..., 1], planes[..., 0]).sort(0).values  # (B, P)
    b = codes.shape[0]
    quantiles = -math.pi + 2 * math.pi * (torch.arange(b, device=codes.device, dtype=angles.dtype) + 0.5) / b
    return (angles - quantiles[:, None]).var(0, unbiased=False).sum()
