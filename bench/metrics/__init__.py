"""One module per measurement.  Each has

    FIGURES(cfg)            [Figure] it produces (the report's rows)
    measure(columns, cfg)   {column key: {figure key: value}}

A measurement that fails under one column (a half-built backend, a
timeout) records {"error": why} for that column and the run goes on.
A column that lists its measurements (Column.metrics) is left out of the
others.
"""

import traceback
from dataclasses import dataclass
from typing import Optional

from bench.world import World


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str                 # how the value is printed: "MB", "ms", "/s", "%", ""
    scale: float = 1.0        # value * scale is in `unit`
    target: Optional[object] = None   # a targets.* rule, or {Column.group: rule}, or None
    kinds: tuple = ("rc",)    # the column kinds it applies to
    absolute: bool = False    # print ours as values, not as ratios to C
    ref: Optional[str] = None # C's figure to compare with, if not the same key
    only: Optional[tuple] = None      # only these columns have it (others: n/a)

    def target_for(self, column):
        if isinstance(self.target, dict):
            return self.target.get(column.group, self.target.get("*"))
        return self.target


def takes(column, metric):
    return column.metrics is None or metric in column.metrics


def per_column(columns, body, kinds=("rc",), metric=None, python=None):
    """Run body(world) in a fresh sandbox for each column it applies to."""
    out = {}
    for col in columns:
        if col.kind not in kinds or (metric and not takes(col, metric)):
            continue
        try:
            with World(col, python) as w:
                out[col.key] = body(w)
        except Exception as e:
            out[col.key] = {"error": "%s: %s" % (type(e).__name__, e),
                            "trace": traceback.format_exc(limit=4)}
    return out


def names(prefix, n):
    return ["%s%03d" % (prefix, i) for i in range(n)]
