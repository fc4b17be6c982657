"""Action-estimation accuracy of models that infer latent actions (Painter et al., NeurIPS 2020).

An unsupervised agent (RGrVAE) names its latent actions arbitrarily, so its ids are
compared to the true actions only up to a relabelling: the best one-to-one matching of
true to latent actions (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``, on
the confusion matrix) and the fraction of transitions that matching explains. The true
action is used only here, never in training.

The matching is itself fitted to the data, so scoring it on the sample it was fitted to
flatters any guesser (a uniformly random one scores ~0.28 in-sample on FlatLand's four
actions with 1,000 transitions, where chance is 0.25). ``accuracy`` is therefore held out,
by two-fold cross-fitting: the transitions at even positions are matched and the matching
scores the odd ones, and vice versa; ``accuracy`` is the fraction of all transitions the
other half's matching gets right. ``accuracy_in_sample`` is the old full-sample score, and
``mapping`` and ``confusion`` stay the full-sample matching and confusion matrix.

``chance`` is the accuracy of the best constant guess, the largest share of one true
action among the transitions (what a guesser that always answers the same latent id
scores held out, in expectation over balanced halves). ``action_estimation`` draws every
true action equally often, in an order that puts the same number of each in both halves,
so there ``chance`` is 1 / number of true actions (exactly, when the sample size is a
multiple of twice that number).

On a world whose group does not commute and whose actions are closed under conjugation (the
cube), each transition (g, R_a g) is also g turned by R_b = g^-1 R_a g on the other side, and
the world emits the same set of transitions under either labelling
(:meth:`~flatland_env.finite_group.FiniteGroupSpec.mirror_actions`). A learner that never sees
the actions and sees a pair only through the states it joins cannot prefer one, so
``accuracy_mirror`` scores the same inferred ids, matched the
same way, against the mirror labels; on the cube the mirror label is independent of the
world's (each action's mirror labels are spread evenly over all six), so a learner of the
mirror labelling scores chance on ``accuracy``.
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
        upper = n if n is not None else "inf"
        raise ValueError(f"{name} must lie in [0, {upper}), got range [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def _hungarian(confusion: np.ndarray) -> np.ndarray:
    """true -> latent mapping maximising the matched counts (-1: unmatched true action)."""
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    mapping = np.full(confusion.shape[0], -1, dtype=np.int64)
    mapping[rows] = cols
    return mapping


def _confusion(t: np.ndarray, lat: np.ndarray, nt: int, nl: int) -> np.ndarray:
    confusion = np.zeros((nt, nl), dtype=np.int64)
    np.add.at(confusion, (t, lat), 1)
    return confusion


def _correct(t: np.ndarray, lat: np.ndarray, mapping: np.ndarray) -> int:
    return int(np.sum(mapping[t] == lat))


def match_actions(
    true_actions: np.ndarray,
    latent_actions: np.ndarray,
    num_true: int | None = None,
    num_latent: int | None = None,
) -> dict:
    """Held-out accuracy of the Hungarian true -> latent matching, chance, and the full-sample matching.

    Returns ``accuracy`` (two-fold cross-fitted over even / odd positions, see the module
    doc), ``accuracy_in_sample``, ``chance`` (largest share of one true action),
    ``mapping`` and ``confusion`` (true x latent) of the whole sample. Works for any
    numbers of true and latent actions; with fewer latent than true actions the unmatched
    true actions map to -1. With a single transition there is nothing to hold out:
    ``accuracy`` is then the in-sample one.
    """
    t = _check_ids("true_actions", true_actions, num_true)
    lat = _check_ids("latent_actions", latent_actions, num_latent)
    if t.shape != lat.shape or t.size == 0:
        raise ValueError(f"need as many true as latent action ids (> 0), got {t.shape} and {lat.shape}")
    nt = num_true if num_true is not None else int(t.max()) + 1
    nl = num_latent if num_latent is not None else int(lat.max()) + 1
    confusion = _confusion(t, lat, nt, nl)
    mapping = _hungarian(confusion)
    in_sample = _correct(t, lat, mapping) / t.size
    if t.size > 1:
        halves = [slice(0, None, 2), slice(1, None, 2)]
        maps = [_hungarian(_confusion(t[h], lat[h], nt, nl)) for h in halves]
        held_out = _correct(t[halves[1]], lat[halves[1]], maps[0]) + _correct(t[halves[0]], lat[halves[0]], maps[1])
        accuracy = held_out / t.size
    else:
        accuracy = in_sample
    return {
        "accuracy": float(accuracy),
        "accuracy_in_sample": float(in_sample),
        "chance": float(np.bincount(t, minlength=nt).max() / t.size),
        "mapping": mapping,
        "confusion": confusion,
    }


def balanced_actions(rng: np.random.Generator, num_actions: int, n: int) -> np.ndarray:
    """n action ids, each (nearly) equally often and equally often at even and odd positions, shuffled."""
    num_actions = check_int("num_actions", num_actions)
    n = check_int("n", n)
    halves = [rng.permutation(np.resize(np.arange(num_actions), m)) for m in ((n + 1) // 2, n // 2)]
    out = np.empty(n, dtype=np.int64)
    out[0::2], out[1::2] = halves
    return out


def action_estimation(
    infer_fn: InferFn,
    world: Any,
    rng: np.random.Generator,
    num_samples: int = 1000,
    num_latent: int | None = None,
) -> dict:
    """Sample random true transitions, let ``infer_fn(obs, next_obs)`` name their latent actions, match.

    Every true action is drawn equally often (see ``balanced_actions``) from uniformly
    random states. Returns the keys of ``match_actions`` and the action names, and on a world with a mirror
    labelling (the cube) ``accuracy_mirror``: the same ids scored against it (``chance`` stays the world's).
    """
    if not callable(infer_fn):
        raise ValueError(f"infer_fn must be callable (obs, next_obs) -> latent action ids, got {infer_fn!r}")
    rng = check_rng(rng)
    world = resolve_world(world)
    num_samples = check_int("num_samples", num_samples)
    spec = world.symmetry
    factors = spec.sample_factors(rng, num_samples)
    actions = balanced_actions(rng, spec.num_actions, num_samples)
    nxt = spec.apply(factors, actions)
    latent = np.concatenate(
        [
            np.asarray(infer_fn(render(world, factors[i : i + CHUNK]), render(world, nxt[i : i + CHUNK])))
            for i in range(0, num_samples, CHUNK)
        ]
    )
    if latent.shape != (num_samples,):
        raise ValueError(f"infer_fn must return one latent action id per transition, got shape {latent.shape}")
    out = match_actions(actions, latent, spec.num_actions, num_latent)
    out["action_names"] = list(spec.action_names)
    mirror = spec.mirror_actions() if hasattr(spec, "mirror_actions") else None
    if mirror is not None and (mirror != np.arange(spec.num_actions)).any():
        # a non-abelian world whose pairs are labelled as well by the mirror turns (FiniteGroupSpec.mirror_actions)
        out["accuracy_mirror"] = match_actions(mirror[factors[:, 0], actions], latent, spec.num_actions, num_latent)[
            "accuracy"
        ]
    return out


register_metric(Metric(
    name="action_estimation",
    run=lambda model, world, rng, n: action_estimation(model.infer_actions, world, rng, n),
    needs=("action_inference",),
    default_samples=1000,
    description="accuracy of inferred latent actions against true ones, up to a one-to-one relabelling",
))
