"""Latent actions of a continuous torus: each latent plane turned by an angle linear in the action vector.

A world whose group is SO(2) x ... x SO(2) (FlatLandContinuous-v0) moves its factors by any
displacement vector a in R^D. Its irreducible real representations are plane rotations by
angles linear in a, so a learnable linear map W (P planes x D components) gives

    rho(a) = diag(R((W a)_1), ..., R((W a)_P)),    R(t) the 2x2 rotation by t,

a representation of the additive group of displacements for any W: rho(0) = I,
rho(a) rho(b) = rho(a + b), rho(-a) = rho(a)^-1. It is a representation of the torus itself
when each row of W is an integer multiple of one factor's turn per action unit (pi for
FlatLandContinuous, whose unit is half a turn), and a faithful one of a factor when that
integer is +-1 (with |k| > 1 the plane is a k-fold cover). The discrete plane rotations of
:mod:`vae.groups` are the special case of a finite set of displacements.

:func:`plane_rotation_angles` is the closed form of the other direction: the angle that best
turns each plane of one code onto another's, which is what an agent that infers continuous
latent actions needs (docs/method.md, "Continuous latent actions");
:class:`ClosedFormPlaneActions` is that inference as RGrVAE's latent action on such a world.
"""

from __future__ import annotations

import torch
from torch import nn

from flatland_env.validation import check_int


