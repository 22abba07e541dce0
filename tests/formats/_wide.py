"""A model whose scalars reduce arrays of many elements (``SUM(x[*])`` over 1,000 regions), for the writers' tests."""

from __future__ import annotations


def wide_model(n: int) -> str:
    """YAML text: an arrayed stock over ``n`` regions read by scalar reductions (SUM, MEAN, MAX)."""
    regions = ", ".join(f"r{i}" for i in range(n))
    sizes = ", ".join(str(100 + i % 37) for i in range(n))
    return f"""model: wide
time: {{start: 0, stop: 5, dt: 0.5, units: day}}
dimensions:
  region: [{regions}]
constants:
  size: {{dims: [region], values: [{sizes}], units: person}}
  rate: {{value: 0.1, units: 1/day}}
stocks:
  cases: {{dims: [region], initial: size, in: [growth], units: person}}
  national: {{initial: "SUM(size[*]) / 2", in: [national_growth], units: person}}
flows:
  growth: {{dims: [region], equation: "rate * cases * total / capacity", units: person/day}}
  national_growth: {{equation: "SUM(growth[*])", units: person/day}}
auxiliaries:
  total: {{equation: "SUM(cases[*])", units: person}}
  capacity: {{equation: "SUM(size[*])", units: person}}
  spread: {{equation: "MEAN(cases[*]) / MEAN(size[*]) + MAX(cases[*]) / MAX(size[*])", units: "1"}}
"""
