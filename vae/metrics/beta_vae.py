"""Beta-VAE score (Higgins et al., ICLR 2017, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework"), as in Locatello et al. (2019) / disentanglement_lib.

Each training point: pick a ground-truth factor k uniformly, draw ``batch_size`` pairs of
random states that share factor k, and take the mean over the batch of |z1 - z2|. A
linear classifier (``sklearn.linear_model.LogisticRegression``) predicts k from that
vector; the score is its accuracy on fresh points. Chance is 1 / number of factors.
A code with one latent per factor scores exactly 1 (the fixed factor's latent differs by
exactly 0). With two factors the score cannot see a factor the code misses: a code of x
alone also scores 1, its all-zero feature vector identifying the batches with x fixed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import (
    EncodeFn,
    check_batch_inputs,
    encode_states,
    fixed_factor_batches,
)


def _points(encode_fn: EncodeFn, world: Any, rng: np.random.Generator, n: int, batch_size: int):
    labels, pairs = fixed_factor_batches(world.symmetry, rng, n, batch_size, pairs=True)
    z = encode_states(encode_fn, world, pairs)
    return np.abs(z[0] - z[1]).mean(axis=1), labels


def beta_vae_score(
    encode_fn: EncodeFn,
    world: Any,
    rng: np.random.Generator,
    num_train: int = 1000,
    num_eval: int = 500,
    batch_size: int = 64,
) -> dict:
    """Train / eval accuracy of the linear factor classifier on batch-mean |z1 - z2| features."""
    world, rng, n_tr, n_ev, batch_size = check_batch_inputs(encode_fn, world, rng, num_train, num_eval, batch_size)
    x_tr, y_tr = _points(encode_fn, world, rng, n_tr, batch_size)
    x_ev, y_ev = _points(encode_fn, world, rng, n_ev, batch_size)
    if np.unique(y_tr).size < 2:
        return {"train_accuracy": 1.0, "eval_accuracy": float(np.mean(y_ev == y_tr[0]))}
    clf = LogisticRegression(max_iter=1000, random_state=int(rng.integers(2**31)))
    clf.fit(x_tr, y_tr)
    return {"train_accuracy": float(clf.score(x_tr, y_tr)), "eval_accuracy": float(clf.score(x_ev, y_ev))}


register_metric(Metric(
    name="beta_vae",
    run=lambda model, world, rng, n: beta_vae_score(model.encode, world, rng, num_train=n, num_eval=max(1, n // 2)),
    default_samples=250,
    description="Higgins et al. (2017)",
))
