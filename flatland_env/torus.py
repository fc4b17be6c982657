"""A continuous torus: SO(2) x ... x SO(2) acting on real positions by translation modulo a period.

:class:`TorusSpec` is the ground truth of worlds whose state is a point on a torus (float
factors, each with its own period) and whose actions are displacement vectors of any size,
one component per factor. An action is expressed in units of half a turn of its factor:
``apply(state, action) = (state + action * period / 2) mod period``, so the unit box
``[-1, 1]^K`` holds every group element (at least once) and an action space of that box
passes Gymnasium's and Stable-Baselines3's checks.

The group is abelian but not finite: there is no list of actions, no grid of all states and
no per-action angle. Tools that need those (most metrics, RGrVAE, planning) read ``is_discrete``
and skip or refuse this spec up front; the attributes that only make sense for a finite group
raise a ValueError saying so instead of an AttributeError. The transition collector needs none of
them: its pairs carry the action vectors and the float64 states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from flatland_env.spec import GroupSpec
from flatland_env.validation import check_int, check_number


@dataclass(frozen=True)
class TorusSpec(GroupSpec):
    """K real factors, factor k periodic with period ``factor_sizes[k]``, moved by real displacements."""

    kind: ClassVar[str] = "torus"
    is_cyclic_product: ClassVar[bool] = False
    is_discrete: ClassVar[bool] = False
    factor_dtype: ClassVar[type[np.generic]] = np.float64

    factor_names: tuple[str, ...]
    factor_sizes: tuple[float, ...]
    """the period of each factor (FlatLandContinuous: 33.0 px, as FlatLand's 33 lattice positions)"""
    action_names: tuple[str, ...]
    """one name per displacement component, e.g. ("dx", "dy")"""

    def __post_init__(self) -> None:
        if not self.factor_names:
            raise ValueError("a torus needs at least one factor")
        if not len(self.factor_names) == len(self.factor_sizes) == len(self.action_names):
            raise ValueError(
                f"factor_names ({len(self.factor_names)}), factor_sizes ({len(self.factor_sizes)}) and "
                f"action_names ({len(self.action_names)}) must have the same length: one displacement per factor"
            )
        periods = tuple(check_number(f"the period of factor {name!r}", p, 0.0, low_open=True)
                        for name, p in zip(self.factor_names, self.factor_sizes))
        object.__setattr__(self, "factor_sizes", periods)

    # -- structure ---------------------------------------------------------------------
    @property
    def group_name(self) -> str:
        """``SO(2) x SO(2)`` for two factors: one circle per factor."""
        return " x ".join(["SO(2)"] * self.num_factors)

    @property
    def is_abelian(self) -> bool:
        return True

    @property
    def action_dim(self) -> int:
        """Components of one action: one displacement per factor."""
        return self.num_factors

    @property
    def action_scale(self) -> np.ndarray:
        """Factor units per action unit, per factor: half a period (the action unit is half a turn)."""
        return np.array(self.factor_sizes) / 2.0

    @property
    def acted_factors(self) -> tuple[int, ...]:
        """Every factor is moved by its own action component."""
        return tuple(range(self.num_factors))

    @property
    def num_actions(self) -> int:
        """Refused: a continuous group has no finite list of actions."""
        raise ValueError(
            f"{self.group_name} is continuous: its actions are displacement vectors of {self.action_dim} "
            f"components ({', '.join(self.action_names)}), not a finite list; see action_dim"
        )

    def symmetries(self) -> tuple[tuple[int, ...], ...]:
        """Action components grouped by the factor they move: one circle each."""
        return tuple((k,) for k in range(self.num_factors))

    def cycle_length(self, factor: int) -> float:
        """The period of a factor."""
        return self.factor_sizes[check_int("factor", factor, 0, self.num_factors - 1)]

    def inverse_action(self, action: np.ndarray) -> np.ndarray:
        """The displacement that undoes ``action``: its negative."""
        return -self._check_actions(action)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "factors": dict(zip(self.factor_names, self.factor_sizes)),
                "action_unit": "half a period of each factor", "actions": list(self.action_names)}

    def all_acted_states(self, fixed: np.ndarray | None = None) -> np.ndarray:
        """Refused: a torus has infinitely many states."""
        raise ValueError(f"{self.group_name} has infinitely many states; sample them with sample_factors")

    # -- acting on states --------------------------------------------------------------
    def apply(self, factors: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``(factors + actions * period / 2) mod period``, broadcast over leading dimensions, float64.

        Any finite displacement is a group element, so ``actions`` is not limited to [-1, 1] here.
        """
        f = self.validate_factors(factors)
        a = self._check_actions(actions)
        return self.wrap(f + a * self.action_scale)

    def wrap(self, factors: np.ndarray) -> np.ndarray:
        """Real positions taken modulo each period, always in [0, period).

        ``np.mod`` rounds a tiny negative value up to the period itself (-1e-17 mod 33 == 33.0);
        those land on 0, the same point of the circle.
        """
        periods = np.array(self.factor_sizes)
        out = np.mod(np.asarray(factors, dtype=np.float64), periods)
        return np.where(out >= periods, 0.0, out)

    def validate_factors(self, factors: np.ndarray) -> np.ndarray:
        """Return factors as float64, raising ValueError unless each is finite and in [0, period)."""
        arr = self.factor_array(factors, "iuf", "real numbers").astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"factors must be finite, got {arr.tolist()}")
        periods = np.array(self.factor_sizes)
        if np.any(arr < 0) or np.any(arr >= periods):
            raise ValueError(
                f"factors out of range; allowed 0 <= factor < period with periods "
                f"{dict(zip(self.factor_names, self.factor_sizes))}"
            )
        return arr

    def sample_factors(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n states drawn uniformly on the torus, shape (n, num_factors) float64."""
        return self.wrap(rng.uniform(0.0, 1.0, size=(n, self.num_factors)) * np.array(self.factor_sizes))

    # -- (de)serialisation ------------------------------------------------------------
    @classmethod
    def _from_fields(cls, d: dict[str, Any]) -> "TorusSpec":
        return cls(
            factor_names=tuple(d["factor_names"]),
            factor_sizes=tuple(float(p) for p in d["factor_sizes"]),
            action_names=tuple(d["action_names"]),
        )

    def _check_actions(self, actions: Any) -> np.ndarray:
        arr = np.asarray(actions)
        if arr.shape[-1:] != (self.action_dim,) or arr.dtype.kind not in "iuf":
            raise ValueError(
                f"actions must be real displacements with last dimension {self.action_dim} "
                f"({', '.join(self.action_names)}, in half turns), got {actions!r}"
            )
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"actions must be finite, got {arr.tolist()}")
        return arr
