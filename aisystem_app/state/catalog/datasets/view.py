"""The service's dataset documents in words and small DTOs for the pages, and the profile's figures.

Everything shown is computed by the service; this module only formats it. Values from the data
(column names, categories) stay plain text: Reflex renders them as text, and figures get them
HTML-escaped because plotly reads a subset of HTML in its labels.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.components.charts import stacked_bars
from aisystem_app.components.facts import Fact
from aisystem_app.components.gauges import gauge_figure
from aisystem_app.state.catalog.datasets.forms import describe_step
from backend.catalog.datasets.rows import CELL_CHARS, UNSORTABLE, RowsPage

NONE = fmt.NONE
TYPE_ICONS = {"tabular": "table", "text": "file-text", "image": "image", "audio": "audio-lines"}
QUALITY_KEYS = (("overall", "Overall"), ("completeness", "Completeness"), ("validity", "Validity"),
                ("consistency", "Consistency"), ("accuracy", "Accuracy"))
BAR_COLOR = {"rows": "#3e63dd"}
OPERATION_LABELS = {"upload": "Uploaded", "transform": "Transformed", "restore": "Restored"}


# --- words ---------------------------------------------------------------------------------------------


def quality_color(overall: float | None) -> str:
    """The badge colour of an overall quality score."""
    if overall is None:
        return "gray"
    return "green" if overall >= 0.9 else "amber" if overall >= 0.75 else "red"


def plot_text(value: Any) -> str:
    """A value as a plotly label: shown as typed, never read as markup."""
    return html.escape(str(value), quote=False)


# --- the list ----------------------------------------------------------------------------------------


def list_row(doc: dict[str, Any]) -> dict[str, str]:
    """One dataset as the list shows it (text only)."""
    quality = (doc.get("quality") or {}).get("overall")
    return {
        "id": doc["id"],
        "href": dataset_href(doc["id"]),
        "name": doc["name"],
        "description": doc.get("description") or "",
        "type": doc["type"],
        "type_label": fmt.label(doc["type"]),
        "size": fmt.size(doc.get("size")) if doc.get("version") else NONE,
        "size_sort": f"{doc.get('size') or 0:020d}",
        "versions": str(doc.get("version") or 0),
        "records": fmt.count(doc.get("recordCount")) if doc.get("version") else NONE,
        "quality": fmt.percent(quality, 0) if quality is not None else "not profiled",
        "quality_color": quality_color(quality),
        "updated": fmt.moment(doc.get("updatedAt")),
    }


def dataset_href(dataset_id: str) -> str:
    return routes.DATASETS + "/" + dataset_id


# --- the detail page -------------------------------------------------------------------------------


@dataclass
class FieldView:
    """A column of the schema."""

    name: str = ""
    type: str = ""
    dtype: str = ""
    nullable: str = ""
    categories: str = ""


@dataclass
class ColumnView:
    """A column's profile in one line, and whether it has a chart."""

    name: str = ""
    type: str = ""
    nulls: str = ""
    distinct: str = ""
    summary: str = ""
    chart: str = ""  # "histogram" | "top values" | ""


@dataclass
class ScoreView:
    """One quality score with its formula."""

    key: str = ""
    label: str = ""
    value: str = ""
    formula: str = ""


@dataclass
class RuleView:
    """One validation rule's result."""

    rule: str = ""
    column: str = ""
    passed: bool = False
    failing: str = ""
    detail: str = ""


@dataclass
class VersionView:
    """A version and how it came to be (its lineage)."""

    number: int = 0
    label: str = ""
    operation: str = ""
    origin: str = ""
    records: str = ""
    columns: str = ""
    size: str = ""
    created: str = ""
    message: str = ""
    steps: list[str] = field(default_factory=list)
    split: str = ""
    current: bool = False


@dataclass
class AccessView:
    subject_type: str = ""
    subject: str = ""
    subject_label: str = ""
    permission: str = ""
    granted_by: str = ""
    granted: str = ""


