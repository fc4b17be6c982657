"""``evaluate``: every registered metric that applies to a model on a world, in one call, as JSON.

A model exposes ``encode(obs uint8 (N, H, W, C)) -> np (N, L)`` (latent means) and,
optionally, ``decode(latents) -> uint8 frames``, ``action_representations() -> np
(A_latent, L, L)``, ``true_action_map() -> np (A_true,)`` and ``infer_actions(obs, next_obs)
-> np int ids``. A world is any object with a ``symmetry`` spec and
``render_states(factors)`` (an env's ``.unwrapped``); this package never builds one.

Which metrics run is read off the registry (:mod:`vae.metrics.registry`): a metric whose
needs the model or the world does not meet is recorded as skipped, with the reason.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from vae.metrics.registry import registered_metrics
from vae.metrics.sampling import check_int, resolve_world


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
    world: Any,
    *,
    num_samples: int = 1000,
    seed: int = 0,
    out_path: str | Path | None = None,
    progress: bool = True,
    metrics: tuple[str, ...] | list[str] | None = None,
) -> dict:
    """Run every applicable registered metric (or those named in ``metrics``); return a JSON-ready dict.

    ``num_samples`` scales every metric's sample size (each registry entry's default is its
    size at 1,000). Worlds with few states (FlatLand: 1,089) encode each state once per
    metric, so this is quick there.
    """
    if not callable(getattr(model, "encode", None)):
        raise ValueError(f"model must have encode(obs uint8 (N, H, W, C)) -> np (N, L), got {type(model).__name__}")
    if isinstance(world, str):
        raise ValueError("world must be a world object (e.g. flatland_env.make_world(env_id).unwrapped), not an id")
    world = resolve_world(world, allow_continuous=True)
    num_samples = check_int("num_samples", num_samples, 4)
    seed = check_int("seed", seed, 0)
    registry = registered_metrics()
    chosen = tuple(registry if metrics is None else metrics)
    unknown = [m for m in chosen if m not in registry]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; registered: {sorted(registry)}")
    spec = world.symmetry
    results: dict[str, Any] = {"group": spec.describe(), "seed": seed, "num_samples": num_samples, "seconds": {}}
    bar = tqdm(chosen, desc="metrics", disable=not progress, leave=False)
    for name in bar:
        bar.set_postfix_str(name)
        metric = registry[name]
        reason = metric.skip_reason(model, world)
        if reason is not None:
            results[name] = {"skipped": reason}
            continue
        start = time.perf_counter()
        rng = np.random.default_rng(metric.seed_sequence(seed))
        results[name] = metric.run(model, world, rng, metric.samples(num_samples))
        results["seconds"][name] = round(time.perf_counter() - start, 3)
    results = to_jsonable(results)
    if out_path is not None:
        path = Path(out_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, allow_nan=False))
    return results
