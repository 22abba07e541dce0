"""Draw a causal graph as Graphviz DOT and SVG: signed links, loops in a legend, evidence on hover."""

from __future__ import annotations

import shutil
import subprocess
from html import escape

from policylab.compile.causal import CausalGraph
from policylab.errors import PolicyLabError

SHAPES = {"stock": "box", "flow": "ellipse", "auxiliary": "ellipse", "lever": "diamond", "event": "hexagon",
          "constant": "plaintext", "lookup": "ellipse"}
COLOURS = {"+": "#1f5fa8", "-": "#c0392b", "±": "#7f7f7f", "0": "#bbbbbb", "?": "#bbbbbb"}


class DiagramError(PolicyLabError):
    """The diagram cannot be rendered (e.g. Graphviz is not installed)."""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _tooltip(link) -> str:  # type: ignore[no-untyped-def]
    if not link.evidence:
        how = "declared" if link.declared else "estimated from the equation"
        return f"{link.source} -> {link.target} ({link.sign}, {how})"
    parts = []
    for ev in link.evidence:
        if ev.kind == "assumption":
            parts.append(f"assumption: {ev.reason}")
        else:
            parts.append(f"“{ev.quote}” — {ev.source}")
    return f"{link.source} -> {link.target} ({link.sign}): " + " | ".join(parts)


def to_dot(graph: CausalGraph, title: str, layout: str = "dot") -> str:
    """The diagram as DOT text (no Graphviz needed to produce it); ``layout="circo"`` draws a loop as a circle."""
    lines = [
        "digraph causal_loops {",
        f"  graph [layout={layout}, rankdir=LR, fontname=Helvetica, labelloc=t, label={_quote(title)}, "
        f"tooltip={_quote(title)}];",
        "  node [fontname=Helvetica, fontsize=11, style=filled, fillcolor=\"#f7f7f7\", color=\"#555555\"];",
        "  edge [fontname=Helvetica, fontsize=12, arrowsize=0.7];",
    ]
    for name, kind in graph.nodes.items():
        fill = {"stock": "#e8f0fa", "lever": "#fdf2d0", "event": "#fde2e2"}.get(kind, "#f7f7f7")
        lines.append(f"  {_quote(name)} [shape={SHAPES.get(kind, 'ellipse')}, fillcolor=\"{fill}\", "
                     f"tooltip={_quote(f'{name} ({kind})')}];")
    for link in graph.links:
        style = "solid" if link.declared else "dashed"
        lines.append(
            f"  {_quote(link.source)} -> {_quote(link.target)} [label={_quote(link.sign)}, color=\"{COLOURS[link.sign]}\", "
            f"fontcolor=\"{COLOURS[link.sign]}\", style={style}, tooltip={_quote(_tooltip(link))}, "
            f"labeltooltip={_quote(_tooltip(link))}];"
        )
    if graph.loops:
        rows = "".join(
            f"<TR><TD ALIGN=\"LEFT\"><B>{escape(loop.label)}</B></TD><TD ALIGN=\"LEFT\">"
            f"{escape(' → '.join(loop.variables + loop.variables[:1]))}</TD></TR>"
            for loop in graph.loops[:60]
        )
        more = len(graph.loops) - 60
        extra = f"<TR><TD COLSPAN=\"2\">… and {more} more loops</TD></TR>" if more > 0 else ""
        lines.append(
            "  legend [shape=plaintext, fillcolor=white, label=<<TABLE BORDER=\"0\" CELLBORDER=\"0\" CELLSPACING=\"2\">"
            "<TR><TD COLSPAN=\"2\" ALIGN=\"LEFT\"><B>Feedback loops</B> (R reinforcing, B balancing; "
            f"solid links have evidence, dashed are derived from the equations)</TD></TR>{rows}{extra}</TABLE>>];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(dot: str, timeout: float = 120.0) -> str:
    """Lay the DOT text out with Graphviz and return SVG."""
    exe = shutil.which("dot")
    if exe is None:
        raise DiagramError("Graphviz's `dot` is not installed; install it (Debian: apt-get install graphviz) "
                           "or ask for --format dot")
    try:
        done = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        raise DiagramError(f"Graphviz took longer than {timeout:.0f} s to lay out the diagram") from err
    if done.returncode != 0:
        raise DiagramError(f"Graphviz failed: {done.stderr.strip()[:500]}")
    return done.stdout
