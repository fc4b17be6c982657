"""Action-estimation accuracy of models that infer latent actions (Painter et al., NeurIPS 2020).

An unsupervised agent (RGrVAE) names its latent actions arbitrarily, so its ids are
compared to the true actions only up to a relabelling: the best one-to-one matching of
true to latent actions (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``, on
the confusion matrix) and the fraction of transitions that matching explains. The true
action is used only here, never in training.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy.optimize import linear_sum_assignment

from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import CHUNK, check_int, check_rng, render, resolve_world

InferFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _check_ids(name: str, ids: Any, n: int | None) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 1-D integer array, got shape {arr.shape} dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or (n is not None and arr.max() >= n)):
        raise ValueError(f"{name} must lie in [0, {n if n is not None else 'inf'}), got range [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def match_actions(
    true_actions: np.ndarray,
    latent_actions: np.ndarray,
    num_true: int | None = None,
    num_latent: int | None = None,
) -> dict:
    """Confusion matrix (true x latent), Hungarian true -> latent mapping, and its accuracy.

    Works for any numbers of true and latent actions; with fewer latent than true actions
    the unmatched true actions map to -1.
    """
    t = _check_ids("true_actions", true_actions, num_true)
    lat = _check_ids("latent_actions", latent_actions, num_latent)
    if t.shape != lat.shape or t.size == 0:
        raise ValueError(f"need as many true as latent action ids (> 0), got {t.shape} and {lat.shape}")
    nt = num_true if num_true is not None else int(t.max()) + 1
    nl = num_latent if num_latent is not None else int(lat.max()) + 1
    confusion = np.zeros((nt, nl), dtype=np.int64)
    np.add.at(confusion, (t, lat), 1)
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    mapping = np.full(nt, -1, dtype=np.int64)
    mapping[rows] = cols
    return {
        "accuracy": float(confusion[rows, cols].sum() / t.size),
        "mapping": mapping,
        "confusion": confusion,
    }


def action_estimation(
    infer_fn: InferFn,
    world: Any,
    rng: np.random.Generator,
    num_samples: int = 1000,
    num_latent: int | None = None,
) -> dict:
    """Sample random true transitions, let ``infer_fn(obs, next_obs)`` name their latent actions, match."""
    if not callable(infer_fn):
        raise ValueError(f"infer_fn must be callable (obs, next_obs) -> latent action ids, got {infer_fn!r}")
    rng = check_rng(rng)
    world = resolve_world(world)
    num_samples = check_int("num_samples", num_samples)
    spec = world.symmetry
    factors = spec.sample_factors(rng, num_samples)
    actions = rng.integers(0, spec.num_actions, size=num_samples)
    nxt = spec.apply(factors, actions)
    latent = np.concatenate(
        [
            np.asarray(infer_fn(render(world, factors[i : i + CHUNK]), render(world, nxt[i : i + CHUNK])))
            for i in range(0, num_samples, CHUNK)
        ]
    )
    out = match_actions(actions, latent, spec.num_actions, num_latent)
    out["action_names"] = list(spec.action_names)
    return out


register_metric(Metric(
    name="action_estimation",
    run=lambda model, world, rng, n: action_estimation(model.infer_actions, world, rng, n),
    needs=("action_inference",),
    default_samples=1000,
    description="accuracy of inferred latent actions against true ones, up to a one-to-one relabelling",
))
