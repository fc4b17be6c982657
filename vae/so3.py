"""A learnable SO(3) representation: latent actions that need not commute.

The plane representations of :mod:`vae.groups` rotate separate 2-D planes, and rotations of
separate planes commute, so they can hold at best a commutative image of a group such as the
cube's rotations (RotatingCube-v0), whose quarter turns about x and y do not commute. Here
every latent action a has a learnable rotation vector w_a in R^3 (axis times angle), and

    rho(a) = exp([w_a]_x)    (the matrix exponential of the skew-symmetric matrix of w_a)

acts on the first three latent dimensions; the remaining L - 3 dimensions are left as they are
by every action. Each rho(a) is a rotation (orthogonal, determinant +1) whatever w_a is, and
products of them need not commute, so the cube's rotation group is representable exactly:
w_a = (pi/2) e_axis gives its quarter turns.

The interface is :class:`~vae.groups.GroupRepresentation`'s, so the latent-action agents use
either. Where that interface speaks of planes it says here what a 3-D rotation has instead:
``effective_angles`` is the rotation angle |w_a| of each action, ``angle_table`` gives its
angle, its unit axis, no plane (None) and the order of the cyclic group it generates
(m * |w_a| = 0 mod 2*pi: a rotation about a fixed axis returns exactly then).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from flatland_env.validation import check_int, check_number
from vae.groups import MatrixRepresentation, realised_order

#: the latent dimensions the rotations act on (the first ones)
BLOCK = 3
#: below this |w| (rad) an action's axis is not reported: it barely rotates
MIN_AXIS_ANGLE = 1e-8


def skew(w: torch.Tensor) -> torch.Tensor:
    """[w]_x, (..., 3) -> (..., 3, 3): the skew-symmetric matrix with [w]_x v = w x v."""
    x, y, z = w.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack(
        [torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1), torch.stack([-y, x, zero], -1)], -2
    )


def rotation_log(rotations: torch.Tensor, margin: float = 1e-3) -> torch.Tensor:
    """The rotation vector w with exp([w]_x) = R, (..., 3, 3) -> (..., 3), angle in [0, pi - margin].

    The inverse of the exponential map away from half turns: at an angle of pi the axis' sign is
    not determined by R, so such rotations are refused rather than given an arbitrary sign.
    """
    out = rotations.dtype if rotations.is_floating_point() else torch.float64
    r = rotations.to(torch.float64)
    cos = ((r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1.0, 1.0)
    theta = torch.arccos(cos)
    if bool((theta > math.pi - margin).any()):
        raise ValueError("rotation_log is ambiguous for rotations by (nearly) pi: their axis has no sign")
    vee = torch.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
    small = theta < 1e-6
    scale = torch.where(small, torch.full_like(theta, 0.5), theta / (2 * torch.sin(theta).clamp_min(1e-12)))
    return (scale[..., None] * vee).to(out)


class SO3Representation(MatrixRepresentation):
    """rho(a) = exp([w_a]_x) on the first 3 latent dimensions, the identity on the rest; one w_a per action."""

    #: the parameter trained at the agents' angle learning rate (as GroupRepresentation's ``angles``)
    angle_parameter: ClassVar[str] = "generators"
    #: what ``angle_table`` says in place of a plane symbol
    symbol: ClassVar[str] = "so3"

    def __init__(
        self,
        latent_size: int = 4,
        num_actions: int = 6,
        generator: torch.Generator | None = None,
        init_scale: float = 0.1,
        angle_init: float = 0.0,
        angle_grad_clip: float = 10.0,
    ) -> None:
        """Each w_a starts at ``init_scale`` * N(0, I) drawn from ``generator``: near the identity, so no action
        begins far from where the data puts it, but distinct, so the actions do not start (and, sharing every
        gradient, stay) equal. ``angle_init`` > 0 starts every |w_a| at that angle about a random axis instead."""
        super().__init__()
        self.latent_size = check_int("latent_size", latent_size, BLOCK)
        self.num_actions = check_int("num_actions", num_actions, 1)
        check_number("init_scale", init_scale, 0.0, 1.0, low_open=True)
        check_number("angle_init", angle_init, 0.0, 3.15)
        init = init_scale * torch.randn(self.num_actions, BLOCK, generator=generator)
        if angle_init > 0:
            init = angle_init * init / init.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        self.generators = nn.Parameter(init)
        if angle_grad_clip > 0:
            self.generators.register_hook(lambda g: g.clamp(-angle_grad_clip, angle_grad_clip))
        self.change_of_basis = None  # the agents' latent_basis(): the rotations act in the code's own basis
        self.action_symbols = (self.symbol,) * self.num_actions

    def rotations(self) -> torch.Tensor:
        """rho(a) restricted to the rotated block, (A, 3, 3)."""
        return torch.linalg.matrix_exp(skew(self.generators))

    def matrices(self) -> torch.Tensor:
        """rho(a) for every latent action, (A, L, L): the rotation block, then the identity."""
        w = self.generators
        m = torch.eye(self.latent_size, device=w.device, dtype=w.dtype).repeat(self.num_actions, 1, 1)
        m[:, :BLOCK, :BLOCK] = self.rotations()
        return m

    def penalty(self) -> torch.Tensor:
        """0: every exp([w]_x) is a rotation already, so nothing needs keeping volume-preserving."""
        return self.generators.new_zeros(())

    def effective_angles(self) -> torch.Tensor:
        """The angle each action rotates by, |w_a|, (A,) (about its own axis, see :meth:`axes`)."""
        return self.generators.norm(dim=-1)

    def axes(self) -> torch.Tensor:
        """The unit axis of each action's rotation, (A, 3) (zeros where it does not rotate)."""
        w = self.generators
        norm = w.norm(dim=-1, keepdim=True)
        return torch.where(norm > MIN_AXIS_ANGLE, w / norm.clamp_min(MIN_AXIS_ANGLE), torch.zeros_like(w))

    def angle_table(self) -> list[dict]:
        """Per action: its angle |w_a|, unit axis and the order of the cyclic group it generates; ``plane`` is None
        (the rotations share one 3-D block), ``symbol`` "so3"."""
        angles = self.effective_angles().detach().cpu().tolist()
        axes = self.axes().detach().cpu().tolist()
        return [
            {
                "action": i,
                "plane": None,
                "symbol": self.symbol,
                "angle": theta,
                "axis": axis,
                "realised_order": realised_order(theta),
                "naive_order_2pi_over_theta": 2 * math.pi / theta if theta else None,
            }
            for i, (theta, axis) in enumerate(zip(angles, axes))
        ]
