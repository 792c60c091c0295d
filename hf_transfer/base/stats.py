"""The statistics a comparison rests on: 95% intervals (a t-interval over seeds; a bootstrap over evaluation
examples when there is one seed), paired differences, McNemar's test, and learning-curve fits with an
extrapolation. Plain functions of numbers; no model, no data loading."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
BOOTSTRAP_SAMPLES = 1000


@dataclass(frozen=True)
class Interval:
    """An estimate and its 95% interval ``[low, high]`` (not always symmetric: a percentile bootstrap of an accuracy
    near 1 stays below 1), and how it was computed (``t-interval over K seeds``, ``bootstrap over N examples``).
    ``half`` is half the interval's width, for a ``± half`` display."""

    mean: float
    low: float
    high: float
    how: str
    n: int

    @classmethod
    def symmetric(cls, mean: float, half: float, how: str, n: int) -> Interval:
        return cls(mean, mean - half, mean + half, how, n)

    @property
    def half(self) -> float:
        return (self.high - self.low) / 2

    def covers_zero(self) -> bool:
        return self.low <= 0.0 <= self.high

    def as_dict(self) -> dict:
        return {"mean": self.mean, "half": self.half, "low": self.low, "high": self.high, "how": self.how, "n": self.n}


def t_interval(values: Sequence[float]) -> Interval:
    """The mean and its 95% Student t-interval (K-1 degrees of freedom, scipy's one-sample t-test); needs 2 values."""
    from scipy import stats

    k = len(values)
    if k < 2:
        raise ValueError("a t-interval needs at least two values")
    mean = sum(values) / k
    if max(values) == min(values):
        return Interval(mean, mean, mean, f"t-interval over {k} seeds", k)
    low, high = stats.ttest_1samp(values, 0.0).confidence_interval(CONFIDENCE)
    return Interval(mean, float(low), float(high), f"t-interval over {k} seeds", k)


def _percentile_bootstrap(n: int, statistic: Callable[[Sequence[int]], float], seed: int, samples: int):
    """scipy's percentile bootstrap of ``statistic`` over row indices 0..n-1 (resampled with replacement, seeded)."""
    import numpy as np
    from scipy import stats

    values = [statistic(list(range(n)))]
    if n < 2:
        return values[0], values[0]
    result = stats.bootstrap((np.arange(n),), lambda rows: statistic(rows.tolist()), vectorized=False,
                             n_resamples=samples, confidence_level=CONFIDENCE, method="percentile",
                             rng=np.random.default_rng(seed))  # fmt: skip
    low, high = result.confidence_interval
    if math.isnan(low) or math.isnan(high):  # every resample the same (a degenerate statistic): no spread
        return values[0], values[0]
    return float(low), float(high)


def bootstrap_interval(
    records: Sequence, statistic: Callable[[Sequence], float], seed: int = 0, samples: int = BOOTSTRAP_SAMPLES
) -> Interval:
    """The statistic of ``records`` and its 95% percentile bootstrap interval over records (scipy.stats.bootstrap)."""
    low, high = _percentile_bootstrap(len(records), lambda rows: statistic([records[i] for i in rows]), seed, samples)
    n = len(records)
    return Interval(statistic(records), low, high, f"bootstrap over {n} evaluation examples", n)


