"""A label-free stopping rule: stop when the agent's own equivariance error is small and has stopped falling.

The agent measures how well its group representation predicts its encodings on a fixed set
of pairs it collected itself, using the latent actions *it* infers for them (RGrVAE: its
policy), never the world's action labels:

    E_self = mean_i ||rho(a^_i) mu(x_i) - mu(x'_i)||^2 / mean_i ||mu(x_i) - mean(mu)||^2

the relative equivariance error of docs/metrics.md with the true action map replaced by
the agent's own inference. It tracks the labelled error closely once the policy is
accurate, and it is large while the policy is not, so a small E_self also means the agent
can tell its actions apart. The run stops when E_self is at most a threshold and the last
``patience`` checks did not beat the best earlier one by more than ``min_improvement``
(docs/method.md, "Stopping").
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def relative_prediction_error(predicted: np.ndarray, target: np.ndarray, start: np.ndarray) -> float:
    """mean ||predicted - target||^2 over the spread mean ||start - mean(start)||^2 (inf if no spread)."""
    predicted, target, start = (np.asarray(a, dtype=np.float64) for a in (predicted, target, start))
    if predicted.shape != target.shape or predicted.shape != start.shape or predicted.ndim != 2:
        raise ValueError(
            f"predicted, target and start must be latents of one shape (N, L), got "
            f"{predicted.shape}, {target.shape}, {start.shape}"
        )
    spread = float(((start - start.mean(0)) ** 2).sum(-1).mean())
    error = float(((predicted - target) ** 2).sum(-1).mean())
    return error / spread if spread > 0 else float("inf")


def plateau_reached(errors: Sequence[float], threshold: float, patience: int, min_improvement: float) -> bool:
    """True when the last error is <= threshold and the last ``patience`` errors did not improve on the
    best one before them by more than the fraction ``min_improvement``.

    ``errors`` are the self-measured errors of successive checks, oldest first.
    """
    if patience < 1 or not 0 <= min_improvement < 1:
        raise ValueError(f"patience must be >= 1 and min_improvement in [0, 1), got {patience}, {min_improvement}")
    e = np.asarray(errors, dtype=np.float64)
    if e.size <= patience or not np.isfinite(e[-1]) or e[-1] > threshold:
        return False
    best_before, best_recent = np.nanmin(e[:-patience]), np.nanmin(e[-patience:])
    return bool(best_recent >= (1 - min_improvement) * best_before)
