"""Charts: plotly figures styled to sit on the app's cards in light and dark mode."""

from __future__ import annotations

import plotly.graph_objects as go
import reflex as rx

from aisystem_app import format as fmt
from aisystem_app.components.feedback import empty_state

# Transparent backgrounds and a mid-grey font read on both colour modes; no plotly template
# (it would add ~6 KB of theme to every figure sent to the browser).
_LAYOUT = {
    "template": "none",
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"color": "#8b8d98", "size": 12},
    "margin": {"l": 40, "r": 16, "t": 16, "b": 40},
    "legend": {"orientation": "h", "y": -0.2, "x": 0, "traceorder": "normal"},
    "xaxis": {"gridcolor": "rgba(139,141,152,0.15)", "linecolor": "rgba(139,141,152,0.4)"},
    "yaxis": {"gridcolor": "rgba(139,141,152,0.15)", "rangemode": "tozero", "zeroline": False},
    "hovermode": "x unified",
    "height": 300,
}
_CONFIG = {"displayModeBar": False, "responsive": True}


def stacked_bars(x: list[str], series: dict[str, list[int]], colors: dict[str, str]) -> go.Figure:
    """A stacked bar chart, one trace per series."""
    figure = go.Figure(
        [go.Bar(name=fmt.label(name), x=x, y=values, marker_color=colors.get(name)) for name, values in series.items()]
    )
    figure.update_layout(barmode="stack", **_LAYOUT)
    return figure


def _layout_height(figure: rx.Var) -> rx.Var:
    """The figure's layout height as CSS (plotly's default 450 px when it sets none, or has no layout yet)."""
    return rx.Var(_js_expr=f"`${{({figure!s})?.layout?.height ?? 450}}px`", _var_type=str)


def plot(figure: rx.Var, *, config: dict | None = None, **props) -> rx.Component:
    """A plotly figure from state at its container's width and its layout's height.

    The element gets the height too: when the window is resized, plotly drops a layout height that comes
    without a width and fills its element's height instead, which was nothing, and the chart collapsed."""
    return rx.plotly(data=figure, config=config or _CONFIG, width="100%", height=_layout_height(figure), **props)


def chart(figure: rx.Var) -> rx.Component:
    """A plotly figure from state, resizing with its container."""
    return rx.box(plot(figure), width="100%")


def chart_card(
    title: str, figure: rx.Var, *, loading: rx.Var[bool], ready: rx.Var[bool], description: str = ""
) -> rx.Component:
    """A titled card holding a chart; a skeleton while loading, an empty state without data."""
    body = rx.cond(
        loading,
        rx.skeleton(rx.box(height="300px", width="100%"), loading=True),
        rx.cond(ready, chart(figure), empty_state("No data to chart", icon="chart-no-axes-column")),
    )
    return rx.card(
        rx.vstack(
            rx.heading(title, size="4"),
            rx.text(description, size="2", color_scheme="gray") if description else None,
            body,
            spacing="3",
            width="100%",
        ),
        width="100%",
    )
