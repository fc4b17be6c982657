"""Group representations on latent planes (docs/method.md, "Group representations").

The latent vector is split into L/2 planes. For each plane and each symbol of a group
structure there is one learnable representation, so there are (L/2) * len(structure)
latent actions, indexed ``plane * len(structure) + symbol``:

- ``c+`` / ``c-`` / ``c``: a cyclic representation, a rotation by a learnable angle on its
  plane (``c+`` starts at U(0, 1), ``c-`` at -U(0, 1), ``c`` at U(-1, 1));
- ``free``: a free 2x2 block on its plane, with a penalty |det - 1| keeping it volume-preserving;
- ``id``: the identity;
- ``ref``: a fixed reflection of the plane.

An optional learnable change of basis C gives rho'(a) = C^-1 rho(a) C.

Rotations of separate planes commute; a group whose actions do not (the cube's rotations) needs
:class:`vae.so3.SO3Representation`, which has the same interface.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from flatland_env.validation import check_int

SYMBOLS = ("c+", "c-", "c", "free", "id", "ref")
CYCLIC = ("c+", "c-", "c")


class MatrixRepresentation(nn.Module):
    """What every latent group block shares: rho(a) as (L, L) matrices (``matrices``, given by the subclass),
    applied to a batch of codes one action each (``forward``) or every action at once (``apply_all``)."""

    num_actions: int

    def matrices(self) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Apply rho(actions[i]) to z[i] for a batch, as one batched matmul."""
        if actions.dtype not in (torch.int64, torch.int32) or actions.ndim != 1 or actions.shape[0] != z.shape[0]:
            raise ValueError(
                f"actions must be a 1-D integer tensor with one entry per latent, got {tuple(actions.shape)} "
                f"{actions.dtype} for z of shape {tuple(z.shape)}"
            )
        if actions.numel() and (actions.min() < 0 or actions.max() >= self.num_actions):
            raise ValueError(f"latent actions must be in [0, {self.num_actions})")
        return torch.bmm(self.matrices()[actions], z.unsqueeze(-1)).squeeze(-1)

    def apply_all(self, z: torch.Tensor) -> torch.Tensor:
        """rho(a) z for every action at once, (B, A, L)."""
        return torch.einsum("aij,bj->bai", self.matrices(), z)


