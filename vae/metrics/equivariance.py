"""Relative equivariance error of a model's own group representation (docs/metrics.md).

    E = mean_i ||rho(a^_i) mu(x_i) - mu(x'_i)||^2 / mean_i ||mu(x_i) - mean(mu)||^2

over true transitions (x, a, x') from random states, every action, wraps included, where
a^ = mapping[a] is the latent action standing for true action a (identity for supervised
models; the Hungarian matching of its inferred actions for RGrVAE). 0 means the model's
rho moves its encodings exactly where the encoder puts the next frames; 1 is as large as
the spread of the latents. Unlike the independence score it uses the model's own rho, so
it separates learned from accidental structure (Painter et al., NeurIPS 2020; docs/metrics.md).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import (
    EncodeFn,
    check_inputs,
    check_int,
    latent_spread,
    true_transitions,
)


def check_action_map(mapping: Sequence[int] | np.ndarray | None, num_true: int, num_latent: int) -> np.ndarray:
    """The true -> latent action map as an int array (identity when None; -1: no latent action)."""
    if mapping is None:
        if num_latent < num_true:
            raise ValueError(
                f"the identity action map needs as many latent ({num_latent}) as true actions ({num_true}); "
                "pass a mapping"
            )
        return np.arange(num_true)
    m = np.asarray(mapping)
    if m.shape != (num_true,) or m.dtype.kind not in "iu" or m.min() < -1 or m.max() >= num_latent or m.max() < 0:
        raise ValueError(
            f"action_map must give one latent action in [0, {num_latent}) per true action ({num_true}), "
            f"or -1 for an unmatched one (not all), got {mapping!r}"
        )
    return m.astype(np.int64)


def equivariance_error(
    encode_fn: EncodeFn,
    world: Any,
    rng: np.random.Generator,
    action_matrices: np.ndarray,
    action_map: Sequence[int] | np.ndarray | None = None,
    num_states: int = 1000,
) -> dict:
    """Relative equivariance error overall and per true action (see module doc).

    ``action_matrices`` is the model's rho, a numpy array (A_latent, L, L);
    ``action_map[a]`` the latent action for true action a (None: identity; -1 leaves
    true action a out, e.g. when a model has fewer latent than true actions).
    """
    world, rng = check_inputs(encode_fn, world, rng)
    num_states = check_int("num_states", num_states)
    mats = np.asarray(action_matrices, dtype=np.float64)
    if mats.ndim != 3 or mats.shape[1] != mats.shape[2] or not np.all(np.isfinite(mats)):
        raise ValueError(f"action_matrices must be a finite numpy array (A_latent, L, L), got shape {mats.shape}")
    spec = world.symmetry
    mapping = check_action_map(action_map, spec.num_actions, mats.shape[0])
    _, _, z, z_next = true_transitions(encode_fn, world, rng, num_states)
    if z.shape[1] != mats.shape[1]:
        raise ValueError(f"action_matrices act on L={mats.shape[1]} dims but encode_fn returns L={z.shape[1]}")
    pred = np.einsum("aij,nj->ani", mats[mapping], z)
    err = np.where(mapping >= 0, np.sum((pred - z_next) ** 2, axis=-1).mean(axis=1), np.nan)  # (A,)
    spread = latent_spread(z)
    rel = err / spread if spread > 0 else np.full_like(err, np.nan)
    return {
        "relative_error": float(np.nanmean(rel)),
        "absolute_error": float(np.nanmean(err)),
        "latent_spread": spread,
        "per_action": {name: float(r) for name, r in zip(spec.action_names, rel)},
        "action_map": mapping,
    }


def model_action_map(model: Any, world: Any, rng: np.random.Generator, n: int,
                     num_latent: int) -> tuple[np.ndarray | None, str]:
    """Which latent action stands for each true action: the model's own map (supervised models), else the
    Hungarian matching of its inferred actions on ``n`` fresh transitions, else the identity (None)."""
    from vae.metrics.action_estimation import action_estimation

    if callable(getattr(model, "true_action_map", None)):
        return np.asarray(model.true_action_map()), "model.true_action_map()"
    if callable(getattr(model, "infer_actions", None)):
        mapping = action_estimation(model.infer_actions, world, rng, n, num_latent=num_latent)["mapping"]
        return mapping, "Hungarian matching of model.infer_actions"
    return None, "identity"


def _model_equivariance(model: Any, world: Any, rng: np.random.Generator, n: int) -> dict:
    """The model's own rho against its encoder, with its true-action map or the Hungarian one."""
    mats = np.asarray(model.action_representations())
    mapping, source = model_action_map(model, world, rng, 2 * n, mats.shape[0])
    out = equivariance_error(model.encode, world, rng, mats, mapping, n)
    out["action_map_source"] = source
    return out


register_metric(Metric(
    name="equivariance",
    run=_model_equivariance,
    needs=("latent_actions",),
    default_samples=500,
    description="relative error of the model's own group representation on true transitions",
))
