"""Reports and pictures: the causal-loop diagram, fan charts and the self-contained HTML report."""

from policylab.report.build import build_report, render_report
from policylab.report.diagram import render_svg, to_dot

__all__ = ["build_report", "render_report", "render_svg", "to_dot"]
