"""What the comparison page shows, from an evaluated comparison document (pure functions, no state):
the radar figure, the sensitivity figure, the ranking rows, recommendation cards and the CSV export."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import plotly.graph_objects as go

from aisystem_app import format as fmt
from aisystem_app.components.charts import _LAYOUT as CARD_LAYOUT
from aisystem_app.components.plots import PALETTE

KIND_WORDS = {"model": "Catalog model", "version": "Model version", "listing": "Marketplace"}
RECOMMENDATIONS = (("bestOverall", "Best overall", "trophy"), ("bestValue", "Best value", "piggy-bank"),
                   ("bestPerformance", "Best performance", "gauge"), ("mostFlexible", "Most flexible", "shuffle"))
UNIT_WORDS = {"fraction": "", "USD": "USD per 1,000 predictions", "tokens": "tokens"}


def colours(document: dict[str, Any]) -> dict[str, str]:
    """One colour per model, fixed by the order models were picked in (not by rank: a colour stays with
    its model while the weights move)."""
    order = list(document.get("rankings", {}))
    return {model_id: PALETTE[i % len(PALETTE)] for i, model_id in enumerate(order)}


def radar_figure(document: dict[str, Any]) -> go.Figure:
    """Scatterpolar, one closed trace per model over the metric scores (0–100); each axis names its weight,
    the legend each model's overall score, and the winner's area is filled."""
    metrics = document.get("metrics") or []
    if not metrics or not document.get("models"):
        return go.Figure()
    theta = [f"{m['label']} ({m['weight'] * 100:.0f} %)" for m in metrics]
    palette = colours(document)
    winner = (document.get("recommendations") or {}).get("bestOverall")
    traces = []
    for model in document["models"]:
        model_id = model["modelId"]
        r = [m["scores"].get(model_id) for m in metrics]
        score = fmt.NONE if model["overallScore"] is None else f"{model['overallScore']:.1f}"
        traces.append(go.Scatterpolar(
            r=[*r, r[0]], theta=[*theta, theta[0]], name=f"{model['modelName']} · {score}", mode="lines+markers",
            line={"color": palette[model_id], "width": 3 if model_id == winner else 1.5},
            fill="toself" if model_id == winner else "none", opacity=0.9, connectgaps=False,
            hovertemplate="%{theta}: %{r:.1f}<extra>" + model["modelName"].replace("<", "&lt;") + "</extra>"))
    figure = go.Figure(traces)
    layout = {k: v for k, v in CARD_LAYOUT.items() if k not in ("xaxis", "yaxis", "hovermode")}
    figure.update_layout(**layout)
    figure.update_layout(
        height=440, margin={"l": 110, "r": 110, "t": 56, "b": 40},
        title={"text": "Scores per metric (0–100, higher is better; weights in brackets)", "x": 0, "font": {"size": 13}},
        polar={"bgcolor": "rgba(0,0,0,0)",
               "radialaxis": {"range": [0, 100], "tickvals": [25, 50, 75, 100], "angle": 90,
                              "gridcolor": "rgba(139,141,152,0.25)"},
               "angularaxis": {"gridcolor": "rgba(139,141,152,0.25)"}},
        legend={"orientation": "h", "y": -0.12, "x": 0, "title": {"text": "Model · overall score"}},
    )
    return figure


def sensitivity_figure(document: dict[str, Any]) -> go.Figure:
    """Horizontal bars: per metric, the smallest change of its weight (percentage points) that changes the
    winner, labelled with the new winner; metrics whose weight cannot change the winner are named as such."""
    names = {m["modelId"]: m["modelName"] for m in document.get("models", [])}
    labels = {m["key"]: m["label"] for m in document.get("metrics", [])}
    rows = document.get("sensitivity") or []
    if not rows:
        return go.Figure()
    y, x, text, colors = [], [], [], []
    for row in rows:
        y.append(labels.get(row["key"], row["key"]))
        if row["minChange"] is None:
            x.append(0)
            text.append("no weight changes the winner")
            colors.append("#8b8d98")
            continue
        move = row["increase"] if row["increase"] and abs(row["increase"]["change"]) == row["minChange"] \
            else row["decrease"]
        x.append(round(row["minChange"] * 100, 1))
        arrow = "raise" if move["change"] > 0 else "lower"
        text.append(f"{arrow} to {move['weight'] * 100:.0f} % → {names.get(move['newWinner'], move['newWinner'])}")
        colors.append("#f76b15" if row["minChange"] < 0.1 else "#3e63dd")
    figure = go.Figure(go.Bar(x=x, y=y, orientation="h", text=text, textposition="outside", marker_color=colors,
                              cliponaxis=False, hovertemplate="%{y}: %{x:.1f} points<extra></extra>"))
    figure.update_layout(**{k: v for k, v in CARD_LAYOUT.items() if k != "hovermode"})
    figure.update_layout(
        height=60 + 34 * len(rows), margin={"l": 150, "r": 24, "t": 40, "b": 44}, showlegend=False,
        title={"text": "Weight change that changes the winner", "x": 0, "font": {"size": 13}})
    figure.update_xaxes(title={"text": "Change of the metric's weight (percentage points)"}, range=[0, 100])
    figure.update_yaxes(autorange="reversed")
    return figure


def confidence_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Model id -> its bootstrap confidence entry; empty when the document has none to show."""
    block = document.get("rankConfidence") or {}
    if not block.get("available"):
        return {}
    return {m["modelId"]: m for m in block.get("models", [])}


