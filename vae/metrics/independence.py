"""Independence score of Painter, Hare & Prugel-Bennett (NeurIPS 2020).

"Linear Disentangled Representations and Unsupervised Action Estimation", arXiv 2008.07922.

Procedure (as implemented here):

1. Sample N random states; from each apply every true action (wraps included), render and
   encode: z (N, L) and z'_a (A, N, L).
2. For each true action fit rho_a = C M C^-1, with M the identity except a free 2x2 block B
   and C a free L x L change of basis, minimising mean_n ||rho_a z_n - z'_{a,n}||^2 in the
   model's own latent space. rho_a - I = C (M - I) C^-1 is exactly a matrix P_a of rank at
   most 2, so this is a reduced-rank regression of the moves z' - z on z, whose global
   optimum has a closed form (Izenman, "Reduced-rank regression for the multivariate
   linear model", J. Multivariate Analysis 1975): the ordinary least-squares fit, projected
   on the two leading principal directions of its fitted moves. No optimiser, no restarts,
   no seed: the maps depend on the sampled transitions only, an orthogonal rotation or a
   global rescaling of latent space transforms them exactly along (rho -> Q rho Q^T), and a
   code whose transitions are exactly linear (whatever the scales of its planes) gets its
   exact maps back.
3. For every sampled z and action a: v_a(z) = (z - rho_a z) / ||z - rho_a z||, in the model's
   own latent space.
4. For each pair of different symmetries S != T (actions grouped by the factor they act
   on, ``spec.symmetries()``) and each z: s_ST(z) = max_{i in S, j in T} |<v_i(z), v_j(z)>|.
   independence = 1 - mean over pairs {S, T} of mean over z of s_ST(z).
   1 means actions of different symmetries move z along orthogonal directions. Because
   only inner products enter, any orthogonal mixing of latent space leaves it unchanged,
   while a non-orthogonal (e.g. sheared) embedding lowers it.

How well the maps fit, and what the score means when they do not. Per action, with
spread = mean ||z - mean z||^2, move = mean ||z' - z||^2 and residual = mean ||rho z - z'||^2:

- ``relative_residual`` = residual / spread;
- ``relative_move`` = move / spread; an action with relative_move < ``MIN_RELATIVE_MOVE``
  (1e-4: its moves are under 1% of the codes' RMS spread) does not move the code: it is
  *static*, its direction v_a is undefined, and a symmetry whose actions are all static is
  left out of the pairs (independence is NaN when no pair is left);
- ``unexplained_fraction`` = residual / move: the share of the action's mean squared move
  its map fails to predict (0: exact; 1: no better than not moving at all). It is the fit
  criterion because it does not depend on how far one action moves relative to the whole
  code (a one-step move on Sprites' 32 positions is ~1% of the spread, so even the identity
  map has a small residual relative to the spread).

``fit_ok`` is true when no action is static and every action's unexplained fraction is at
most ``max_unexplained`` (default ``MAX_UNEXPLAINED`` = 0.25); otherwise ``fit_problems``
says why. For a code whose true transitions are not linear, the score is still computed,
but from the best linear (rank-2) approximations of its transitions: it says whether the
*linear parts* of the actions' moves are orthogonal across symmetries, not whether the
code is linearly disentangled. With ``fit_ok`` false it describes the approximation more
than the code and should not be read as a property of the code (an axis-aligned code x/33,
y/33 on FlatLand scores 1.0 with 74-81% of every move unexplained: its moves are orthogonal,
but they are translations with a jump at the wrap, which no linear map produces).

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

from flatland_env.validation import check_number
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

#: an action whose mean squared move is below this share of the latent spread does not move the code
MIN_RELATIVE_MOVE = 1e-4
#: fit_ok is false when a fitted map leaves more than this share of its action's mean squared move unexplained
MAX_UNEXPLAINED = 0.25


def fit_action_maps(z: np.ndarray, z_next: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares rho_a = C_a M_a C_a^-1 (identity plus rank 2) for every action, in closed form.

    z (N, L), z_next (A, N, L). Returns rho (A, L, L), the 2x2 blocks B (A, 2, 2; the
    non-unit part of rho in its own basis, so B's eigenvalues are rho's eigenvalues other
    than 1) and the mean squared errors mean_n ||rho_a z_n - z'_{a,n}||^2 (A,).

    The fit is a reduced-rank regression, solved exactly and deterministically (see the module doc).
    """
    z = np.asarray(z, dtype=np.float64)
    z_next = np.asarray(z_next, dtype=np.float64)
    if z.ndim != 2 or z_next.ndim != 3 or z_next.shape[1:] != z.shape:
        raise ValueError(f"need z (N, L) and z_next (A, N, L), got {z.shape} and {z_next.shape}")
    if z.shape[1] < 2:
        raise ValueError(f"the latent space needs at least 2 dimensions for a rotation block, got L={z.shape[1]}")
    if z.shape[0] < 1 or not (np.all(np.isfinite(z)) and np.all(np.isfinite(z_next))):
        raise ValueError("z and z_next must be finite and hold at least one sample")
    num_actions, L = z_next.shape[0], z.shape[1]
    rho = np.empty((num_actions, L, L))
    blocks = np.empty((num_actions, 2, 2))
    mse = np.empty(num_actions)
    for a in range(num_actions):
        move = z_next[a] - z
        coef = np.linalg.lstsq(z, move, rcond=None)[0]  # move ~ z @ coef
        _, _, vt = np.linalg.svd(z @ coef, full_matrices=False)
        basis = vt[:2].T  # (L, 2): the plane the fitted moves span
        w = basis.T @ coef.T  # (2, L); P = basis @ w has rank <= 2
        rho[a] = np.eye(L) + basis @ w
        blocks[a] = np.eye(2) + w @ basis  # non-zero eigenvalues of basis @ w are those of w @ basis
        mse[a] = float(np.mean(np.sum((z @ rho[a].T - z_next[a]) ** 2, axis=-1)))
    return rho, blocks, mse


