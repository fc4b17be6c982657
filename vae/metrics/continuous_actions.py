"""Action estimation and equivariance on a continuous torus (SO(2) x ... x SO(2); docs/metrics.md).

A world whose actions are displacement vectors (FlatLandContinuous-v0) has no list of actions
to classify. What a linear disentangled code of it has instead: on the latent plane that holds
factor f, a move of d_f (in the world's action units) turns the code by k * u_f * d_f, with u_f
the factor's turn per action unit (2*pi * unit / period) and k a nonzero integer (the winding:
faithful when |k| = 1, a k-fold cover otherwise).

- **Angle R^2.** For pairs (x, a, x') from uniform states and actions, the turn of each plane,
  read from the codes alone (the closed-form best turn of mu(x)'s plane onto mu(x')'s,
  :func:`vae.continuous_planes.plane_rotation_angles`), is compared with k * u_f * d_f on the
  circle:

      R^2(p, f, k) = 1 - mean wrap(theta_p - k u_f d_f)^2 / var(theta_p),

  best over k in +-1..max_winding; planes are matched to factors by the Hungarian algorithm
  on R^2. Up to the per-plane sign (k's) and the factor-to-plane matching, as asked of a
  representation learned without labels.
- **Relative equivariance error** of the model's own rho with the true action vectors, for
  models that predict codes from action vectors (``predict_latents(z, actions)``, ForwardVAE):
  mean |rho(a) mu(x) - mu(x')|^2 / mean |mu(x) - mean mu|^2, as for finite groups
  (:mod:`vae.metrics.equivariance`).
- **Implied relative equivariance error**, for every model: the same ratio for the
  representation the angle R^2 matching implies, each factor's matched plane turned by
  k * u_f * d_f and every other plane left as it is. It is what a model with no rho(a) of
  action vectors (RGrVAE, which infers each pair's turn; the beta-VAE) is scored by: zero only
  when the code is a linear disentangled one, radius and unmatched planes unmoved included.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from flatland_env.validation import check_int
from vae.continuous_planes import plane_rotation_angles, rotate_planes
from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import _encode_frames, check_encode_fn, check_rng, latent_spread, render

#: a plane whose inferred angle varies less than this (rad^2) over the pairs scores R^2 = 0: it turns for no move
MIN_ANGLE_VARIANCE = 1e-8


def wrap_angle(theta: np.ndarray) -> np.ndarray:
    """Angles taken to (-pi, pi]."""
    return np.pi - np.mod(np.pi - np.asarray(theta, dtype=np.float64), 2 * np.pi)


def angle_r2(angles: np.ndarray, moves: np.ndarray, max_winding: int = 8) -> dict[str, Any]:
    """How well each factor's move, in radians of its own turn, explains one plane's angle (module doc).

    ``angles`` (N, P): inferred turn of each latent plane per pair; ``moves`` (N, F): each factor's
    true move in radians (u_f d_f). Returns per factor its matched plane, winding k and R^2, the
    smallest and mean R^2 over factors, and whether every matched winding is +-1 (a faithful code; |k| > 1 is
    a k-fold cover); a factor left without a plane (F > P), or matched to a plane whose angle never changes,
    scores 0.
    """
    theta, moves = np.asarray(angles, dtype=np.float64), np.asarray(moves, dtype=np.float64)
    if theta.ndim != 2 or moves.ndim != 2 or len(theta) != len(moves) or len(theta) < 2:
        raise ValueError(f"angles (N, P) and moves (N, F) must be 2-D with the same N >= 2, got {theta.shape} "
                         f"and {moves.shape}")
    max_winding = check_int("max_winding", max_winding, 1)
    windings = np.array([k for k in range(-max_winding, max_winding + 1) if k])
    spread = theta.var(0)  # (P,)
    informative = spread > MIN_ANGLE_VARIANCE  # a plane whose angle never changes explains no move
    # residuals (K, N, P, F): every winding, pair, plane and factor at once
    res = wrap_angle(theta[None, :, :, None] - windings[:, None, None, None] * moves[None, :, None, :])
    r2_all = 1 - (res**2).mean(1) / np.where(informative, spread, 1.0)[None, :, None]  # (K, P, F)
    best_k = r2_all.argmax(0)  # (P, F)
    r2 = np.where(informative[:, None], r2_all.max(0), 0.0)
    planes, factors = linear_sum_assignment(-r2)
    per_factor = []
    for f in range(moves.shape[1]):
        hit = np.flatnonzero(factors == f)
        if hit.size == 0:
            per_factor.append({"factor": f, "plane": None, "winding": None, "r2": 0.0})
            continue
        p = int(planes[hit[0]])
        per_factor.append({"factor": f, "plane": p, "winding": int(windings[best_k[p, f]]), "r2": float(r2[p, f])})
    scores = [row["r2"] for row in per_factor]
    return {"min_r2": float(min(scores)), "mean_r2": float(np.mean(scores)),
            "faithful": all(row["winding"] in (-1, 1) for row in per_factor), "per_factor": per_factor,
            "r2_matrix": r2.T}


def implied_equivariance_error(z: np.ndarray, z_next: np.ndarray, moves: np.ndarray,
                                per_factor: list[dict[str, Any]], spread: float | None = None) -> float:
    """Relative equivariance error of the representation that :func:`angle_r2`'s matching implies (module doc).

    ``moves`` (N, F): each factor's true move in radians; ``per_factor``: angle_r2's rows (plane, winding);
    ``spread``: the codes' :func:`latent_spread`, where the caller has it.
    """
    z, z_next = np.asarray(z, dtype=np.float64), np.asarray(z_next, dtype=np.float64)
    angles = np.zeros((len(z), z.shape[1] // 2))
    for row in per_factor:
        if row["plane"] is not None:
            angles[:, row["plane"]] = row["winding"] * moves[:, row["factor"]]
    pred = rotate_planes(torch.as_tensor(z), torch.as_tensor(angles)).numpy()
    spread = latent_spread(z) if spread is None else spread
    err = float(np.mean(np.sum((pred - z_next) ** 2, axis=-1)))
    return err / spread if spread > 0 else float("nan")


def continuous_transitions(encode_fn: Any, world: Any, rng: np.random.Generator, num_pairs: int):
    """Uniform states and action vectors uniform in [-1, 1]^D (the whole group, whatever a world's ``max_move``),
    their next states, and both codes.

    Returns factors (N, F), actions (N, D), latents z (N, L) and z' (N, L).
    """
    spec = world.symmetry
    factors = spec.sample_factors(rng, num_pairs)
    actions = rng.uniform(-1.0, 1.0, size=(num_pairs, spec.action_dim))
    nxt = spec.apply(factors, actions)
    frames = np.concatenate([render(world, factors), render(world, nxt)])
    z = _encode_frames(encode_fn, frames)
    return factors, actions, z[:num_pairs], z[num_pairs:]


def factor_turns(spec: Any) -> np.ndarray:
    """Radians each factor turns per action unit: 2 pi * unit / period."""
    return 2 * np.pi * np.asarray(spec.action_scale, dtype=np.float64) / np.asarray(spec.factor_sizes)


def continuous_action_metrics(model: Any, world: Any, rng: np.random.Generator, num_pairs: int = 1000,
                              max_winding: int = 8) -> dict[str, Any]:
    """Angle R^2 and, where the model predicts from action vectors, relative equivariance (module doc)."""
    inner = getattr(world, "unwrapped", world)
    spec = inner.symmetry
    if getattr(spec, "is_discrete", True):
        raise ValueError(f"continuous action metrics need a world with a continuous group, got {spec.group_name}; "
                         "use action_estimation and equivariance_error on finite groups")
    encode_fn = check_encode_fn(getattr(model, "encode", None))
    rng = check_rng(rng)
    num_pairs = check_int("num_pairs", num_pairs, 2)
    factors, actions, z, z_next = continuous_transitions(encode_fn, inner, rng, num_pairs)
    if z.shape[1] % 2:
        raise ValueError(f"latent planes need an even latent size, got {z.shape[1]}")
    angles = plane_rotation_angles(torch.as_tensor(z), torch.as_tensor(z_next)).numpy()
    moves = actions * factor_turns(spec)
    out: dict[str, Any] = {"angle_source": "closed-form best turn of each plane of mu(x) onto mu(x')",
                           "num_pairs": num_pairs, **angle_r2(angles, moves, max_winding)}
    spread = latent_spread(z)
    out["implied_relative_equivariance_error"] = implied_equivariance_error(z, z_next, moves, out["per_factor"],
                                                                            spread)
    out["per_factor"] = [{**row, "name": spec.factor_names[row["factor"]]} for row in out["per_factor"]]
    predict = getattr(model, "predict_latents", None)
    out["latent_spread"] = spread
    if callable(predict):
        pred = np.asarray(predict(z, actions), dtype=np.float64)
        err = float(np.mean(np.sum((pred - z_next) ** 2, axis=-1)))
        out["relative_equivariance_error"] = err / spread if spread > 0 else float("nan")
        out["absolute_equivariance_error"] = err
    return out


register_metric(Metric(
    "continuous_actions", lambda model, world, rng, n: continuous_action_metrics(model, world, rng, n),
    needs=("continuous_world",),
    description="angle R^2 of each factor's plane against its true move, and the relative equivariance error of "
                "rho with true action vectors, or of the representation the matched planes imply (continuous tori)",
))
