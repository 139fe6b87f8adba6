"""Plotly figures beyond the shell's bar chart: lines across a categorical axis, and a node-link graph.

Labels reach plotly as given: callers HTML-escape user text first (plotly reads a few tags in text).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import plotly.graph_objects as go

from aisystem_app.components.charts import _LAYOUT as CARD_LAYOUT  # the shell's card styling

PALETTE = ("#3e63dd", "#e5484d", "#30a46c", "#f76b15", "#8e4ec6", "#0090ff", "#ffc53d", "#d6409f")
NODE_COLORS = {"model": "#3e63dd", "model_version": "#8e4ec6", "dataset": "#30a46c", "dataset_version": "#46a758",
               "run": "#f76b15", "training_job": "#f76b15", "experiment": "#ffc53d", "endpoint": "#e5484d",
               "deployment": "#d6409f"}
Node = tuple[str, str, str]  # (id, kind, label)
Edge = tuple[str, str, str]  # (from id, to id, relation)


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


def _layers(nodes: Sequence[Node], edges: Sequence[Edge], root: str | None) -> dict[str, int]:
    """Each node's distance from `root` over the edges in either direction (unreachable: one past the last)."""
    links: dict[str, set[str]] = {}
    for a, b, _rel in edges:
        links.setdefault(a, set()).add(b)
        links.setdefault(b, set()).add(a)
    depth = {root: 0} if root else {}
    queue = deque(depth)
    while queue:
        node = queue.popleft()
        for neighbour in sorted(links.get(node, ())):
            if neighbour not in depth:
                depth[neighbour] = depth[node] + 1
                queue.append(neighbour)
    last = max(depth.values(), default=-1) + 1
    return {node_id: depth.get(node_id, last) for node_id, _kind, _label in nodes}


def _positions(nodes: Sequence[Node], edges: Sequence[Edge], root: str | None,
               kind_order: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Columns by distance from the root; within a column, nodes by kind then as given, spread top to bottom."""
    layer = _layers(nodes, edges, root)
    rank = {kind: i for i, kind in enumerate(kind_order)}
    columns: dict[int, list[tuple[int, int, str]]] = {}
    for i, (node_id, kind, _label) in enumerate(nodes):
        columns.setdefault(layer[node_id], []).append((rank.get(kind, len(rank)), i, node_id))
    positions = {}
    for x, (_layer, members) in enumerate(sorted(columns.items())):
        ids = [node_id for *_key, node_id in sorted(members)]
        for i, node_id in enumerate(ids):
            positions[node_id] = (float(x), (len(ids) - 1) / 2 - i)
    return positions


def network_figure(nodes: Sequence[Node], edges: Sequence[Edge], *, root: str | None = None,
                   kind_order: Sequence[str] = ()) -> go.Figure:
    """Nodes as labelled markers coloured by kind, in columns by distance from `root`; edges as arrows with
    the relation on hover."""
    pos = _positions(nodes, edges, root, kind_order)
    kept = [(a, b, rel) for a, b, rel in edges if a in pos and b in pos]
    arrows = [dict(x=pos[b][0], y=pos[b][1], ax=pos[a][0], ay=pos[a][1], xref="x", yref="y", axref="x", ayref="y",
                   showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=1.2, standoff=10, startstandoff=10,
                   arrowcolor="rgba(139,141,152,0.7)", text="") for a, b, _rel in kept]
    middles = go.Scatter(x=[(pos[a][0] + pos[b][0]) / 2 for a, b, _ in kept],
                         y=[(pos[a][1] + pos[b][1]) / 2 for a, b, _ in kept],
                         mode="markers", marker={"size": 6, "color": "rgba(139,141,152,0.5)"},
                         hovertext=[rel.replace("_", " ") for _a, _b, rel in kept], hoverinfo="text", showlegend=False)
    traces = [middles]
    for kind in dict.fromkeys(kind for _id, kind, _label in nodes):
        group = [(i, label) for i, k, label in nodes if k == kind]
        traces.append(go.Scatter(
            name=kind.replace("_", " "), x=[pos[i][0] for i, _ in group], y=[pos[i][1] for i, _ in group],
            mode="markers+text", text=[label for _, label in group], textposition="bottom center",
            hovertext=[f"{label} ({kind.replace('_', ' ')})" for _, label in group], hoverinfo="text",
            marker={"size": 18, "color": NODE_COLORS.get(kind, "#8b8d98"), "line": {"width": 1, "color": "white"}},
        ))
    figure = go.Figure(traces)
    height = max(320, 90 * max((sum(1 for p in pos.values() if p[0] == x) for x in {p[0] for p in pos.values()}),
                               default=1))
    figure.update_layout(**{**CARD_LAYOUT, "hovermode": "closest", "height": height, "annotations": arrows,
                            "margin": {"l": 24, "r": 24, "t": 16, "b": 40}})
    figure.update_xaxes(visible=False, range=[-0.6, max((p[0] for p in pos.values()), default=0) + 0.6])
    figure.update_yaxes(visible=False)
    return figure
