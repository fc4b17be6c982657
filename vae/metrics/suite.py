"""``evaluate``: every metric that applies to a model on a world, in one call, written as JSON.

A model exposes ``encode(obs uint8 (N, H, W, C)) -> np (N, L)`` (latent means) and,
optionally, ``decode(latents) -> uint8 frames`` (image prediction errors),
``action_representations() -> np (A_latent, L, L)`` (equivariance error),
``true_action_map() -> np (A_true,)`` and ``infer_actions(obs, next_obs) -> np int ids``
(action estimation; its Hungarian matching also maps true to latent actions for the
equivariance error when the model has no ``true_action_map``; otherwise the identity).

Which metrics run: independence and the classical ones always; D_LSBD when every acted
factor is one cycle (the world's actions on it generate C_n) and the grid of acted
factors has at most ``lsbd.MAX_GRID`` states; the others when the model has the methods.
Each metric draws from its own generator seeded by (seed, metric), so results do not
depend on which other metrics run.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm.auto import tqdm

from vae.metrics.action_estimation import action_estimation
from vae.metrics.beta_vae import beta_vae_score
from vae.metrics.dci import dci
from vae.metrics.equivariance import equivariance_error
from vae.metrics.factor_vae import factor_vae_score
from vae.metrics.independence import independence_score
from vae.metrics.lsbd import MAX_GRID, d_lsbd
from vae.metrics.mig import mig
from vae.metrics.modularity import modularity_explicitness
from vae.metrics.sampling import check_int, resolve_world
from vae.metrics.sap import sap

METRICS = (
    "independence",
    "d_lsbd",
    "equivariance",
    "action_estimation",
    "beta_vae",
    "factor_vae",
    "mig",
    "dci",
    "sap",
    "modularity_explicitness",
)


def _world_of(env_id_or_env: Any) -> tuple[Any, str]:
    if isinstance(env_id_or_env, str):
        import gymnasium as gym

        import flatland_env  # noqa: F401  (registers the worlds)

        env = gym.make(env_id_or_env)
        return resolve_world(env), env_id_or_env
    world = resolve_world(env_id_or_env)
    spec = getattr(getattr(env_id_or_env, "spec", None), "id", None)
    return world, spec or type(world).__name__


def lsbd_applicable(spec: Any, max_grid: int = MAX_GRID) -> str | None:
    """None if D_LSBD applies to the spec, else the reason it does not."""
    for f in spec.acted_factors:
        n = spec.factor_sizes[f]
        if math.gcd(n, *[a.step for a in spec.actions if a.factor == f]) != 1:
            return f"the actions on factor {spec.factor_names[f]!r} do not generate its whole cycle C_{n}"
    size = int(np.prod([spec.factor_sizes[f] for f in spec.acted_factors]))
    if size > max_grid:
        return f"the acted-factor grid has {size} states, more than {max_grid}"
    return None


def _plan(model: Any, spec: Any, n: int) -> dict[str, Callable[[Any, np.random.Generator], dict] | str]:
    """metric name -> callable(world, rng), or the reason it is skipped."""
    enc = model.encode
    decode = getattr(model, "decode", None)
    infer = getattr(model, "infer_actions", None)
    reps = getattr(model, "action_representations", None)
    half, quarter, eighth = max(1, n // 2), max(1, n // 4), max(1, n // 8)

    def equivariance(world, rng):
        mats = np.asarray(reps())
        if hasattr(model, "true_action_map"):
            mapping, source = np.asarray(model.true_action_map()), "model.true_action_map()"
        elif infer is not None:
            mapping = action_estimation(infer, world, rng, n, num_latent=mats.shape[0])["mapping"]
            source = "Hungarian matching of model.infer_actions"
        else:
            mapping, source = None, "identity"
        out = equivariance_error(enc, world, rng, mats, mapping, half)
        out["action_map_source"] = source
        return out

    lsbd_reason = lsbd_applicable(spec)
    return {
        "independence": lambda w, r: independence_score(enc, w, r, half, decode_fn=decode),
        "d_lsbd": (lambda w, r: d_lsbd(enc, w, r)) if lsbd_reason is None else lsbd_reason,
        "equivariance": equivariance if reps is not None else "model has no action_representations()",
        "action_estimation": (
            (lambda w, r: action_estimation(infer, w, r, n)) if infer is not None else "model has no infer_actions()"
        ),
        "beta_vae": lambda w, r: beta_vae_score(enc, w, r, num_train=quarter, num_eval=eighth),
        "factor_vae": lambda w, r: factor_vae_score(
            enc, w, r, num_train=quarter, num_eval=eighth, num_variance_estimate=max(2, n)
        ),
        "mig": lambda w, r: mig(enc, w, r, n),
        "dci": lambda w, r: dci(enc, w, r, n, half),
        "sap": lambda w, r: sap(enc, w, r, n, half),
        "modularity_explicitness": lambda w, r: modularity_explicitness(enc, w, r, n, half),
    }


def to_jsonable(obj: Any) -> Any:
    """numpy scalars / arrays -> Python; non-finite floats -> None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def evaluate(
    model: Any,
    env_id_or_env: Any,
    *,
    num_samples: int = 2000,
    seed: int = 0,
    out_path: str | Path | None = None,
    progress: bool = True,
    metrics: tuple[str, ...] | list[str] | None = None,
) -> dict:
    """Run every applicable metric (or those named in ``metrics``) and return a JSON-ready dict.

    ``num_samples`` sets the sample sizes: N states for MIG / DCI / SAP / modularity
    (N/2 held out), N/2 start states (times every action) for independence and
    equivariance, N/4 + N/8 beta-VAE / FactorVAE points of 64-state batches. Worlds with
    few states (FlatLand: 1,089) encode each state once per metric, so this is quick there;
    on Sprites the default takes minutes (mostly the beta-VAE batches).
    """
    if not callable(getattr(model, "encode", None)):
        raise ValueError(f"model must have encode(obs uint8 (N, H, W, C)) -> np (N, L), got {type(model).__name__}")
    num_samples = check_int("num_samples", num_samples, 4)
    seed = check_int("seed", seed, 0)
    chosen = tuple(METRICS if metrics is None else metrics)
    unknown = [m for m in chosen if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; allowed: {METRICS}")
    world, name = _world_of(env_id_or_env)
    spec = world.symmetry
    plan = _plan(model, spec, num_samples)
    results: dict[str, Any] = {"env": name, "seed": seed, "num_samples": num_samples, "seconds": {}}
    bar = tqdm(chosen, desc="metrics", disable=not progress, leave=False)
    for metric in bar:
        bar.set_postfix_str(metric)
        job = plan[metric]
        if isinstance(job, str):
            results[metric] = {"skipped": job}
            continue
        start = time.perf_counter()
        results[metric] = job(world, np.random.default_rng([seed, METRICS.index(metric)]))
        results["seconds"][metric] = round(time.perf_counter() - start, 3)
    results = to_jsonable(results)
    if out_path is not None:
        path = Path(out_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, allow_nan=False))
    return results
