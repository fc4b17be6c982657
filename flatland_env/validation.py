"""The one place user input is checked: integers, numbers and choices, each with an error naming the value.

Every package validates through these (worlds, metrics, agents and the run layer), so a wrong value
reads the same wherever it is given. They return the value converted (``int``/``float``), so a
checked config field can be assigned straight from them. Booleans are refused where a number is
asked: ``True`` is an int to Python but never what a user meant by a count.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, TypeVar

import numpy as np

T = TypeVar("T")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer in [minimum, maximum] (no upper bound when ``maximum`` is None)."""
    if _is_int(value) and value >= minimum and (maximum is None or value <= maximum):
        return int(value)
    if maximum is not None:
        allowed = f"an integer in [{minimum}, {maximum}]"
    else:
        allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_positive_int(name: str, value: Any) -> int:
    return check_int(name, value, 1)


def check_nonnegative_int(name: str, value: Any) -> int:
    return check_int(name, value, 0)


def check_number(name: str, value: Any, low: float = 0.0, high: float = math.inf, low_open: bool = False) -> float:
    """A finite number in [low, high] (or (low, high] with ``low_open``)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    ok = ok and math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return float(value)


def check_choice(name: str, value: T, choices: Iterable[T]) -> T:
    """One of ``choices`` (compared with ==)."""
    allowed = tuple(choices)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


def check_box_array(name: str, value: Any, shape: tuple[int, ...], low: Any, high: Any) -> np.ndarray:
    """``value`` as float64 of exactly ``shape``, finite and inside the box [low, high] (broadcast on the last axes).

    For action vectors of a Box space (a batch of them, from a user or a policy): the error names
    the expected shape and bounds, and the first offending value, so a wrong policy is found fast.
    """
    lo, hi = np.broadcast_arrays(np.asarray(low, np.float64), np.asarray(high, np.float64))
    bounds = f"[{_fmt(lo)}, {_fmt(hi)}]"
    allowed = f"real numbers of shape {tuple(shape)}, each in {bounds}"
    arr = None if isinstance(value, (str, bytes)) else np.asarray(value)
    if arr is None or arr.shape != tuple(shape) or arr.dtype.kind not in "iuf":
        got = repr(value) if arr is None or arr.dtype.kind == "O" else f"shape {arr.shape} dtype {arr.dtype}"
        raise ValueError(f"{name} must be {allowed}; got {got}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr) | (arr < lo) | (arr > hi)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be {allowed}; got {arr[where]} at index {where}")
    return arr


def _fmt(bound: np.ndarray) -> str:
    """A bound of a box: one number when every component shares it, else the list."""
    flat = np.unique(bound)
    return f"{flat[0]:g}" if flat.size == 1 else str(bound.tolist())
