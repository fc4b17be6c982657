"""D_LSBD of Tonnaer, Perez Rey, Menkovski, Holenderski & Portegies (ICML 2022).

"Quantifying and Learning Linear Symmetry-Based Disentanglement", arXiv 2011.06070.

D_LSBD = inf over linearly disentangled representations rho of the dispersion of the
"un-rotated" encodings {rho(g_x)^-1 h(x)}: for a perfectly LSBD encoder every data point,
moved back to the base point by its own group element, lands on the same latent point.
We implement the paper's practical upper bound for a product of cyclic groups
G = C_{n_1} x ... x C_{n_K} (the acted factors), factor by factor:

1. Encode every state of the grid of acted-factor combinations (other factors held fixed):
   z[g_1, ..., g_K] (L dims); for a grid of more than ``MAX_GRID`` states, encode instead
   ``num_lines`` random *lines* per factor j (the other acted factors at random values, all
   values of factor j), an unbiased estimate of the same per-factor terms. Factor j's values
   are visited in the order its action moves them: an action adding step s to a cycle of n
   generates orbits of m = n / gcd(n, s) states (FlatLand: one orbit of 33; Sprites with
   offset 4: scale 6 -> two orbits of 3), and position t along an orbit has the group
   element's angle phi_t = 2*pi*t / m.
2. For each acted factor j: remove the part of z that does not depend on g_j
   (x_j = z - mean of z over axis j), project on the two leading principal directions and
   whiten each to variance 1/2 (so points on a circle have mean squared norm 1). This
   is the change of basis the paper allows; it makes the score invariant to any
   invertible linear map of latent space for every factor whose dependence spans a plane
   (as it does in any LSBD code); for one that spans more, the two leading principal
   directions depend on the latent metric.
   Represented factors only: a factor whose dependence carries a negligible share of the
   code's variance, mean ||x_j||^2 / mean ||z - mean z||^2 < ``MIN_FACTOR_SHARE`` (1e-4,
   i.e. an RMS amplitude under 1% of the code's), is not represented by the code and
   scores dispersion 1, the value of a code that does not rotate with the factor at all;
   whitening it would blow a constant, collapsed or noise-level plane up into a circle
   (a constant plane would score a perfect 0). Likewise a second principal direction with
   a negligible share is not whitened up: the factor is then encoded on a line, scaled to
   mean squared norm 1, and scores at least 1/2 (a line realises no rotation but the
   one by pi, k = n/2 for even n).
3. For each candidate frequency q (the 2-D irreducible representation rotating by
   q * phi_t; q in 1..m-1, i.e. every non-trivial one, both orientations; optionally
   |q| <= max_frequency) un-rotate each point by -q * phi_t and take the dispersion
   mean ||p - centre||^2, each orbit about its own centre (one orbit: 1 - |mean c e^(-i q phi)|^2).
4. D_LSBD = sum over factors of the minimum over k (the minimum over the product of
   candidate sets decomposes per factor). 0 means perfectly LSBD; ~1 per factor means
   the factor's encodings do not rotate at any frequency, or the factor is not encoded.
   The thresholds make the score invariant to invertible linear maps for represented
   factors only: a map that shrinks a factor's plane below the threshold unrepresents it.

Caveat, by definition: LSBD asks for *some* decomposition into invariant subspaces, not an
orthogonal one, so a linear shear of a perfect encoding still scores 0 here (the
independence score, which compares action directions by inner products, penalises it).
Non-equivariant distortions (e.g. one factor's circle changing radius with another
factor) raise D_LSBD.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from flatland_env.validation import check_number
from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import EncodeFn, check_inputs, check_int, encode_states

#: largest grid of acted-factor combinations D_LSBD encodes by default
MAX_GRID = 20_000
#: a factor (or a factor's second principal direction) with a smaller share of the code's variance is not represented
MIN_FACTOR_SHARE = 1e-4


def factor_share(z: np.ndarray, axis: int) -> float:
    """Share of the code's variance in its dependence on one grid axis: mean ||z - mean_axis z||^2 / total."""
    flat = z.reshape(-1, z.shape[-1])
    total = float(np.mean(np.sum((flat - flat.mean(0)) ** 2, axis=-1)))
    dep = float(np.mean(np.sum((z - z.mean(axis=axis, keepdims=True)) ** 2, axis=-1)))
    return dep / total if total > 0 else 0.0


