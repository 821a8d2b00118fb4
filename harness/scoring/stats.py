"""Confidence intervals and paired tests on per-question correctness (shared by compare and gate)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (well behaved near 0 and 1, unlike the normal one)."""
    if n == 0:
        return (0.0, 0.0)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def macro_interval(accuracies: Sequence[float], counts: Sequence[int], z: float = Z95) -> tuple[float, float]:
    """Normal interval for the unweighted mean of subject accuracies (independent binomials)."""
    k = len(accuracies)
    if k == 0:
        return (0.0, 0.0)
    mean = sum(accuracies) / k
    var = sum(p * (1 - p) / n for p, n in zip(accuracies, counts, strict=True) if n) / (k * k)
    half = z * math.sqrt(var)
    return (max(0.0, mean - half), min(1.0, mean + half))


@dataclass(frozen=True)
class PairedTest:
    """Paired comparison of two runs on the same questions."""

    n: int
    only_a: int  # right in A, wrong in B (B broke them)
    only_b: int  # wrong in A, right in B (B fixed them)
    delta: float  # accuracy(B) - accuracy(A)
    p_value: float


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> PairedTest:
    """Exact (binomial) McNemar test on the discordant pairs; two-sided."""
    from scipy.stats import binomtest

    if len(a) != len(b):
        raise ValueError("paired test needs the same questions in both runs")
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    n = len(a)
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(binomtest(only_b, discordant, 0.5).pvalue)
    delta = (only_b - only_a) / n if n else 0.0
    return PairedTest(n=n, only_a=only_a, only_b=only_b, delta=delta, p_value=min(1.0, p))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


DEFAULT_DISCORDANCE = 0.1  # a typical fine-tune changes about 1 answer in 10


def minimum_detectable_drop(n: int, alpha: float = 0.05, discordance: float | None = None, power: float = 0.8) -> float:
    """Smallest accuracy drop the exact McNemar test on `n` questions detects with `power` at `alpha`.

    Exact, not a normal approximation (which is badly off for the few discordant questions of a small
    suite): with a fraction `d` of discordant questions the test sees D = round(d * n) of them and
    rejects when at least `c` are breaks (right before, wrong now), `c` the two-sided critical value at
    `alpha`. A true drop `delta` makes each discordant question a break with probability
    (1 + delta / d) / 2; we find the smallest `delta` whose chance of reaching `c` is `power`.
    Returns `math.inf` when even all D discordant questions being breaks would not be significant.
    Without a measured discordance, d = DEFAULT_DISCORDANCE.
    """
    from scipy.optimize import brentq
    from scipy.stats import binom

    if n <= 0:
        return math.inf
    d = discordance if discordance and discordance > 0 else DEFAULT_DISCORDANCE
    d = min(d, 1.0)
    total = max(1, round(d * n))
    # two-sided exact p-value of c breaks among `total` discordant pairs is 2 * P(X >= c), X ~ Bin(total, 1/2)
    critical = next((c for c in range((total + 1) // 2, total + 1) if 2 * binom.sf(c - 1, total, 0.5) <= alpha), None)
    if critical is None:
        return math.inf

    def shortfall(q: float) -> float:
        return float(binom.sf(critical - 1, total, q)) - power

    q = 1.0 if shortfall(1.0) <= 0 else brentq(shortfall, 0.5, 1.0, xtol=1e-9)
    return float(d * (2 * q - 1))
