"""The statistics a comparison rests on: 95% intervals (a t-interval over seeds; a bootstrap over evaluation
examples when there is one seed), paired differences, McNemar's test, and learning-curve fits with an
extrapolation. Plain functions of numbers; no model, no data loading."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
BOOTSTRAP_SAMPLES = 1000


@dataclass(frozen=True)
class Interval:
    """``mean ± half`` (95%), and how it was computed (``t over K seeds`` or ``bootstrap over N examples``)."""

    mean: float
    half: float
    how: str
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half

    def covers_zero(self) -> bool:
        return self.low <= 0.0 <= self.high

    def as_dict(self) -> dict:
        return {"mean": self.mean, "half": self.half, "low": self.low, "high": self.high, "how": self.how, "n": self.n}


def t_interval(values: Sequence[float]) -> Interval:
    """The mean and the half width of its 95% Student t-interval (K-1 degrees of freedom); needs 2 values."""
    from scipy import stats

    k = len(values)
    if k < 2:
        raise ValueError("a t-interval needs at least two values")
    mean = sum(values) / k
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (k - 1))
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, k - 1) * sd / math.sqrt(k)
    return Interval(mean, float(half), f"t-interval over {k} seeds", k)


def bootstrap_interval(
    records: Sequence, statistic: Callable[[Sequence], float], seed: int = 0, samples: int = BOOTSTRAP_SAMPLES
) -> Interval:
    """The statistic of ``records`` and the half width of its 95% percentile bootstrap interval over records
    (resampled with replacement, seeded); the half width is half the interval's width."""
    rng = random.Random(seed)
    n = len(records)
    values = sorted(statistic([records[rng.randrange(n)] for _ in range(n)]) for _ in range(samples))
    low = values[int((1 - CONFIDENCE) / 2 * samples)]
    high = values[int((1 + CONFIDENCE) / 2 * samples) - 1]
    return Interval(statistic(records), (high - low) / 2, f"bootstrap over {n} evaluation examples", n)


def paired_bootstrap(a: Sequence, b: Sequence, statistic, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> Interval:
    """The difference statistic(a) - statistic(b) over the same examples, with its 95% paired bootstrap interval
    (the same resampled rows for both)."""
    if len(a) != len(b):
        raise ValueError("paired records must be as many")
    rng = random.Random(seed)
    n = len(a)
    diffs = []
    for _ in range(samples):
        rows = [rng.randrange(n) for _ in range(n)]
        diffs.append(statistic([a[i] for i in rows]) - statistic([b[i] for i in rows]))
    diffs.sort()
    low = diffs[int((1 - CONFIDENCE) / 2 * samples)]
    high = diffs[int((1 + CONFIDENCE) / 2 * samples) - 1]
    centre = statistic(a) - statistic(b)
    return Interval(centre, (high - low) / 2, f"paired bootstrap over {n} evaluation examples", n)


def paired_t(a: Sequence[float], b: Sequence[float]) -> Interval:
    """The mean difference of paired values (seed k of one method against seed k of the other) with its
    95% t-interval."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    interval = t_interval(diffs)
    return Interval(interval.mean, interval.half, f"paired t-interval over {len(diffs)} seeds", len(diffs))


def mcnemar(a_only: int, b_only: int) -> float:
    """McNemar's exact test: the two-sided p-value that the discordant pairs (A right and B wrong: ``a_only``;
    the reverse: ``b_only``) split as they do by chance."""
    from scipy import stats

    n = a_only + b_only
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * stats.binom.cdf(min(a_only, b_only), n, 0.5)))


def difference_text(name: str, against: str, interval: Interval, scale: float) -> str:
    """``lora vs full: -1.6 ± 0.9 points`` (and ``within noise`` when the interval covers 0)."""
    text = f"{name} vs {against}: {interval.mean * scale:+.1f} ± {interval.half * scale:.1f} points"
    return text + (" (within noise)" if interval.covers_zero() else "")


# ---- learning curves


@dataclass(frozen=True)
class CurveFit:
    """error(n) = a * n ** -b: a power law on the error (1 - metric), fitted in log-log space."""

    name: str
    a: float
    b: float
    points: int
    residual_sd: float | None
    """The standard deviation of the log-error residuals; None with two points (no interval)."""
    mean_log_n: float = 0.0
    spread_log_n: float = 1.0
    """The fitted sizes' mean log and sum of squared log deviations, for the prediction interval's leverage."""

    def error(self, n: float) -> float:
        return self.a * n ** (-self.b)

    def gain_from_doubling(self, n: float, scale: float) -> tuple[float, float | None]:
        """Points of metric gained by going from n to 2n examples, and the half width of its 95% interval (from the
        fit's standard errors; None when there are too few points for one)."""
        gain = (self.error(n) - self.error(2 * n)) * scale
        if self.residual_sd is None:
            return gain, None
        from scipy import stats

        dof = self.points - 2
        leverage = 1 + 1 / self.points + (math.log(2 * n) - self.mean_log_n) ** 2 / self.spread_log_n
        spread = self.residual_sd * math.sqrt(leverage)  # of log error(2n): a prediction interval, delta method below
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * spread * self.error(2 * n) * scale
        return gain, float(half)


def fit_power_law(sizes: Sequence[float], metrics: Sequence[float], top: float = 1.0) -> CurveFit | None:
    """The power law through (training examples, metric) points, on the error ``top - metric``; None with fewer
    than two distinct sizes or an error that is not positive (a perfect score leaves nothing to fit)."""
    points = [(n, top - m) for n, m in zip(sizes, metrics, strict=True) if n > 0]
    if len({n for n, _ in points}) < 2 or any(e <= 0 for _, e in points):
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(e) for _, e in points]
    k = len(xs)
    mean_x, mean_y = sum(xs) / k, sum(ys) / k
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    residual = None
    if k > 2:
        residual = math.sqrt(sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True)) / (k - 2))
    return CurveFit("power law on the error, error = a * n^-b", math.exp(intercept), -slope, k, residual, mean_x, sxx)
