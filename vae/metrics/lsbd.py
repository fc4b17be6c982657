"""D_LSBD of Tonnaer, Perez Rey, Menkovski, Holenderski & Portegies (ICML 2022).

"Quantifying and Learning Linear Symmetry-Based Disentanglement", arXiv 2011.06070.

D_LSBD = inf over linearly disentangled representations rho of the dispersion of the
"un-rotated" encodings {rho(g_x)^-1 h(x)}: for a perfectly LSBD encoder every data point,
moved back to the base point by its own group element, lands on the same latent point.
We implement the paper's practical upper bound for a product of cyclic groups
G = C_{n_1} x ... x C_{n_K} (the acted factors), on the full grid of acted-factor
combinations (other factors held fixed):

1. Encode every state of the grid: z[g_1, ..., g_K] (L dims). State g is g . x0 with x0 the
   state whose acted factors are all 0, and factor j's group element has angle
   phi_j = 2*pi*g_j / n_j.
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
3. For each candidate frequency k (the 2-D irreducible representation rotating by
   k * phi_j; k in 1..n_j-1, i.e. every non-trivial one, both orientations; optionally
   |k| <= max_frequency) un-rotate each point by -k * phi_j and take the dispersion
   mean ||p - mean p||^2. In complex form this is 1 - |mean_g c_g exp(-i k phi_j)|^2.
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


def frequency_dispersions(c: np.ndarray, axis: int, ks: np.ndarray) -> np.ndarray:
    """1 - |mean c exp(-i k phi)|^2 per candidate k, phi = 2*pi*g/n along ``axis``."""
    n = c.shape[axis]
    phi = 2 * np.pi * np.arange(n) / n
    cm = np.moveaxis(c, axis, -1).reshape(-1, n)  # (rest, n)
    phase = np.exp(-1j * np.outer(ks, phi))  # (K, n)
    centre = np.einsum("rn,kn->k", cm, phase) / cm.size
    return np.maximum(np.mean(np.abs(cm) ** 2) - np.abs(centre) ** 2, 0.0)


def candidate_frequencies(n: int, max_frequency: int | None) -> np.ndarray:
    """Non-trivial frequencies of C_n, 1..n-1 (k and n-k are the two orientations)."""
    ks = np.arange(1, n)
    if max_frequency is not None:
        ks = ks[np.minimum(ks, n - ks) <= max_frequency]
    return ks


def d_lsbd_from_grid(z: np.ndarray, max_frequency: int | None = None, *, min_share: float = MIN_FACTOR_SHARE) -> dict:
    """D_LSBD of encodings on a full grid (n_1, ..., n_K, L); see the module doc.

    Per factor: the best frequency ``k`` (None for a factor that is not represented), its
    ``dispersion``, the ``cycle`` size, the factor's ``variance_share`` of the code and
    whether it is ``represented`` (share >= ``min_share``, and > 0); ``unrepresented_factors``
    lists the grid axes of those that are not.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim < 2 or not np.all(np.isfinite(z)):
        raise ValueError(f"z must be a finite array of shape (n_1, ..., n_K, L), got {z.shape}")
    if isinstance(min_share, bool) or not isinstance(min_share, (int, float)) or not 0 <= min_share < 1:
        raise ValueError(f"min_share must be a number in [0, 1), got {min_share!r}")
    per_factor = []
    for axis, n in enumerate(z.shape[:-1]):
        ks = candidate_frequencies(n, max_frequency)
        if ks.size == 0:
            raise ValueError(f"no candidate frequency for a cycle of size {n} with max_frequency={max_frequency}")
        row = {"cycle": n, "variance_share": factor_share(z, axis)}
        c = whitened_plane(z, axis, min_share)
        if c is None:
            row.update(k=None, dispersion=1.0, represented=False)
        else:
            disp = frequency_dispersions(c, axis, ks)
            i = int(np.argmin(disp))
            k = int(ks[i])
            row.update(k=k if k <= n // 2 else k - n, dispersion=float(disp[i]), represented=True)
        per_factor.append(row)
    return {
        "d_lsbd": float(sum(f["dispersion"] for f in per_factor)),
        "per_factor": per_factor,
        "min_share": float(min_share),
        "unrepresented_factors": [i for i, f in enumerate(per_factor) if not f["represented"]],
    }


def d_lsbd(
    encode_fn: EncodeFn,
    world: Any,
    rng: np.random.Generator,
    *,
    max_frequency: int | None = None,
    max_grid: int = MAX_GRID,
    fixed: np.ndarray | None = None,
    min_share: float = MIN_FACTOR_SHARE,
) -> dict:
    """D_LSBD of ``encode_fn`` on the world's full grid of acted factors.

    Factors no action changes are held at ``fixed`` (default: drawn once from ``rng``).
    Per acted factor it reports the best frequency k (per unit of the factor, signed,
    |k| <= n/2), its dispersion, its share of the code's variance, whether it is
    represented, and the rotation per action that frequency implies, 2*pi*k*step/n
    (FlatLand's image-continuous k = 1 gives 0.952 rad per step of 5). A factor that is
    not represented has k and angles None and dispersion 1; ``unrepresented_factors``
    lists their names.
    """
    world, rng = check_inputs(encode_fn, world, rng)
    spec = world.symmetry
    max_grid = check_int("max_grid", max_grid)
    if max_frequency is not None:
        max_frequency = check_int("max_frequency", max_frequency)
    acted = spec.acted_factors
    sizes = [spec.factor_sizes[f] for f in acted]
    if int(np.prod(sizes)) > max_grid:
        raise ValueError(
            f"the acted-factor grid has {int(np.prod(sizes))} states (sizes {sizes}), more than max_grid={max_grid}"
        )
    if fixed is None:
        fixed = spec.sample_factors(rng, 1)[0]
    grid_states = spec.all_acted_states(fixed)
    z = encode_states(encode_fn, world, grid_states).reshape(*sizes, -1)
    out = d_lsbd_from_grid(z, max_frequency, min_share=min_share)
    for f, row in zip(acted, out["per_factor"]):
        row["factor"] = int(f)
        row["name"] = spec.factor_names[f]
        row["angle_per_action"] = {
            eff.name: (
                None
                if row["k"] is None
                else abs(math.remainder(2 * math.pi * row["k"] * eff.step / row["cycle"], 2 * math.pi))
            )
            for eff in spec.actions
            if eff.factor == f
        }
    out["unrepresented_factors"] = [row["name"] for row in out["per_factor"] if not row["represented"]]
    return out


def lsbd_applicable(world: Any, max_grid: int = MAX_GRID) -> str | None:
    """None if D_LSBD applies to the world, else the reason it does not."""
    spec = world.symmetry
    for f in spec.acted_factors:
        n = spec.factor_sizes[f]
        if math.gcd(n, *[a.step for a in spec.actions if a.factor == f]) != 1:
            return f"the actions on factor {spec.factor_names[f]!r} do not generate its whole cycle C_{n}"
    size = int(np.prod([spec.factor_sizes[f] for f in spec.acted_factors]))
    if size > max_grid:
        return f"the acted-factor grid has {size} states, more than {max_grid}"
    return None


register_metric(Metric(
    name="d_lsbd",
    run=lambda model, world, rng, n: d_lsbd(model.encode, world, rng),
    needs=("cyclic_world",),
    applies=lsbd_applicable,
    description="Tonnaer et al. (2022): dispersion of the un-rotated encodings on the full grid",
))
