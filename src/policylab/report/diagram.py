"""Draw a causal graph as Graphviz DOT and SVG: signed links, loops in a legend, evidence on hover."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import replace
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


WRAP = 16  # characters per line of a node's name in a compact view


def _wrapped(name: str) -> str:
    """A long name broken at its underscores into lines of about ``WRAP`` characters (DOT ``\\n``)."""
    lines = [""]
    for part in name.split("_"):
        if lines[-1] and len(lines[-1]) + 1 + len(part) > WRAP:
            lines[-1] += "_"
            lines.append(part)
        else:
            lines[-1] = f"{lines[-1]}_{part}" if lines[-1] else part
    return "\\n".join(_quote(line)[1:-1] for line in lines)


def _sign_key(link, pairs: set[tuple[str, str]], circle: bool) -> str:  # type: ignore[no-untyped-def]
    """Where a link's sign goes: mid-edge, or by its arrowhead for one of two opposite links in a circle.

    circo draws a stock's link to its flow and back side by side, and their mid-edge signs collide.
    """
    return "headlabel" if circle and (link.target, link.source) in pairs else "label"


def to_dot(graph: CausalGraph, title: str, layout: str = "dot", outside: Mapping[str, str] | None = None,
           rankdir: str = "LR", compact: bool = False) -> str:
    """The diagram as DOT text (no Graphviz needed to produce it); ``layout="circo"`` draws a loop as a circle.

    ``outside`` (node -> its sector) are drawn faded, their sector under their name; ``compact``
    wraps long names and packs ranks closer (the readable views).
    """
    outside = outside or {}
    round_attrs = ", mindist=0.3, overlap=prism, sep=\"+6\", forcelabels=true" if layout == "circo" else ""
    spacing = ", nodesep=0.25, ranksep=0.45" + round_attrs if compact else ""
    lines = [
        "digraph causal_loops {",
        f"  graph [layout={layout}, rankdir={rankdir}{spacing}, fontname=Helvetica, labelloc=t, label={_quote(title)}, "
        f"tooltip={_quote(title)}];",
        "  node [fontname=Helvetica, fontsize=11, style=filled, fillcolor=\"#f7f7f7\", color=\"#555555\"];",
        "  edge [fontname=Helvetica, fontsize=12, arrowsize=0.7];",
    ]
    for name, kind in graph.nodes.items():
        fill = {"stock": "#e8f0fa", "lever": "#fdf2d0", "event": "#fde2e2"}.get(kind, "#f7f7f7")
        label = _wrapped(name) if compact else _quote(name)[1:-1]
        faded = f", label=\"{label}\"" if compact else ""
        if name in outside:
            fill, faded = "#ffffff", (f", style=\"filled,dashed\", color=\"#9aa4ae\", fontcolor=\"#6b7682\", "
                                      f"label=\"{label}\\n[{_quote(outside[name])[1:-1]}]\"")
        lines.append(f"  {_quote(name)} [shape={SHAPES.get(kind, 'ellipse')}, fillcolor=\"{fill}\"{faded}, "
                     f"tooltip={_quote(f'{name} ({kind})')}];")
    pairs = {(link.source, link.target) for link in graph.links}
    circle = compact and layout == "circo"
    for link in graph.links:
        style = "solid" if link.declared else "dashed"
        lines.append(
            f"  {_quote(link.source)} -> {_quote(link.target)} [{_sign_key(link, pairs, circle)}={_quote(link.sign)}, labeldistance=1.6, color=\"{COLOURS[link.sign]}\", "
            f"fontcolor=\"{COLOURS[link.sign]}\", style={style}, tooltip={_quote(_tooltip(link))}"
            + ("];" if compact else f", labeltooltip={_quote(_tooltip(link))}];")  # a view keeps its size down
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
    return compact_svg(done.stdout)


_GEOMETRY = re.compile(r'\b(d|points|x|y|cx|cy|rx|ry|viewBox|transform)="([^"]*)"')
_DECIMALS = re.compile(r"(\d\.\d)\d+")


def compact_svg(svg: str) -> str:
    """Graphviz's SVG without its comments and with geometry to 0.1 pt (a tenth of what a screen shows): ~10 % lighter."""
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)
    return _GEOMETRY.sub(lambda m: m.group(1) + '="' + _DECIMALS.sub(r"\1", m.group(2)) + '"', svg)


VIEW_BOX = (1035.0, 570.0)  # points (1380 x 760 px) a readable view should fit: a 1440 x 900 window less margins


def _size(svg: str) -> tuple[float, float]:
    found = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    return (float(found.group(1)), float(found.group(2))) if found else (1.0, 1.0)


def view_svg(view, title: str, box: tuple[float, float] = VIEW_BOX) -> str:  # type: ignore[no-untyped-def]
    """A readable view (``report.views.View``) as SVG, laid out left-right or top-down, whichever fits ``box`` larger.

    No loop legend: the page around the view lists the loops.
    """
    graph = replace(view.graph, loops=[])
    best, scale = "", -1.0
    for rankdir in ("LR", "TB") if view.layout == "dot" else ("LR",):
        svg = render_svg(to_dot(graph, title, view.layout, view.outside, rankdir, compact=view.key != "all"))
        width, height = _size(svg)
        fits = min(box[0] / width, box[1] / height)
        if fits > scale:
            best, scale = svg, fits
    return best[best.find("<svg"):]