def paired_bootstrap(a: Sequence, b: Sequence, statistic, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> Interval:
    """The difference statistic(a) - statistic(b) over the same examples, with its 95% paired percentile bootstrap
    interval (the same resampled rows for both)."""
    if len(a) != len(b):
        raise ValueError("paired records must be as many")
    n = len(a)

    def difference(rows: Sequence[int]) -> float:
        return statistic([a[i] for i in rows]) - statistic([b[i] for i in rows])

    low, high = _percentile_bootstrap(n, difference, seed, samples)
    return Interval(statistic(a) - statistic(b), low, high, f"paired bootstrap over {n} evaluation examples", n)


def paired_t(a: Sequence[float], b: Sequence[float]) -> Interval:
    """The mean difference of paired values (seed k of one method against seed k of the other) with its
    95% t-interval: the one-sample t-interval of the differences (what scipy's paired t-test computes)."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    if len(diffs) < 2:
        raise ValueError("a paired t-interval needs at least two pairs")
    interval = t_interval(diffs)
    return dataclasses.replace(interval, how=f"paired t-interval over {len(diffs)} seeds")


def mcnemar(a_only: int, b_only: int) -> float:
    """McNemar's exact test: the two-sided p-value that the discordant pairs (A right and B wrong: ``a_only``;
    the reverse: ``b_only``) split as they do by chance (scipy's exact binomial test)."""
    from scipy import stats

    n = a_only + b_only
    if n == 0:
        return 1.0
    return float(min(1.0, stats.binomtest(min(a_only, b_only), n, 0.5).pvalue))


def difference_text(name: str, against: str, interval: Interval, scale: float) -> str:
    """``lora vs full: -1.6 ± 0.9 points`` (and ``within noise`` when the interval covers 0)."""
    if abs((interval.high - interval.mean) - (interval.mean - interval.low)) <= 0.05 * max(interval.half, 1e-12):
        text = f"{name} vs {against}: {interval.mean * scale:+.1f} ± {interval.half * scale:.1f} points"
    else:  # an interval that is not symmetric is given by its ends
        text = (f"{name} vs {against}: {interval.mean * scale:+.1f} points (95%: {interval.low * scale:+.1f} to "
                f"{interval.high * scale:+.1f})")  # fmt: skip
    return text + (" (within noise)" if interval.covers_zero() else "")


# ---- learning curves


@dataclass(frozen=True)
class CurveFit:
    """error(n) = a * n ** -b: a power law on the error (1 - metric), fitted in log-log space by least squares
    (scipy's linregress)."""

    name: str
    a: float
    b: float
    points: int
    residual_sd: float | None
    """The standard deviation of the log-error residuals; None with two points (no interval)."""
    mean_log_n: float = 0.0
    spread_log_n: float = 1.0
    """The fitted sizes' mean log and sum of squared log deviations: the fit's coefficient covariance."""

    def error(self, n: float) -> float:
        return self.a * n ** (-self.b)

    def gain_from_doubling(self, n: float, scale: float) -> tuple[float, float | None]:
        """Points of metric gained by going from n to 2n examples, and the half width of the 95% interval of that
        gain from the fit's uncertainty (the intercept and slope's covariance, by the delta method: the uncertainty
        at n and at 2n move together); None when there are too few points for one."""
        gain = (self.error(n) - self.error(2 * n)) * scale
        if self.residual_sd is None:
            return gain, None
        from scipy import stats

        # log error = c + s * log n, with s = -b; the covariance of (c, s) from ordinary least squares
        var_s = self.residual_sd**2 / self.spread_log_n
        var_c = self.residual_sd**2 / self.points + self.mean_log_n**2 * var_s
        cov_cs = -self.mean_log_n * var_s
        x1, x2 = math.log(n), math.log(2 * n)
        d_c = self.error(n) - self.error(2 * n)  # the gain's derivatives (in error units)
        d_s = self.error(n) * x1 - self.error(2 * n) * x2
        variance = d_c**2 * var_c + d_s**2 * var_s + 2 * d_c * d_s * cov_cs
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, self.points - 2) * math.sqrt(max(variance, 0.0)) * scale
        return gain, float(half)

    def near_saturation(self, n: float, scale: float) -> bool:
        """Whether doubling from n adds less than half a point: the curve has flattened out."""
        return (self.error(n) - self.error(2 * n)) * scale < 0.5


def fit_power_law(sizes: Sequence[float], metrics: Sequence[float], top: float = 1.0) -> CurveFit | None:
    """The power law through (training examples, metric) points, on the error ``top - metric``; None with fewer
    than two distinct sizes or an error that is not positive (a perfect score leaves nothing to fit)."""
    from scipy import stats

    points = [(n, top - m) for n, m in zip(sizes, metrics, strict=True) if n > 0]
    if len({n for n, _ in points}) < 2 or any(e <= 0 for _, e in points):
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(e) for _, e in points]
    k = len(xs)
    mean_x = sum(xs) / k
    sxx = sum((x - mean_x) ** 2 for x in xs)
    line = stats.linregress(xs, ys)
    residual = None
    if k > 2:
        residual = math.sqrt(sum((y - line.intercept - line.slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
                             / (k - 2))  # fmt: skip
    return CurveFit("power law on the error, error = a * n^-b", math.exp(line.intercept), -line.slope, k, residual,
                    mean_x, sxx)  # fmt: skip
