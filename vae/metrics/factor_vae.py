"""FactorVAE score (Kim & Mnih, ICML 2018, "Disentangling by Factorising"), as in Locatello
et al. (2019) / disentanglement_lib.

Latents are divided by their global standard deviation (dimensions with std < 0.05 are
pruned as inactive). Each vote: fix one ground-truth factor (chosen uniformly) at a random
value, draw ``batch_size`` states, and vote (argmin over active dimensions of the
normalised variance, factor). A majority-vote classifier maps each latent dimension to the
factor it votes for most on the training votes; the score is the fraction of eval votes
it gets right. Chance is about 1 / number of factors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import (
    EncodeFn,
    check_batch_inputs,
    check_int,
    encode_states,
    fixed_factor_batches,
    varying_factors,
)

#: latent dimensions whose global std is below this are pruned
PRUNE_STD = 0.05


def _votes(encode_fn, world, rng, n, batch_size, std, active) -> np.ndarray:
    labels, batches = fixed_factor_batches(world.symmetry, rng, n, batch_size, pairs=False)
    z = encode_states(encode_fn, world, batches)[..., active] / std[active]
    dims = np.argmin(np.var(z, axis=1, ddof=1), axis=-1)
    votes = np.zeros((active.sum(), len(varying_factors(world.symmetry))), dtype=np.int64)
    np.add.at(votes, (dims, labels), 1)
    return votes


def factor_vae_score(
    encode_fn: EncodeFn,
    world: Any,
    rng: np.random.Generator,
    num_train: int = 1000,
    num_eval: int = 500,
    batch_size: int = 64,
    num_variance_estimate: int = 5000,
) -> dict:
    """Train / eval accuracy of the majority-vote classifier, and the number of active dimensions."""
    world, rng, n_tr, n_ev, batch_size = check_batch_inputs(encode_fn, world, rng, num_train, num_eval, batch_size, 2)
    spec = world.symmetry
    num_variance_estimate = check_int("num_variance_estimate", num_variance_estimate, 2)
    z_all = encode_states(encode_fn, world, spec.sample_factors(rng, num_variance_estimate))
    std = z_all.std(axis=0, ddof=1)
    active = std >= PRUNE_STD
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    train = _votes(encode_fn, world, rng, n_tr, batch_size, std, active)
    evals = _votes(encode_fn, world, rng, n_ev, batch_size, std, active)
    classifier = train.argmax(axis=1)  # latent dim -> factor
    rows = np.arange(len(classifier))
    return {
        "train_accuracy": float(train[rows, classifier].sum() / train.sum()),
        "eval_accuracy": float(evals[rows, classifier].sum() / evals.sum()),
        "num_active_dims": int(active.sum()),
    }


register_metric(Metric(
    name="factor_vae",
    run=lambda model, world, rng, n: factor_vae_score(
        model.encode, world, rng, num_train=n, num_eval=max(1, n // 2), num_variance_estimate=max(2, 4 * n)
    ),
    default_samples=250,
    description="Kim & Mnih (2018)",
))
