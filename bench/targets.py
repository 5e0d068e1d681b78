"""The targets from the issue, as small rules the report applies to the
median of a figure.  A ratio rule reads ours / C; an absolute rule reads
ours alone (C's own figure may be zero, or a time C cannot beat)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class RatioAtMost:
    limit: float

    def text(self):
        return "<= %g x C" % self.limit

    def judge(self, ratio, value):
        return ratio is not None and ratio <= self.limit


@dataclass(frozen=True)
class RatioAtLeast:
    limit: float

    def text(self):
        return ">= %g x C" % self.limit

    def judge(self, ratio, value):
        return ratio is not None and ratio >= self.limit


@dataclass(frozen=True)
class Below:
    """An absolute bound, in the figure's printed unit."""
    limit: float
    unit: str

    def text(self):
        return "< %g %s" % (self.limit, self.unit)

    def judge(self, ratio, value):
        return value is not None and value < self.limit


@dataclass(frozen=True)
class Exactly:
    """An absolute value, within a tolerance (window edges)."""
    value: float
    tolerance: float = 0.0

    def text(self):
        return "= %g" % self.value

    def judge(self, ratio, value):
        return value is not None and abs(value - self.value) <= self.tolerance
