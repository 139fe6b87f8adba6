"""Wire documents of the dataset catalog (the design's "Dataset" shape), transform steps and rules."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from backend.core.schemas import InputModel, ReadModel, UtcDateTime

DatasetType = Literal["text", "image", "audio", "tabular"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _plain_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


PlainName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_plain_text)]
Tag = Annotated[str, Field(min_length=1, max_length=50), AfterValidator(_plain_text)]
ColumnName = Annotated[str, Field(min_length=1, max_length=256)]


# --- the Dataset document --------------------------------------------------------------------------


class SchemaField(ReadModel):
    name: str
    type: str = Field(description="integer | float | boolean | string | date | datetime | time | duration | "
                                  "binary | list | struct | null")
    dtype: str = Field(description="The exact polars data type")
    nullable: bool
    values: list[str] | None = Field(default=None, description="The distinct values of a low-cardinality column")


class DatasetSchema(ReadModel):
    fields: list[SchemaField] = Field(default_factory=list)


class Statistics(ReadModel):
    null_values: float = Field(description="Null cells / all cells")
    duplicates: float = Field(description="Rows repeating an earlier row / rows")
    outliers: float = Field(description="IQR outlier cells / finite numeric cells")
    class_distribution: dict[str, float] | None = Field(default=None, description="Shares of the label column")


class Quality(ReadModel):
    completeness: float
    consistency: float
    accuracy: float
    validity: float
    overall: float


class Splits(ReadModel):
    train: float
    validation: float
    test: float
    seed: int | None = None
    stratify_by: str | None = None
    counts: dict[str, int] | None = None


class Privacy(ReadModel):
    contains_pii: bool | None = Field(default=None, alias="containsPII", description="null until an analysis ran")
    anonymized: bool
    encryption_type: str
    compliance: list[str]


class Storage(ReadModel):
    location: str
    compression: str
    partitioning: str
    retention: str | None


class DescriptiveMetadata(InputModel):
    source: str | None = Field(default=None, max_length=500)
    collection_period: str | None = Field(default=None, max_length=100, alias="collection_period")
    languages: list[Annotated[str, Field(min_length=1, max_length=20)]] = Field(default_factory=list, max_length=50)
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class DatasetRead(ReadModel):
    id: str
    name: str
    description: str
    type: str
    format: str | None
    size: int
    record_count: int
    version: int | None
    status: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    created_by: str
    label_column: str | None = None
    schema_: DatasetSchema = Field(alias="schema")
    statistics: Statistics | None = None
    quality: Quality | None = None
    splits: Splits | None = None
    privacy: Privacy
    storage: Storage | None
    metadata: DescriptiveMetadata
    access: Literal["owner", "write", "read", "admin"] = Field(description="What the caller may do")


class DatasetCreate(InputModel):
    name: PlainName
    type: DatasetType
    description: str = Field(default="", max_length=5000)
    label_column: ColumnName | None = None
    metadata: DescriptiveMetadata = Field(default_factory=DescriptiveMetadata)
    compliance: list[Tag] = Field(default_factory=list, max_length=20)
    retention: str | None = Field(default=None, max_length=80)


class DatasetUpdate(InputModel):
    name: PlainName | None = None
    type: DatasetType | None = None
    description: str | None = Field(default=None, max_length=5000)
    label_column: ColumnName | None = None
    metadata: DescriptiveMetadata | None = None
    compliance: list[Tag] | None = Field(default=None, max_length=20)
    retention: str | None = Field(default=None, max_length=80)


# --- versions ------------------------------------------------------------------------------------


class VersionRead(ReadModel):
    version: int
    id: str
    dataset_id: str
    sha256: str = Field(description="sha256 of the stored Parquet file")
    source_sha256: str | None = Field(description="sha256 of the uploaded bytes")
    size: int
    record_count: int
    column_count: int
    source_format: str
    source_filename: str | None
    source_encoding: str | None
    source_compression: str | None = Field(default=None, description="gzip | bzip2 | zstd | zip when the upload "
                                                                     "was compressed")
    source_dialect: dict[str, Any] | None = Field(default=None, description=(
        "What the import found: separator, quoteChar, header, encoding (each with `…Guessed` when detected), "
        "nullValue (the file's missing-value token) and formats (how booleans, dates and times were written); "
        "CSV downloads write values back in these formats"))
    import_options: dict[str, Any] | None = Field(default=None, description="The import options in effect "
                                                                            "(detected values filled in)")
    import_warnings: list[str] = Field(default_factory=list, description="What to check about how the file was read")
    original_available: bool = Field(default=False, description="The uploaded bytes are kept: "
                                                                "`download?format=original` returns them")
    parent_version: int | None
    operation: str
    steps: list[dict[str, Any]] | None
    message: str | None
    schema_: DatasetSchema = Field(alias="schema")
    splits: Splits | None
    contains_pii: bool | None = Field(alias="containsPII")
    anonymized: bool
    analysis: dict[str, Any] | None = None
    created_at: UtcDateTime
    created_by: str


class VersionCreate(InputModel):
    from_version: int = Field(ge=1, description="Make a new version with the content of this one")
    message: str | None = Field(default=None, max_length=500)


class UploadResult(ReadModel):
    duplicate: bool = Field(description="True when these exact bytes were uploaded before: no new version")
    message: str
    version: VersionRead
    warnings: list[str] = Field(default_factory=list, description="What to check about how the file was read "
                                                                  "(guessed encoding, one column from a multi-word "
                                                                  "header, a text column with a stray token...)")


# --- import options and preview ------------------------------------------------------------------

DEFAULT_NA_VALUES = ("", "NA", "N/A", "NaN", "null", "None")
OFFERED_NA_VALUES = (*DEFAULT_NA_VALUES, "?", "-", "n/a", "NULL", "#N/A", "nan")
SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": "whitespace"}


def _na_token(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


def _separator(value: str | None) -> str | None:
    if value is None:
        return None
    value = SEPARATOR_NAMES.get(value.lower() if len(value) > 1 else value, value)
    if value == "whitespace":
        return value
    if len(value) != 1 or not (value == "\t" or (value.isascii() and value.isprintable())) or value.isalnum() \
            or value in ('"', "'", "\n", "\r", "."):
        raise ValueError("one character such as , ; | or tab (not a letter, digit, quote or dot), or 'whitespace'")
    return value


def _comment(value: str | None) -> str | None:
    if value is None or value == "":
        return value  # "": no comment lines (null detects `#` comment lines)
    if len(value) != 1 or not value.isascii() or not value.isprintable() or value.isalnum() or value.isspace() \
            or value in ('"', "'"):
        raise ValueError("one character such as # or % (not a letter, digit, space or quote)")
    return value


def _encoding_name(value: str | None) -> str | None:
    import codecs

    if value is None:
        return None
    try:
        info = codecs.lookup(value)
    except LookupError:
        raise ValueError("not a text encoding this server knows (e.g. utf-8, cp1252, latin-1, utf-16)") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError("not a text encoding (e.g. utf-8, cp1252, latin-1, utf-16)")
    return info.name


NaToken = Annotated[str, Field(max_length=50), AfterValidator(_na_token)]


class ImportOptions(InputModel):
    """How to read a text file (CSV/TSV); what is left null is detected and reported as guessed."""

    header: bool | None = Field(default=None, description="Whether a header row names the columns; null: detect "
                                                          "(a first row of numbers only is data)")
    header_row: int = Field(default=1, ge=1, le=1000, description="Which row holds the names, counted after "
                                                                  "`skipRows`, blank and comment lines; the rows "
                                                                  "above it are skipped")
    header_rows: int = Field(default=1, ge=1, le=10, description="How many rows the header spans (their names are "
                                                                 "joined with a space)")
    skip_rows: int = Field(default=0, ge=0, le=100_000, description="Lines skipped at the top of the file")
    comment_char: Annotated[str | None, AfterValidator(_comment)] = Field(
        default=None, description="Lines starting with this character are skipped, e.g. `#`; `\"\"`: none; "
                                  "null: detect `#` comment lines")
    na_values: list[NaToken] = Field(default_factory=lambda: list(DEFAULT_NA_VALUES), max_length=50,
                                     description="Cells equal to one of these are missing (null); `\"\"` is an "
                                                 "empty cell. Also offered: " + ", ".join(
                                                     f"`{t}`" for t in OFFERED_NA_VALUES if t not in DEFAULT_NA_VALUES))
    separator: Annotated[str | None, AfterValidator(_separator)] = Field(
        default=None, max_length=12, description="One character (`,` `;` `|`, `tab`), or `whitespace` for columns "
                                                 "separated by runs of spaces or tabs; null: detect")
    encoding: Annotated[str | None, AfterValidator(_encoding_name)] = Field(
        default=None, max_length=40, description="The text encoding (utf-8, cp1252, latin-1, utf-16...); null: "
                                                 "detect (a BOM, then UTF-8, then a guess)")
    short_rows: Literal["refuse", "pad"] = Field(default="refuse", description="Rows with fewer fields than the "
                                                                              "header: refuse the file, or pad "
                                                                              "them with nulls")

    @model_validator(mode="after")
    def _coherent(self) -> ImportOptions:
        if self.header is False and self.header_rows > 1:
            raise ValueError("headerRows needs header: a file without a header has no header rows")
        if self.separator and self.comment_char and self.separator == self.comment_char:
            raise ValueError("the separator and the comment character must differ")
        self.na_values = list(dict.fromkeys(self.na_values))
        return self


class PreviewColumn(ReadModel):
    name: str
    type: str = Field(description="integer | float | boolean | string | date | datetime | time | ...")
    dtype: str = Field(description="The exact polars data type")
    null_count: int = Field(description="Missing values among the sampled rows")


class PreviewResult(ReadModel):
    """What an upload would become, read from the file's beginning; nothing is stored."""

    format: str = Field(description="csv | tsv | parquet | json | jsonl")
    compression: str | None = Field(description="gzip | bzip2 | zstd | zip, or null")
    encoding: str | None = Field(description="The text encoding (a Python codec name)")
    encoding_guessed: bool
    encoding_alternatives: list[str] = Field(default_factory=list)
    dialect: dict[str, Any] | None = Field(description="Separator, quoting, header... and which were guessed "
                                                       "(text files only)")
    options: dict[str, Any] = Field(description="The import options in effect, detected values filled in")
    columns: list[PreviewColumn]
    rows: list[list[Any]] = Field(description="The first rows, one cell per column")
    sample_rows: int = Field(description="Rows the types and null counts were inferred from")
    complete: bool = Field(description="Whether the whole file fitted in the preview")
    missing_values: dict[str, int] = Field(description="Cells of the sample holding each missing-value token "
                                                       "(\"\" is empty cells)")
    warnings: list[str]
    problem: str | None = Field(description="Why the rows could not be read with these options, if so")


