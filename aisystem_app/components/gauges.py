"""Gauges: 0–100 % plotly indicators, one per figure (the page lays them out in a responsive grid),
styled like the app's other charts. Every dial shows its title above it, inside the figure."""

from __future__ import annotations

import plotly.graph_objects as go

# (lower bound in %, colour): the bar takes the colour of the highest band the value reaches.
BANDS = ((0, "#e5484d"), (75, "#f76b15"), (90, "#30a46c"))


def band_color(percent: float) -> str:
    """Red under 75 %, orange under 90 %, green from there."""
    return [color for floor, color in BANDS if percent >= floor][-1]


_LAYOUT = {"template": "none", "paper_bgcolor": "rgba(0,0,0,0)", "font": {"color": "#8b8d98", "size": 12}}


def _gauge(title: str, percent: float | None) -> go.Indicator:
    value = 0.0 if percent is None else max(0.0, min(100.0, percent))
    return go.Indicator(
        mode="gauge" if percent is None else "gauge+number",  # no score is not a score of 0 %
        value=value,
        title={"text": title if percent is not None else f"{title}: no score", "font": {"size": 13}},
        number={"suffix": "%", "valueformat": ".1f", "font": {"size": 22}},
        # An invisible axis: plotly.js puts the title above a visible axis's tick labels, and with none
        # drawn that is above the figure (the titles were cut off); without one it goes above the dial.
        gauge={"axis": {"range": [0, 100], "visible": False},
               "bar": {"color": band_color(value), "thickness": 0.7},
               "bgcolor": "rgba(139,141,152,0.15)", "borderwidth": 0},
        domain={"x": [0.02, 0.98], "y": [0, 1]},
    )


def gauge_figure(title: str, percent: float | None, *, height: int = 150) -> go.Figure:
    """One half-circle gauge with its title above it; a None percent shows an empty dial saying so.

    The title is a plotly label: pass text already escaped where it may hold user input.
    """
    figure = go.Figure([_gauge(title, percent)])
    figure.update_layout(**_LAYOUT, margin={"l": 8, "r": 8, "t": 30, "b": 4}, height=height)
    return figure
