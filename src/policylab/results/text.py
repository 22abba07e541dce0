"""The comparison table as plain text for a terminal: one block per outcome, scenarios as rows.

Why this layout (docs/cli.md): an analyst compares scenarios within an outcome, so the
scenarios of one outcome sit in one column, read top to bottom; the width does not grow
with the number of scenarios or the length of labels, so seven scenarios and twenty
outcomes fit 100 columns with nothing cut. Each block's heading carries the label,
units and threshold; each row the median and band (or a share and its Wilson interval)
and a note (threshold share, the two modes of a bimodal outcome, failed runs).
"""

from __future__ import annotations

from typing import Any

from policylab.results.intervals import Interval
from policylab.results.tables import number, percent

WIDTH = 100
DIMENSIONLESS = {"1": "dimensionless", "dmnl": "dimensionless"}
NUMBER = 9
INDENT = "  "


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _note(cell: dict[str, Any], entry: dict[str, Any]) -> str:
    notes = []
    if "share_at_least_threshold" in cell:
        low, high = cell["share_interval"]
        notes.append(f"{entry['threshold']} in {percent(cell['share_at_least_threshold'])} of runs "
                     f"[{percent(low).removesuffix(' %')}–{percent(high)}]")
    if "bimodal" in cell:
        b = cell["bimodal"]
        split = number(b["split"])
        notes.append(f"bimodal: {percent(b['share_below'])} < {split}, {percent(b['share_above'])} ≥ {split}")
    if cell.get("not_binary_runs"):
        notes.append(f"{cell['not_binary_runs']} runs neither 0 nor 1")
    if cell.get("failed_runs"):
        notes.append(f"{cell['failed_runs']} of {cell['runs']} runs failed")
    return "; ".join(notes)


def _heading(entry: dict[str, Any], width: int) -> str:
    title = entry["label"]
    if entry["units"] and not entry["probability"]:
        title += f" [{DIMENSIONLESS.get(entry['units'].lower(), entry['units'])}]"
    if entry["probability"]:
        title += " — probability"
    if entry["label"] != entry["name"] and len(title) + len(entry["name"]) + 4 <= width:
        title += " " * (width - len(title) - len(entry["name"])) + entry["name"]
    return _fit(title, width)


def _row(name: str, numbers: list[str], note: str, name_width: int, width: int) -> list[str]:
    line = INDENT + _fit(name, name_width).ljust(name_width) + "".join(n.rjust(NUMBER + 1) for n in numbers)
    if not note:
        return [line.rstrip()]
    if len(line) + 2 + len(note) <= width:
        return [line + "  " + note]
    return [line, _fit(INDENT * 3 + note, width)]


def render(model_name: str, table: list[dict[str, Any]], runs: int, seed: int, interval: Interval,
           deterministic: bool = False, width: int = WIDTH) -> str:
    """The whole table as text, every line at most ``width`` characters."""
    scenarios = list(table[0]["values"]) if table else []
    name_width = min(max([8, *map(len, scenarios)]), 48)
    one = runs == 1
    mode = f"seed {seed}" + (", random functions at their means" if deterministic else "")
    convention = "the value of the single run" if one else interval.label
    if not one and any(entry["probability"] for entry in table):
        convention += f"; probabilities: {interval.share_label}"
    lines = [_fit(f"{model_name}: {runs} run{'s' if runs != 1 else ''}, {mode}", width), _fit(f"Each row: {convention}", width)]
    for entry in table:
        lines += ["", _heading(entry, width)]
        if entry["probability"]:
            header = ["value"] if one else ["share", "low", "high"]
        else:
            header = ["value"] if one else ["median", f"{interval.low_q * 100:.3g} %", f"{interval.high_q * 100:.3g} %"]
        lines += _row("scenario", header, "", name_width, width)
        for scenario in scenarios:
            cell = entry["values"][scenario]
            if entry["probability"]:
                cells = [number(cell["share"])] if one else [percent(cell["share"]), percent(cell["low"]), percent(cell["high"])]
            else:
                cells = [number(cell["median"])] if one else [number(cell["median"]), number(cell["low"]), number(cell["high"])]
            lines += _row(scenario, cells, _note(cell, entry), name_width, width)
    return "\n".join(lines) + "\n"