def block_angle(block: np.ndarray) -> tuple[float, float]:
    """(angle in [0, pi], modulus) of the eigenvalue of a 2x2 block with largest imaginary part."""
    eig = np.linalg.eigvals(block)
    lam = eig[np.argmax(np.abs(eig.imag))]
    return float(abs(np.angle(lam))), float(abs(lam))


def directions(z: np.ndarray, rho: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """v_a(z) = (z - rho_a z) / ||z - rho_a z||, shape (A, N, L)."""
    d = z[None] - np.einsum("aij,nj->ani", rho, z)
    return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), eps)


def independence_from_directions(
    v: np.ndarray, symmetries: tuple[tuple[int, ...], ...], moving: np.ndarray | None = None
) -> tuple[float, dict]:
    """1 - mean over symmetry pairs of mean_z max_{i in S, j in T} |<v_i, v_j>|; also per pair.

    ``moving`` (A,) bool marks the actions whose directions are defined (default: all); a
    pair with a symmetry that has no moving action is NaN and left out of the mean.
    """
    keep = np.ones(v.shape[0], dtype=bool) if moving is None else np.asarray(moving, dtype=bool)
    groups = [[a for a in s if keep[a]] for s in symmetries]
    per_pair = {}
    for s, t in itertools.combinations(range(len(symmetries)), 2):
        if not groups[s] or not groups[t]:
            per_pair[f"{s}-{t}"] = float("nan")
            continue
        dots = np.abs(np.einsum("ink,jnk->ijn", v[groups[s]], v[groups[t]]))
        per_pair[f"{s}-{t}"] = float(dots.max(axis=(0, 1)).mean())
    scored = [x for x in per_pair.values() if not math.isnan(x)]
    if not scored:
        return float("nan"), per_pair
    return 1.0 - float(np.mean(scored)), per_pair


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


def fit_quality(
    z: np.ndarray,
    z_next: np.ndarray,
    mse: np.ndarray,
    max_unexplained: float = MAX_UNEXPLAINED,
    min_relative_move: float = MIN_RELATIVE_MOVE,
) -> dict:
    """Per-action spread-relative residuals and moves, unexplained fractions, static flags, and fit_ok."""
    spread = latent_spread(z)
    move = np.mean(np.sum((z_next - z[None]) ** 2, axis=-1), axis=1)  # (A,)
    rel_move = move / spread if spread > 0 else np.zeros_like(move)
    static = rel_move < min_relative_move
    unexplained = np.divide(mse, move, out=np.zeros_like(mse), where=move > 0)
    return {
        "latent_spread": spread,
        "relative_residual": mse / spread if spread > 0 else np.full_like(mse, np.nan),
        "relative_move": rel_move,
        "unexplained_fraction": unexplained,
        "static": static,
    }