def confidence_caption(document: dict[str, Any]) -> str:
    """What the P(first) and rank-interval columns mean, with this comparison's numbers; empty without them."""
    block = document.get("rankConfidence") or {}
    if not block.get("available"):
        return ""
    labels = {m["key"]: m["label"] for m in document.get("metrics", [])}
    where = block.get("dataset") or {}
    rows = f"the {fmt.count(where['rows'])} {where.get('split', '')} rows".replace("  ", " ") if where else "the rows"
    level = f"{100 * block.get('level', 0.95):.0f} %"
    text = (f"Bootstrap: {fmt.count(block['resamples'])} resamples of {rows} of the benchmark (drawn with replacement, "
            f"the same rows for every model; seed {block['seed']}). {', '.join(labels.get(k, k) for k in block['metrics'])} "
            f"recomputed on each, then weighted and ranked as above. P(first) is the share of resamples in which "
            f"a model ranks first; the rank interval holds its rank in {level} of them.")
    unsampled = block.get("unsampled") or {}
    if unsampled:
        names = {m["modelId"]: m["modelName"] for m in document.get("models", [])}
        text += " Kept as measured: " + "; ".join(f"{names.get(i, i)} ({why})" for i, why in unsampled.items()) + "."
    return text


def ranking_rows(document: dict[str, Any]) -> list[dict[str, str]]:
    """One row per model, best first: rank, name, kind, overall score and "rank (score)" per metric, and
    its bootstrap P(first) and 95 % rank interval when the document has them (else empty)."""
    palette = colours(document)
    confidence = confidence_of(document)
    rows = []
    for model in document.get("models", []):
        model_id = model["modelId"]
        ranks = document["rankings"].get(model_id, {})
        cells = []
        for m in document.get("metrics", []):
            score = m["scores"].get(model_id)
            cells.append(fmt.NONE if score is None else f"#{ranks.get(m['key'])} · {score:.1f}")
        rows.append({
            "id": model_id, "name": model["modelName"], "kind": KIND_WORDS.get(model.get("kind", ""), ""),
            "rank": fmt.NONE if ranks.get("overall") is None else f"#{ranks['overall']}",
            "overall": fmt.NONE if model["overallScore"] is None else f"{model['overallScore']:.1f}",
            "coverage": fmt.percent(model.get("coverage"), 0), "colour": palette.get(model_id, "#8b8d98"),
            "cells": cells, **_confidence_cells(confidence.get(model_id)),
        })
    return rows


def _confidence_cells(entry: dict[str, Any] | None) -> dict[str, str]:
    if entry is None:
        return {"first": "", "rank_interval": ""}
    low_high = entry.get("rankInterval")
    interval = fmt.NONE if not low_high else (f"#{low_high[0]}" if low_high[0] == low_high[1]
                                               else f"#{low_high[0]}–#{low_high[1]}")
    return {"first": f"{100 * entry['probabilityFirst']:.0f} %", "rank_interval": interval}


def recommendation_cards(document: dict[str, Any]) -> list[dict[str, str]]:
    names = {m["modelId"]: m["modelName"] for m in document.get("models", [])}
    found = document.get("recommendations") or {}
    return [{"key": key, "title": title, "icon": icon, "name": names.get(found.get(key) or "", fmt.NONE)}
            for key, title, icon in RECOMMENDATIONS]


def raw_words(metric: dict[str, Any], value: float | None) -> str:
    if value is None:
        return fmt.NONE
    unit = metric.get("unit", "")
    if unit == "USD":
        return fmt.money(value)
    if unit == "fraction":
        return fmt.percent(value)
    if unit == "tokens":
        return f"{fmt.count(int(value))} tokens"
    return f"{fmt.number(value)} {unit}".strip()


def to_csv(document: dict[str, Any]) -> str:
    """Model, kind, overall score and rank, then per metric its raw value, score and rank."""
    out = io.StringIO()
    writer = csv.writer(out)
    metrics = document.get("metrics", [])
    header = ["model_id", "model", "kind", "overall_score", "overall_rank"]
    confidence = confidence_of(document)
    if confidence:
        header += ["p_first", "rank_low", "rank_high"]
    for m in metrics:
        header += [f"{m['key']}_value", f"{m['key']}_score", f"{m['key']}_rank"]
    writer.writerow(header)
    for model in document.get("models", []):
        model_id = model["modelId"]
        ranks = document["rankings"].get(model_id, {})
        row = [model_id, model["modelName"], model.get("kind", ""), model["overallScore"], ranks.get("overall")]
        if confidence:
            entry = confidence.get(model_id) or {}
            interval = entry.get("rankInterval") or [None, None]
            row += [entry.get("probabilityFirst"), *interval]
        for m in metrics:
            row += [m.get("values", {}).get(model_id), m["scores"].get(model_id), ranks.get(m["key"])]
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False)
