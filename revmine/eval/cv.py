"""K-fold cross-validation split by source document, so one paper or article never spans two folds.

Model and hyperparameter choices are made on the fold mean over train+dev; dev alone is only reported.
"""
from __future__ import annotations

import hashlib
import statistics
from collections import defaultdict
from typing import Callable, Hashable, Sequence, TypeVar

T = TypeVar("T")


def group_folds(items: Sequence[T], group: Callable[[T], Hashable], k: int = 5, seed: str = "revmine") -> list[list[int]]:
    """k lists of item indices; every group's items land in one fold. Groups go, largest first (ties in an
    order fixed by a hash of the group), to the fold holding the fewest items, so folds stay balanced."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    by_group: dict = defaultdict(list)
    for i, item in enumerate(items):
        by_group[group(item)].append(i)
    if len(by_group) < k:
        raise ValueError(f"{len(by_group)} groups cannot fill {k} folds")
    order = sorted(by_group, key=lambda g: (-len(by_group[g]), hashlib.blake2b(f"{seed}:{g}".encode(), digest_size=8).hexdigest()))
    folds: list[list[int]] = [[] for _ in range(k)]
    for g in order:
        min(folds, key=len).extend(by_group[g])
    return [sorted(f) for f in folds]


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(values: Sequence[float], digits: int = 3) -> str:
    m, s = mean_sd(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"
