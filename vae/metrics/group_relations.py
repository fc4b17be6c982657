"""Group-relation error: does a learned representation obey the world's group laws? (docs/metrics.md)

A linear representation rho of the world's group must satisfy every relation of the group
(:mod:`flatland_env.relations`): rho(a)^order(a) = I, rho(a) rho(a^-1) = I, and the learned
commutator rho(a^-1 b^-1 a b) equal to rho of the world's own commutator element, which on the
cube is a rotation and on a commutative world is no action. Each relation's error is

    ||rho(lhs) - rho(rhs)||_2   (the spectral norm),

the largest distance by which the two sides move any unit code apart. For orthogonal rho it is
in [0, 2] and scale-free; a rotation off by a small angle eps scores about eps. A model whose
latent actions are not the true ones is read through ``action_map`` (true -> latent), found as
the equivariance error finds its own (on this metric's own samples); relations that use an
unmatched action are listed as ``unmeasured``. Alongside, for every pair of true actions: whether the learned
actions commute (their commutator's distance from I), beside whether the world's do, so a
model that learned only a commutative image of a non-commutative group shows it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from flatland_env.relations import Relation, Word, world_relations
from vae.metrics.equivariance import check_action_map, model_action_map
from vae.metrics.registry import Metric, register_metric

#: learned commutator distance from I above which two learned actions count as not commuting
COMMUTE_TOLERANCE = 0.05


def word_matrix(mats: np.ndarray, word: Word) -> np.ndarray:
    """rho(a_1 ... a_n) = rho(a_n) ... rho(a_1): the word done left to right (identity for the empty word)."""
    out = np.eye(mats.shape[1])
    for a in word:
        out = mats[a] @ out
    return out


def relation_errors(action_matrices: np.ndarray, relations: Sequence[Relation], action_names: Sequence[str],
                    action_map: Sequence[int] | np.ndarray | None = None) -> dict[str, Any]:
    """Each relation's error, the largest per kind and overall, and which learned pairs commute (module doc).

    ``action_matrices`` is rho, (A_latent, L, L); ``action_map[a]`` the latent action for true action a
    (None: identity; -1: unmatched, and relations that use it are left out, with error None).
    """
    mats = np.asarray(action_matrices, dtype=np.float64)
    if mats.ndim != 3 or mats.shape[1] != mats.shape[2] or not np.all(np.isfinite(mats)):
        raise ValueError(f"action_matrices must be a finite numpy array (A_latent, L, L), got shape {mats.shape}")
    names = tuple(action_names)
    mapping = check_action_map(action_map, len(names), mats.shape[0])
    rows, worst = [], {}
    for rel in relations:
        used = set(rel.lhs) | set(rel.rhs)
        err = None
        if all(mapping[a] >= 0 for a in used):
            diff = word_matrix(mats, [mapping[a] for a in rel.lhs]) - word_matrix(mats, [mapping[a] for a in rel.rhs])
            err = float(np.linalg.norm(diff, 2))
            worst[rel.kind] = max(worst.get(rel.kind, 0.0), err)
        rows.append({"relation": rel.name(names), "kind": rel.kind, "error": err})
    pairs = []
    for rel in relations:
        if rel.kind != "commutator" or any(mapping[a] < 0 for a in rel.actions):
            continue
        a, b = (mats[mapping[x]] for x in rel.actions)
        pairs.append({"actions": [names[x] for x in rel.actions], "world_commutes": rel.rhs == (),
                      "learned_commutator": float(np.linalg.norm(b @ a - a @ b, 2))})
    return {
        "max_error": max(worst.values()) if worst else None,
        "max_error_by_kind": worst,
        "unmeasured": [r["relation"] for r in rows if r["error"] is None],
        "relations": rows,
        "commuting": pairs,
        "learned_non_commuting": [p["actions"] for p in pairs if p["learned_commutator"] > COMMUTE_TOLERANCE],
        "world_non_commuting": [p["actions"] for p in pairs if not p["world_commutes"]],
        "action_map": mapping,
    }


def _model_group_relations(model: Any, world: Any, rng: np.random.Generator, n: int) -> dict:
    """The model's own rho against the world's relations, read through its true -> latent action map."""
    mats = np.asarray(model.action_representations())
    mapping, source = model_action_map(model, world, rng, n, mats.shape[0])
    spec = world.symmetry
    out = relation_errors(mats, world_relations(spec), spec.action_names, mapping)
    out["action_map_source"] = source
    return out


register_metric(Metric(
    name="group_relations",
    run=_model_group_relations,
    needs=("latent_actions",),
    default_samples=1000,
    description="how far the model's rho is from obeying the world's order, inverse and commutator relations",
))