def rotate_planes(z: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Turn plane p (axes 2p, 2p+1) of each code in ``z`` (B, L) by ``angles[:, p]`` (B, L/2)."""
    if z.ndim != 2 or z.shape[1] % 2 or angles.shape != (z.shape[0], z.shape[1] // 2):
        raise ValueError(f"z must be (B, even L) and angles (B, L/2), got {tuple(z.shape)} and "
                         f"{tuple(angles.shape)}")
    x, y = z[:, 0::2], z[:, 1::2]
    c, s = torch.cos(angles), torch.sin(angles)
    return torch.stack([c * x - s * y, s * x + c * y], -1).reshape(z.shape)


def plane_rotation_angles(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """The angle in (-pi, pi] that turns each plane of ``z1`` closest to ``z2`` (least squares), (B, L/2).

    For 2-D vectors u, v the rotation R(t) minimising |R(t) u - v| has t = atan2(u x v, u . v)
    whatever their lengths; a plane where either code is 0 gets angle 0.
    """
    if z1.shape != z2.shape or z1.ndim != 2 or z1.shape[1] % 2:
        raise ValueError(f"z1 and z2 must both be (B, even L), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    x1, y1, x2, y2 = z1[:, 0::2], z1[:, 1::2], z2[:, 0::2], z2[:, 1::2]
    return torch.atan2(x1 * y2 - y1 * x2, x1 * x2 + y1 * y2)


def row_fit_scores(z1: torch.Tensor, z2: torch.Tensor, actions: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """For each candidate row w (R, D) and plane p, the mean over pairs of |u||v| cos(w . a - phi), (R, P).

    With u, v a pair's codes on plane p and phi the angle that turns u onto v,
    |R(t) u - v|^2 = |u|^2 + |v|^2 - 2 |u||v| cos(t - phi), so the row that maximises this score is
    the row of W with the smallest prediction loss on the plane: the exact least-squares fit, where
    gradient descent can stop in a local minimum of the periodic loss.
    """
    if z1.shape != z2.shape or z1.ndim != 2 or actions.shape != (z1.shape[0], rows.shape[1]):
        raise ValueError(f"z1, z2 (B, L), actions (B, D) and rows (R, D) must agree, got {tuple(z1.shape)}, "
                         f"{tuple(z2.shape)}, {tuple(actions.shape)} and {tuple(rows.shape)}")
    phi = plane_rotation_angles(z1, z2)  # (B, P)
    weight = torch.linalg.vector_norm(z1.reshape(len(z1), -1, 2), dim=-1) * torch.linalg.vector_norm(
        z2.reshape(len(z2), -1, 2), dim=-1)  # (B, P)
    turns = rows @ actions.T  # (R, B)
    return torch.einsum("rbp,bp->rp", torch.cos(turns[:, :, None] - phi[None]), weight) / len(z1)


def grid_rows(action_dim: int, span: float, step: float) -> torch.Tensor:
    """Every row with components on the grid -span, -span + step, ..., span, (R, D)."""
    axis = torch.arange(-span, span + step / 2, step)
    return torch.cartesian_prod(*[axis] * action_dim).reshape(-1, action_dim)


class LinearPlaneRepresentation(nn.Module):
    """rho(a) = diag over planes of R((W a)_p) for action vectors a (B, D); W (P, D) is learned."""

    #: the parameter trained at the agents' angle learning rate
    angle_parameter = "weights"
    #: no learned change of basis: the planes are the latent axes' pairs
    change_of_basis = None

    def __init__(self, latent_size: int, action_dim: int, generator: torch.Generator | None = None,
                 init_scale: float = 0.1) -> None:
        """W starts at U(-init_scale, init_scale) per entry: near 0, every plane turns a little under every action
        component, and the way to a turn of +-u_f per unit is downhill. Started far from 0, a row can sit where
        the expected loss 2 - 2 sinc(W_pf - k u_f) is nearly flat (|W_pf - k u_f| near 4.5) and learn slowly."""
        super().__init__()
        latent_size = check_int("latent_size", latent_size, 2)
        if latent_size % 2:
            raise ValueError(f"latent_size must be an even integer >= 2, got {latent_size!r}")
        self.latent_size = latent_size
        self.action_dim = check_int("action_dim", action_dim, 1)
        self.num_planes = latent_size // 2
        init = (2 * torch.rand(self.num_planes, self.action_dim, generator=generator) - 1) * init_scale
        self.weights = nn.Parameter(init)

    def _check_actions(self, actions: torch.Tensor, batch: int) -> torch.Tensor:
        if not actions.is_floating_point() or actions.shape != (batch, self.action_dim):
            raise ValueError(f"actions must be a float tensor (B={batch}, {self.action_dim}) of action vectors, "
                             f"got {tuple(actions.shape)} {actions.dtype}")
        return actions

    def angles(self, actions: torch.Tensor) -> torch.Tensor:
        """(W a)_p for each action vector, (B, P)."""
        return self._check_actions(actions, actions.shape[0]) @ self.weights.T

    def forward(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """rho(actions[i]) z[i] for a batch."""
        self._check_actions(actions, z.shape[0])
        return rotate_planes(z, self.angles(actions).to(z.dtype))

    def matrices(self, actions: torch.Tensor) -> torch.Tensor:
        """rho(a) as (B, L, L) matrices."""
        t = self.angles(actions)
        c, s = torch.cos(t), torch.sin(t)
        blocks = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (B, P, 2, 2)
        return _block_diagonal(blocks)

    @torch.no_grad()
    def refit_rows(self, z1: torch.Tensor, z2: torch.Tensor, actions: torch.Tensor, span: float = 10.0,
                   step: float = 0.25, margin: float = 0.01) -> list[dict]:
        """Set each row of W to the best on a grid (:func:`row_fit_scores`), refined once on a grid 25 times finer
        around it, where that beats the current row's score by more than ``margin`` of the plane's |mean u . v|
        (the score of no turn at all; with turns spread over a full circle it is near 0, so nearly any better row
        replaces the current one); returns the rows changed (plane, old, new). The coarse step must stay below
        the width of the score's peak, about pi over the largest action component."""
        coarse = grid_rows(self.action_dim, span, step).to(self.weights)
        scores = row_fit_scores(z1, z2, actions, coarse)  # (R, P)
        current = row_fit_scores(z1, z2, actions, self.weights.detach()).diagonal()  # each plane's own row
        scale = (z1 * z2).reshape(len(z1), -1, 2).sum(-1).mean(0).abs()  # |mean u . v| per plane
        fine = grid_rows(self.action_dim, step, step / 25).to(self.weights)
        changed = []
        for p in range(self.num_planes):
            around = coarse[scores[:, p].argmax()] + fine
            refined = row_fit_scores(z1, z2, actions, around)[:, p]
            if refined.max() - current[p] > margin * max(float(scale[p]), 1e-12):
                new = around[refined.argmax()]
                changed.append({"plane": p, "old": self.weights[p].tolist(), "new": new.tolist()})
                self.weights[p] = new
        return changed

    def penalty(self) -> torch.Tensor:
        """No constraint: every W gives a representation."""
        return self.weights.new_zeros(())

    def effective_angles(self) -> torch.Tensor:
        """W flattened, (P * D,): what a progress bar shows of a continuous representation."""
        return self.weights.flatten()

    def angle_table(self) -> list[dict]:
        """Per plane: the angle it turns by per unit of each action component (a row of W)."""
        return [{"plane": p, "angle_per_unit": [float(w) for w in row]}
                for p, row in enumerate(self.weights.detach().cpu().tolist())]


def _block_diagonal(blocks: torch.Tensor) -> torch.Tensor:
    """(B, P, 2, 2) blocks -> (B, 2P, 2P) block-diagonal matrices."""
    b, p = blocks.shape[:2]
    out = blocks.new_zeros(b, 2 * p, 2 * p)
    for i in range(p):
        out[:, 2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = blocks[:, i]
    return out


class ClosedFormPlaneActions(nn.Module):
    """The latent action that best explains a pair on a continuous torus, in closed form (no parameters).

    RGrVAE's latent action is the one with the highest latent reward -||rho z1 - mu2||^2. On a continuous
    torus a latent action is a turn of each plane by any angle, and the best one is exact: each plane of z1
    turned by :func:`plane_rotation_angles` onto mu2's. So the estimator needs no policy network or sampled
    gradient; the angles are taken as given (detached), as a policy's chosen action is.
    """

    #: no angles to train: the latent actions are inferred per pair
    angle_parameter = None
    change_of_basis = None

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(each plane of z1 turned onto z2's, the angles (B, P))."""
        angles = plane_rotation_angles(z1.detach(), z2.detach())
        return rotate_planes(z1, angles.to(z1.dtype)), angles

    def penalty(self) -> torch.Tensor:
        return torch.zeros(())

    def angle_table(self) -> list[dict]:
        """No learned angles: every pair gets its own (``infer_actions``)."""
        return []

    def effective_angles(self) -> torch.Tensor:
        return torch.zeros(0)
