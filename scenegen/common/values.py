"""Checking the numbers that come in from outside (JSON documents, journals, command-line
options, file headers): finite in float32, the size they must be, integers within bounds. Each
check raises the error class its boundary uses, naming the field and what was given."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidArgumentError

FLOAT32_MAX = float(np.finfo(np.float32).max)


def shown(value, limit: int = 40) -> str:
    """`value` as a message quotes it: its repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def finite_number(value, what: str, *, error=InvalidArgumentError, positive: bool = False, lo: float | None = None,
                  hi: float | None = None) -> float:
    """`value` as a float: a JSON/Python number (not a bool), finite and within float32's range,
    > 0 when `positive`, within [lo, hi] when given."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        try:
            number = float(value)
        except OverflowError:
            ok = False
        else:
            ok = math.isfinite(number) and abs(number) <= FLOAT32_MAX
    if not ok:
        raise error(f"{what} must be a finite number (within float32's range), got {shown(value)}")
    if positive and number <= 0:
        raise error(f"{what} must be > 0, got {shown(value)}")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise error(f"{what} must be from {lo:g} to {hi:g}, got {shown(value)}")
    return number


def finite_vector(value, size: int, what: str, *, error=InvalidArgumentError) -> np.ndarray:
    """`value` (a list, tuple or array of `size` numbers) as float64, each finite in float32."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or len(value) != size:
        raise error(f"{what} must be {size} numbers, got {shown(value)}")
    return np.array([finite_number(v, f"{what}[{i}]", error=error) for i, v in enumerate(value)], np.float64)


def bounded_int(value, what: str, lo: int, hi: int, *, error=InvalidArgumentError) -> int:
    """`value` as an int from lo to hi (a JSON integer or an integral float, not a bool)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 63:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise error(f"{what} must be an integer from {lo} to {hi}, got {shown(value)}")
    return int(value)