def overview_facts(doc: dict[str, Any], owner: str) -> list[Fact]:
    """The dataset document's descriptive and storage facts."""
    meta, privacy, storage = doc.get("metadata") or {}, doc.get("privacy") or {}, doc.get("storage") or {}
    pii = privacy.get("containsPII")
    facts = [
        ("Type", fmt.label(doc["type"])), ("Format", doc.get("format")), ("Status", doc.get("status") and fmt.label(doc["status"])),
        ("Owner", owner), ("Label column", doc.get("labelColumn")),
        ("Source", meta.get("source")), ("Tags", ", ".join(meta.get("tags") or [])),
        ("Languages", ", ".join(meta.get("languages") or [])),
        ("Contains personal data", NONE if pii is None else "yes" if pii else "no"),
        ("Anonymized", "yes" if privacy.get("anonymized") else "no"),
        ("Storage", storage.get("location")), ("Compression", storage.get("compression")),
        ("Created", fmt.moment(doc.get("createdAt"))), ("Updated", fmt.moment(doc.get("updatedAt"))),
    ]
    return [Fact(label, str(value)) for label, value in facts if value not in (None, "")]


def split_label(split: dict[str, Any] | None) -> str:
    """`train 70% (105) · validation 15% (23) · test 15% (22), stratified by label, seed 42`."""
    if not split:
        return ""
    counts = split.get("counts") or {}
    parts = [f"{name} {fmt.percent(split.get(name, 0), 0)} ({fmt.count(counts.get(name, 0))})" for name in ("train", "validation", "test")]
    how = f", stratified by {split['stratifyBy']}" if split.get("stratifyBy") else ""
    return " · ".join(parts) + how + f", seed {split.get('seed')}"


def field_view(item: dict[str, Any]) -> FieldView:
    return FieldView(str(item.get("name", "")), str(item.get("type", "")), str(item.get("dtype", "")),
                     "yes" if item.get("nullable") else "no", ", ".join(str(v) for v in item.get("values") or []))


def column_summary(info: dict[str, Any]) -> str:
    """The figures that matter for a column's type, in one line."""
    kind = info.get("type")
    if kind in ("integer", "float"):
        return (f"min {fmt.number(info.get('min'))} · mean {fmt.number(info.get('mean'))} · "
                f"max {fmt.number(info.get('max'))} · {fmt.number(info.get('outliers'))} outliers")
    if kind == "string":
        top = (info.get("topValues") or [{}])[0]
        most = f" · most common: {top.get('value')} ({fmt.number(top.get('count'))})" if top else ""
        return f"length {fmt.number(info.get('minLength'))}–{fmt.number(info.get('maxLength'))}{most}"
    if kind in ("date", "datetime"):
        return f"{info.get('min')} – {info.get('max')}"
    if kind == "boolean":
        return f"true {fmt.percent(info.get('trueShare'))}"
    if kind == "binary":
        return f"{fmt.number(info.get('minBytes'))}–{fmt.number(info.get('maxBytes'))} bytes"
    return ""


def type_text(kind: str, dtype: str | None) -> str:
    """`integer (Int32)`; just `string` where the stored type says the same (`String`)."""
    return kind if not dtype or dtype.lower() == kind.lower() else f"{kind} ({dtype})"


def first_column_to_show(profile: dict[str, Any]) -> str:
    """The column whose chart opens the profile: the first that is not a unique key (an ID column's
    histogram is flat and says nothing), else the first."""
    columns, rows = profile.get("columns") or {}, profile.get("rows")
    telling = (name for name, info in columns.items() if not (rows and info.get("distinct") == rows))
    return next(telling, next(iter(columns), ""))


def chart_kind(info: dict[str, Any]) -> str:
    if info.get("histogram") and info["histogram"].get("counts"):
        return "histogram"
    return "top values" if info.get("topValues") else ""