class GroupRepresentation(MatrixRepresentation):
    """A learnable representation rho: latent actions -> (L, L) matrices."""

    #: the parameter trained at the agents' angle learning rate (vae/so3.py names its own)
    angle_parameter: ClassVar[str] = "angles"

    def __init__(
        self,
        latent_size: int = 4,
        structure: tuple[str, ...] | list[str] = ("c+", "c-"),
        change_of_basis: bool = False,
        angle_grad_clip: float = 10.0,
        generator: torch.Generator | None = None,
        tied: bool = False,
        angle_init: float = 0.0,
    ) -> None:
        """``tied``: each plane's ``c-`` is the inverse of its ``c+`` (one angle per plane, as a group
        representation must have); ``angle_init`` > 0 starts every rotation at that |angle| instead of
        the random U(0, 1) starts, so no plane begins too slow to explain anything."""
        super().__init__()
        latent_size = check_int("latent_size", latent_size, 2)
        if latent_size % 2:
            raise ValueError(f"latent_size must be an even integer >= 2, got {latent_size!r}")
        structure = tuple(structure)
        if not structure:
            raise ValueError(f"structure must name at least one symbol from {SYMBOLS}")
        bad = [s for s in structure if s not in SYMBOLS]
        if bad:
            raise ValueError(f"unknown group structure symbols {bad}; allowed: {SYMBOLS}")
        self.latent_size = latent_size
        self.structure = structure
        self.num_planes = latent_size // 2
        self.num_actions = self.num_planes * len(structure)
        plane, symbol = zip(*[(p, s) for p in range(self.num_planes) for s in structure])
        self.register_buffer("plane_of", torch.tensor(plane), persistent=False)
        self.action_symbols = tuple(symbol)

        if tied and not {"c+", "c-"} <= set(structure):
            raise ValueError(f"tied angles pair each plane's c+ with its c-; the structure {structure} lacks one")
        if not math.isfinite(angle_init) or angle_init < 0:
            raise ValueError(f"angle_init must be a finite number >= 0, got {angle_init!r}")
        self.tied = tied
        u = torch.rand(self.num_actions, generator=generator)
        if angle_init > 0:
            u = torch.full_like(u, angle_init)
        init = torch.zeros(self.num_actions)
        for i, s in enumerate(symbol):
            init[i] = {"c+": u[i], "c-": -u[i], "c": 2 * u[i] - 1 if angle_init == 0 else u[i]}.get(s, 0.0)
        # tied: c- starts as the exact inverse of its plane's c+ (the first c+ / c- of the plane)
        partner = torch.arange(self.num_actions)
        for p in range(self.num_planes):
            idx = {s: i for i, (q, s) in enumerate(zip(plane, symbol)) if q == p and s in ("c+", "c-")}
            if tied:
                init[idx["c-"]] = -init[idx["c+"]]
                partner[idx["c+"]], partner[idx["c-"]] = idx["c-"], idx["c+"]
        self.register_buffer("partner", partner, persistent=False)
        self.angles = nn.Parameter(init)
        if angle_grad_clip > 0:
            self.angles.register_hook(lambda g: g.clamp(-angle_grad_clip, angle_grad_clip))
        self.free_blocks = nn.Parameter(torch.eye(2).repeat(self.num_actions, 1, 1))
        mask = torch.tensor([s in CYCLIC for s in symbol])
        self.register_buffer("cyclic_mask", mask, persistent=False)
        self.register_buffer("free_mask", torch.tensor([s == "free" for s in symbol]), persistent=False)
        self.register_buffer("ref_mask", torch.tensor([s == "ref" for s in symbol]), persistent=False)
        self.change_of_basis = nn.Parameter(torch.eye(latent_size)) if change_of_basis else None

    def effective_angles(self) -> torch.Tensor:
        """The angle each action rotates by, (A,): the parameters, or with tied angles (θ₊ − θ₋)/2 and its
        negative, so c- is always the inverse of c+ and both parameters learn from both actions' pairs."""
        if not self.tied:
            return self.angles
        return 0.5 * (self.angles - self.angles[self.partner])

    def blocks(self) -> torch.Tensor:
        """The 2x2 block each action applies to its plane, (A, 2, 2)."""
        angles = self.effective_angles()
        c, s = torch.cos(angles), torch.sin(angles)
        rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
        eye = torch.eye(2, device=rot.device, dtype=rot.dtype).expand_as(rot)
        ref = torch.tensor([[1.0, 0.0], [0.0, -1.0]], device=rot.device, dtype=rot.dtype).expand_as(rot)
        out = torch.where(self.cyclic_mask[:, None, None], rot, eye)
        out = torch.where(self.free_mask[:, None, None], self.free_blocks, out)
        return torch.where(self.ref_mask[:, None, None], ref, out)

    def matrices(self) -> torch.Tensor:
        """rho(a) for every latent action, (A, L, L)."""
        a, L = self.num_actions, self.latent_size
        m = torch.eye(L, device=self.angles.device, dtype=self.angles.dtype).repeat(a, 1, 1)
        idx = torch.arange(a, device=m.device)
        p0 = 2 * self.plane_of
        b = self.blocks()
        for i in range(2):
            for j in range(2):
                m[idx, p0 + i, p0 + j] = b[:, i, j]
        if self.change_of_basis is not None:
            c = self.change_of_basis
            m = torch.linalg.solve(c, m @ c)
        return m

    @torch.no_grad()
    def refit_angles(self, z1: torch.Tensor, z2: torch.Tensor, actions: torch.Tensor) -> list[dict]:
        """Set each rotation's angle to its least-squares best for pairs (z1, z2) taken by latent ``actions``.

        rho(a) turns only a's plane, so min_t sum |R(t) u - v|^2 over a's pairs, (u, v) their codes on that plane
        as complex numbers, is exact: t = arg sum conj(u) v. Tied planes pool both actions' pairs (a c- pair is a
        c+ pair read backwards). Gradient descent with a decayed learning rate may leave an angle short of this
        (docs/method.md, "Sprites"). Returns the actions changed (action, old, new angle); actions with no pairs
        and other symbols keep theirs. A learned change of basis mixes the planes, so it is refused.
        """
        if self.change_of_basis is not None:
            raise ValueError("refit_angles needs rho's planes in the latent coordinates; a change of basis mixes them")
        actions = torch.as_tensor(actions, device=z1.device).long()
        u = torch.complex(z1[:, 0::2].double(), z1[:, 1::2].double())
        v = torch.complex(z2[:, 0::2].double(), z2[:, 1::2].double())
        plane = self.plane_of.to(z1.device)[actions]
        rows = torch.arange(len(actions), device=z1.device)
        turn = torch.conj(u[rows, plane]) * v[rows, plane]  # each pair's move on its action's plane
        sums = torch.zeros(self.num_actions, dtype=turn.dtype, device=z1.device).index_add_(0, actions, turn)
        old = self.effective_angles().detach().clone()
        new = old.clone()
        for a, symbol in enumerate(self.action_symbols):
            if symbol not in CYCLIC:
                continue
            total = sums[a]
            if self.tied and symbol in ("c+", "c-"):
                total = total + torch.conj(sums[int(self.partner[a])])
            if abs(complex(total)) > 0:  # 0: no pairs (or none that move), the angle stays
                new[a] = float(torch.angle(total))
        # tied, effective = (t_a - t_partner) / 2, and new[partner] = -new[a]: storing the new angles gives them
        self.angles.copy_(torch.where(self.cyclic_mask, new.to(self.angles), self.angles.detach()))
        after = self.effective_angles().detach()
        return [{"action": a, "old": float(old[a]), "new": float(after[a])}
                for a in range(self.num_actions) if float(after[a]) != float(old[a])]

    def penalty(self) -> torch.Tensor:
        """|det - 1| summed over free blocks (0 when there are none)."""
        if not bool(self.free_mask.any()):
            return self.angles.new_zeros(())
        return (torch.linalg.det(self.free_blocks[self.free_mask]) - 1).abs().sum()

    def angle_table(self) -> list[dict]:
        """Readable angles: per action its plane, symbol, angle and the group order it realises."""
        rows = []
        angles = self.effective_angles().detach()
        for i, (p, s) in enumerate(zip(self.plane_of.tolist(), self.action_symbols)):
            theta = float(angles[i]) if s in CYCLIC else float("nan")
            rows.append(
                {
                    "action": i,
                    "plane": p,
                    "symbol": s,
                    "angle": theta,
                    "realised_order": realised_order(theta) if s in CYCLIC else None,
                    "naive_order_2pi_over_theta": (2 * math.pi / abs(theta)) if s in CYCLIC and theta else None,
                }
            )
        return rows


