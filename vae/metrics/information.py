"""Discretised mutual information shared by MIG and modularity (Locatello et al. 2019 convention).

Each latent dimension is cut into equal-width histogram bins (20 by default) and the
mutual information with each discrete factor is ``sklearn.metrics.mutual_info_score`` (nats).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score


def histogram_discretize(z: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Bin index of every latent value, per dimension, (N, L) int."""
    out = np.empty(z.shape, dtype=np.int64)
    for i in range(z.shape[1]):
        edges = np.histogram(z[:, i], num_bins)[1]
        out[:, i] = np.digitize(z[:, i], edges[1:-1])
    return out


def mutual_info_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """I(code_i; factor_j) for discrete codes (N, L) and factors (N, K) -> (L, K)."""
    return np.array(
        [
            [mutual_info_score(factors[:, j], codes[:, i]) for j in range(factors.shape[1])]
            for i in range(codes.shape[1])
        ]
    )


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    """H(factor_j) in nats, (K,)."""
    return np.array([mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])
