"""True shortest paths in a world whose group is a product of cyclic groups.

Every action of a :class:`~flatland_env.spec.SymmetrySpec` adds a fixed step to one factor
modulo its size, and actions on different factors commute. A shortest action sequence
between two states is then one shortest sequence per factor, concatenated: per factor it is
a breadth-first search on the cycle Z_n from offset 0, whose generators are the steps of the
actions on that factor. The oracle computes those tables once (n entries per factor) and
answers every query by lookups, so it is the yardstick a planner is measured against.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from flatland_env.spec import GroupSpec, SymmetrySpec


@dataclass(frozen=True)
class FactorTable:
    """Shortest words on one cycle: for every offset d in Z_n, its distance and the last action of a shortest word."""

    factor: int
    size: int
    distance: np.ndarray  # (n,) int64; -1 where the offset is unreachable
    last_action: np.ndarray  # (n,) int64 env action ending a shortest word to d; -1 at 0 and where unreachable
    last_step: np.ndarray  # (n,) int64 the step of that action (to walk the word back)

    def word(self, offset: int) -> list[int]:
        """A shortest list of env actions moving this factor by ``offset`` (mod n)."""
        d = int(offset) % self.size
        if self.distance[d] < 0:
            raise ValueError(f"offset {offset} of factor {self.factor} cannot be reached with this world's actions")
        out: list[int] = []
        while d != 0:
            out.append(int(self.last_action[d]))
            d = int((d - self.last_step[d]) % self.size)
        return out[::-1]


def cycle_table(factor: int, size: int, moves: list[tuple[int, int]]) -> FactorTable:
    """Breadth-first search on Z_size from 0 with ``moves``: (env action, step) pairs."""
    dist = np.full(size, -1, np.int64)
    last = np.full(size, -1, np.int64)
    last_step = np.zeros(size, np.int64)
    dist[0] = 0
    queue = deque([0])
    while queue:
        d = queue.popleft()
        for action, step in moves:
            e = (d + step) % size
            if dist[e] < 0:
                dist[e], last[e], last_step[e] = dist[d] + 1, action, step
                queue.append(e)
    return FactorTable(factor, size, dist, last, last_step)


class CyclicOracle:
    """Shortest distances and action sequences between factor states of a product of cyclic groups."""

    def __init__(self, spec: GroupSpec) -> None:
        if not isinstance(spec, SymmetrySpec) or not spec.is_cyclic_product:
            group = getattr(spec, "group_name", type(spec).__name__)
            raise ValueError(
                f"the oracle needs a product of cyclic groups (a SymmetrySpec); this world's group is {group} "
                f"({type(spec).__name__}), where shortest paths are not per-factor cycle arithmetic"
            )
        self.spec = spec
        self.tables = tuple(
            cycle_table(f, int(spec.factor_sizes[f]),
                        [(i, a.step) for i, a in enumerate(spec.actions) if a.factor == f])
            for f in spec.acted_factors
        )
        self._sizes = np.array(spec.factor_sizes, np.int64)

    def _offsets(self, start: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start, goal = self.spec.validate_factors(start), self.spec.validate_factors(goal)
        if start.shape != goal.shape:
            raise ValueError(f"start and goal must have the same shape, got {start.shape} and {goal.shape}")
        fixed = [f for f in range(self.spec.num_factors) if f not in self.spec.acted_factors]
        if fixed and np.any(start[..., fixed] != goal[..., fixed]):
            names = [self.spec.factor_names[f] for f in fixed]
            raise ValueError(f"no action changes the factors {names}: start and goal must agree on them")
        return start, (goal - start) % self._sizes

    def distance(self, start: np.ndarray, goal: np.ndarray) -> np.ndarray | int:
        """Length of a shortest action sequence from ``start`` to ``goal``; vectorised over (..., num_factors).

        Raises ValueError when some goal cannot be reached (e.g. a factor no action changes differs).
        """
        start, offsets = self._offsets(start, goal)
        total = np.zeros(offsets.shape[:-1], np.int64)
        for t in self.tables:
            d = t.distance[offsets[..., t.factor]]
            if np.any(d < 0):
                raise ValueError(f"some goal cannot be reached: factor {self.spec.factor_names[t.factor]!r} only "
                                 f"takes the offsets its actions' steps generate")
            total += d
        return int(total) if total.ndim == 0 else total

    def path(self, start: np.ndarray, goal: np.ndarray) -> list[int]:
        """A shortest list of env actions from one state to another (factor by factor)."""
        start, offsets = self._offsets(start, goal)
        if offsets.ndim != 1:
            raise ValueError(f"path takes one start and one goal state, got shape {offsets.shape}")
        return [a for t in self.tables for a in t.word(int(offsets[t.factor]))]

    def reachable_offsets(self, max_distance: int | None = None) -> np.ndarray:
        """Every nonzero offset (num, num_factors) reachable within ``max_distance`` actions (None: any)."""
        grids = np.meshgrid(*[np.arange(t.size) for t in self.tables], indexing="ij")
        dists = np.meshgrid(*[t.distance for t in self.tables], indexing="ij")
        ok = np.all([d >= 0 for d in dists], axis=0)
        total = np.sum(dists, axis=0)
        ok &= total > 0
        if max_distance is not None:
            ok &= total <= max_distance
        out = np.zeros((int(ok.sum()), self.spec.num_factors), np.int64)
        for t, g in zip(self.tables, grids):
            out[:, t.factor] = g[ok]
        return out

    @property
    def diameter(self) -> int:
        """The largest shortest-path length between two states that reach each other."""
        return int(sum(t.distance.max() for t in self.tables))
