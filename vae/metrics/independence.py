"""Independence score of Painter, Hare & Prugel-Bennett (NeurIPS 2020), PAPER.md section 7.

"Linear Disentangled Representations and Unsupervised Action Estimation", arXiv 2008.07922.

Procedure (as implemented here):

1. Sample N random states; from each apply every true action (wraps included), render and
   encode: z (N, L) and z'_a (A, N, L).
2. For each true action fit rho_a = C M C^-1, with M the identity except a free 2x2 block B
   on the first two coordinates and C a free L x L change of basis, minimising
   mean_n ||rho_a z_n - z'_{a,n}||^2. All actions and several random restarts are one
   batched Adam problem (lr 0.1, step decay); the restart with the lowest loss is kept.
3. For every sampled z and action a: v_a(z) = (z - rho_a z) / ||z - rho_a z||.
4. For each pair of different symmetries S != T (actions grouped by the factor they act
   on, ``spec.symmetries()``) and each z: s_ST(z) = max_{i in S, j in T} |<v_i(z), v_j(z)>|.
   independence = 1 - mean over pairs {S, T} of mean over z of s_ST(z).
   1 means actions of different symmetries move z along orthogonal directions. Because
   only inner products enter, any orthogonal mixing of latent space leaves it unchanged,
   while a non-orthogonal (e.g. sheared) embedding lowers it.

Per action it also reports the fitted rotation angle (the argument of B's complex
eigenvalue pair, in [0, pi]; real eigenvalues give 0 or pi), the group order it realises,
the nearest faithful angle 2*pi*k/n for n = ``spec.action_order(a)``, the continuous
reference ``spec.continuous_angle(a)``, and the latent (and, with ``decode_fn``, image)
prediction errors of the fitted map.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable

import numpy as np
import torch

from vae.groups import nearest_faithful_angle, realised_order
from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import (
    EncodeFn,
    check_inputs,
    check_int,
    latent_spread,
    render,
    true_transitions,
)

DecodeFn = Callable[[np.ndarray], np.ndarray]


def fit_action_maps(
    z: np.ndarray,
    z_next: np.ndarray,
    rng: np.random.Generator,
    steps: int = 300,
    restarts: int = 4,
    lr: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit rho_a = C_a M_a C_a^-1 to (z, z'_a) for every action in one batched optimisation.

    z (N, L), z_next (A, N, L). Returns rho (A, L, L), the 2x2 blocks B (A, 2, 2) and the
    final mean squared errors (A,).
    """
    if z.ndim != 2 or z_next.ndim != 3 or z_next.shape[1:] != z.shape:
        raise ValueError(f"need z (N, L) and z_next (A, N, L), got {z.shape} and {z_next.shape}")
    if z.shape[1] < 2:
        raise ValueError(f"the latent space needs at least 2 dimensions for a rotation block, got L={z.shape[1]}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of tiny batched ops: extra threads only add sync overhead
    try:
        return _fit(z, z_next, rng, steps, restarts, lr)
    finally:
        torch.set_num_threads(threads)


def _fit(z, z_next, rng, steps, restarts, lr):
    num_actions, L = z_next.shape[0], z.shape[1]
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    zt = torch.as_tensor(z, dtype=torch.float64)
    target = torch.as_tensor(z_next, dtype=torch.float64)
    shape = (restarts, num_actions)
    # Random orthogonal starts for C let every restart reach any plane of latent space.
    c0 = torch.linalg.qr(torch.randn(*shape, L, L, generator=gen, dtype=torch.float64))[0]
    theta0 = (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    b0 = torch.stack(
        [torch.stack([theta0.cos(), -theta0.sin()], -1), torch.stack([theta0.sin(), theta0.cos()], -1)], -2
    )
    C = torch.nn.Parameter(c0)
    B = torch.nn.Parameter(b0)
    opt = torch.optim.Adam([C, B], lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, steps // 3), gamma=0.1)

    def losses() -> tuple[torch.Tensor, torch.Tensor]:
        M = torch.eye(L, dtype=torch.float64).repeat(*shape, 1, 1)
        M = torch.cat([torch.cat([B, M[..., :2, 2:]], -1), M[..., 2:, :]], -2)
        rho = C @ torch.linalg.solve(C.transpose(-1, -2), M.transpose(-1, -2)).transpose(-1, -2)
        pred = torch.einsum("raij,nj->rani", rho, zt)
        return (pred - target).pow(2).sum(-1).mean(-1), rho

    for _ in range(steps):
        opt.zero_grad()
        loss, _ = losses()
        loss.sum().backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        loss, rho = losses()
        loss = torch.nan_to_num(loss, nan=math.inf)
        best = loss.argmin(0)
        idx = torch.arange(num_actions)
        return rho[best, idx].numpy(), B.detach()[best, idx].numpy(), loss[best, idx].numpy()


def block_angle(block: np.ndarray) -> tuple[float, float]:
    """(angle in [0, pi], modulus) of the eigenvalue of a 2x2 block with largest imaginary part."""
    eig = np.linalg.eigvals(block)
    lam = eig[np.argmax(np.abs(eig.imag))]
    return float(abs(np.angle(lam))), float(abs(lam))


def directions(z: np.ndarray, rho: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """v_a(z) = (z - rho_a z) / ||z - rho_a z||, shape (A, N, L)."""
    d = z[None] - np.einsum("aij,nj->ani", rho, z)
    return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), eps)


def independence_from_directions(v: np.ndarray, symmetries: tuple[tuple[int, ...], ...]) -> tuple[float, dict]:
    """1 - mean over symmetry pairs of mean_z max_{i in S, j in T} |<v_i, v_j>|; also per pair."""
    per_pair = {}
    for s, t in itertools.combinations(range(len(symmetries)), 2):
        dots = np.abs(np.einsum("ink,jnk->ijn", v[list(symmetries[s])], v[list(symmetries[t])]))
        per_pair[f"{s}-{t}"] = float(dots.max(axis=(0, 1)).mean())
    if not per_pair:
        return float("nan"), per_pair
    return 1.0 - float(np.mean(list(per_pair.values()))), per_pair


def _image_errors(
    decode_fn: DecodeFn, world: Any, rho: np.ndarray, z: np.ndarray, nxt: np.ndarray, n: int
) -> list[float]:
    """Per action: mean per-pixel squared error in [0, 1] units of decode(rho_a z) vs the true next frame."""
    out = []
    for a in range(rho.shape[0]):
        pred = np.asarray(decode_fn(z[:n] @ rho[a].T))
        true = render(world, nxt[a, :n])
        if pred.shape != true.shape:
            raise ValueError(f"decode_fn must return frames shaped like the world's {true.shape}, got {pred.shape}")
        pred = pred / 255.0 if pred.dtype == np.uint8 else pred.astype(np.float64)
        out.append(float(np.mean((pred - true / 255.0) ** 2)))
    return out


def independence_score(
    encode_fn: EncodeFn,
    world: Any,
    rng: np.random.Generator,
    num_states: int = 1000,
    *,
    decode_fn: DecodeFn | None = None,
    num_image_samples: int = 256,
    steps: int = 300,
    restarts: int = 4,
) -> dict:
    """Independence score and per-action fitted angles and prediction errors (see module doc)."""
    world, rng = check_inputs(encode_fn, world, rng)
    num_states = check_int("num_states", num_states)
    steps, restarts = check_int("steps", steps), check_int("restarts", restarts)
    if decode_fn is not None and not callable(decode_fn):
        raise ValueError(f"decode_fn must be None or callable latents (N, L) -> frames, got {decode_fn!r}")
    spec = world.symmetry
    _, nxt, z, z_next = true_transitions(encode_fn, world, rng, num_states)
    rho, blocks, mse = fit_action_maps(z, z_next, rng, steps=steps, restarts=restarts)
    score, per_pair = independence_from_directions(directions(z, rho), spec.symmetries())
    spread = latent_spread(z)
    img = (
        _image_errors(decode_fn, world, rho, z, nxt, min(num_image_samples, num_states))
        if decode_fn is not None
        else [None] * spec.num_actions
    )
    actions = []
    for a, eff in enumerate(spec.actions):
        theta, modulus = block_angle(blocks[a])
        n = spec.action_order(a)
        cont = spec.continuous_angle(a)
        actions.append(
            {
                "action": a,
                "name": eff.name,
                "factor": eff.factor,
                "angle": theta,
                "eigenvalue_modulus": modulus,
                "realised_order": realised_order(theta),
                "naive_order_2pi_over_theta": (2 * math.pi / theta) if theta > 0 else None,
                "cycle_order": n,
                "nearest_faithful": nearest_faithful_angle(theta, n),
                "continuous_angle": cont,
                "error_to_continuous": abs(theta - abs(cont)),
                "latent_mse": float(mse[a]),
                "relative_latent_mse": float(mse[a] / spread) if spread > 0 else float("nan"),
                "image_mse": img[a],
            }
        )
    return {
        "independence": score,
        "per_symmetry_pair_max_abs_dot": per_pair,
        "symmetries": [list(s) for s in spec.symmetries()],
        "actions": actions,
        "matrices": rho,
        "num_states": num_states,
    }


register_metric(Metric(
    name="independence",
    run=lambda model, world, rng, n: independence_score(
        model.encode, world, rng, n, decode_fn=getattr(model, "decode", None)
    ),
    needs=("cyclic_world",),
    default_samples=500,
    description="Painter et al. (2020): orthogonality of the latent directions of different symmetries",
))
