"""Separated Attribute Predictability (Kumar, Sattigeri & Balakrishnan, ICLR 2018, "Variational
Inference of Disentangled Latent Concepts from Unlabeled Observations"), as in Locatello et
al. (2019) / disentanglement_lib with discrete factors.

Score matrix S (L x K): S_ij is the held-out accuracy of a linear classifier
(``sklearn.svm.LinearSVC(C=0.01, class_weight="balanced")``) predicting factor j from the
single latent dimension i (the default, disentanglement_lib's ``continuous_factors=False``),
or with ``continuous_factors=True`` the R^2 of a ``LinearRegression`` of factor j on latent i
(Kumar et al.'s choice for continuous factors). SAP is the mean over factors of the gap
between the best and second-best latent dimension. A one-dimensional linear classifier
separates few of 30+ position classes, so the discrete variant is small on FlatLand even
for axis-aligned codes; and as with MIG, a factor spread over a plane of two latents has a
small gap by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.svm import LinearSVC

from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import EncodeFn, train_test_latents


def sap_from_samples(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray, continuous_factors: bool = False
) -> dict:
    """SAP from train / test latents (N, L) and discrete factors (N, K)."""
    if z_train.shape[1] < 2:
        raise ValueError(f"SAP needs at least 2 latent dimensions, got {z_train.shape[1]}")
    L, K = z_train.shape[1], y_train.shape[1]
    scores = np.zeros((L, K))
    for i in range(L):
        for j in range(K):
            clf = LinearRegression() if continuous_factors else LinearSVC(C=0.01, class_weight="balanced")
            clf.fit(z_train[:, i : i + 1], y_train[:, j])
            scores[i, j] = clf.score(z_test[:, i : i + 1], y_test[:, j])
    top = np.sort(scores, axis=0)
    return {"sap": float(np.mean(top[-1] - top[-2])), "score_matrix": scores}


def sap(
    encode_fn: EncodeFn,
    world: Any,
    rng: np.random.Generator,
    num_train: int = 2000,
    num_test: int = 1000,
    continuous_factors: bool = False,
) -> dict:
    """SAP on random train / test states."""
    _, _, (z_tr, y_tr, z_te, y_te) = train_test_latents(encode_fn, world, rng, num_train, num_test)
    return sap_from_samples(z_tr, y_tr, z_te, y_te, continuous_factors)


register_metric(Metric(
    name="sap",
    run=lambda model, world, rng, n: sap(model.encode, world, rng, n, max(1, n // 2)),
    description="Kumar et al. (2018)",
))