# --- split ---------------------------------------------------------------------------------------


class SplitRequest(InputModel):
    train: float = Field(ge=0, le=1)
    validation: float = Field(default=0.0, ge=0, le=1)
    test: float = Field(ge=0, le=1)
    stratify_by: ColumnName | None = None
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    version: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitRequest:
        if abs(self.train + self.validation + self.test - 1.0) > 1e-6:
            raise ValueError("train + validation + test must sum to 1")
        if self.train <= 0:
            raise ValueError("train must be above 0")
        return self


# --- transform -----------------------------------------------------------------------------------

Columns = Annotated[list[ColumnName], Field(min_length=1, max_length=2000)]
CastType = Literal["integer", "float", "string", "boolean", "date", "datetime"]


class SelectStep(InputModel):
    op: Literal["select"]
    columns: Columns


class DropStep(InputModel):
    op: Literal["drop"]
    columns: Columns


class RenameStep(InputModel):
    op: Literal["rename"]
    mapping: dict[ColumnName, ColumnName] = Field(min_length=1, max_length=2000)


class CastStep(InputModel):
    op: Literal["cast"]
    columns: dict[ColumnName, CastType] = Field(min_length=1, max_length=2000)


class FilterStep(InputModel):
    op: Literal["filter"]
    expression: str = Field(min_length=1, max_length=2000)


