"""The one table: every figure of ours as a ratio to OpenRC's C supervisor
measured in the same run, median and [min-max] over the runs, beside the
target and whether the median meets it.  Also the same data as JSON."""

import math

from bench import stats


def _num(v):
    if v is None:
        return "-"
    if math.isinf(v):
        return "inf"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3f" % v


def _spread(s, unit="", suffix=""):
    med, lo, hi = s
    text = _num(med) + suffix + (" " + unit if unit else "")
    if lo != hi:
        text += " [%s-%s]" % (_num(lo), _num(hi))
    return text


def cell(fig, col, ref_key, runs):
    """{'text', 'value', 'ratio', 'verdict'} for one figure and column."""
    vals, ratios, errors = [], [], []
    for run in runs:
        figs = run.get(col.key, {})
        v = figs.get(fig.key)
        if v is None:
            errors += [e for k, e in figs.items() if k.startswith("error:")]
            continue
        v *= fig.scale
        vals.append(v)
        ref = run.get(ref_key, {}).get(fig.key)
        if ref is not None:
            ratios.append(stats.ratio(v, ref * fig.scale))
    out = {"values": vals, "ratios": ratios, "errors": errors, "verdict": None}
    if not vals:
        out["text"] = "err" if errors else "n/a"
        return out
    value, ratio = stats.summary(vals), stats.summary(ratios)
    out["value"], out["ratio"] = value, ratio
    if col.key == ref_key or fig.absolute or not ratio:
        out["text"] = _spread(value, fig.unit)
    else:
        out["text"] = _spread(ratio, suffix="x")
    if fig.target is not None and col.ours:
        ok = fig.target.judge(ratio[0] if ratio else None, value[0])
        out["verdict"] = "PASS" if ok else "FAIL"
        out["text"] += " " + out["verdict"]
    return out


def build(figures, columns, runs):
    """Rows of cells; `columns` are all columns, available or not."""
    ref = columns[0].key
    rows = []
    for fig in figures:
        cells = {}
        for col in columns:
            if col.kind not in fig.kinds or col.missing_reason:
                cells[col.key] = {"text": "n/a", "verdict": None}
            else:
                cells[col.key] = cell(fig, col, ref, runs)
        rows.append({"figure": fig, "cells": cells,
                     "target": fig.target.text() if fig.target else ""})
    return rows


def render(rows, columns):
    head = ["figure"] + [c.title for c in columns] + ["target"]
    body = [[r["figure"].label] + [r["cells"][c.key]["text"] for c in columns] + [r["target"]]
            for r in rows]
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    line = lambda row: "  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip()
    out = [line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in body]
    return "\n".join(out)


def as_json(rows):
    out = []
    for r in rows:
        fig = r["figure"]
        out.append({"key": fig.key, "label": fig.label, "unit": fig.unit,
                    "target": r["target"],
                    "cells": {k: {x: v for x, v in c.items() if x != "text"} | {"text": c["text"]}
                              for k, c in r["cells"].items()}})
    return out

