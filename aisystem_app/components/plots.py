"""Plotly figures beyond the shell's bar chart: lines across a categorical axis, and a node-link graph.

Plotly reads a few tags in text: the line chart's callers HTML-escape user text first; the layered
graph takes plain text and escapes it itself.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from aisystem_app.components.charts import _LAYOUT as CARD_LAYOUT  # the shell's card styling

PALETTE = ("#3e63dd", "#e5484d", "#30a46c", "#f76b15", "#8e4ec6", "#0090ff", "#ffc53d", "#d6409f")
# One colour per kind of lineage node (the legend names them).
NODE_COLORS = {"model": "#3e63dd", "model_version": "#0090ff", "dataset": "#30a46c", "dataset_version": "#7ccf8e",
               "run": "#f76b15", "job": "#ffc53d", "endpoint": "#e5484d", "generated_app": "#d6409f",
               "activity": "#8b8d98", "agent": "#8e4ec6"}


@dataclass(frozen=True)
class GraphNode:
    """A node to draw: `label` and `hover` are plain text (escaped when drawn); `href` is a page of this app."""

    id: str
    kind: str
    label: str
    hover: str
    href: str | None = None


@dataclass(frozen=True)
class Flow:
    """A line from what came first (`source`) to what followed; `words` is its hover text (plain)."""

    source: str
    target: str
    words: str


def line_chart(x: Sequence[str], lines: dict[str, tuple[Sequence[str], Sequence[float]]]) -> go.Figure:
    """One line with markers per series over a categorical x axis (keeps the given x order)."""
    figure = go.Figure([
        go.Scatter(name=name, x=list(xs), y=list(ys), mode="lines+markers",
                   line={"color": PALETTE[i % len(PALETTE)], "width": 2}, marker={"size": 8})
        for i, (name, (xs, ys)) in enumerate(lines.items())
    ])
    figure.update_layout(**CARD_LAYOUT)
    figure.update_xaxes(type="category", categoryorder="array", categoryarray=list(x))
    figure.update_yaxes(rangemode="normal")
    return figure


def _flow_layers(ids: Sequence[str], flows: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each node's column in a left-to-right drawing: the longest path to it over the flows (a back
    edge of a cycle is ignored); a node nothing flows into sits just left of the first it feeds."""
    after: dict[str, list[str]] = {i: [] for i in ids}
    for a, b in flows:
        after[a].append(b)
    order: list[str] = []
    state: dict[str, int] = {}  # 1 while on the stack, 2 when done
    back: set[tuple[str, str]] = set()
    for start in ids:
        stack = [(start, iter(after[start]))] if start not in state else []
        state.setdefault(start, 1)
        while stack:
            node, successors = stack[-1]
            nxt = next(successors, None)
            if nxt is None:
                state[node] = 2
                order.append(node)
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(after[nxt])))
    order.reverse()  # a topological order of the flows without their back edges
    layer = dict.fromkeys(ids, 0)
    fed = {b for a, b in flows if (a, b) not in back}
    for node in order:
        for b in after[node]:
            if (node, b) not in back:
                layer[b] = max(layer[b], layer[node] + 1)
    for node in order[::-1]:
        targets = [layer[b] for b in after[node] if (node, b) not in back]
        if node not in fed and targets:
            layer[node] = min(targets) - 1
    return layer


def _rows(columns: dict[int, list[str]], flows: Sequence[tuple[str, str]], rank: dict[str, tuple]) -> dict[str, float]:
    """The height of each node: columns left to right, each node near the mean height of the nodes
    that flow into it (fewer crossings), spread evenly around the middle."""
    before: dict[str, list[str]] = {}
    for a, b in flows:
        before.setdefault(b, []).append(a)
    y: dict[str, float] = {}
    for column in sorted(columns):
        def centre(node: str) -> float:
            placed = [y[p] for p in before.get(node, ()) if p in y]
            return sum(placed) / len(placed) if placed else 0.0
        members = sorted(columns[column], key=lambda n: (-centre(n), rank[n]))
        for i, node in enumerate(members):
            y[node] = (len(members) - 1) / 2 - i
    return y


def _wrap(text: str, width: int = 30) -> str:
    """Plain text as escaped markup of at most two lines of `width` characters (plotly's line break)."""
    words, lines = text.split(" "), [""]
    for word in words:
        if len(lines[-1]) + len(word) + 1 > width and lines[-1]:
            lines.append("")
        lines[-1] = f"{lines[-1]} {word}".strip()
    if len(lines) > 2:
        lines = [lines[0], lines[1][: width - 1] + "…"]
    return "<br>".join(html.escape(line[:width]) for line in lines)