class FillNullStep(InputModel):
    op: Literal["fill_null"]
    columns: Columns | None = None
    value: str | int | float | bool | None = None
    strategy: Literal["forward", "backward", "mean", "median", "min", "max", "zero"] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> FillNullStep:
        if (self.value is None) == (self.strategy is None):
            raise ValueError("give exactly one of value or strategy")
        return self


class DropNullsStep(InputModel):
    op: Literal["drop_nulls"]
    columns: Columns | None = None


class DeduplicateStep(InputModel):
    op: Literal["deduplicate"]
    columns: Columns | None = None
    keep: Literal["first", "last"] = "first"


class SampleStep(InputModel):
    op: Literal["sample"]
    n: int | None = Field(default=None, ge=1, le=10**9)
    fraction: float | None = Field(default=None, gt=0, le=1)
    seed: int = Field(default=42, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def _one_of(self) -> SampleStep:
        if (self.n is None) == (self.fraction is None):
            raise ValueError("give exactly one of n or fraction")
        return self


class SortStep(InputModel):
    op: Literal["sort"]
    by: Columns
    descending: bool = False


class NormalizeStep(InputModel):
    op: Literal["normalize"]
    columns: Columns


class StandardizeStep(InputModel):
    op: Literal["standardize"]
    columns: Columns


class OneHotStep(InputModel):
    op: Literal["one_hot"]
    columns: Columns
    drop_original: bool = True


class LowercaseStep(InputModel):
    op: Literal["lowercase"]
    columns: Columns


class StripStep(InputModel):
    op: Literal["strip"]
    columns: Columns


# A replacement's group references: `$1`, `$name`, `${name}` (`$$` is a literal dollar).
_REFERENCE = re.compile(r"\$\$|\$\{[^}]*\}|\$[_0-9A-Za-z]+")
MAX_REPLACEMENT_REFERENCES = 10


def replacement_references(replacement: str) -> int:
    return sum(1 for m in _REFERENCE.finditer(replacement) if m.group() != "$$")


def _few_references(replacement: str) -> str:
    # Each reference copies the match again: 250 of them over three steps made a 15.6 MB cell of one row.
    if replacement_references(replacement) > MAX_REPLACEMENT_REFERENCES:
        raise ValueError(f"at most {MAX_REPLACEMENT_REFERENCES} group references ($1, ${{name}}) are allowed")
    return replacement


class RegexReplaceStep(InputModel):
    op: Literal["regex_replace"]
    columns: Columns
    pattern: str = Field(min_length=1, max_length=500)
    replacement: Annotated[str, AfterValidator(_few_references)] = Field(
        default="", max_length=500,
        description=f"May copy groups ($1, ${{name}}), at most {MAX_REPLACEMENT_REFERENCES} times; "
                    "a step that could write a cell or a column over the platform's limits is refused (DATA_003).")


class MaskPiiStep(InputModel):
    op: Literal["mask_pii"]
    columns: Columns
    method: Literal["hash", "redact"] = "redact"


Step = Annotated[
    SelectStep | DropStep | RenameStep | CastStep | FilterStep | FillNullStep | DropNullsStep | DeduplicateStep
    | SampleStep | SortStep | NormalizeStep | StandardizeStep | OneHotStep | LowercaseStep | StripStep
    | RegexReplaceStep | MaskPiiStep,
    Field(discriminator="op"),
]


class TransformRequest(InputModel):
    steps: list[Step] = Field(min_length=1, max_length=100)
    version: int | None = Field(default=None, ge=1, description="The version to transform (default: newest)")
    message: str | None = Field(default=None, max_length=500)


# --- validate ------------------------------------------------------------------------------------

RuleType = Literal["schema", "not_null", "unique", "range", "allowed_values", "regex", "row_count", "expression"]


class Rule(InputModel):
    type: RuleType
    name: str | None = Field(default=None, max_length=100)
    column: ColumnName | None = None
    columns: list[ColumnName] | None = Field(default=None, max_length=2000)
    dtype: Literal["integer", "float", "string", "boolean", "date", "datetime"] | None = None
    min: float | None = None
    max: float | None = None
    values: list[str | int | float | bool] | None = Field(default=None, max_length=10000)
    pattern: str | None = Field(default=None, max_length=500)
    expression: str | None = Field(default=None, max_length=2000)
    schema_: dict[ColumnName, Literal["integer", "float", "string", "boolean", "date", "datetime"]] | None = Field(
        default=None, alias="schema", max_length=2000)

    @model_validator(mode="after")
    def _needs(self) -> Rule:
        needs = {
            "schema": ("schema_",), "not_null": ("column|columns",), "unique": ("column|columns",),
            "range": ("column", "min|max"), "allowed_values": ("column", "values"), "regex": ("column", "pattern"),
            "row_count": ("min|max",), "expression": ("expression",),
        }[self.type]
        for need in needs:
            if all(getattr(self, part) is None for part in need.split("|")):
                raise ValueError(f"a {self.type} rule needs {need.replace('|', ' or ').replace('schema_', 'schema')}")
        return self


class ValidateRequest(InputModel):
    rules: list[Rule] = Field(min_length=1, max_length=200)
    version: int | None = Field(default=None, ge=1)
    gate: bool = Field(default=False, description="Answer DATA_002 (422) when any rule fails")


class RuleResult(ReadModel):
    rule: str
    type: str
    column: str | None
    passed: bool
    failing_rows: int
    examples: list[dict[str, Any]]
    message: str | None = None


class ValidationReport(ReadModel):
    dataset_id: str
    version: int
    passed: bool
    rows: int
    engine: str
    results: list[RuleResult]


# --- analysis and sharing ------------------------------------------------------------------------


class AnalyzeRequest(InputModel):
    version: int | None = Field(default=None, ge=1)
    baseline_version: int | None = Field(default=None, ge=1, description="Compare for drift against this version")


class ProfileResponse(ReadModel):
    dataset_id: str
    version: int
    profile: dict[str, Any]


class StatisticsResponse(ReadModel):
    dataset_id: str
    version: int
    rows: int
    columns: int
    statistics: Statistics
    column_statistics: dict[str, Any]


class QualityResponse(ReadModel):
    dataset_id: str
    version: int
    quality: Quality
    formulas: dict[str, str]
    details: dict[str, Any]


# --- rows (the data viewer) --------------------------------------------------------------------------


class RowsColumn(ReadModel):
    name: str
    type: str = Field(description="integer | float | boolean | string | date | datetime | time | duration | "
                                  "binary | list | struct | null")
    dtype: str = Field(description="The exact polars data type")


class DataRow(ReadModel):
    row: int = Field(description="The row's position in the version (0-based), whatever the sort and filter")
    values: list[Any] = Field(description="One cell per column, in the order of `columns`")


class RowsPage(ReadModel):
    dataset_id: str
    version: int
    columns: list[RowsColumn]
    rows: list[DataRow]
    offset: int
    limit: int
    total_rows: int = Field(description="Rows that pass the filter (all the version's rows without one)")
    next_offset: int | None = Field(default=None, description="The offset of the next page; null on the last")
    sort: str | None = Field(default=None, description="The column sorted by; null in the file's order")
    descending: bool = False
    filter: str | None = None
    truncated_cells: int = Field(default=0, description="Cells on this page cut at 1,000 characters (they end in …)")


class AccessEntry(InputModel):
    subject_type: Literal["user", "role", "department"]
    subject: str = Field(min_length=1, max_length=80)
    permission: Literal["read", "write"] = "read"

    @field_validator("subject")
    @classmethod
    def _plain(cls, value: str) -> str:
        return _plain_text(value)


class AccessEntryRead(ReadModel):
    subject_type: str
    subject: str
    permission: str
    granted_by: str
    created_at: UtcDateTime


class AccessList(ReadModel):
    dataset_id: str
    owner: str
    entries: list[AccessEntryRead]


class AccessUpdate(InputModel):
    entries: list[AccessEntry] = Field(max_length=500)
