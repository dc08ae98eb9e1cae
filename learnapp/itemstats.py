"""Pure item statistics (Moodle's definitions), from sums a GROUP BY query can return."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ItemSums:
    """Per question, over the attempts that drew it: x = the question's score, y = the score
    on the rest of the quiz (attempt score minus x)."""

    n: int
    max_points: float  # sum of the question's maximum over those attempts
    sx: float
    sy: float
    sxx: float
    syy: float
    sxy: float


def facility(sums: ItemSums) -> float | None:
    """Facility index, in percent: the mean score as a share of the maximum."""
    return None if not sums.n or not sums.max_points else 100 * sums.sx / sums.max_points


def discrimination(sums: ItemSums) -> float | None:
    """Discrimination index, in percent: the Pearson correlation between the question's
    score and the score on the rest of the quiz. None when either never varies."""
    n = sums.n
    spread_x = n * sums.sxx - sums.sx**2
    spread_y = n * sums.syy - sums.sy**2
    if n < 2 or spread_x <= 0 or spread_y <= 0:
        return None
    return 100 * (n * sums.sxy - sums.sx * sums.sy) / math.sqrt(spread_x * spread_y)


@dataclass(frozen=True)
class Thresholds:
    min_attempts: int = 10
    too_easy: float = 90.0  # facility above this
    too_hard: float = 20.0  # facility below this
    weak_discrimination: float = 20.0  # discrimination below this
    # Facility below this is highlighted whatever the number of attempts: most learners
    # got the question wrong, which is worth seeing before there are enough to judge it.
    low_facility: float = 30.0


def too_few(sums: ItemSums, limits: Thresholds) -> bool:
    """Too few attempts for the flags to mean anything (the page says so once)."""
    return sums.n < limits.min_attempts


def low_facility(sums: ItemSums, limits: Thresholds) -> bool:
    f = facility(sums)
    return f is not None and f < limits.low_facility


def flags(sums: ItemSums, limits: Thresholds) -> list[str]:
    """Why a question deserves a look, in words an instructor understands; none while there
    are too few attempts to judge (`too_few`)."""
    if too_few(sums, limits):
        return []
    found = []
    f = facility(sums)
    if f is not None and f > limits.too_easy:
        found.append("too easy")
    if f is not None and f < limits.too_hard:
        found.append("too hard")
    d = discrimination(sums)
    if d is None or d < limits.weak_discrimination:
        found.append("discriminates poorly")
    return found