def realised_order(theta: float, tol: float = 0.02, max_order: int = 100) -> int | None:
    """Smallest m <= max_order with m * theta = 0 mod 2*pi within tol (radians), else None.

    This is the order of the cyclic group the rotation generates; it is *not* 2*pi/theta in
    general (e.g. 2*pi*5/33 has order 33 though 2*pi/theta = 6.6).
    """
    if not math.isfinite(theta):
        return None
    for m in range(1, max_order + 1):
        r = math.remainder(m * theta, 2 * math.pi)
        if abs(r) <= tol:
            return m
    return None


def faithful_angles(n: int) -> np.ndarray:
    """All angles 2*pi*k/n in (0, pi] with gcd(k, n) = 1 (faithful reps of C_n, up to sign)."""
    if n < 1:
        raise ValueError(f"cycle order n must be >= 1, got {n}")
    ks = np.array([k for k in range(1, n // 2 + 1) if math.gcd(k, n) == 1] or [0])
    return 2 * np.pi * ks / n


def nearest_faithful_angle(theta: float, n: int) -> dict:
    """The angle 2*pi*k/n (gcd(k, n) = 1) nearest to |theta| (mod 2*pi, folded to [0, pi]).

    Returns k, the angle and the absolute error in radians.
    """
    if n < 1:
        raise ValueError(f"cycle order n must be >= 1, got {n}")
    folded = abs(math.remainder(theta, 2 * math.pi))
    cands = faithful_angles(n)
    i = int(np.argmin(np.abs(cands - folded)))
    k = int(Fraction(float(cands[i]) / (2 * math.pi)).limit_denominator(n).numerator) if n > 1 else 0
    return {"k": k, "angle": float(cands[i]), "error": float(abs(cands[i] - folded))}
