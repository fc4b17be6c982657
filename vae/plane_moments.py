"""The first two moments of each latent plane's codes: what a linear code of a uniformly visited orbit has.

When the states along a factor are visited uniformly (a random walk on a finite cyclic group
is, from a uniform start) and the code is linear, the codes of that factor's plane are evenly
spaced on a circle about the origin. For an orbit of n >= 3 points that fixes two moments
exactly: the mean is 0, and the second moment is isotropic (E[x^2] = E[y^2], E[xy] = 0).
A code that closed its circle with a seam, a larger step where the object crosses the frame's
edge, or drew it off-centre or as an ellipse, has neither; rho's rotations about the origin
cannot then be exact. :func:`plane_moment_penalty` measures both on a batch of codes, without
labels (docs/method.md, "Plane moments").
"""

from __future__ import annotations

import torch


def plane_moment_penalty(codes: torch.Tensor, scale_free: bool = True) -> torch.Tensor:
    """Sum over planes (axes 2p, 2p+1) of |mean|^2 / m2 + ((E[x^2] - E[y^2])^2 / 4 + E[xy]^2) / m2^2.

    ``codes`` is (B, L) with L even; m2 = E[x^2 + y^2] is the plane's mean square radius
    (1 with ``scale_free=False``). Zero exactly when every plane's batch is centred and
    isotropic, as evenly spaced points on a circle about the origin are. The second-moment
    terms are the squared components of the traceless part of the plane's second-moment
    matrix: how elliptic the plane's codes are. Scale-free, the penalty cannot be lowered by
    shrinking the code (which the unscaled one invites at a large weight); a plane holding a
    constant code then scores at least 1, so it assumes every plane holds a factor.
    """
    if codes.ndim != 2 or codes.shape[1] % 2:
        raise ValueError(f"codes must be (batch, even latent size), got shape {tuple(codes.shape)}")
    planes = codes.float().reshape(codes.shape[0], -1, 2)  # (B, P, 2)
    mean = planes.mean(0)
    x, y = planes[..., 0], planes[..., 1]
    half_diff = (x.pow(2) - y.pow(2)).mean(0) / 2
    cross = (x * y).mean(0)
    centre, ellipse = mean.pow(2).sum(-1), half_diff.pow(2) + cross.pow(2)
    if not scale_free:
        return (centre + ellipse).sum()
    m2 = planes.pow(2).sum(-1).mean(0).clamp_min(1e-8)
    return (centre / m2 + ellipse / m2.pow(2)).sum()
