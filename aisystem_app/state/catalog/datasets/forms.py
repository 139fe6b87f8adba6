"""The dataset forms in plain Python: what the user typed becomes the service's request models, or
per-field messages shown under the inputs. No Reflex here, so every rule is testable on its own."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from backend.catalog.datasets.schemas import (
    AccessEntry,
    DatasetCreate,
    ImportOptions,
    Rule,
    SplitRequest,
    Step,
)

# Transform steps offered by the builder: op -> (label, what the "columns" input means, what the
# "argument" input means); None hides the input.
STEP_OPS: dict[str, tuple[str, str | None, str | None]] = {
    "select": ("Keep columns", "Columns to keep", None),
    "drop": ("Drop columns", "Columns to drop", None),
    "rename": ("Rename a column", "Column", "New name"),
    "filter": ("Filter rows", None, "Expression, e.g. rating >= 3 and sentiment != \"neutral\""),
    "fill_null": ("Fill missing values", "Columns (empty: all)", "Value, or mean / median / min / max / zero"),
    "drop_nulls": ("Drop rows with missing values", "Columns (empty: any)", None),
    "deduplicate": ("Remove duplicate rows", "Columns (empty: whole rows)", None),
    "lowercase": ("Lowercase text", "Columns", None),
    "strip": ("Strip whitespace", "Columns", None),
    "cast": ("Change a column's type", "Column", "integer / float / string / boolean / date / datetime"),
    "sort": ("Sort rows", "Columns", "asc or desc"),
    "standardize": ("Standardize (z-score)", "Columns", None),
    "normalize": ("Normalize to 0–1", "Columns", None),
    "one_hot": ("One-hot encode", "Columns", None),
    "mask_pii": ("Mask personal data", "Columns", "redact or hash"),
}
FILL_STRATEGIES = ("forward", "backward", "mean", "median", "min", "max", "zero")

# Validation rules offered on the Quality tab: type -> (label, column input, argument input).
RULE_TYPES: dict[str, tuple[str, str | None, str | None]] = {
    "not_null": ("No missing values", "Column", None),
    "unique": ("Unique values", "Column", None),
    "range": ("Values in a range", "Column", "min..max, e.g. 0..100"),
    "allowed_values": ("Allowed values", "Column", "Values, comma-separated"),
    "regex": ("Matches a pattern", "Column", "Regular expression"),
    "row_count": ("Row count", None, "min..max, e.g. 100..1000000"),
    "expression": ("Every row satisfies", None, "Expression, e.g. age >= 0"),
}

_STEP = TypeAdapter(Step)
CAST_TYPES = ("integer", "float", "string", "boolean", "date", "datetime")
FRIENDLY = {"string_too_short": "Required", "too_short": "Name at least one column",
            "missing": "Required"}
MAX_TEXT = 2000


def columns_of(text: str) -> list[str]:
    """Column names typed comma-separated (blanks dropped, order kept)."""
    return [name.strip() for name in (text or "")[:MAX_TEXT * 4].split(",") if name.strip()]


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _fill_null(columns: list[str], argument: str) -> dict[str, Any]:
    step: dict[str, Any] = {"op": "fill_null", "columns": columns or None}
    if argument.lower() in FILL_STRATEGIES:
        step["strategy"] = argument.lower()
    elif argument:
        step["value"] = _number(argument)
    return step


def step_request(op: str, columns_text: str, argument: str) -> dict[str, Any]:
    """The step document the builder's three inputs describe (not yet validated)."""
    columns, argument = columns_of(columns_text), (argument or "").strip()[:MAX_TEXT]
    first = columns[0] if columns else ""
    builders = {
        "rename": lambda: {"op": op, "mapping": {first: argument} if first or argument else {}},
        "filter": lambda: {"op": op, "expression": argument},
        "fill_null": lambda: _fill_null(columns, argument),
        "drop_nulls": lambda: {"op": op, "columns": columns or None},
        "deduplicate": lambda: {"op": op, "columns": columns or None},
        "cast": lambda: {"op": op, "columns": {first: argument.lower()} if first else {}},
        "sort": lambda: {"op": op, "by": columns, "descending": argument.lower().startswith("desc")},
        "mask_pii": lambda: {"op": op, "columns": columns, "method": argument.lower() or "redact"},
    }
    return builders.get(op, lambda: {"op": op, "columns": columns})()


