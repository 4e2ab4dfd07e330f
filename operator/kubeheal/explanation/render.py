"""An explanation (:func:`~kubeheal.explanation.assemble.explain`) as text for the terminal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Json = dict[str, Any]


def _table(rows: Sequence[Sequence[str]], indent: str = "    ") -> list[str]:
    """Rows as columns padded to their widest cell.

    >>> _table([("a", "bb"), ("ccc", "d")], "")
    ['a    bb', 'ccc  d']
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            .rstrip() for row in rows]


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _stream_rows(streams: Sequence[Json]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("signal", "data", "warm", "last", "expected", "score",
                                    "rarity", "k-of-n", "alarm")]
    for s in streams:
        warm = "yes" if s["warm"] else f"no ({s['learned']}/{s['warmup']})"
        debounce = s["debounce"]
        rows.append((
            s["signal"], {True: "yes", False: "none", None: "-"}[s["hasData"]],
            warm if s["exists"] else "-", _value(s["observed"]), _value(s["expected"]),
            _value(s["score"]), s["rarity"] or "-",
            f"{debounce['anomalous']} of {debounce['n']} (needs {debounce['k']})"
            if s["exists"] else "-",
            ("yes since " + s["alarmSince"]) if s["alarm"] and s["alarmSince"]
            else ("yes" if s["alarm"] else "no")))
    return rows


def _remediation_rows(items: Sequence[Json]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("name", "runbook", "phase", "cause", "action", "opened",
                                    "closed")]
    rows += [(r["name"], _value(r["runbook"]), r["phase"], _value(r["cause"]),
              _value(r["action"]), _value(r["openedAt"]), _value(r["closedAt"]))
             for r in items]
    return rows


def render_text(doc: Json) -> str:
    """The explanation for a human: a summary line, then each runbook, then Remediations."""
    target = doc.get("target") or {}
    head = f"{doc['namespace']}/{doc['workload']}"
    if target:
        head += (f": {target.get('readyReplicas', 0)}/{target.get('replicas', 0)} ready, "
                 f"revision {target.get('revision') or '-'}")
    lines = [head, f"as of {doc['asOf']}", "", f"Summary: {doc['summary']}"]
    for book in doc["runbooks"]:
        lines += ["", f"Runbook {book['name']} ({book['mode']}, every "
                      f"{book['intervalSeconds']}s)"]
        last = book["lastEvaluation"]
        lines.append("  last evaluation: " + (
            "none yet" if last is None else
            f"{last['at']} {last['reason']}" + (f": {last['message']}" if last["message"]
                                                 else "")))
        if book["streams"]:
            lines.append("  streams:")
            lines += _table(_stream_rows(book["streams"]))
        lines.append("  held back by:" if book["holds"] else "  held back by: nothing")
        lines += [f"    - {h['hold']}: {h['reason']}" for h in book["holds"]]
        if book["actions"]:
            lines.append("  actions (policy preview, not recorded, nothing executed):")
            for action in book["actions"]:
                params = ", ".join(f"{k}={v}" for k, v in action["params"].items())
                risk = "" if action["risk"] is None else f", risk {action['risk']:.2f}"
                lines.append(f"    - {action['action']} ({action['kind']}"
                             + (f" {params}" if params else "") + f"{risk}, cause "
                             f"{action['assumedCause'] or 'any'}): {action['verdict']}")
                lines += [f"        {r}" for r in action["reasons"]]
    if doc.get("runbooksNotShown"):
        lines += ["", f"... and {doc['runbooksNotShown']} more runbooks select it (not shown)"]
    for label, key in (("Open remediations", "open"), ("Recent remediations", "recent")):
        items = doc["remediations"][key]
        lines += ["", f"{label}:" + ("" if items else " none")]
        if items:
            lines += _table(_remediation_rows(items), "  ")
    return "\n".join(lines)


def render(doc: Json, output: str) -> str:
    """``doc`` as ``table`` (text) or ``json``."""
    if output == "json":
        return json.dumps(doc, indent=2, sort_keys=True)
    return render_text(doc)