def _fit_problems(spec: Any, q: dict, max_unexplained: float, min_relative_move: float) -> tuple[list[str], float]:
    """What makes the linear maps a poor description of the code, and the worst unexplained fraction of a move."""
    moving = ~q["static"]
    worst = float(q["unexplained_fraction"][moving].max()) if moving.any() else float("nan")
    problems = []
    if q["static"].any():
        names = [spec.action_names[a] for a in np.flatnonzero(q["static"])]
        problems.append(
            f"actions {names} move the code by less than {min_relative_move:g} of its spread (mean squared): "
            "they are not represented and have no direction"
        )
    bad = [spec.action_names[a] for a in np.flatnonzero(moving & (q["unexplained_fraction"] > max_unexplained))]
    if bad:
        problems.append(
            f"the linear maps of actions {bad} leave more than {max_unexplained:g} of their mean squared moves "
            f"unexplained (worst {worst:.3g}): the score describes linear approximations of a non-linear code"
        )
    return problems, worst


def _action_row(spec: Any, a: int, block: np.ndarray, mse: float, q: dict, image_mse: float | None) -> dict:
    """One action's fitted angle, orders and errors."""
    theta, modulus = block_angle(block)
    n = spec.action_order(a)
    cont = spec.continuous_angle(a)
    eff = spec.actions[a]
    return {
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
        "latent_mse": mse,
        "relative_residual": float(q["relative_residual"][a]),
        "relative_move": float(q["relative_move"][a]),
        "unexplained_fraction": float(q["unexplained_fraction"][a]),
        "static": bool(q["static"][a]),
        "image_mse": image_mse,
    }


def independence_score(
    encode_fn: EncodeFn,
    world: Any,
    rng: np.random.Generator,
    num_states: int = 1000,
    *,
    decode_fn: DecodeFn | None = None,
    num_image_samples: int = 256,
    max_unexplained: float = MAX_UNEXPLAINED,
    min_relative_move: float = MIN_RELATIVE_MOVE,
) -> dict:
    """Independence score, fit quality, and per-action fitted angles and prediction errors (see module doc)."""
    world, rng = check_inputs(encode_fn, world, rng)
    num_states = check_int("num_states", num_states)
    num_image_samples = check_int("num_image_samples", num_image_samples)
    max_unexplained = check_number("max_unexplained", max_unexplained)
    min_relative_move = check_number("min_relative_move", min_relative_move)
    if decode_fn is not None and not callable(decode_fn):
        raise ValueError(f"decode_fn must be None or callable latents (N, L) -> frames, got {decode_fn!r}")
    spec = world.symmetry
    _, nxt, z, z_next = true_transitions(encode_fn, world, rng, num_states)
    rho, blocks, mse = fit_action_maps(z, z_next)
    q = fit_quality(z, z_next, mse, max_unexplained, min_relative_move)
    score, per_pair = independence_from_directions(directions(z, rho), spec.symmetries(), ~q["static"])
    problems, worst = _fit_problems(spec, q, max_unexplained, min_relative_move)
    img = (
        _image_errors(decode_fn, world, rho, z, nxt, min(num_image_samples, num_states))
        if decode_fn is not None
        else [None] * spec.num_actions
    )
    actions = [_action_row(spec, a, blocks[a], float(mse[a]), q, img[a]) for a in range(spec.num_actions)]
    return {
        "independence": score,
        "per_symmetry_pair_max_abs_dot": per_pair,
        "symmetries": [list(s) for s in spec.symmetries()],
        "fit_ok": not problems,
        "fit_problems": problems,
        "max_unexplained_fraction": worst,
        "unexplained_threshold": max_unexplained,
        "min_relative_move": min_relative_move,
        "static_actions": [spec.action_names[a] for a in np.flatnonzero(q["static"])],
        "latent_spread": q["latent_spread"],
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