def _messages(error: ValidationError, inputs: dict[str, str], fallback: str) -> dict[str, str]:
    """pydantic's errors keyed by the form input they concern (`fallback` for the rest)."""
    problems: dict[str, str] = {}
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        name = next((inputs[part] for part in loc if part in inputs), fallback)
        problems.setdefault(name, FRIENDLY.get(item["type"], item["msg"].removeprefix("Value error, ")))
    return problems


STEP_INPUTS = {"columns": "columns", "by": "columns", "mapping": "columns", "expression": "argument",
               "value": "argument", "strategy": "argument", "method": "argument"}


def parse_step(op: str, columns_text: str, argument: str) -> tuple[dict[str, str], dict[str, Any] | None]:
    """A validated step, or messages for the `columns` / `argument` inputs."""
    if op not in STEP_OPS:
        return {"op": "Choose a step"}, None
    request = step_request(op, columns_text, argument)
    if op == "rename" and not (columns_of(columns_text) and argument):
        return {"columns" if not columns_of(columns_text) else "argument": "Name the column and its new name"}, None
    if op == "cast" and argument.strip().lower() not in CAST_TYPES:
        return {"argument": f"One of {', '.join(CAST_TYPES)}"}, None
    if op == "fill_null" and not argument:
        return {"argument": "Give a value or a strategy"}, None
    try:
        step = _STEP.validate_python(request)
    except ValidationError as error:
        return _messages(error, STEP_INPUTS, "argument"), None
    return {}, step.model_dump(by_alias=True, exclude_none=True)


def describe_step(step: dict[str, Any]) -> str:
    """One line saying what a recorded step does (for the builder and the lineage)."""
    op = str(step.get("op", ""))
    label = STEP_OPS.get(op, (op,))[0]
    detail = ""
    if "columns" in step and isinstance(step["columns"], list):
        detail = ", ".join(str(c) for c in step["columns"])
    elif "columns" in step and isinstance(step["columns"], dict):
        detail = ", ".join(f"{k} → {v}" for k, v in step["columns"].items())
    elif "mapping" in step:
        detail = ", ".join(f"{k} → {v}" for k, v in step["mapping"].items())
    elif "expression" in step:
        detail = str(step["expression"])
    elif "by" in step:
        detail = ", ".join(str(c) for c in step["by"]) + (" (descending)" if step.get("descending") else "")
    extra = step.get("strategy") or step.get("value") or (step.get("method") if op == "mask_pii" else None)
    if extra is not None and op != "filter":
        detail = f"{detail} with {extra}" if detail else f"with {extra}"
    return f"{label}: {detail}" if detail else label


def _bounds(text: str) -> tuple[float | None, float | None]:
    low, _sep, high = text.partition("..")
    def value(part: str) -> float | None:
        return float(part) if part.strip() else None
    return value(low), value(high)


def parse_rule(kind: str, column: str, argument: str) -> tuple[dict[str, str], dict[str, Any] | None]:
    """A validated validation rule, or messages for the `column` / `argument` inputs."""
    if kind not in RULE_TYPES:
        return {"kind": "Choose a rule"}, None
    column, argument = (column or "").strip()[:256], (argument or "").strip()[:MAX_TEXT]
    if RULE_TYPES[kind][1] and not column:
        return {"column": "Choose a column"}, None
    rule: dict[str, Any] = {"type": kind}
    if RULE_TYPES[kind][1]:
        rule["column"] = column or None
    try:
        if kind in ("range", "row_count"):
            rule["min"], rule["max"] = _bounds(argument)
    except ValueError:
        return {"argument": "Write the bounds as min..max with numbers"}, None
    if kind == "allowed_values":
        rule["values"] = [_number(v) for v in columns_of(argument)] or None
    elif kind == "regex":
        rule["pattern"] = argument or None
    elif kind == "expression":
        rule["expression"] = argument or None
    try:
        parsed = Rule.model_validate(rule)
    except ValidationError as error:
        return _messages(error, {"column": "column"}, "argument" if RULE_TYPES[kind][2] else "column"), None
    return {}, parsed.model_dump(by_alias=True, exclude_none=True)