def whitened_plane(z: np.ndarray, axis: int, min_share: float = MIN_FACTOR_SHARE) -> np.ndarray | None:
    """The encodings' dependence on one grid axis as complex numbers c (grid shape), or None.

    z has shape (n_1, ..., n_K, L). Subtract the mean over ``axis``, keep the two leading
    principal components, whiten each to variance 1/2, so mean |c|^2 = 1. None when the
    dependence carries less than ``min_share`` of the code's variance (the factor is not
    represented); a second component below that share is set to 0 and the first whitened
    to variance 1 (the factor lies on a line).
    """
    if z.shape[-1] < 2:
        raise ValueError(f"D_LSBD needs at least 2 latent dimensions, got {z.shape[-1]}")
    share = factor_share(z, axis)
    if share <= 0 or share < min_share:
        return None
    flat = z.reshape(-1, z.shape[-1])
    total = float(np.mean(np.sum((flat - flat.mean(0)) ** 2, axis=-1)))
    x = (z - z.mean(axis=axis, keepdims=True)).reshape(-1, z.shape[-1])
    x = x - x.mean(0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    var = s[:2] ** 2 / len(x)
    if var[1] <= 0 or var[1] < min_share * total:
        return ((x @ vt[0]) / math.sqrt(var[0])).astype(complex).reshape(z.shape[:-1])
    p = (x @ vt[:2].T) / np.sqrt(2.0 * var)
    return (p[:, 0] + 1j * p[:, 1]).reshape(z.shape[:-1])


def orbit_index(n: int, step: int) -> np.ndarray:
    """The values of a cycle of size n in the order an action adding ``step`` visits them, (d, m).

    d = gcd(n, step) orbits of m = n / d states each: row r is r, r + step, r + 2 step, ...
    (mod n). An action that generates the whole cycle (d = 1) gives one row.
    """
    d = math.gcd(n, step % n)
    m = n // d
    return (np.arange(d)[:, None] + step * np.arange(m)[None, :]) % n


def frequency_dispersions(c: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Per candidate k: mean |c|^2 - mean over orbits of |centre_r(k)|^2, with phases 2*pi*k*t/m.

    ``c`` (rest, d, m) holds one complex number per line, orbit and position t along the
    orbit; each orbit is un-rotated to its own centre, pooled over the lines (the other
    factors), as a product representation puts every line's orbit at the same phase.
    """
    m = c.shape[-1]
    phase = np.exp(-1j * np.outer(ks, 2 * np.pi * np.arange(m) / m))  # (K, m)
    centre = np.einsum("xrm,km->kr", c, phase) / (c.shape[0] * m)  # (K, d)
    return np.maximum(np.mean(np.abs(c) ** 2) - np.mean(np.abs(centre) ** 2, axis=1), 0.0)


def candidate_frequencies(n: int, max_frequency: int | None) -> np.ndarray:
    """Non-trivial frequencies of C_n, 1..n-1 (k and n-k are the two orientations)."""
    ks = np.arange(1, n)
    if max_frequency is not None:
        ks = ks[np.minimum(ks, n - ks) <= max_frequency]
    return ks


def factor_dispersion(
    lines: np.ndarray, step: int = 1, max_frequency: int | None = None, min_share: float = MIN_FACTOR_SHARE
) -> dict:
    """D_LSBD's term of one factor from encodings along it: ``lines`` (R, n, L), the factor's n values per line.

    Each line holds the other factors fixed. ``step`` is the action's step on the factor:
    the factor's values are visited in its orbits (:func:`orbit_index`) and the candidate
    representations rotate by 2*pi*q/m per action (q = 1..m-1). Returns the best ``q``
    (signed, |q| <= m/2), ``k`` (the same frequency per unit of the factor, when the action
    generates the whole cycle; else None), the ``dispersion``, the ``cycle`` n, the
    ``orbit_order`` m, the ``orbits`` d, the factor's ``variance_share`` and whether it is
    ``represented``.
    """
    lines = np.asarray(lines, dtype=np.float64)
    n = lines.shape[1]
    idx = orbit_index(n, step)
    d, m = idx.shape
    z = lines[:, idx]  # (R, d, m, L)
    row: dict[str, Any] = {"cycle": n, "orbit_order": m, "orbits": d, "variance_share": factor_share(z, 2)}
    ks = candidate_frequencies(m, max_frequency)
    if ks.size == 0:
        raise ValueError(f"no candidate frequency for an orbit of size {m} with max_frequency={max_frequency}")
    c = whitened_plane(z, 2, min_share)
    if c is None:
        row.update(q=None, k=None, dispersion=1.0, represented=False)
        return row
    disp = frequency_dispersions(c, ks)
    i = int(np.argmin(disp))
    q = int(ks[i])
    q = q if q <= m // 2 else q - m
    k = None
    if d == 1:  # per unit of the factor: q = k * step (mod n)
        k = (q * pow(step % n, -1, n)) % n
        k = k if k <= n // 2 else k - n
    row.update(q=q, k=k, dispersion=float(disp[i]), represented=True)
    return row


def _check_grid_args(max_frequency: Any, min_share: Any) -> None:
    if max_frequency is not None:
        check_int("max_frequency", max_frequency)
    if check_number("min_share", min_share, 0.0, 1.0) == 1.0:
        raise ValueError(f"min_share must be a number in [0, 1), got {min_share!r}")


def _summary(per_factor: list[dict], min_share: float) -> dict:
    return {
        "d_lsbd": float(sum(f["dispersion"] for f in per_factor)),
        "per_factor": per_factor,
        "min_share": float(min_share),
        "unrepresented_factors": [i for i, f in enumerate(per_factor) if not f["represented"]],
    }


def d_lsbd_from_grid(
    z: np.ndarray,
    max_frequency: int | None = None,
    *,
    min_share: float = MIN_FACTOR_SHARE,
    steps: tuple[int, ...] | None = None,
) -> dict:
    """D_LSBD of encodings on a full grid (n_1, ..., n_K, L); see the module doc.

    ``steps`` are the actions' steps per axis (default 1: each action generates its cycle).
    Per factor: see :func:`factor_dispersion`; ``unrepresented_factors`` lists the grid axes
    of the factors that are not represented.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim < 2 or not np.all(np.isfinite(z)):
        raise ValueError(f"z must be a finite array of shape (n_1, ..., n_K, L), got {z.shape}")
    _check_grid_args(max_frequency, min_share)
    steps = (1,) * (z.ndim - 1) if steps is None else tuple(steps)
    per_factor = []
    for axis, step in zip(range(z.ndim - 1), steps):
        lines = np.moveaxis(z, axis, -2).reshape(-1, z.shape[axis], z.shape[-1])
        per_factor.append(factor_dispersion(lines, step, max_frequency, min_share))
    return _summary(per_factor, min_share)


def factor_steps(spec: Any) -> dict[int, int]:
    """Per acted factor, the step of its first action with a positive step (its generator)."""
    out: dict[int, int] = {}
    for eff in spec.actions:
        s = eff.step % spec.factor_sizes[eff.factor]
        if eff.factor not in out or (s and s < out[eff.factor]):
            out[eff.factor] = s
    return out


def sampled_lines(spec: Any, rng: np.random.Generator, factor: int, num_lines: int, fixed: np.ndarray) -> np.ndarray:
    """``num_lines`` random states of the other acted factors (the rest at ``fixed``), each with all values of
    ``factor``: states (num_lines, n, F)."""
    n = spec.factor_sizes[factor]
    base = np.tile(np.asarray(fixed, dtype=np.int64), (num_lines, 1))
    for f in spec.acted_factors:
        if f != factor:
            base[:, f] = rng.integers(0, spec.factor_sizes[f], size=num_lines)
    states = np.repeat(base[:, None, :], n, axis=1)
    states[:, :, factor] = np.arange(n)
    return states


def d_lsbd(
    encode_fn: EncodeFn,
    world: Any,
    rng: np.random.Generator,
    *,
    max_frequency: int | None = None,
    max_grid: int = MAX_GRID,
    num_lines: int = 256,
    fixed: np.ndarray | None = None,
    min_share: float = MIN_FACTOR_SHARE,
) -> dict:
    """D_LSBD of ``encode_fn`` on the world's acted factors.

    On the full grid of acted-factor combinations when it has at most ``max_grid`` states
    (exact); on a larger grid (Sprites: 245,760 states) from ``num_lines`` random lines per
    factor, each line holding the other acted factors at random values and running through
    all of this factor's values: an unbiased estimate of the same per-factor dispersions
    (``estimator`` says which was used). Factors no action changes are held at ``fixed``
    (default: drawn once from ``rng``). Actions that do not generate their factor's whole
    cycle (Sprites with offset 4: orders 3, 10, 8, 8) are measured on the orbits they do
    generate, each orbit un-rotated to its own centre.

    Per acted factor it reports the best frequency, its dispersion, its share of the code's
    variance, whether it is represented, and the rotation per action that frequency implies
    (FlatLand's image-continuous code rotates by 2*pi*5/33 = 0.952 rad per step of 5). A factor
    that is not represented has frequency and angles None and dispersion 1;
    ``unrepresented_factors`` lists their names.
    """
    world, rng = check_inputs(encode_fn, world, rng)
    spec = world.symmetry
    max_grid = check_int("max_grid", max_grid)
    num_lines = check_int("num_lines", num_lines, 2)
    _check_grid_args(max_frequency, min_share)
    acted = spec.acted_factors
    sizes = [spec.factor_sizes[f] for f in acted]
    steps = factor_steps(spec)
    if fixed is None:
        fixed = spec.sample_factors(rng, 1)[0]
    if int(np.prod(sizes)) <= max_grid:
        z = encode_states(encode_fn, world, spec.all_acted_states(fixed)).reshape(*sizes, -1)
        out = d_lsbd_from_grid(z, max_frequency, min_share=min_share, steps=tuple(steps[f] for f in acted))
        out["estimator"] = f"full grid of {int(np.prod(sizes))} states"
    else:
        per_factor = []
        for f in acted:
            z = encode_states(encode_fn, world, sampled_lines(spec, rng, f, num_lines, fixed))
            per_factor.append(factor_dispersion(z, steps[f], max_frequency, min_share))
        out = _summary(per_factor, min_share)
        out["estimator"] = f"{num_lines} random lines per factor (the grid has {int(np.prod(sizes))} states)"
    for f, row in zip(acted, out["per_factor"]):
        row["factor"] = int(f)
        row["name"] = spec.factor_names[f]
        row["angle_per_action"] = {
            eff.name: (
                None
                if row["q"] is None
                else abs(math.remainder(2 * math.pi * row["q"] * (1 if eff.step % row["cycle"] == steps[f] else -1)
                                        / row["orbit_order"], 2 * math.pi))
            )
            for eff in spec.actions
            if eff.factor == f
        }
    out["unrepresented_factors"] = [row["name"] for row in out["per_factor"] if not row["represented"]]
    return out


register_metric(Metric(
    name="d_lsbd",
    run=lambda model, world, rng, n: d_lsbd(model.encode, world, rng, num_lines=n),
    needs=("cyclic_world",),
    default_samples=256,
    description="Tonnaer et al. (2022): dispersion of the un-rotated encodings, per acted factor",
))
