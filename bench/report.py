"""The one table: every figure of ours as a ratio to OpenRC's C supervisor
measured in the same run, median and [min-max] over the runs, beside the
target.  Also the same data as JSON.

A verdict needs the whole spread on one side of the target: PASS when
every run meets it, FAIL when none does, "inconclusive" otherwise (and
when some runs failed and the others pass).  A cell some runs failed to
measure says how many did, like `n=2/3`: failed runs are never dropped
silently."""

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


def verdict(rule, ratios, values, complete):
    """PASS, FAIL or inconclusive over every run's figure."""
    if len(ratios) < len(values):
        ratios = ratios + [None] * (len(values) - len(ratios))
    met = [rule.judge(r, v) for r, v in zip(ratios, values)]
    if met and all(met):
        return "PASS" if complete else "inconclusive"
    if met and not any(met):
        return "FAIL"
    return "inconclusive"


def cell(fig, col, ref_key, runs):
    """{'text', 'value', 'ratio', 'verdict'} for one figure and column."""
    vals, ratios, errors, pairs = [], [], [], []
    tried = 0
    for run in runs:
        figs = run.get(col.key, {})
        key = fig.ref if (fig.ref and col.key == ref_key) else fig.key
        v = figs.get(key)
        if figs:
            tried += 1
        if v is None:
            errors += [e for k, e in figs.items() if k.startswith("error:")]
            continue
        v *= fig.scale
        vals.append(v)
        ref = run.get(ref_key, {}).get(fig.ref or fig.key)
        r = stats.ratio(v, ref * fig.scale) if ref is not None else None
        pairs.append((r, v))
        if r is not None:
            ratios.append(r)
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
    complete = len(vals) == len(runs)
    if not complete:
        out["text"] += " n=%d/%d" % (len(vals), len(runs))
    rule = fig.target_for(col)
    if rule is not None and col.ours:
        out["verdict"] = verdict(rule, [r for r, _ in pairs], [v for _, v in pairs], complete)
        out["text"] += " " + out["verdict"]
    return out


def build(figures, columns, runs):
    """Rows of cells; `columns` are all columns, available or not."""
    ref = columns[0].key
    rows = []
    for fig in figures:
        cells = {}
        for col in columns:
            if (col.kind not in fig.kinds or col.missing_reason
                    or (fig.only is not None and col.key not in fig.only and col.key != ref)):
                cells[col.key] = {"text": "n/a", "verdict": None}
            else:
                cells[col.key] = cell(fig, col, ref, runs)
        rows.append({"figure": fig, "cells": cells, "target": target_text(fig)})
    return rows


def target_text(fig):
    if fig.target is None:
        return ""
    if not isinstance(fig.target, dict):
        return fig.target.text()
    parts = [fig.target["*"].text()] if "*" in fig.target else []
    parts += ["%s: %s" % (g, r.text()) for g, r in fig.target.items() if g != "*"]
    return "; ".join(parts)


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