def _parsed(model: type[BaseModel], data: dict[str, Any], inputs: dict[str, str],
            fallback: str) -> tuple[dict[str, str], Any]:
    try:
        return {}, model.model_validate(data)
    except ValidationError as error:
        return _messages(error, inputs, fallback), None


def parse_split(form: dict[str, Any]) -> tuple[dict[str, str], SplitRequest | None]:
    """The split dialog's request: ratios that sum to 1, an optional stratify column, a seed."""
    problems: dict[str, str] = {}
    numbers: dict[str, float | int] = {}
    for name, kind in (("train", float), ("validation", float), ("test", float), ("seed", int)):
        text = str(form.get(name, "") or ("0" if name == "validation" else "")).strip()
        try:
            numbers[name] = kind(text)
        except ValueError:
            problems[name] = "Enter a whole number" if kind is int else "Enter a number between 0 and 1"
    if problems:
        return problems, None
    stratify = str(form.get("stratify_by", "") or "").strip()
    data = {**numbers, "stratifyBy": stratify if stratify and stratify != NO_STRATIFY else None}
    return _parsed(SplitRequest, data, {"train": "train", "validation": "validation", "test": "test",
                                        "seed": "seed", "stratifyBy": "stratify_by"}, "ratios")


NO_STRATIFY = "(none)"


def parse_create(form: dict[str, Any]) -> tuple[dict[str, str], DatasetCreate | None]:
    """The create-dataset form as the service's model, or a message per field."""
    label = str(form.get("label_column", "") or "").strip()
    data = {
        "name": str(form.get("name", "") or "").strip(),
        "type": str(form.get("type", "") or "tabular"),
        "description": str(form.get("description", "") or "").strip(),
        "labelColumn": label or None,
        "metadata": {"tags": columns_of(str(form.get("tags", "") or "")),
                     "source": str(form.get("source", "") or "").strip() or None},
    }
    problems, model = _parsed(DatasetCreate, data, {"name": "name", "type": "type", "description": "description",
                                                    "labelColumn": "label_column", "tags": "tags",
                                                    "source": "source"}, "name")
    if not data["name"]:
        problems["name"] = "Give the dataset a name"
    return problems, model if not problems else None


def parse_share(form: dict[str, Any]) -> tuple[dict[str, str], AccessEntry | None]:
    """A share entry (the subject as typed; usernames are resolved by the caller)."""
    data = {"subjectType": str(form.get("subject_type", "") or "role"),
            "subject": str(form.get("subject", "") or "").strip()[:200],
            "permission": str(form.get("permission", "") or "read")}
    return _parsed(AccessEntry, data, {"subject": "subject", "subjectType": "subject_type",
                                       "permission": "permission"}, "subject")


# --- import options (the upload dialog) ----------------------------------------------------------------

# Choices offered by the dialog: value -> label. "detect" leaves the setting to the import.
HEADER_CHOICES = {"detect": "Detect", "yes": "Yes: the first row names the columns", "no": "No header row"}
SEPARATOR_CHOICES = {"detect": "Detect", ",": "Comma ( , )", ";": "Semicolon ( ; )", "\t": "Tab",
                     "|": "Pipe ( | )", "whitespace": "Spaces or tabs (aligned columns)"}
