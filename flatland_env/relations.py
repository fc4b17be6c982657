"""The relations a world's group satisfies, as words in its actions, computed in the world's own spec.

A *word* is a tuple of action indices, done left to right: ``(a, b)`` is "a, then b". A
relation says that two words act alike on every state. A linear representation rho of the
group must satisfy each one, rho(word) = rho(other word), with rho(a_1 ... a_n) =
rho(a_n) ... rho(a_1); :mod:`vae.metrics.group_relations` measures how far a learned one is.

Three kinds, each computed from the spec rather than assumed:

- ``order``: ``a`` done ``order(a)`` times is no action;
- ``inverse``: ``a`` then its inverse action is no action (for actions whose inverse is an action);
- ``commutator``: ``a, b, a^-1, b^-1`` equals the shortest word of the world's own commutator
  element. On a commutative world that is the empty word; on the cube it is a rotation.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from flatland_env.spec import GroupSpec

Word = tuple[int, ...]


@dataclass(frozen=True)
class Relation:
    """``lhs`` and ``rhs`` act alike on every state of the world."""

    kind: str  # "order", "inverse" or "commutator"
    actions: tuple[int, ...]  # the actions the relation is about (one, or a pair)
    lhs: Word
    rhs: Word

    def name(self, action_names: tuple[str, ...]) -> str:
        """E.g. ``order(left)``, ``inverse(left)``, ``commutator(x+, y+)``."""
        return f"{self.kind}({', '.join(action_names[a] for a in self.actions)})"


def _inverse_word(spec: GroupSpec, a: int) -> Word:
    """A word that undoes action a: its inverse action, else a done order(a) - 1 times."""
    inv = spec.inverse_action(a)
    return (inv,) if inv is not None else (a,) * (spec.action_order(a) - 1)


def _shortest_words(table: np.ndarray) -> list[Word]:
    """For every element of a finite group (``table[a, g]`` = index of action a applied to element g, element 0
    the identity), a shortest word of actions reaching it from the identity (breadth first, so reproducible)."""
    words: list[Word | None] = [None] * table.shape[1]
    words[0] = ()
    queue = deque([0])
    while queue:
        g = queue.popleft()
        for a in range(table.shape[0]):
            h = int(table[a, g])
            if words[h] is None:
                words[h] = words[g] + (a,)
                queue.append(h)
    return words  # type: ignore[return-value]  # the actions generate the group, so every element is reached


def world_relations(spec: GroupSpec) -> list[Relation]:
    """Every order, inverse and commutator relation of the world's actions (see the module doc).

    Raises ValueError for a continuous group, whose actions have no finite order and no words.
    """
    if not spec.is_discrete:
        raise ValueError(f"{spec.group_name} is continuous: its actions have no finite order and no relations "
                         f"as words; group relations are measured on discrete worlds")
    n = spec.num_actions
    out = [Relation("order", (a,), (a,) * spec.action_order(a), ()) for a in range(n)]
    out += [Relation("inverse", (a,), (a, spec.inverse_action(a)), ())
            for a in range(n) if spec.inverse_action(a) is not None]
    table = getattr(spec, "table", None)
    if not spec.is_abelian and table is None:
        raise ValueError(f"{spec.group_name} is not commutative and has no element table to compute its "
                         f"commutators in")
    words = _shortest_words(np.asarray(table)) if not spec.is_abelian else None
    for a in range(n):
        for b in range(a + 1, n):
            lhs = (a, b, *_inverse_word(spec, a), *_inverse_word(spec, b))
            if words is None:
                rhs: Word = ()
            else:
                g = 0
                for act in lhs:
                    g = int(table[act, g])
                rhs = words[g]
            out.append(Relation("commutator", (a, b), lhs, rhs))
    return out