def column_views(profile: dict[str, Any]) -> list[ColumnView]:
    return [ColumnView(name, str(info.get("type", "")), fmt.percent(info.get("nullShare")),
                       fmt.count(info.get("distinct")), column_summary(info), chart_kind(info))
            for name, info in (profile.get("columns") or {}).items()]


def bin_labels(edges: list[float], *, integers: bool = False) -> list[str]:
    """A label per histogram bin `[lo, hi)` (the last closed). An integer column's bins say which whole
    numbers they hold (`151–300`, not `150.9–300.9`) when each bin is at least 1 wide."""
    pairs = list(zip(edges, edges[1:], strict=False))
    if not (integers and pairs and all(hi - lo >= 1 for lo, hi in pairs)):
        return [f"{fmt.number(lo)}–{fmt.number(hi)}" for lo, hi in pairs]
    labels = []
    for i, (lo, hi) in enumerate(pairs):
        first, last = math.ceil(lo), math.floor(hi) if i == len(pairs) - 1 else math.ceil(hi) - 1
        labels.append(fmt.count(first) if first == last else f"{fmt.count(first)}–{fmt.count(last)}")
    return labels


def column_figure(info: dict[str, Any], name: str = "") -> go.Figure:
    """A column's histogram (numbers) or its most frequent values (text, few-valued numbers)."""
    if chart_kind(info) == "histogram":
        edges, counts = info["histogram"]["edges"], info["histogram"]["counts"]
        labels = bin_labels(edges, integers=info.get("type") == "integer")
        figure = stacked_bars(labels or [fmt.number(edges[0])], {"rows": counts}, BAR_COLOR)
    else:
        top = info.get("topValues") or []
        figure = stacked_bars([plot_text(item.get("value")) for item in top],
                              {"rows": [item.get("count", 0) for item in top]}, BAR_COLOR)
    figure.update_layout(height=280, showlegend=False, hovermode="closest", bargap=0.05)
    values = html.escape(name) if name else "Value"
    figure.update_xaxes(type="category", title_text=f"{values} (range)" if chart_kind(info) == "histogram" else values)
    figure.update_yaxes(title_text="Rows")
    return figure


def score_views(quality: dict[str, Any] | None, formulas: dict[str, str]) -> list[ScoreView]:
    """The quality scores with their formulas (empty when the version was not profiled)."""
    if not quality:
        return []
    return [ScoreView(key, label, fmt.percent(quality.get(key)), formulas.get(key, ""))
            for key, label in QUALITY_KEYS]


def quality_figure(quality: dict[str, Any] | None) -> list[go.Figure]:
    """A gauge per quality score, each its own figure titled with the score's name (the page lays them
    out in a grid that wraps on narrow screens); none when the version was not profiled."""
    if not quality:
        return []
    return [gauge_figure(label, None if quality.get(key) is None else quality[key] * 100)
            for key, label in QUALITY_KEYS]


def quality_facts(details: dict[str, Any]) -> list[Fact]:
    names = (("cells", "Cells"), ("nullCells", "Missing cells"), ("invalidCells", "Invalid cells"),
             ("inconsistentTextCells", "Inconsistent text cells"), ("duplicateRows", "Duplicate rows"),
             ("outlierCells", "Outlier cells"))
    return [Fact(label, fmt.number(details.get(key))) for key, label in names if key in details]


def rule_views(report: dict[str, Any]) -> list[RuleView]:
    views = []
    for result in report.get("results", []):
        examples = "; ".join(", ".join(f"{k}={v}" for k, v in example.items())
                             for example in (result.get("examples") or [])[:3])
        detail = result.get("message") or (f"e.g. {examples}" if examples else "")
        views.append(RuleView(str(result.get("rule", "")), str(result.get("column") or ""), bool(result.get("passed")),
                              fmt.count(result.get("failingRows")), detail[:500]))
    return views