def _curve(start: tuple[float, float], end: tuple[float, float], steps: int = 16) -> tuple[list[float], list[float]]:
    """A line leaving and entering level (a smooth step), so it passes under the labels set above nodes."""
    (x0, y0), (x1, y1) = start, end
    xs, ys = [], []
    for i in range(steps + 1):
        t = i / steps
        ease = t * t * (3 - 2 * t)
        xs.append(x0 + (x1 - x0) * t)
        ys.append(y0 + (y1 - y0) * ease)
    return xs, ys


def layered_figure(nodes: Sequence[GraphNode], flows: Sequence[Flow], *, kind_names: dict[str, str]) -> go.Figure:
    """A node-link drawing read left to right: columns by the longest path over `flows` (what came
    first on the left), one colour and one legend entry per kind, labels above or below their node
    by column (a link when it has a page), flows as smooth lines from one node's right to the next one's left."""
    ids = [n.id for n in nodes]
    known = set(ids)
    kept = [f for f in flows if f.source in known and f.target in known and f.source != f.target]
    pairs = [(f.source, f.target) for f in kept]
    layer = _flow_layers(ids, pairs)
    columns: dict[int, list[str]] = {}
    for node_id in ids:
        columns.setdefault(layer[node_id], []).append(node_id)
    kinds = list(kind_names)
    rank = {n.id: (kinds.index(n.kind) if n.kind in kinds else len(kinds), n.label) for n in nodes}
    y = _rows(columns, pairs, rank)
    x = {node_id: float(layer[node_id] - min(layer.values())) for node_id in ids} if ids else {}
    half = 0.12  # where a line leaves a node's right and enters the next one's left
    line_x: list[float | None] = []
    line_y: list[float | None] = []
    for f in kept:
        xs, ys = _curve((x[f.source] + half, y[f.source]), (x[f.target] - half, y[f.target]))
        line_x += [*xs, None]
        line_y += [*ys, None]
    traces = [go.Scatter(x=line_x, y=line_y, mode="lines", hoverinfo="skip", showlegend=False,
                         line={"color": "rgba(139,141,152,0.55)", "width": 1.4, "shape": "linear"})]
    traces.append(go.Scatter(
        x=[(x[f.source] + x[f.target]) / 2 for f in kept], y=[(y[f.source] + y[f.target]) / 2 for f in kept],
        mode="markers", marker={"size": 7, "color": "rgba(139,141,152,0.6)", "symbol": "triangle-right"},
        hovertext=[html.escape(f.words) for f in kept], hoverinfo="text", showlegend=False))
    for kind in sorted({n.kind for n in nodes}, key=lambda k: kinds.index(k) if k in kinds else len(kinds)):
        group = [n for n in nodes if n.kind == kind]
        traces.append(go.Scatter(
            name=kind_names.get(kind, kind), x=[x[n.id] for n in group], y=[y[n.id] for n in group],
            # Labels above the node in every other column and below it in the rest, so the labels of
            # neighbouring columns never run into each other however narrow the columns get.
            mode="markers+text", hoverinfo="text",
            textposition=["top center" if layer[n.id] % 2 == 0 else "bottom center" for n in group],
            text=[f'<a href="{html.escape(n.href)}">{_wrap(n.label)}</a>' if n.href else _wrap(n.label) for n in group],
            hovertext=[html.escape(n.hover) for n in group],
            marker={"size": 16, "color": NODE_COLORS.get(kind, "#8b8d98"), "line": {"width": 1, "color": "white"},
                    "symbol": "diamond" if kind == "activity" else "circle"},
        ))
    figure = go.Figure(traces)
    tallest = max((len(members) for members in columns.values()), default=1)
    figure.update_layout(**{**CARD_LAYOUT, "hovermode": "closest", "height": max(340, 100 * tallest + 80),
                            "margin": {"l": 24, "r": 24, "t": 24, "b": 24},
                            "legend": {"orientation": "h", "y": -0.02, "yanchor": "top"}})
    figure.update_xaxes(visible=False, range=[-0.7, max(x.values(), default=0) + 0.7])
    figure.update_yaxes(visible=False, range=[-(tallest / 2) - 0.3, tallest / 2 + 0.3])
    return figure
