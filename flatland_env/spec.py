"""Ground truth of a symmetry world as pure data.

A world's state is a vector of integer factors. Some factors are *acted on*: each action
adds a fixed step to one factor, modulo that factor's size, so the actions generate a
product of cyclic groups. Metrics and evaluation read this spec instead of guessing the
structure from pixels.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ActionEffect:
    """One discrete action: ``factors[factor] <- (factors[factor] + step) mod size``."""

    name: str
    factor: int
    step: int


@dataclass(frozen=True)
class SymmetrySpec:
    """Factors, their sizes, and the cyclic action of every discrete action on them."""

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    actions: tuple[ActionEffect, ...]

    def __post_init__(self) -> None:
        if len(self.factor_names) != len(self.factor_sizes):
            raise ValueError(
                f"factor_names ({len(self.factor_names)}) and factor_sizes "
                f"({len(self.factor_sizes)}) must have the same length"
            )
        if any(int(s) < 1 for s in self.factor_sizes):
            raise ValueError(f"factor sizes must be >= 1, got {self.factor_sizes}")
        for a in self.actions:
            if not 0 <= a.factor < len(self.factor_sizes):
                raise ValueError(
                    f"action {a.name!r} acts on factor {a.factor}, allowed 0..{len(self.factor_sizes) - 1}"
                )
            if a.step % self.factor_sizes[a.factor] == 0:
                raise ValueError(f"action {a.name!r} has step {a.step}, which acts as the identity")

    # -- structure ---------------------------------------------------------------------
    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    @property
    def num_actions(self) -> int:
        return len(self.actions)

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.actions)

    @property
    def acted_factors(self) -> tuple[int, ...]:
        """Indices of the factors that some action changes, in factor order."""
        return tuple(sorted({a.factor for a in self.actions}))

    def cycle_length(self, factor: int) -> int:
        """Size of the cycle a factor wraps around (its number of values)."""
        self._check_factor(factor)
        return int(self.factor_sizes[factor])

    def action_order(self, action: int) -> int:
        """Order of the cyclic group one action generates: n / gcd(n, step)."""
        a = self.actions[self._check_action(action)]
        n = self.factor_sizes[a.factor]
        return n // math.gcd(n, a.step % n)

    def continuous_angle(self, action: int) -> float:
        """Rotation angle per action of a representation continuous along the factor.

        ``2*pi*step/n`` wrapped into (-pi, pi]; for FlatLand's +5 on 33 positions this is
        2*pi*5/33 = 0.952 rad.
        """
        a = self.actions[self._check_action(action)]
        n = self.factor_sizes[a.factor]
        s = a.step % n
        if s > n / 2:
            s -= n
        return 2.0 * math.pi * s / n

    def symmetries(self) -> tuple[tuple[int, ...], ...]:
        """Actions grouped by the factor they act on (one group per acted factor)."""
        return tuple(
            tuple(i for i, a in enumerate(self.actions) if a.factor == f) for f in self.acted_factors
        )

    def inverse_action(self, action: int) -> int | None:
        """Index of the action that undoes ``action``, or None if the world lacks one."""
        a = self.actions[self._check_action(action)]
        n = self.factor_sizes[a.factor]
        for i, b in enumerate(self.actions):
            if b.factor == a.factor and (a.step + b.step) % n == 0:
                return i
        return None

    # -- acting on states --------------------------------------------------------------
    def apply(self, factors: np.ndarray, actions: np.ndarray | int) -> np.ndarray:
        """Apply one action per state; vectorised over a batch of shape (..., num_factors)."""
        factors = np.asarray(factors)
        if factors.shape[-1] != self.num_factors:
            raise ValueError(
                f"factors must have last dimension {self.num_factors}, got shape {factors.shape}"
            )
        actions = np.asarray(actions)
        if actions.dtype.kind not in "iu" or np.any(actions < 0) or np.any(actions >= self.num_actions):
            raise ValueError(f"actions must be integers in [0, {self.num_actions}), got {actions!r}")
        table_factor = np.array([a.factor for a in self.actions])
        table_step = np.array([a.step for a in self.actions])
        sizes = np.array(self.factor_sizes)
        out = np.array(factors, dtype=np.int64, copy=True)
        f = np.broadcast_to(table_factor[actions], out.shape[:-1])
        s = np.broadcast_to(table_step[actions], out.shape[:-1])
        idx = np.indices(out.shape[:-1])
        cur = out[(*idx, f)]
        out[(*idx, f)] = (cur + s) % sizes[f]
        return out

    def validate_factors(self, factors: np.ndarray) -> np.ndarray:
        """Return factors as int64, raising ValueError if any is out of range."""
        arr = np.asarray(factors)
        if arr.shape[-1:] != (self.num_factors,):
            raise ValueError(
                f"factors must have last dimension {self.num_factors} ({', '.join(self.factor_names)}),"
                f" got shape {arr.shape}"
            )
        if arr.dtype.kind not in "iu":
            raise ValueError(f"factors must be integers, got dtype {arr.dtype}")
        sizes = np.array(self.factor_sizes)
        if np.any(arr < 0) or np.any(arr >= sizes):
            raise ValueError(
                f"factors out of range; allowed 0 <= factor < size with sizes "
                f"{dict(zip(self.factor_names, self.factor_sizes))}"
            )
        return arr.astype(np.int64)

    def sample_factors(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n states drawn uniformly at random, shape (n, num_factors)."""
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=-1).astype(np.int64)

    def all_acted_states(self, fixed: np.ndarray | None = None) -> np.ndarray:
        """Every combination of the acted factors, the others held at ``fixed`` (default 0)."""
        base = np.zeros(self.num_factors, dtype=np.int64) if fixed is None else self.validate_factors(fixed)
        grids = np.meshgrid(*[np.arange(self.factor_sizes[f]) for f in self.acted_factors], indexing="ij")
        out = np.tile(base, (grids[0].size, 1))
        for f, g in zip(self.acted_factors, grids):
            out[:, f] = g.ravel()
        return out

    # -- (de)serialisation ------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "SymmetrySpec":
        d: dict[str, Any] = json.loads(text)
        return cls(
            factor_names=tuple(d["factor_names"]),
            factor_sizes=tuple(int(s) for s in d["factor_sizes"]),
            actions=tuple(ActionEffect(**a) for a in d["actions"]),
        )

    def _check_action(self, action: int) -> int:
        if not isinstance(action, (int, np.integer)) or not 0 <= int(action) < self.num_actions:
            raise ValueError(f"action must be an integer in [0, {self.num_actions}), got {action!r}")
        return int(action)

    def _check_factor(self, factor: int) -> int:
        if not isinstance(factor, (int, np.integer)) or not 0 <= int(factor) < self.num_factors:
            raise ValueError(f"factor must be an integer in [0, {self.num_factors}), got {factor!r}")
        return int(factor)
