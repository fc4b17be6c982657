"""Orbit spacing: how evenly a code spaces each factor's action orbit (docs/metrics.md).

For each factor of a product of cyclic groups, the frames of one orbit of its action (the
factor stepped by the action, every other factor held at the middle of its range) are
encoded; on the latent plane where that orbit's code winds most, the phase step per action
is read along the orbit. A faithful code steps evenly, so the largest step over the median
step is 1. A code that closes its circle with a *seam*, short steps and one long jump where
the object crosses the frame's edge, scores well above 1; a rotation rho(a) fitted to single
steps settles at the mean step, one fitted through latent paths of several steps can settle
near the short step. Reported per factor: ``winding`` (turns of the code over the
orbit; ±(steps per cycle of the action) for a faithful code) and ``step_max_over_median``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae.metrics.registry import Metric, register_metric
from vae.metrics.sampling import EncodeFn


def orbit_spacing(encode_fn: EncodeFn, world: Any, held: int | None = None) -> list[dict[str, float]]:
    """Per factor acted on, the winding and the largest over the median code step along its action orbit; the
    other factors are held at ``held`` (None: the middle of each one's range)."""
    spec = world.symmetry
    if not getattr(spec, "is_cyclic_product", False):
        raise ValueError(f"orbit spacing reads one cycle per factor; {spec.group_name} is not a product of cycles")
    out = []
    for f in spec.acted_factors:
        size = spec.factor_sizes[f]
        steps_of_f = [abs(a.step) for a in spec.actions if a.factor == f and a.step]
        if not steps_of_f:
            raise ValueError(f"factor {spec.factor_names[f]!r} has no action that moves it")
        step = min(steps_of_f)
        rest = [s // 2 if held is None else held for s in spec.factor_sizes]
        factors = np.tile(np.array(rest, np.int64), (size, 1))
        factors[:, f] = (np.arange(size) * step) % size  # the orbit in the action's order, back to its start
        z = np.asarray(encode_fn(world.render_states(factors)), np.float64)
        best: tuple[float, np.ndarray] | None = None
        for p in range(z.shape[1] // 2):
            phase = np.angle(z[:, 2 * p] + 1j * z[:, 2 * p + 1])
            steps = np.angle(np.exp(1j * (np.roll(phase, -1) - phase)))
            winding = float(steps.sum() / (2 * np.pi))
            if best is None or abs(winding) > abs(best[0]):
                best = (winding, np.abs(steps))
        winding, steps = best  # type: ignore[misc]
        out.append({"factor": spec.factor_names[f], "winding": round(winding, 2),
                    "step_max_over_median": round(float(steps.max() / max(np.median(steps), 1e-12)), 3)})
    return out


def _in_rho_basis(model: Any) -> EncodeFn:
    """The model's codes in the basis its rho rotates planes in (C z with a learned change of basis C)."""
    basis = getattr(model, "latent_basis", None)
    if not callable(basis):
        return model.encode
    c = np.asarray(basis(), np.float64)
    return lambda obs: np.asarray(model.encode(obs), np.float64) @ c.T


register_metric(Metric(
    name="orbit_spacing",
    run=lambda model, world, rng, n: {"per_factor": orbit_spacing(_in_rho_basis(model), world)},
    needs=("cyclic_world",),
    default_samples=1,
    description="largest over median code step along each factor's action orbit (1: evenly spaced, no seam)",
))
