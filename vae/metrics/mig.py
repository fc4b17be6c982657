"""Mutual Information Gap (Chen, Li, Grosse & Duvenaud, NeurIPS 2018, "Isolating Sources of
Disentanglement in VAEs"), as in Locatello et al. (2019) / disentanglement_lib.

For each ground-truth factor j: the gap between the largest and second-largest mutual
information I(z_i; v_j) over latent dimensions (latents discretised into 20 histogram
bins), divided by the factor's entropy H(v_j); MIG is the mean over factors. Factors of
size 1 are excluded. Note that a factor embedded on a circle (two latent dimensions, both
informative) gets a small gap by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae.metrics.information import factor_entropies, histogram_discretize, mutual_info_matrix
from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import EncodeFn, check_inputs, check_int, sample_latents


def mig_from_samples(z: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict:
    """MIG of latents z (N, L) against discrete factors (N, K)."""
    if z.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 latent dimensions, got {z.shape[1]}")
    m = mutual_info_matrix(histogram_discretize(z, num_bins), factors)
    top = np.sort(m, axis=0)[::-1]
    h = factor_entropies(factors)
    gaps = np.divide(top[0] - top[1], h, out=np.zeros_like(h), where=h > 0)
    return {"mig": float(gaps.mean()), "per_factor": gaps, "mutual_info": m}


def mig(
    encode_fn: EncodeFn, world: Any, rng: np.random.Generator, num_samples: int = 5000, num_bins: int = 20
) -> dict:
    """MIG on ``num_samples`` uniformly random states."""
    world, rng = check_inputs(encode_fn, world, rng)
    z, y = sample_latents(encode_fn, world, rng, check_int("num_samples", num_samples))
    return mig_from_samples(z, y, check_int("num_bins", num_bins, 2))


register_metric(Metric(
    name="mig",
    run=lambda model, world, rng, n: mig(model.encode, world, rng, n),
    description="Chen et al. (2018)",
))
