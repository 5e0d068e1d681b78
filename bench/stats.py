"""Medians, percentiles and spreads, the few the report needs."""

import statistics


def median(xs):
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    """The p-th percentile by linear interpolation between order statistics
    (p99 of 50 samples is between the two largest)."""
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(xs):
    """(median, min, max) of the numbers in xs, or None."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return median(xs), min(xs), max(xs)


def ratio(ours, ref):
    if ours is None or ref is None:
        return None
    if ref == 0:
        return 1.0 if ours == 0 else float("inf")
    return ours / ref
