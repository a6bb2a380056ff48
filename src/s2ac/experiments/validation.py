"""The checks every study's config runs when it is built: each raises a ``ValueError`` naming the setting and the
value it got, so the command line reports it in one line."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def check_int(name: str, value: Any, minimum: int = 1) -> None:
    """``value`` is an integer (not a bool) of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {what}, got {value!r}")


def positive_number(value: Any) -> bool:
    """Whether ``value`` is a finite number above 0, or text that reads as one (``"0.1"``); not a bool."""
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number > 0


def check_positive(name: str, value: Any) -> None:
    """``value`` is a finite number above 0."""
    if isinstance(value, str) or not positive_number(value):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def check_choices(name: str, values: Iterable[Any], allowed: Iterable[Any]) -> None:
    """Every one of ``values`` is one of ``allowed``."""
    allowed = tuple(allowed)
    for value in values:
        if value not in allowed:
            raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(str, allowed))}")


def check_nonempty(name: str, values: Iterable[Any]) -> None:
    """``values`` holds at least one value."""
    if not tuple(values):
        raise ValueError(f"{name} needs at least one value")
