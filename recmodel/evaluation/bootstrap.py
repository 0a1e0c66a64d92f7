"""Bootstrap intervals over test users and paired bootstrap tests between two systems on the same users."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A mean with its percentile-bootstrap 95% interval."""

    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high}


@dataclass(frozen=True)
class PairedDifference:
    """Mean of (a - b) over the same cases, its 95% interval and the two-sided bootstrap p-value."""

    delta: float
    low: float
    high: float
    p_value: float

    @property
    def significant(self) -> bool:
        """True when the 95% interval excludes 0."""
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, float | bool]:
        return {
            "delta": self.delta,
            "ci_low": self.low,
            "ci_high": self.high,
            "p_value": self.p_value,
            "significant": self.significant,
        }


def _resample_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = len(values)
    idx = rng.integers(0, n, size=(resamples, n))
    return values[idx].mean(axis=1)


def bootstrap_interval(values: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """Mean of per-case ``values`` with a 95% percentile interval from ``resamples`` resamples of the cases."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values: expected one value per case, got shape {values.shape}")
    if len(values) == 0:
        return Interval(0.0, 0.0, 0.0)
    means = _resample_means(values, resamples, seed)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(values.mean()), float(low), float(high))


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> PairedDifference:
    """Paired bootstrap of mean(a - b) over the same cases (row i of ``a`` and ``b`` is one test user).

    The p-value is two-sided: twice the smaller share of resampled differences on either side of 0 (at least
    1 / ``resamples``), the usual percentile-bootstrap test of "no difference".
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a/b: expected two equal-length per-case vectors, got {a.shape} and {b.shape}")
    if len(a) == 0:
        return PairedDifference(0.0, 0.0, 0.0, 1.0)
    diff = a - b
    means = _resample_means(diff, resamples, seed)
    low, high = np.percentile(means, [2.5, 97.5])
    if np.all(diff == 0):
        return PairedDifference(0.0, 0.0, 0.0, 1.0)
    tail = min((means <= 0).mean(), (means >= 0).mean())
    p = min(1.0, max(2.0 * tail, 1.0 / resamples))
    return PairedDifference(float(diff.mean()), float(low), float(high), float(p))
