"""Side-by-side tables of finished runs: the numbers of their ``metrics.json``, over seeds.

Used by ``scripts/compare_models.py`` for the README's tables. Every number comes from a
run's own ``metrics.json``; nothing is recomputed here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from agents.training.evaluation import METRICS_NAME

#: (row name, path into metrics.json); a missing path shows as "-" (the metric does not apply)
COLUMNS: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("action-estimation accuracy", ("acceptance", "action_accuracy")),
    ("relative equivariance error", ("metrics", "equivariance", "relative_error")),
    ("independence", ("metrics", "independence", "independence")),
    ("D_LSBD", ("metrics", "d_lsbd", "d_lsbd")),
    ("Beta-VAE", ("metrics", "beta_vae", "eval_accuracy")),
    ("FactorVAE", ("metrics", "factor_vae", "eval_accuracy")),
    ("MIG", ("metrics", "mig", "mig")),
    ("DCI dis.", ("metrics", "dci", "disentanglement")),
    ("DCI comp.", ("metrics", "dci", "completeness")),
    ("DCI info.", ("metrics", "dci", "informativeness_test")),
    ("SAP", ("metrics", "sap", "sap")),
    ("modularity", ("metrics", "modularity_explicitness", "modularity")),
    ("explicitness", ("metrics", "modularity_explicitness", "explicitness_test")),
)


def load_record(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / METRICS_NAME
    if not path.is_file():
        raise ValueError(f"{run_dir} has no {METRICS_NAME}: train or evaluate it first")
    return json.loads(path.read_text())


def _get(record: dict, path: tuple[Any, ...]) -> float | None:
    node: Any = record
    for key in path:
        if not isinstance(node, dict) or key not in node or node[key] is None:
            return None
        node = node[key]
    return float(node) if isinstance(node, (int, float)) else None


def fitted_angles(record: dict) -> list[float]:
    """Per true action, the angle of the linear map fitted by the independence score (radians)."""
    actions = record.get("metrics", {}).get("independence", {}).get("actions", [])
    return [float(a["angle"]) for a in actions if a.get("angle") is not None]


def learned_angles(record: dict) -> list[float]:
    """Per true action, |angle| of the model's own matched latent action (models with latent actions)."""
    return [float(a["abs_angle"]) for a in record.get("acceptance", {}).get("angles", [])]


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v[0]:.3f}"


def markdown_table(records_by_model: dict[str, list[dict]]) -> str:
    """Metrics as rows, models as columns: mean ± std over each model's runs (seeds)."""
    models = list(records_by_model)
    lines = ["| metric | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]

    def row(name: str, cells: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    row("runs (seeds)", [str(len(records_by_model[m])) for m in models])
    passed = []
    for m in models:
        flags = [r.get("acceptance", {}).get("passed", {}).get("all") for r in records_by_model[m]]
        passed.append(f"{sum(bool(p) for p in flags)}/{len(flags)}" if any(p is not None for p in flags) else "-")
    row("passed acceptance (a, b, c)", passed)
    def pooled(values_of) -> list[str]:
        return [_mean_std([v for r in records_by_model[m] for v in values_of(r)]) for m in models]

    for name, path in COLUMNS:
        row(name, pooled(lambda r, path=path: [x for x in [_get(r, path)] if x is not None]))
    row("fitted angle per action (rad)", pooled(fitted_angles))
    row("learned latent angle, absolute (rad)", pooled(learned_angles))
    return "\n".join(lines)
