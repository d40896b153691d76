"""The small HTML helpers the summary page's modules share: escaping, number reading, one figure's div.

Kept apart from :mod:`scaa.report.html` so that :mod:`scaa.report.robustness_html`, which
it calls, can use them without importing it back.
"""
from __future__ import annotations

import html
import math

import plotly.io as pio

PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def esc(x) -> str:
    """``x`` as text safe inside HTML (None -> empty)."""
    return html.escape("" if x is None else str(x))


def num(x) -> float | None:
    """``x`` as a finite float, or None (missing, not a number, NaN or infinite)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def figure_div(fig, div_id: str) -> str:
    """One figure as a div + script; plotly.js itself is already in <head>."""
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG)
