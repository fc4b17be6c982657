"""Ground truth of a symmetry world as pure data: which group acts, and how each action acts.

Every world carries a spec, a :class:`GroupSpec`. Its state is a vector of factors; its
actions are group elements acting on that state. Metrics, agents and evaluation read the
spec instead of guessing the structure from pixels, and ask it what kind of group it is:

- :class:`SymmetrySpec` (this module): a product of cyclic groups. Each action adds a fixed
  step to one integer factor modulo its size (FlatLand: C_33 x C_33; Sprites). Everything in
  the toolkit works on these.
- other kinds (a finite non-commutative group given by its multiplication table, a continuous
  torus) live in their own modules and subclass :class:`GroupSpec`; a metric or an agent
  that needs a product of cyclic groups checks ``spec.is_cyclic_product`` and refuses the
  others with a clear error.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np


class GroupSpec:
    """What every spec says about its group and its state; subclasses are frozen dataclasses.

    Subclasses set ``kind`` (the tag in their JSON) and provide the state surface used by
    worlds and metrics: ``factor_names``, ``factor_sizes``, ``action_names``, ``apply``,
    ``validate_factors``, ``sample_factors``, ``symmetries`` and ``all_acted_states``.
    """

    kind: ClassVar[str] = ""
    _kinds: ClassVar[dict[str, type["GroupSpec"]]] = {}

    #: every action generates a cyclic group acting on one factor, and actions on different factors commute
    is_cyclic_product: ClassVar[bool] = False
    #: the group is finite (discrete actions, integer factors)
    is_discrete: ClassVar[bool] = True

    factor_names: tuple[str, ...]
    factor_sizes: tuple[Any, ...]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):
            GroupSpec._kinds[cls.kind] = cls

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    @property
    def group_name(self) -> str:
        """A readable name of the group, e.g. ``C_33 x C_33``."""
        raise NotImplementedError

    @property
    def is_abelian(self) -> bool:
        """Whether every two actions commute."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The group's structure in plain data, for run records and docs."""
        return {"kind": self.kind, "group": self.group_name, "abelian": self.is_abelian,
                "cyclic_product": self.is_cyclic_product, "discrete": self.is_discrete}

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, **self._fields_json()})

    def _fields_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def _from_fields(cls, d: dict[str, Any]) -> "GroupSpec":
        raise NotImplementedError


def spec_from_json(text: str) -> GroupSpec:
    """Rebuild any spec from :meth:`GroupSpec.to_json` (a spec without a kind is a :class:`SymmetrySpec`)."""
    d: dict[str, Any] = json.loads(text)
    kind = d.pop("kind", SymmetrySpec.kind)
    if kind not in GroupSpec._kinds:
        raise ValueError(f"unknown spec kind {kind!r}; known: {sorted(GroupSpec._kinds)}")
    return GroupSpec._kinds[kind]._from_fields(d)


@dataclass(frozen=True)
class ActionEffect:
    """One discrete action: ``factors[factor] <- (factors[factor] + step) mod size``."""

    name: str
    factor: int
    step: int


@dataclass(frozen=True)
class SymmetrySpec(GroupSpec):
    """A product of cyclic groups: factors, their sizes, and the cyclic action of every discrete action on them."""

    kind: ClassVar[str] = "cyclic_product"
    is_cyclic_product: ClassVar[bool] = True

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
    def group_name(self) -> str:
        """The product of the cyclic groups the actions generate, e.g. ``C_33 x C_33``."""
        orders = []
        for f in self.acted_factors:
            n = self.factor_sizes[f]
            orders.append(n // math.gcd(n, *[a.step for a in self.actions if a.factor == f]))
        return " x ".join(f"C_{n}" for n in orders) or "trivial"

    @property
    def is_abelian(self) -> bool:
        return True

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
    @classmethod
    def from_json(cls, text: str) -> "SymmetrySpec":
        spec = spec_from_json(text)
        if not isinstance(spec, cls):
            raise ValueError(f"the JSON holds a {type(spec).__name__}, not a {cls.__name__}")
        return spec

    @classmethod
    def _from_fields(cls, d: dict[str, Any]) -> "SymmetrySpec":
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