def version_view(doc: dict[str, Any], current: int | None) -> VersionView:
    """A version with its origin: an upload of a file, or a transform/restore of a parent version."""
    operation = doc.get("operation", "")
    parent = doc.get("parentVersion")
    if operation == "upload":
        source = doc.get("sourceFilename") or "a file"
        origin = f"Uploaded {source} ({doc.get('sourceFormat')})"
    else:
        origin = f"{OPERATION_LABELS.get(operation, fmt.label(operation))} from v{parent}"
    return VersionView(
        number=doc["version"], label=f"v{doc['version']}", operation=operation, origin=origin,
        records=fmt.count(doc.get("recordCount")), columns=fmt.count(doc.get("columnCount")),
        size=fmt.size(doc.get("size")), created=fmt.moment(doc.get("createdAt")), message=doc.get("message") or "",
        steps=[describe_step(step) for step in doc.get("steps") or []], split=split_label(doc.get("splits")),
        current=doc["version"] == current,
    )


# --- the data viewer ---------------------------------------------------------------------------------

DOWNLOAD_LABELS = {"parquet": "Parquet", "csv": "CSV", "jsonl": "JSON Lines"}
NUMERIC_KINDS = ("integer", "float")


@dataclass
class DataColumnView:
    """A column of the data viewer: its name, its type in words and how the rows are sorted by it."""

    name: str = ""
    type: str = ""
    sort: str = ""  # "ascending" | "descending" | ""
    sortable: bool = True
    numeric: bool = False


@dataclass
class CellView:
    """A cell as text; `null` marks a missing value (shown apart from an empty text)."""

    text: str = ""
    null: bool = False


@dataclass
class DataRowView:
    number: str = ""  # the row's position in the version, from 1
    cells: list[CellView] = field(default_factory=list)


def cell_text(value: Any, kind: str) -> CellView:
    """A cell as the viewer shows it: the value as the file holds it (numbers unrounded), a binary cell
    as its size, and missing values marked as such."""
    if value is None:
        return CellView("null", True)
    if kind == "binary":
        return CellView(f"binary, {fmt.size(value)}")
    if isinstance(value, bool):
        return CellView("true" if value else "false")
    if isinstance(value, float) and value != value:  # NaN: a value, not a missing one
        return CellView("NaN")
    return CellView(str(value))


def data_columns(page: RowsPage) -> list[DataColumnView]:
    """The page's columns with their sort state."""
    direction = "descending" if page.descending else "ascending"
    return [DataColumnView(c.name, fmt.label(c.type), direction if c.name == page.sort else "",
                           c.type not in UNSORTABLE, c.type in NUMERIC_KINDS) for c in page.columns]


def data_rows(page: RowsPage) -> list[DataRowView]:
    kinds = [c.type for c in page.columns]
    return [DataRowView(fmt.count(position + 1), [cell_text(v, k) for v, k in zip(values, kinds, strict=True)])
            for position, values in zip(page.positions, page.rows, strict=True)]


def data_summary(page: RowsPage, version: int, record_count: int) -> str:
    """`Rows 51–100 of 1,234 · v3`, with the filter's matches and the sort in words."""
    if page.total == 0:
        shown = "No rows match the filter" if page.filter else "The version has no rows"
    elif not page.rows:
        shown = f"No rows on this page: {fmt.plural(page.total, 'row')} in all"
    else:
        first, last = page.offset + 1, page.offset + len(page.rows)
        shown = f"Rows {fmt.count(first)}–{fmt.count(last)} of {fmt.count(page.total)}"
        if page.filter:
            shown += f" matching the filter ({fmt.count(record_count)} in v{version})"
    if page.sort:
        shown += f" · sorted by {page.sort}, {'descending' if page.descending else 'ascending'}"
    if page.truncated:
        shown += f" · {fmt.plural(page.truncated, 'long text')} cut at {fmt.count(CELL_CHARS)} characters"
    return shown
