"""The metric registry: one entry per metric, added by the metric's own module.

An entry says what a metric is called, how to run it on a model and a world, what it
needs (of the model: a decoder, latent actions, action inference; of the world: a product
of cyclic groups) and its default sample size. :func:`~vae.metrics.suite.evaluate` runs
every registered metric that applies; adding a metric is one new module that calls
:func:`register_metric`, imported by name in ``vae/metrics/__init__.py`` (the package lists its
plug-ins, so the registry imports nothing back).

Each metric draws from its own generator seeded by (suite seed, metric name), so adding
or skipping a metric never changes another metric's samples.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

#: what an entry may need: model capabilities (method names) and world properties
NEEDS = {
    "decoder": "model has no decode(latents)",
    "latent_actions": "model has no action_representations()",
    "action_inference": "model has no infer_actions(obs, next_obs)",
    "cyclic_world": "the world's group is not a product of cyclic groups",
    "continuous_world": "the world's group is not continuous",
}
_MODEL_METHODS = {"decoder": "decode", "latent_actions": "action_representations", "action_inference": "infer_actions"}

#: the suite's reference sample size: an entry's ``default_samples`` is its size at this suite size
REFERENCE_SAMPLES = 1000


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``run(model, world, rng, n) -> dict`` plus what it needs.

    ``n`` is the entry's sample size at the suite's scale (``default_samples`` at the
    reference suite size). ``applies(world)`` may return a reason to skip it on a world that
    meets ``needs`` but not some further condition (e.g. a grid too large).
    """

    name: str
    run: Callable[[Any, Any, np.random.Generator, int], dict]
    needs: tuple[str, ...] = ()
    default_samples: int = REFERENCE_SAMPLES
    applies: Callable[[Any], str | None] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        unknown = [n for n in self.needs if n not in NEEDS]
        if unknown:
            raise ValueError(f"metric {self.name!r} needs unknown capabilities {unknown}; known: {sorted(NEEDS)}")

    def seed_sequence(self, seed: int) -> list[int]:
        """The generator seed of this metric: (suite seed, a stable hash of its name)."""
        return [int(seed), zlib.crc32(self.name.encode())]

    def skip_reason(self, model: Any, world: Any) -> str | None:
        """None if the metric runs on this model and world, else why not. Metrics that do not ask for a
        continuous world sample discrete states and actions, so they skip one."""
        continuous = not getattr(world.symmetry, "is_discrete", True)
        if continuous and "continuous_world" not in self.needs:
            return (f"the world's group is continuous ({getattr(world.symmetry, 'group_name', '?')}); this metric "
                    "samples discrete states and actions")
        if not continuous and "continuous_world" in self.needs:
            return NEEDS["continuous_world"]
        for need in self.needs:
            if need in _MODEL_METHODS and not callable(getattr(model, _MODEL_METHODS[need], None)):
                return NEEDS[need]
            if need == "cyclic_world" and not getattr(world.symmetry, "is_cyclic_product", False):
                return f"{NEEDS[need]} ({getattr(world.symmetry, 'group_name', '?')})"
        return self.applies(world) if self.applies is not None else None

    def samples(self, suite_samples: int) -> int:
        """This metric's sample size for a suite of ``suite_samples``."""
        return max(1, round(self.default_samples * suite_samples / REFERENCE_SAMPLES))


_REGISTRY: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add a metric to the registry (a module registering the same name twice replaces its entry)."""
    if not isinstance(metric, Metric):
        raise ValueError(f"register_metric takes a Metric, got {type(metric).__name__}")
    _REGISTRY[metric.name] = metric
    return metric


def registered_metrics() -> dict[str, Metric]:
    """Every registered metric, by name. Importing :mod:`vae.metrics` (which importing this module does first)
    imports each metric module, and each registers itself."""
    return dict(sorted(_REGISTRY.items()))