ENCODING_CHOICES = {"detect": "Detect", "utf-8": "UTF-8", "cp1252": "Windows-1252 (Western European)",
                    "iso8859-1": "Latin-1 (ISO-8859-1)", "utf-16": "UTF-16 (Excel Unicode text)",
                    "cp1250": "Windows-1250 (Central European)", "cp1251": "Windows-1251 (Cyrillic)",
                    "iso8859-15": "Latin-9 (ISO-8859-15)", "mac-roman": "Mac Roman", "shift_jis": "Shift JIS"}
COMMENT_CHOICES = {"detect": "Detect (#)", "none": "None", "#": "#", "%": "%", "!": "!"}
SHORT_ROW_CHOICES = {"refuse": "Refuse the file", "pad": "Pad with missing values"}
IMPORT_DEFAULTS = {"header": "detect", "header_row": "1", "header_rows": "1", "skip_rows": "0", "comment": "detect",
                   "separator": "detect", "encoding": "detect", "short_rows": "refuse", "na_extra": ""}
IMPORT_KEYS = (*IMPORT_DEFAULTS, "form")
NA_LABELS = {"": "(empty cell)"}
_OPTION_INPUTS = {"header": "header", "headerRow": "header_row", "headerRows": "header_rows",
                  "skipRows": "skip_rows", "commentChar": "comment", "separator": "separator",
                  "encoding": "encoding", "shortRows": "short_rows", "naValues": "na_extra"}


def _whole(text: str, name: str, low: int, problems: dict[str, str]) -> int | None:
    try:
        value = int(str(text).strip() or str(low))
    except ValueError:
        problems[name] = f"Enter a whole number from {low}"
        return None
    if value < low:
        problems[name] = f"Enter a whole number from {low}"
    return value


def parse_import_options(values: dict[str, str], tokens: list[str]) -> tuple[dict[str, str], ImportOptions | None]:
    """The dialog's choices as the service's ImportOptions, or a message per input. `tokens` are the
    missing-value tokens ticked; `na_extra` adds more, comma-separated."""
    problems: dict[str, str] = {}
    form = IMPORT_DEFAULTS | {k: str(v) for k, v in values.items() if k in IMPORT_DEFAULTS}
    extra = [t.strip() for t in form["na_extra"].split(",") if t.strip()]
    data: dict[str, Any] = {
        "header": {"yes": True, "no": False}.get(form["header"]),
        "headerRow": _whole(form["header_row"], "header_row", 1, problems),
        "headerRows": _whole(form["header_rows"], "header_rows", 1, problems),
        "skipRows": _whole(form["skip_rows"], "skip_rows", 0, problems),
        "commentChar": None if form["comment"] == "detect" else "" if form["comment"] == "none" else form["comment"],
        "separator": None if form["separator"] == "detect" else form["separator"],
        "encoding": None if form["encoding"] == "detect" else form["encoding"],
        "shortRows": form["short_rows"],
        "naValues": list(dict.fromkeys([*tokens, *extra])),
    }
    if problems:
        return problems, None
    problems, model = _parsed(ImportOptions, data, _OPTION_INPUTS, "form")
    return problems, model


def options_form(options: dict[str, Any]) -> dict[str, str]:
    """The dialog's choices for options as the service reports them (what was detected filled in)."""
    header = options.get("header")
    comment = options.get("commentChar")
    separator = options.get("separator")
    encoding = options.get("encoding")
    return IMPORT_DEFAULTS | {
        "header": "detect" if header is None else "yes" if header else "no",
        "header_row": str(options.get("headerRow", 1)), "header_rows": str(options.get("headerRows", 1)),
        "skip_rows": str(options.get("skipRows", 0)),
        "comment": "detect" if comment is None else "none" if comment == "" else comment,
        "separator": separator if separator in SEPARATOR_CHOICES else "detect",
        "encoding": encoding if encoding in ENCODING_CHOICES else "detect",
        "short_rows": options.get("shortRows", "refuse"),
    }
