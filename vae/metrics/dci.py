"""DCI disentanglement, completeness and informativeness (Eastwood & Williams, ICLR 2018, "A
Framework for the Quantitative Evaluation of Disentangled Representations"), as in
Locatello et al. (2019) / disentanglement_lib.

For each ground-truth factor a tree ensemble predicts the factor from the latents; its
feature importances form column j of the importance matrix R (L x K).
- Disentanglement: per latent i, 1 - H_K(R_i. / sum R_i.), weighted by the share of total
  importance of latent i.
- Completeness: per factor j, 1 - H_L(R_.j / sum R_.j), weighted by the factor's share.
- Informativeness: the classifiers' mean accuracy on held-out states.
disentanglement_lib uses ``GradientBoostingClassifier`` (``estimator="gradient_boosting"``);
the default here is a ``RandomForestClassifier``, much faster on factors with 30+ classes,
whose impurity importances play the same role. It considers every latent at every split
(``max_features=None``): with random feature subsets, splits forced onto uninformative
latents would give them spurious importance. A factor embedded on a circle (two latents)
has completeness about 1 - log(2)/log(L) by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import EncodeFn, train_test_latents

ESTIMATORS = ("random_forest", "gradient_boosting")


def _weighted_one_minus_entropy(r: np.ndarray) -> float:
    """sum_i w_i (1 - H_base(r_i)) over rows i of r, base = number of columns, w_i = row share."""
    if r.shape[1] < 2:
        return 1.0
    per_row = 1.0 - scipy.stats.entropy(r.T + 1e-11, base=r.shape[1])
    total = r.sum()
    weights = r.sum(axis=1) / total if total > 0 else np.full(r.shape[0], 1.0 / r.shape[0])
    return float(np.sum(per_row * weights))


def dci_from_samples(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    estimator: str = "random_forest",
    seed: int = 0,
) -> dict:
    """DCI from train / test latents (N, L) and discrete factors (N, K)."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    L, K = z_train.shape[1], y_train.shape[1]
    importance = np.zeros((L, K))
    train_acc, test_acc = [], []
    for j in range(K):
        if estimator == "random_forest":
            clf = RandomForestClassifier(
                n_estimators=30, max_features=None, min_samples_leaf=2, n_jobs=2, random_state=seed
            )
        else:
            clf = GradientBoostingClassifier(random_state=seed)
        clf.fit(z_train, y_train[:, j])
        importance[:, j] = np.abs(clf.feature_importances_)
        train_acc.append(clf.score(z_train, y_train[:, j]))
        test_acc.append(clf.score(z_test, y_test[:, j]))
    return {
        "disentanglement": _weighted_one_minus_entropy(importance),
        "completeness": _weighted_one_minus_entropy(importance.T),
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
        "importance_matrix": importance,
    }


def dci(
    encode_fn: EncodeFn,
    world: Any,
    rng: np.random.Generator,
    num_train: int = 2000,
    num_test: int = 1000,
    estimator: str = "random_forest",
) -> dict:
    """DCI on random train / test states."""
    _, rng, (z_tr, y_tr, z_te, y_te) = train_test_latents(encode_fn, world, rng, num_train, num_test)
    return dci_from_samples(z_tr, y_tr, z_te, y_te, estimator, int(rng.integers(2**31)))


register_metric(Metric(
    name="dci",
    run=lambda model, world, rng, n: dci(model.encode, world, rng, n, max(1, n // 2)),
    description="Eastwood & Williams (2018)",
))
