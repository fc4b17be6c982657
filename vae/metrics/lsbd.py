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
   (z - mean of z over axis j), project on the two leading principal directions and
   whiten each to variance 1/2 (so points on a circle have mean squared norm 1). This
   is the change of basis the paper allows; it makes the score invariant to any
   invertible linear map of latent space.
3. For each candidate frequency k (the 2-D irreducible representation rotating by
   k * phi_j; k in 1..n_j-1, i.e. every non-trivial one, both orientations; optionally
   |k| <= max_frequency) un-rotate each point by -k * phi_j and take the dispersion
   mean ||p - mean p||^2. In complex form this is 1 - |mean_g c_g exp(-i k phi_j)|^2.
4. D_LSBD = sum over factors of the minimum over k (the minimum over the product of
   candidate sets decomposes per factor). 0 means perfectly LSBD; ~1 per factor means
   the factor's encodings do not rotate at any frequency.

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


def whitened_plane(z: np.ndarray, axis: int) -> np.ndarray:
    """The encodings' dependence on one grid axis as complex numbers c (grid shape).

    z has shape (n_1, ..., n_K, L). Subtract the mean over ``axis``, keep the two leading
    principal components, whiten each to variance 1/2.
    """
    grid = z.shape[:-1]
    x = (z - z.mean(axis=axis, keepdims=True)).reshape(-1, z.shape[-1])
    x = x - x.mean(0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    if s.size < 2:
        raise ValueError(f"D_LSBD needs at least 2 latent dimensions, got {z.shape[-1]}")
    std = s[:2] / math.sqrt(len(x))
    p = (x @ vt[:2].T) / np.maximum(std * math.sqrt(2.0), 1e-12)
    return (p[:, 0] + 1j * p[:, 1]).reshape(grid)


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


def d_lsbd_from_grid(z: np.ndarray, max_frequency: int | None = None) -> dict:
    """D_LSBD of encodings on a full grid (n_1, ..., n_K, L); see the module doc."""
    if z.ndim < 2 or not np.all(np.isfinite(z)):
        raise ValueError(f"z must be a finite array of shape (n_1, ..., n_K, L), got {z.shape}")
    per_factor = []
    for axis, n in enumerate(z.shape[:-1]):
        ks = candidate_frequencies(n, max_frequency)
        if ks.size == 0:
            raise ValueError(f"no candidate frequency for a cycle of size {n} with max_frequency={max_frequency}")
        disp = frequency_dispersions(whitened_plane(z, axis), axis, ks)
        i = int(np.argmin(disp))
        k = int(ks[i])
        per_factor.append({"k": k if k <= n // 2 else k - n, "dispersion": float(disp[i]), "cycle": n})
    return {"d_lsbd": float(sum(f["dispersion"] for f in per_factor)), "per_factor": per_factor}


def d_lsbd(
    encode_fn: EncodeFn,
    world: Any,
    rng: np.random.Generator,
    *,
    max_frequency: int | None = None,
    max_grid: int = MAX_GRID,
    fixed: np.ndarray | None = None,
) -> dict:
    """D_LSBD of ``encode_fn`` on the world's full grid of acted factors.

    Factors no action changes are held at ``fixed`` (default: drawn once from ``rng``).
    Per acted factor it reports the best frequency k (per unit of the factor, signed,
    |k| <= n/2), its dispersion, and the rotation per action that frequency implies,
    2*pi*k*step/n (FlatLand's image-continuous k = 1 gives 0.952 rad per step of 5).
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
    out = d_lsbd_from_grid(z, max_frequency)
    for f, row in zip(acted, out["per_factor"]):
        row["factor"] = int(f)
        row["name"] = spec.factor_names[f]
        row["angle_per_action"] = {
            spec.actions[a].name: abs(math.remainder(2 * math.pi * row["k"] * spec.actions[a].step / row["cycle"], 2 * math.pi))
            for a in range(spec.num_actions)
            if spec.actions[a].factor == f
        }
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
