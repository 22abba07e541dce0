"""Reports and pictures: the causal-loop diagram (and, later, plots and the HTML report)."""

from policylab.report.diagram import render_svg, to_dot

__all__ = ["render_svg", "to_dot"]
