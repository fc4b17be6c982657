"""Modularity and explicitness (Ridgeway & Mozer, NeurIPS 2018, "Learning Deep Disentangled
Embeddings with the F-Statistic Loss"), as in Locatello et al. (2019) / disentanglement_lib.

- Modularity: with m_ij the (discretised, 20 bins) mutual information between latent i and
  factor j and theta_i = max_j m_ij, each latent's deviation from an ideal one-factor code
  is delta_i = sum_{j != argmax} m_ij^2 / (theta_i^2 (K - 1)); modularity is
  mean_i (1 - delta_i) (0 for latents carrying no information).
- Explicitness: per factor, a ``LogisticRegression`` on all latents predicts the factor
  value; its one-vs-rest ROC AUC on held-out states, averaged over values and factors.
  0.5 is chance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import label_binarize

from vae.metrics.information import histogram_discretize, mutual_info_matrix
from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import EncodeFn, check_int, train_test_latents


def modularity_from_mi(mi: np.ndarray) -> float:
    """Ridgeway & Mozer modularity of a mutual-information matrix (L x K)."""
    if mi.shape[1] < 2:
        return 1.0
    sq = mi**2
    top = sq.max(axis=1)
    delta = np.divide(sq.sum(axis=1) - top, top * (mi.shape[1] - 1), out=np.ones_like(top), where=top > 0)
    return float(np.mean(np.where(top > 0, 1.0 - delta, 0.0)))


def _mean_auc(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    onehot = label_binarize(y_true, classes=classes)
    if len(classes) == 2:
        onehot = np.hstack([1 - onehot, onehot])
    cols = [c for c in range(len(classes)) if 0 < onehot[:, c].sum() < len(y_true)]
    return float(np.mean([roc_auc_score(onehot[:, c], proba[:, c]) for c in cols])) if cols else float("nan")


def explicitness_from_samples(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray
) -> tuple[float, float]:
    """Mean one-vs-rest AUC of per-factor logistic regressions on (train, test)."""
    train, test = [], []
    for j in range(y_train.shape[1]):
        clf = LogisticRegression(max_iter=500).fit(z_train, y_train[:, j])
        train.append(_mean_auc(y_train[:, j], clf.predict_proba(z_train), clf.classes_))
        test.append(_mean_auc(y_test[:, j], clf.predict_proba(z_test), clf.classes_))
    return float(np.mean(train)), float(np.mean(test))


def modularity_explicitness(
    encode_fn: EncodeFn,
    world: Any,
    rng: np.random.Generator,
    num_train: int = 2000,
    num_test: int = 1000,
    num_bins: int = 20,
) -> dict:
    """Modularity (train states) and explicitness (AUC on held-out states)."""
    _, _, (z_tr, y_tr, z_te, y_te) = train_test_latents(encode_fn, world, rng, num_train, num_test)
    mi = mutual_info_matrix(histogram_discretize(z_tr, check_int("num_bins", num_bins, 2)), y_tr)
    ex_train, ex_test = explicitness_from_samples(z_tr, y_tr, z_te, y_te)
    return {
        "modularity": modularity_from_mi(mi),
        "explicitness_train": ex_train,
        "explicitness_test": ex_test,
        "mutual_info": mi,
    }


register_metric(Metric(
    name="modularity_explicitness",
    run=lambda model, world, rng, n: modularity_explicitness(model.encode, world, rng, n, max(1, n // 2)),
    description="Ridgeway & Mozer (2018)",
))
