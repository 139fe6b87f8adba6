"""Gauges: 0–100 % plotly indicators side by side in one figure, styled like the app's other charts."""

from __future__ import annotations

import plotly.graph_objects as go

# (lower bound in %, colour): the bar takes the colour of the highest band the value reaches.
BANDS = ((0, "#e5484d"), (75, "#f76b15"), (90, "#30a46c"))


def band_color(percent: float) -> str:
    """Red under 75 %, orange under 90 %, green from there."""
    return [color for floor, color in BANDS if percent >= floor][-1]


def _gauge(title: str, percent: float | None, index: int, count: int) -> go.Indicator:
    value = 0.0 if percent is None else max(0.0, min(100.0, percent))
    gap = 0.02
    return go.Indicator(
        mode="gauge+number",
        value=value,
        title={"text": title, "font": {"size": 13}},
        number={"suffix": "%", "valueformat": ".1f", "font": {"size": 22}},
        gauge={"axis": {"range": [0, 100], "showticklabels": False, "ticks": ""},
               "bar": {"color": band_color(value), "thickness": 0.7},
               "bgcolor": "rgba(139,141,152,0.15)", "borderwidth": 0},
        domain={"x": [index / count + gap, (index + 1) / count - gap], "y": [0, 1]},
    )


def gauges_figure(items: list[tuple[str, float | None]], *, height: int = 190) -> go.Figure:
    """One half-circle gauge per (title, percent) item, in a row; a None percent shows an empty dial.

    Titles are plotly labels: pass text already escaped where it may hold user input.
    """
    figure = go.Figure([_gauge(title, percent, i, len(items)) for i, (title, percent) in enumerate(items)])
    figure.update_layout(template="none", paper_bgcolor="rgba(0,0,0,0)", font={"color": "#8b8d98", "size": 12},
                         margin={"l": 16, "r": 16, "t": 40, "b": 8}, height=height)
    return figure
