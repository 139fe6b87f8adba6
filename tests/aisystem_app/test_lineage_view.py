"""The model page's lineage drawing: left to right from the data, one colour and legend entry per kind,
labels as links, cycles drawn without looping, and the relations in words."""

from __future__ import annotations

from aisystem_app.components.plots import NODE_COLORS
from aisystem_app.state import lineage as view
from backend.lineage.schemas import GraphEdge, GraphNode, LineageGraph


def node(node_id: str, kind: str, label: str, href: str | None = None) -> GraphNode:
    return GraphNode(id=node_id, kind=kind, label=label, href=href, depth=0)


GRAPH = LineageGraph(root="model:m", depth=3, truncated=False, nodes=[
    node("model:m", "model", "Sentiment <b>", "/catalog/models/m"),
    node("model_version:m@1", "model_version", "Sentiment 1.0.0", "/catalog/models/m?tab=versions"),
    node("act_r", "activity", "Registration of Sentiment 1.0.0"),
    node("dataset_version:d@2", "dataset_version", "Feedback v2", "/catalog/datasets/d?tab=versions"),
    node("dataset:d", "dataset", "Feedback", "/catalog/datasets/d"),
], edges=[
    GraphEdge(source="model:m", target="model_version:m@1", relation="hadMember"),
    GraphEdge(source="model_version:m@1", target="act_r", relation="wasGeneratedBy"),
    GraphEdge(source="act_r", target="dataset_version:d@2", relation="used"),
    GraphEdge(source="model_version:m@1", target="dataset_version:d@2", relation="wasDerivedFrom"),
    GraphEdge(source="dataset:d", target="dataset_version:d@2", relation="hadMember"),
])


def positions(figure) -> dict[str, tuple[float, float, str]]:
    """Label text -> (x, y, legend name) of every node marker."""
    out = {}
    for trace in figure.data[2:]:
        for x, y, text in zip(trace.x, trace.y, trace.text, strict=True):
            out[text] = (x, y, trace.name)
    return out


def test_the_drawing_reads_from_the_data_to_the_model():
    figure = view.lineage_figure(GRAPH)
    at = positions(figure)
    x = {text.split(">", 1)[-1].split("<", 1)[0] if text.startswith("<a") else text: p[0] for text, p in at.items()}
    assert x["Feedback"] < x["Feedback v2"] < x["Registration of Sentiment<br>1.0.0"] < x["Sentiment 1.0.0"]
    assert x["Sentiment &lt;b&gt;"] == x["Sentiment 1.0.0"] - 1  # a model just left of its versions
    # One legend entry and one colour per kind.
    names = [t.name for t in figure.data[2:]]
    assert sorted(names) == ["Activity", "Dataset", "Dataset version", "Model", "Model version"]
    assert {t.marker.color for t in figure.data[2:]} == {NODE_COLORS[k] for k in
                                                         ("model", "model_version", "activity", "dataset",
                                                          "dataset_version")}
    # Labels with a page are links; user text is escaped; the activity has none.
    assert '<a href="/catalog/models/m">Sentiment &lt;b&gt;</a>' in at
    # The derivation the registration already shows is not drawn twice: four lines, not five.
    assert len(figure.data[1].x) == 4


def test_labels_of_neighbouring_columns_sit_on_opposite_sides():
    figure = view.lineage_figure(GRAPH)
    side = {}
    for trace in figure.data[2:]:
        for x, where in zip(trace.x, trace.textposition, strict=True):
            side.setdefault(x, set()).add(where)
    assert all(len(places) == 1 for places in side.values())  # one side per column
    columns = sorted(side)
    assert all(side[a] != side[b] for a, b in zip(columns, columns[1:], strict=False))


def test_a_cycle_is_drawn_once():
    cyclic = LineageGraph(root="dataset:a", depth=3, truncated=False, nodes=[
        node("dataset:a", "dataset", "A"), node("dataset:b", "dataset", "B"), node("dataset:c", "dataset", "C")],
        edges=[GraphEdge(source="dataset:b", target="dataset:a", relation="wasDerivedFrom"),
               GraphEdge(source="dataset:c", target="dataset:b", relation="wasDerivedFrom"),
               GraphEdge(source="dataset:a", target="dataset:c", relation="wasDerivedFrom")])
    at = positions(view.lineage_figure(cyclic))
    assert len(at) == 3 and len({p[0] for p in at.values()}) == 3


def test_relations_in_words_with_links():
    rows = view.lineage_rows(GRAPH)
    assert rows[0] == {"from": "Sentiment <b> (model)", "from_href": "/catalog/models/m", "relation": "has version",
                       "to": "Sentiment 1.0.0 (model version)", "to_href": "/catalog/models/m?tab=versions"}
    assert {"activity"} <= {r["from"].rsplit("(", 1)[1].rstrip(")") for r in rows}
    assert next(r for r in rows if r["relation"] == "used")["from_href"] == ""
