"""Turning an uploaded file into a Parquet (zstd) file: compression, format, encoding and CSV dialect
(sniffed, or as the import options say), structural checks (ragged rows, odd column names, too many
columns) and safe ZIP archives of media.

A tabular upload goes through `open_source` (see `sniffing`: unpacked, recognised, made UTF-8) and
`read_csv_plan` (skipped rows, comment lines, header rows), then polars reads it as a stream into
Parquet with the missing-value tokens of the import options. `preview` runs the same steps over the
file's beginning and answers what was found, the inferred types and the first rows, so a user can
correct a guess before any version is made.

Every function works on files in a staging folder (see storage.staging) and raises AISystemError
with a clear message; the caller removes the staging folder whatever happens.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import polars as pl

from backend.catalog.datasets import media, sniffing
from backend.catalog.datasets.profiling import clean, kind_of
from backend.catalog.datasets.schemas import ImportOptions
from backend.catalog.datasets.storage import StagedFile, Staging
from backend.core.artifacts.base import BIDI_CONTROLS
from backend.core.config import get_settings
from backend.core.errors import AISystemError

TABULAR_FORMATS = ("csv", "tsv", "parquet", "json", "jsonl")
MAX_COLUMNS = 2000
MAX_COLUMN_NAME = 256
MAX_ROWS = 500_000_000
MAX_JSON_ARRAY_BYTES = 512 * 1024 * 1024  # a JSON array is parsed whole; JSON Lines stream
PARQUET_MAX_RATIO = 1000  # in-memory size / file size, checked past PARQUET_RATIO_FLOOR (Parquet packs well)
PARQUET_RATIO_FLOOR = 64 * 1024 * 1024
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_RATIO = sniffing.MAX_RATIO  # uncompressed / compressed, per member (above 1 MiB) and for the whole archive
ZIP_UNPACKED_FACTOR = sniffing.UNPACKED_FACTOR  # an archive may unpack to at most 4 x the upload limit
PARQUET_BATCH_BYTES = 64 * 1024 * 1024
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
AUDIO_EXTENSIONS = (".wav", ".flac")
LABEL_FILES = ("labels.csv",)
PREVIEW_ROWS = 20
INFER_ROWS = 10_000  # types come from these rows first (from every row when a later value does not fit)
DATE_INFER_ROWS = 1_000  # dates are recognised on these (trying date patterns on every value is slow)
SAMPLE_ROWS = 2_000  # rows read as text and as typed values to learn the file's value formats
PREVIEW_BYTES = 8 * 1024 * 1024  # a preview unpacks and transcodes at most this much of a file
# polars' streaming CSV reader sizes its read-ahead from the file (~300 MB of buffers for a 250 MB
# file); 8 MiB chunks keep an upload's peak memory near 100 MB above the process's at the same speed.
os.environ.setdefault("POLARS_CSV_CHUNK_SIZE", str(8 * 1024 * 1024))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PATHS = re.compile(r"(?:/[\w.@+-]+){2,}/?")
FORMAT_LABELS = {"csv": "CSV", "tsv": "TSV", "parquet": "Parquet", "json": "JSON", "jsonl": "JSON Lines"}


def refuse(message: str, code: str = "DATA_002", **details: Any) -> AISystemError:
    return AISystemError(code, message, details)


@dataclass
class IngestResult:
    parquet: Path
    source_format: str
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)
    compression: str | None = None
    dialect: dict[str, Any] | None = None  # what was found: separator, quoting, header, value formats
    options: dict[str, Any] | None = None  # the import options in effect (detected values filled in)
    warnings: list[str] = field(default_factory=list)


# --- sniffing -----------------------------------------------------------------------------------


def detect_format(filename: str | None, head: bytes) -> str:
    """csv | tsv | parquet | json | jsonl | zip (| gzip | bzip2 | zstd), from the content first and the
    file name second; a binary file that is none of these is refused, naming what it looks like."""
    if head.startswith(b"PAR1"):
        return "parquet"
    compression = sniffing.compression_of(head)
    if compression is not None:
        return compression
    if not (sniffing.utf16_bom(head) or sniffing.utf16_without_bom(head)) and sniffing.looks_binary(head):
        raise sniffing.binary_refusal(head)
    return _text_format(filename, head.decode("utf-8", errors="ignore"))


def _text_format(filename: str | None, text: str) -> str:
    ext = PurePosixPath((filename or "").lower()).suffix
    stripped = text.lstrip("\ufeff \t\r\n")
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    if ext == ".json" or stripped[:1] in ("[", "{"):
        return "json" if stripped[:1] == "[" else "jsonl"
    if ext in (".tsv", ".tab"):
        return "tsv"
    return "csv"


def check_column_names(names: list[str]) -> None:
    """Refuse what no tool downstream handles well; quotes and any Unicode letters are fine."""
    if len(names) > MAX_COLUMNS:
        raise refuse(f"The data has {len(names)} columns; at most {MAX_COLUMNS} are supported",
                     columns=len(names), limit=MAX_COLUMNS)
    seen: set[str] = set()
    for index, name in enumerate(names):
        if not name or not name.strip():
            raise refuse(f"Column {index + 1} has no name", column=index + 1)
        if _CONTROL.search(name) or "\n" in name or "\r" in name or "\t" in name:
            raise refuse(f"Column {index + 1} has a name with a line break or control character", column=index + 1)
        if len(name) > MAX_COLUMN_NAME:
            raise refuse(f"Column {index + 1} has a name longer than {MAX_COLUMN_NAME} characters", column=index + 1)
        if name in seen:
            raise refuse(f"Column {index + 1} repeats the name of an earlier column", column=index + 1)
        seen.add(name)


@dataclass
class Source:
    """An upload made ready to read: unpacked, recognised and (for text) UTF-8."""

    path: Path
    fmt: str
    compression: str | None = None
    encoding: sniffing.Encoding | None = None
    complete: bool = True  # False when only the beginning was prepared (a preview)
    name: str | None = None
    head_text: str = ""
    dialect: sniffing.Dialect | None = None
    cr_newlines: bool = False
    comment: str | None = None  # the comment character in effect
    comment_guessed: bool = False


def _head(path: Path, size: int = 65536) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def open_source(staged: StagedFile, filename: str | None, options: ImportOptions, work: Staging, *,
                preview: bool = False) -> Source:
    """Unpack, recognise and decode a staged tabular upload (only its beginning when `preview`)."""
    path, head, name, complete, utf8 = staged.path, staged.head, filename, True, staged.utf8
    if staged.size == 0:
        raise refuse("The file is empty", code="DATA_004")
    compression = sniffing.compression_of(head)
    if compression is not None:
        unpacked = work.path("unpacked")
        inner, complete = sniffing.decompress(path, compression, unpacked, stop_after=PREVIEW_BYTES if preview else None)
        name = inner or sniffing.strip_compression_suffix(filename)
        path, head, utf8 = unpacked, _head(unpacked), None
        if sniffing.compression_of(head) is not None:
            raise refuse(f"The file is compressed twice ({compression} around {sniffing.compression_of(head)}); "
                         "unpack it once and upload that")
        if head.startswith(b"PAR1") and not complete:  # Parquet is read from its end: unpack all of it
            inner, complete = sniffing.decompress(staged.path, compression, unpacked)
    if head.startswith(b"PAR1"):
        source = Source(path, "parquet", compression, complete=complete, name=name)
        check_parquet_budget(path)
        return source
    wide = sniffing.utf16_bom(head) or sniffing.utf16_without_bom(head)
    if not wide and not options.encoding and sniffing.looks_binary(head):
        raise sniffing.binary_refusal(head)
    if utf8 is None and not wide and not options.encoding:
        utf8 = sniffing.is_utf8(path, partial=not complete)
    try:
        encoding = sniffing.detect_encoding(path, head, utf8_valid=utf8, requested=options.encoding)
    except LookupError as exc:
        raise AISystemError("REQ_001", "Unknown encoding", {"fields": [
            {"field": "options.encoding", "message": "not a text encoding this server knows"}]}) from exc
    head_text = _decode_head(head, encoding)
    fmt = _text_format(name, head_text)
    source = Source(path, fmt, compression, encoding, complete, name, head_text)
    dialect = None
    if fmt in ("csv", "tsv"):
        chosen = options.separator or ("\t" if fmt == "tsv" else None)
        if options.comment_char is None:
            guessed = sniffing.guess_comment(sniffing.sample_lines(head_text, skip_rows=options.skip_rows),
                                             None if chosen == sniffing.WHITESPACE else chosen)
            source.comment, source.comment_guessed = guessed, guessed is not None
        else:
            source.comment = options.comment_char or None
        lines = sniffing.sample_lines(head_text, skip_rows=options.skip_rows, comment=source.comment)
        dialect = sniffing.sniff_dialect(lines, separator=chosen)
        source.dialect = dialect
        source.cr_newlines = "\r" in head_text and "\n" not in head_text
    whitespace = dialect is not None and dialect.separator == sniffing.WHITESPACE
    if not encoding.is_utf8 or whitespace or source.cr_newlines:
        text = work.path("text.csv")
        done = sniffing.transcode(path, encoding, text, whitespace=whitespace, cr_newlines=source.cr_newlines,
                                  stop_after=PREVIEW_BYTES if preview else None)
        source.path, source.complete = text, complete and done
    if fmt in ("json", "jsonl"):
        # Before any JSON reader sees it (they recurse once per level); a preview reads the beginning only.
        sniffing.check_json_depth(source.path, stop_after=PREVIEW_BYTES if preview else None)
    return source


def _decode_head(head: bytes, encoding: sniffing.Encoding) -> str:
    name = "utf-8" if encoding.is_utf8 else encoding.name
    text = head.decode(name, errors="replace") if name.startswith(("utf-16", "utf-32")) else \
        _decode_prefix(head, name)
    return text.removeprefix("\ufeff")


def _decode_prefix(head: bytes, name: str) -> str:
    """The head decoded; a character cut by the head's end is dropped, an invalid byte replaced."""
    decoder = codecs.getincrementaldecoder(name)(errors="replace")
    return decoder.decode(head, final=False)


# --- CSV layout: skipped rows, comments, header rows --------------------------------------------------


@dataclass
class CsvPlan:
    """How polars reads the (UTF-8) text: the names and where the data starts."""

    path: Path
    separator: str
    quote_char: str | None
    names: list[str]
    skip_lines: int  # physical lines before the first data row
    data_offset: int  # bytes before the first data row
    comment: str | None
    na_values: list[str]
    header: bool
    header_guessed: bool
    first_data_line: int  # 1-based line number of the first data row in the text
    sample_width: int  # the most common field count in the sampled lines


class _Lines:
    """The text's lines (ends kept), counting how many lines and bytes were taken."""

    def __init__(self, path: Path):
        self._file = open(path, "rb")  # noqa: SIM115  (closed by close())
        self.lines = 0
        self.bytes = 0
        self._pending: list[bytes] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self._pending.pop() if self._pending else self._file.readline()
        if not raw:
            raise StopIteration
        self.lines += 1
        self.bytes += len(raw)
        return raw.decode("utf-8", errors="replace")

    def push_back(self, text: str) -> None:
        raw = text.encode("utf-8")
        self.lines -= 1
        self.bytes -= len(raw)
        self._pending.append(raw)

    def close(self) -> None:
        self._file.close()


def _blank_or_comment(line: str, comment: str | None) -> bool:
    return not line.strip() or bool(comment and line.startswith(comment))


def read_csv_plan(source: Source, options: ImportOptions) -> CsvPlan:
    """Where the names are and where the data starts, after `skipRows`, comment and blank lines and the
    rows above `headerRow`; the header is detected when `header` is null (a first row of numbers only
    is data)."""
    dialect = source.dialect or sniffing.Dialect()
    whitespace = dialect.separator == sniffing.WHITESPACE
    separator = "," if whitespace else dialect.separator
    quote = '"' if whitespace else dialect.quote_char
    comment = source.comment
    na = set(options.na_values)
    lines = _Lines(source.path)
    try:
        for number in range(options.skip_rows):
            if next(lines, None) is None:
                raise refuse(f"The file has only {number} lines; {options.skip_rows} are to be skipped",
                             code="DATA_004")
        reader = csv.reader(lines, delimiter=separator, quotechar=quote or '"',
                            quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE, strict=False)

        def next_row() -> tuple[list[str] | None, int, int]:
            while True:
                line = next(lines, None)
                if line is None:
                    return None, lines.lines, lines.bytes
                if not _blank_or_comment(line, comment):
                    lines.push_back(line)
                    break
            before = lines.lines, lines.bytes
            try:
                row = next(reader, None)
            except csv.Error as exc:
                raise refuse(f"The CSV is malformed near line {lines.lines}: {_short(exc)}") from exc
            return row, *before

        for _ in range(options.header_row - 1):
            if next_row()[0] is None:
                raise refuse(f"The file has no row {options.header_row} to read the names from", code="DATA_004")
        first, lines_before, bytes_before = next_row()
        if first is None:
            raise refuse("The file is empty" if lines.bytes == 0 else "The file has no rows", code="DATA_004")
        if first and first[0].startswith("\ufeff"):
            first[0] = first[0][1:]
        header = options.header
        guessed = header is None
        if header is None:
            header = sniffing.header_guess(first, na)
        if header:
            rows = [first]
            for _ in range(options.header_rows - 1):
                row = next_row()[0]
                if row is None:
                    raise refuse("The file ends inside its header rows", code="DATA_004")
                rows.append(row)
            names = _header_names(rows)
            skip_lines, offset = lines.lines, lines.bytes
            if next_row()[0] is None:
                raise refuse("The file has a header but no rows", code="DATA_004")
        else:
            skip_lines, offset = lines_before, bytes_before
            names = []
        sample = sniffing.sample_lines(source.head_text, skip_rows=options.skip_rows, comment=comment)
        counts = sniffing.field_counts(sample, separator if not whitespace else sniffing.WHITESPACE, quote or '"')
        width = Counter(counts).most_common(1)[0][0] if counts else len(first)
        if not header:
            names = [f"column_{i + 1}" for i in range(max(len(first), width))]
    finally:
        lines.close()
    check_column_names(names)
    return CsvPlan(source.path, separator, quote, names, skip_lines, offset, comment, list(options.na_values),
                   header, guessed, skip_lines + 1, width)


def _header_names(rows: list[list[str]]) -> list[str]:
    """Column names from one header row, or several joined with a space (an upper row's blank cells
    repeat the name on their left, as merged cells do)."""
    if len(rows) == 1:
        return list(rows[0])
    width = max(len(r) for r in rows)
    filled = []
    for depth, row in enumerate(rows):
        row = list(row) + [""] * (width - len(row))
        if depth < len(rows) - 1:
            last = ""
            for i, value in enumerate(row):
                last = value.strip() or last
                row[i] = last
        filled.append([v.strip() for v in row])
    return [" ".join(dict.fromkeys(p for p in parts if p)) for parts in zip(*filled, strict=True)]


def scan_csv(plan: CsvPlan, *, schema: dict[str, pl.DataType] | None = None, infer: int | None = INFER_ROWS,
             text: bool = False, dates: bool = True) -> pl.LazyFrame:
    """The lazy read of a plan: with `schema` (no inference), typed (`infer` rows decide the types; None:
    all rows), or every column as text."""
    na = plan.na_values
    return pl.scan_csv(
        plan.path, has_header=False, separator=plan.separator, quote_char=plan.quote_char,
        skip_lines=plan.skip_lines, comment_prefix=plan.comment, new_columns=plan.names,
        null_values=None if text else ([v for v in na if v] or None),
        empty_string_is_null=False if text else "" in na, infer_schema=not text,
        infer_schema_length=0 if schema is not None else infer, schema_overrides=schema,
        try_parse_dates=dates and not text and schema is None, raise_if_empty=False, truncate_ragged_lines=False,
    )


def infer_schema(plan: CsvPlan) -> dict[str, pl.DataType]:
    """Types from the first INFER_ROWS rows, dates and times recognised on the first DATE_INFER_ROWS (a
    value further down that does not fit makes the read fail, and then every row decides)."""
    base = scan_csv(plan, infer=INFER_ROWS, dates=False).collect_schema()
    dated = scan_csv(plan, infer=DATE_INFER_ROWS).collect_schema()
    temporal = (pl.Date, pl.Time)
    return {name: dated[name] if base[name] == pl.String and (isinstance(dated[name], pl.Datetime)
                                                             or dated[name] in temporal) else base[name]
            for name in base.names()}


def _not_blank(names: list[str]) -> pl.Expr:
    """Rows that are not blank lines (polars reads a blank line as a row of nulls; pandas skips it)."""
    return pl.any_horizontal([pl.col(n).is_not_null() for n in names])


# --- the value formats a file used (so exports write them back the same way) ---------------------------

_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%.3f", "%Y-%m-%dT%H:%M:%S%.3f",
                     "%Y-%m-%d %H:%M:%S%.6f", "%Y-%m-%dT%H:%M:%S%.6f", "%Y-%m-%d %H:%M:%S%.9f",
                     "%Y-%m-%dT%H:%M:%S%.9f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M",
                     "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%S%:z",
                     "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%:z", "%Y/%m/%d %H:%M:%S", "%d/%m/%Y %H:%M:%S",
                     "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M")
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y%m%d", "%d-%m-%Y")
_TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%H:%M:%S%.3f", "%H:%M:%S%.6f", "%H:%M:%S%.f")


def value_formats(raw: pl.DataFrame, typed: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """How the file wrote booleans, dates and times, and integral floats, per column (from a sample
    read both as text and typed), so a CSV written later spells them the same way."""
    formats: dict[str, dict[str, Any]] = {}
    for name in typed.columns:
        dtype = typed.schema[name]
        pair = pl.DataFrame({"raw": raw[name].cast(pl.String), "value": typed[name]}).filter(
            pl.col("value").is_not_null())
        if pair.height == 0:
            continue
        if dtype == pl.Boolean:
            spelled = {}
            for value in (True, False):
                words = pair.filter(pl.col("value") == value)["raw"].str.strip_chars().value_counts(sort=True)
                if words.height:
                    spelled["true" if value else "false"] = words.row(0)[0]
            formats[name] = {"kind": "boolean", **spelled}
        elif isinstance(dtype, pl.Datetime) or dtype in (pl.Date, pl.Time):
            candidates = _DATETIME_FORMATS if isinstance(dtype, pl.Datetime) else \
                _DATE_FORMATS if dtype == pl.Date else _TIME_FORMATS
            for fmt in candidates:
                try:
                    same = pair.select((pl.col("value").dt.to_string(fmt) == pl.col("raw").str.strip_chars()).all())
                except pl.exceptions.PolarsError:
                    continue
                if same.item():
                    formats[name] = {"kind": kind_of(dtype), "format": fmt}
                    break
        elif dtype.is_float():
            integral = pair.filter(pl.col("value").is_finite() & (pl.col("value") == pl.col("value").round()))
            if integral.height and not integral["raw"].str.contains(r"[.eE]").any():
                formats[name] = {"kind": "float", "integral": "plain"}  # `18`, not `18.0`
    return formats


# --- tabular ------------------------------------------------------------------------------------


def check_parquet_budget(path: Path) -> None:
    """DATA_002 before a Parquet file is read when what it holds would unpack to more than
    PARQUET_MAX_RATIO times its size or a memory budget (a 28 KB file can declare 20 million
    rows of one repeated value). The size comes from the footer alone: rows x an estimate of each
    column's width in memory (8 bytes for numbers and dates, 16 per text or nested value); the budget
    is the archives' one, 4 x the upload limit."""
    try:
        schema = pl.read_parquet_schema(path)
        rows = pl.scan_parquet(path).select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise refuse(f"The Parquet file could not be read: {_short(exc)}") from exc
    width = sum(_memory_width(dtype) for dtype in schema.values()) or 1
    unpacked, size = rows * width, max(path.stat().st_size, 1)
    budget = ZIP_UNPACKED_FACTOR * get_settings().max_upload_bytes
    if unpacked > budget:
        raise refuse(f"The Parquet file holds {rows:,} rows that would take about {unpacked // 2**20:,} MiB in "
                     f"memory; at most {budget // 2**20:,} MiB are accepted", rows=rows,
                     estimatedBytes=unpacked, limitBytes=budget)
    if unpacked > PARQUET_RATIO_FLOOR and unpacked > PARQUET_MAX_RATIO * size:
        raise refuse(f"The Parquet file looks like a decompression bomb: {size:,} bytes declare {rows:,} rows "
                     f"(about {unpacked // 2**20:,} MiB, more than {PARQUET_MAX_RATIO} times the file)",
                     rows=rows, estimatedBytes=unpacked, ratio=PARQUET_MAX_RATIO)


def _memory_width(dtype: pl.DataType) -> int:
    if dtype == pl.Boolean or dtype in (pl.Int8, pl.UInt8):
        return 1
    if dtype.is_numeric() or dtype.is_temporal():
        return 8
    return 16


def convert(staged: StagedFile, kind: str, fmt: str, work: Staging, options: ImportOptions,
            filename: str | None, labels: StagedFile | None = None) -> tuple[IngestResult, list[dict[str, Any]], int]:
    """An upload as a Parquet file in `work` with its fields and row count: the whole untrusted part of
    an upload, run in a child process under limits (see `sandbox`)."""
    from backend.catalog.datasets.profiling import infer_fields

    if kind in ("image", "audio"):
        if fmt != "zip":
            raise refuse(f"An {kind} dataset takes a ZIP archive of {kind} files")
        result = ingest_archive(staged, kind, work, labels)
    else:
        result = ingest_tabular(staged, fmt, work, options, filename=filename)
    rows = pl.scan_parquet(result.parquet).select(pl.len()).collect().item()
    return result, infer_fields(result.parquet), rows


def ingest_tabular(staged: StagedFile, fmt: str | None, work: Staging, options: ImportOptions | None = None, *,
                   filename: str | None = None) -> IngestResult:
    """Convert a staged CSV/TSV/Parquet/JSON/JSONL upload (plain or compressed) into `work/data.parquet`."""
    options = options or ImportOptions()
    source = open_source(staged, filename, options, work)
    out = work.path("data.parquet")
    if source.fmt in ("csv", "tsv"):
        result = _csv(source, options, out)
    elif source.fmt == "parquet":
        _sink(lambda _full: pl.scan_parquet(source.path), out, "Parquet")
        result = IngestResult(out, "parquet")
    elif source.fmt == "json":
        if source.path.stat().st_size > MAX_JSON_ARRAY_BYTES:
            raise refuse("JSON arrays above 512 MiB are not supported; upload JSON Lines instead")
        _sink(lambda full: pl.read_json(source.path, infer_schema_length=None if full else 10_000).lazy(), out,
              "JSON")
        result = IngestResult(out, "json", source.encoding.name)
    else:
        _sink(lambda full: pl.scan_ndjson(source.path, infer_schema_length=None if full else 10_000), out,
              "JSON Lines")
        result = IngestResult(out, "jsonl", source.encoding.name)
    result.compression = source.compression
    schema = pl.scan_parquet(out).collect_schema()
    check_column_names(list(schema.names()))
    if source.fmt in ("json", "jsonl") and list(schema.names()) in ([""], ["column_0"]):
        raise refuse("Each JSON record must be an object with named fields")
    rows = pl.scan_parquet(out).select(pl.len()).collect().item()
    if rows == 0:
        raise refuse("The file has a header or schema but no rows", code="DATA_004")
    if rows > MAX_ROWS:
        raise refuse(f"The data has more than {MAX_ROWS} rows")
    if result.encoding and source.encoding is not None and source.encoding.guessed and source.fmt not in ("csv", "tsv"):
        result.warnings.append(_encoding_warning(source.encoding))
    return result


def _sink(make, out: Path, label: str) -> None:  # noqa: ANN001
    """Stream `make(full_inference)` into Parquet; retry once inferring types from every row."""
    last: Exception | None = None
    for full in (False, True):
        try:
            lf = make(full)
            names = lf.collect_schema().names()
            check_column_names(list(names))
            lf.sink_parquet(out, compression="zstd", row_group_size=128_000)
            return
        except AISystemError:
            raise
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            last = exc
            out.unlink(missing_ok=True)
            if _not_a_type_problem(exc):
                break
    raise refuse(f"The {label} file could not be read: {_short(last)}")


def _not_a_type_problem(exc: Exception) -> bool:
    """Errors that reading every row to infer types cannot cure (so the retry is skipped)."""
    text = str(exc)
    return "more fields than defined" in text or "invalid utf-8" in text.lower()


def _short(exc: Exception | None) -> str:
    text = str(exc).strip().splitlines()[0] if exc and str(exc).strip() else type(exc).__name__
    return _PATHS.sub("<file>", _CONTROL.sub("", text))[:300]


def _csv(source: Source, options: ImportOptions, out: Path) -> IngestResult:
    """Read the text with polars as a stream into Parquet (types from the first INFER_ROWS rows, from
    every row when a later value does not fit), after learning value formats from a sample."""
    plan = read_csv_plan(source, options)
    inspection = inspect_csv(source, plan, options)
    label = FORMAT_LABELS[source.fmt]
    schema = inspection.schema
    try:
        _sink(lambda full: (scan_csv(plan, infer=None) if full or schema is None else scan_csv(plan, schema=schema))
              .filter(_not_blank(plan.names)), out, label)
    except AISystemError as exc:
        if "more fields than defined" in exc.message or "could not be read" in exc.message:
            ragged = first_ragged(plan, short_only=False)
            if ragged is not None:
                raise _ragged_refusal(plan, *ragged) from None
        raise
    if options.short_rows == "refuse" and len(plan.names) > 1:
        nulls = pl.scan_parquet(out).select(pl.col(plan.names[-1]).null_count()).collect().item()
        if nulls:  # a short row leaves the last column empty: only then is the text counted row by row
            ragged = first_ragged(plan, short_only=True)
            if ragged is not None:
                raise _ragged_refusal(plan, *ragged)
    return IngestResult(out, source.fmt, source.encoding.name, compression=source.compression,
                        dialect=inspection.dialect, options=inspection.options, warnings=inspection.warnings)


def _ragged_refusal(plan: CsvPlan, line: int, fields: int) -> AISystemError:
    hint = (" To read short rows with the missing fields empty, choose 'pad with nulls' for short rows."
            if fields < len(plan.names) else " Check the separator and the quoting in the import options.")
    return refuse(f"Row on line {line} has {fields} fields; the header has {len(plan.names)}.{hint}",
                  line=line, fields=fields, expected=len(plan.names))


def first_ragged(plan: CsvPlan, *, short_only: bool) -> tuple[int, int] | None:
    """(line number, fields) of the first data row with fewer (or, unless `short_only`, more) fields than
    the header, counting separators outside quotes with numpy; blank and comment lines are skipped."""
    width = len(plan.names)
    sep = ord(plan.separator)
    quote = ord(plan.quote_char) if plan.quote_char else None
    comment = ord(plan.comment) if plan.comment else None
    parity = 0  # quotes seen so far, mod 2
    carried_seps = 0  # separators of the record the previous chunk ended in
    carried_len = 0
    carried_first: int | None = None
    lines_before = plan.first_data_line - 1
    record_line = plan.first_data_line
    with open(plan.path, "rb") as f:
        f.seek(plan.data_offset)
        while chunk := f.read(8 * 1024 * 1024):
            a = np.frombuffer(chunk, dtype=np.uint8)
            newlines = np.flatnonzero(a == 10)
            seps = np.flatnonzero(a == sep)
            if quote is not None:
                quotes = np.flatnonzero(a == quote)
                newlines_out = newlines[((np.searchsorted(quotes, newlines) + parity) & 1) == 0]
                seps = seps[((np.searchsorted(quotes, seps) + parity) & 1) == 0]
                parity = (parity + len(quotes)) & 1
            else:
                newlines_out = newlines
            if len(newlines_out):
                starts = np.concatenate(([0], newlines_out[:-1] + 1))
                fields = np.diff(np.concatenate(([0], np.searchsorted(seps, newlines_out)))) + 1
                fields[0] += carried_seps
                lengths = newlines_out - starts
                lengths[0] += carried_len
                ends_cr = a[np.maximum(newlines_out - 1, 0)] == 13
                firsts = a[np.minimum(starts, len(a) - 1)].astype(np.int16)
                if carried_first is not None:
                    firsts[0] = carried_first
                blank = (lengths == 0) | ((lengths == 1) & ends_cr)
                skip = blank | ((firsts == comment) if comment is not None else False)
                bad = ((fields < width) if short_only else (fields != width)) & ~skip
                if bad.any():
                    i = int(np.argmax(bad))
                    line = (record_line if i == 0 else
                            lines_before + int(np.searchsorted(newlines, starts[i])) + 1)
                    return line, int(fields[i])
                last = newlines_out[-1]
                carried_seps = len(seps) - int(np.searchsorted(seps, last))
                carried_len = len(a) - last - 1
                carried_first = int(a[last + 1]) if last + 1 < len(a) else None
                record_line = lines_before + int(np.searchsorted(newlines, last, side="right")) + 1
            else:
                carried_seps += len(seps)
                if carried_first is None and carried_len == 0 and len(a):
                    carried_first = int(a[0])
                carried_len += len(a)
            lines_before += len(newlines)
    if carried_len and not (carried_first is not None and comment is not None and carried_first == comment):
        fields = carried_seps + 1
        if (fields < width) if short_only else (fields != width):
            return record_line, fields
    return None


# --- inspection: what the sample says (types, formats, missing values, warnings) ------------------------


@dataclass
class Inspection:
    dialect: dict[str, Any]
    options: dict[str, Any]
    warnings: list[str]
    typed: pl.DataFrame
    missing: dict[str, int]
    short_rows: int = 0
    problem: str | None = None
    schema: dict[str, pl.DataType] | None = None


def inspect_csv(source: Source, plan: CsvPlan, options: ImportOptions, *, rows: int = SAMPLE_ROWS) -> Inspection:
    """Read the first rows as text and typed: the value formats, the missing-value tokens met, and the
    warnings a person should see (guesses, suspicious columns, short rows)."""
    dialect = source.dialect or sniffing.Dialect()
    problem = schema = None
    try:
        schema = infer_schema(plan)
        typed = scan_csv(plan, schema=schema).head(rows).collect()
        raw = scan_csv(plan, text=True).head(rows).collect()
    except pl.exceptions.PolarsError as exc:
        typed, raw, schema = pl.DataFrame(schema=dict.fromkeys(plan.names, pl.String)), None, None
        ragged = first_ragged(plan, short_only=False)
        problem = str(_ragged_refusal(plan, *ragged).message) if ragged else f"The rows could not be read: {_short(exc)}"
    formats = value_formats(raw, typed) if raw is not None else {}
    missing = _missing_tokens(raw, plan.na_values) if raw is not None else {}
    warnings = csv_warnings(source, plan, options, typed, raw)
    short = _short_rows_in_sample(source, plan, options)
    if short:
        warnings.append(f"{short} of the first rows have fewer fields than the header: "
                        + ("their missing fields are read as empty (null)." if options.short_rows == "pad" else
                           "the upload refuses them unless short rows are padded with nulls."))
    null_value = next(iter(sorted((t for t in missing if t), key=lambda t: -missing[t])), "")
    found = {
        "separator": sniffing.WHITESPACE if dialect.separator == sniffing.WHITESPACE else plan.separator,
        "separatorGuessed": dialect.guessed, "quoteChar": plan.quote_char, "header": plan.header,
        "headerGuessed": plan.header_guessed, "commentChar": plan.comment, "commentGuessed": source.comment_guessed,
        "encoding": source.encoding.name if source.encoding else None,
        "encodingGuessed": bool(source.encoding and source.encoding.guessed),
        "bom": bool(source.encoding and source.encoding.bom), "nullValue": null_value,
        "lineEnd": "\r\n" if "\r\n" in source.head_text else "\n", "formats": formats,
    }
    effective = options.model_dump(by_alias=True) | {
        "header": plan.header, "separator": found["separator"], "encoding": found["encoding"],
        "commentChar": plan.comment or ("" if options.comment_char == "" else None)}
    return Inspection(found, effective, warnings, typed, missing, short, problem, schema)


def _missing_tokens(raw: pl.DataFrame, na_values: list[str]) -> dict[str, int]:
    """How many cells of the sample hold each missing-value token (empty cells under "")."""
    if not na_values or raw.width == 0:
        return {}
    tokens = [t for t in na_values]
    counts = raw.select([pl.sum_horizontal([(pl.col(c).fill_null("") == t).cast(pl.Int64) for c in raw.columns])
                         .sum().alias(t or "\x00") for t in tokens]).row(0, named=True)
    return {("" if k == "\x00" else k): int(v) for k, v in counts.items() if v}


def _encoding_warning(encoding: sniffing.Encoding) -> str:
    others = ", ".join(sniffing.label(a) for a in encoding.alternatives[:3])
    return (f"The text is not UTF-8; its encoding was guessed as {sniffing.label(encoding.name)}"
            + (f" (also possible: {others})" if others else "")
            + ". If letters look wrong in the preview, choose the encoding in the import options.")


def csv_warnings(source: Source, plan: CsvPlan, options: ImportOptions, typed: pl.DataFrame,
                 raw: pl.DataFrame | None) -> list[str]:
    """What a person should check before the data counts."""
    warnings: list[str] = []
    if source.encoding is not None and source.encoding.guessed:
        warnings.append(_encoding_warning(source.encoding))
    if len(plan.names) == 1:
        name = plan.names[0].strip()
        if re.search(r"\s|[,;|]", name):
            warnings.append(f"The file was read as one column named '{name[:80]}', though that header has several "
                            "words: if its columns are separated by spaces or another character, choose the "
                            "separator in the import options.")
    if plan.header_guessed and not plan.header:
        warnings.append("The first row holds only numbers, so it was read as data and the columns are named "
                        "column_1, column_2, …: if it names the columns, set 'Header row' to yes.")
    if source.comment_guessed:
        hashes = sum(1 for ln in source.head_text.splitlines()[options.skip_rows:][:sniffing.SAMPLE_LINES]
                     if ln.startswith(source.comment or "#"))
        warnings.append(f"{hashes} of the first lines start with '{source.comment}' and are skipped as comments: "
                        "if they are data, set the comment character to none.")
    if raw is not None:
        for name in typed.columns:
            if typed.schema[name] != pl.String:
                continue
            values = typed[name].drop_nulls()
            if values.len() < 5:
                continue
            numeric = values.str.strip_chars().cast(pl.Float64, strict=False)
            odd = values.filter(numeric.is_null()).str.strip_chars()
            if len(odd) and len(odd) <= 0.5 * values.len() and odd.n_unique() == 1 and len(odd[0]) <= 10:
                token = odd[0]
                warnings.append(f"Column '{name[:80]}' is read as text because of '{token}' in {len(odd)} of the "
                                f"first {values.len()} values: if '{token}' means a missing value, add it to the "
                                "missing-value tokens.")
    return warnings


def _short_rows_in_sample(source: Source, plan: CsvPlan, options: ImportOptions) -> int:
    if len(plan.names) <= 1:
        return 0
    with open(plan.path, "rb") as f:
        f.seek(plan.data_offset)
        text = f.read(sniffing.SAMPLE_BYTES).decode("utf-8", errors="ignore")
    lines = sniffing.sample_lines(text, comment=plan.comment)
    counts = sniffing.field_counts(lines, plan.separator, plan.quote_char or '"')
    return sum(1 for c in counts if c < len(plan.names))


# --- preview ------------------------------------------------------------------------------------


def preview(staged: StagedFile, filename: str | None, options: ImportOptions, work: Staging,
            *, rows: int = PREVIEW_ROWS) -> dict[str, Any]:
    """What an upload would become with `options`, read from the file's beginning: the format,
    compression, encoding and dialect found (and which were guessed), the columns with inferred types
    and null counts over a sample, the first `rows` rows and the warnings. Nothing is stored."""
    source = open_source(staged, filename, options, work, preview=True)
    result: dict[str, Any] = {"format": source.fmt, "compression": source.compression,
                              "encoding": source.encoding.name if source.encoding else None,
                              "encodingGuessed": bool(source.encoding and source.encoding.guessed),
                              "encodingAlternatives": list(source.encoding.alternatives) if source.encoding else [],
                              "dialect": None, "options": options.model_dump(by_alias=True), "warnings": [],
                              "missingValues": {}, "problem": None, "complete": source.complete}
    if source.fmt in ("csv", "tsv"):
        plan = read_csv_plan(source, options)
        inspection = inspect_csv(source, plan, options, rows=INFER_ROWS)
        frame = inspection.typed
        result.update(dialect=inspection.dialect, options=inspection.options, warnings=inspection.warnings,
                      missingValues=inspection.missing, problem=inspection.problem)
    else:
        try:
            frame = _sample_frame(source)
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            frame = pl.DataFrame()
            result["problem"] = f"The {FORMAT_LABELS[source.fmt]} file could not be read: {_short(exc)}"
        if source.encoding is not None and source.encoding.guessed:
            result["warnings"].append(_encoding_warning(source.encoding))
    result["columns"] = [{"name": name, "type": kind_of(dtype), "dtype": str(dtype),
                          "nullCount": int(frame[name].null_count())} for name, dtype in frame.schema.items()]
    result["sampleRows"] = frame.height
    result["rows"] = [[_cell(v) for v in row] for row in frame.head(rows).iter_rows()]
    return result


def _sample_frame(source: Source) -> pl.DataFrame:
    if source.fmt == "parquet":
        return pl.scan_parquet(source.path).head(INFER_ROWS).collect()
    if source.fmt == "jsonl":
        return pl.scan_ndjson(source.path, infer_schema_length=INFER_ROWS).head(INFER_ROWS).collect()
    if not source.complete:
        raise ValueError("a JSON array is previewed only when the whole file is at most "
                         f"{PREVIEW_BYTES // (1024 * 1024)} MiB; upload it, or use JSON Lines")
    return pl.read_json(source.path, infer_schema_length=INFER_ROWS).head(INFER_ROWS)


def _cell(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "…"
    if isinstance(value, float) and not np.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list | dict):
        return str(clean(value))[:200]
    return clean(value)


# --- archives of images or audio ------------------------------------------------------------------


def ingest_archive(staged: StagedFile, kind: str, work: Staging, labels: StagedFile | None = None) -> IngestResult:
    """Validate every member of a ZIP first (names, types, sizes, ratios), then read the accepted
    members into a Parquet table of metadata plus the bytes. Nothing is ever extracted to disk."""
    if kind not in ("image", "audio"):
        raise refuse("Only image and audio datasets take archives")
    try:
        archive = zipfile.ZipFile(staged.path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise refuse(f"The archive could not be opened: {_short(exc)}") from exc
    with archive:
        members, inner_labels = _validate_members(archive, staged.size, kind)
        label_map = _labels(archive, inner_labels, labels)
        parts = _read_members(archive, members, kind, label_map, work)
    out = work.path("data.parquet")
    try:
        pl.concat([pl.scan_parquet(p) for p in parts], how="vertical_relaxed").sink_parquet(out, compression="zstd")
    except pl.exceptions.PolarsError as exc:
        raise refuse(f"The archive could not be stored: {_short(exc)}") from exc
    return IngestResult(out, "zip", notes=[f"{len(members)} {kind} files"])


def _safe_member_name(name: str) -> str:
    if not name or len(name) > 255 or _CONTROL.search(name) or "\n" in name or "\r" in name:
        raise refuse("The archive has a member with an unusable name")
    if BIDI_CONTROLS.search(name):  # the member name is stored and shown: it must read as what it is
        raise refuse("The archive has a member whose name holds a bidirectional control character (U+202E …)",
                     member=BIDI_CONTROLS.sub("", name)[:100])
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise refuse("The archive has a member with an absolute or Windows path", member=name[:100])
    parts = PurePosixPath(name).parts
    if any(part in ("..", ".") for part in parts) or not parts:
        raise refuse("The archive has a member whose path leaves the archive ('..')", member=name[:100])
    return name


def _validate_members(archive: zipfile.ZipFile, archive_size: int, kind: str):  # noqa: ANN202
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise refuse(f"The archive has more than {MAX_ZIP_MEMBERS} members")
    allowed = IMAGE_EXTENSIONS if kind == "image" else AUDIO_EXTENSIONS
    limit_total = ZIP_UNPACKED_FACTOR * get_settings().max_upload_bytes
    members, labels, names, total = [], None, set(), 0
    for info in infos:
        name = _safe_member_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise refuse("The archive has a symbolic link member; links are refused", member=name[:100])
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise refuse("The archive has a member that is not a plain file", member=name[:100])
        if info.flag_bits & 0x1:
            raise refuse("Encrypted archives are not supported")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
            raise refuse("The archive uses an unsupported compression method")
        if name in names:
            raise refuse("The archive has two members with the same name", member=name[:100])
        names.add(name)
        total += info.file_size
        if info.file_size > 1024 * 1024 and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise refuse("The archive looks like a decompression bomb (a member expands more than "
                         f"{MAX_ZIP_RATIO} times)", code="DATA_002", member=name[:100])
        if total > limit_total:
            raise refuse(f"The archive would unpack to more than {limit_total} bytes", code="DATA_002")
        if info.is_dir():
            continue
        lower = name.lower()
        base = PurePosixPath(lower).name
        if lower.startswith("__macosx/") or base.startswith("."):
            continue
        if base in LABEL_FILES and "/" not in name:
            labels = info
        elif lower.endswith(allowed):
            members.append(info)
        else:
            raise refuse(f"The archive has a member that is not a {'/'.join(allowed)} file", member=name[:100])
    if total > 1024 * 1024 and total > MAX_ZIP_RATIO * max(archive_size, 1):
        raise refuse(f"The archive looks like a decompression bomb (expands more than {MAX_ZIP_RATIO} times)")
    if not members:
        raise refuse(f"The archive has no {kind} files", code="DATA_004")
    return members, labels


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, never more than its declared size (a lying header fails, not floods)."""
    try:
        with archive.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise refuse(f"The archive member could not be read: {_short(exc)}", member=info.filename[:100]) from exc
    if len(data) > info.file_size:
        raise refuse("An archive member is larger than its header says", member=info.filename[:100])
    return data


def _labels(archive: zipfile.ZipFile, inner: zipfile.ZipInfo | None, outer: StagedFile | None) -> dict[str, str]:
    """path -> label from a labels CSV (columns `path` or `file`, and `label`), inside or beside the archive."""
    if outer is not None:
        text = outer.path.read_bytes()
    elif inner is not None:
        if inner.file_size > 64 * 1024 * 1024:
            raise refuse("The labels file is larger than 64 MiB")
        text = _read_member(archive, inner)
    else:
        return {}
    try:
        decoded = text.decode("utf-8-sig")
    except UnicodeDecodeError:
        decoded = text.decode("latin-1")
    rows = list(csv.DictReader(io.StringIO(decoded)))
    if not rows:
        raise refuse("The labels file has no rows", code="DATA_004")
    key = next((k for k in ("path", "file", "filename") if k in rows[0]), None)
    if key is None or "label" not in rows[0]:
        raise refuse("The labels file needs the columns 'path' (or 'file') and 'label'")
    return {str(r[key]).strip(): str(r["label"]).strip() for r in rows if r.get(key)}


def _read_members(archive, members, kind, label_map, work: Staging) -> list[Path]:  # noqa: ANN001
    parts: list[Path] = []
    batch: list[dict[str, Any]] = []
    batch_bytes = 0

    def flush() -> None:
        nonlocal batch, batch_bytes
        if not batch:
            return
        path = work.path(f"part-{len(parts):05d}.parquet")
        pl.DataFrame(batch, schema=_media_schema(kind)).write_parquet(path, compression="zstd")
        parts.append(path)
        batch, batch_bytes = [], 0

    for info in members:
        data = _read_member(archive, info)
        try:
            facts = media.image_info(data) if kind == "image" else media.audio_info(data)
        except (media.MediaError, struct_error) as exc:
            raise refuse(f"Archive member is not a valid {kind} file: {exc}", member=info.filename[:100]) from exc
        name = info.filename
        label = label_map.get(name)
        if label is None and "/" in name:
            label = PurePosixPath(name).parent.name  # class-per-folder layout
        row = {"path": name, "label": label, "sizeBytes": len(data), **facts, "bytes": data}
        batch.append(row)
        batch_bytes += len(data)
        if batch_bytes >= PARQUET_BATCH_BYTES:
            flush()
    flush()
    return parts


def _media_schema(kind: str) -> dict[str, pl.DataType]:
    base = {"path": pl.String, "label": pl.String, "sizeBytes": pl.Int64, "format": pl.String}
    if kind == "image":
        return {**base, "width": pl.Int64, "height": pl.Int64, "mode": pl.String, "bytes": pl.Binary}
    return {**base, "durationSeconds": pl.Float64, "sampleRate": pl.Int64, "channels": pl.Int64,
            "bitsPerSample": pl.Int64, "bytes": pl.Binary}


from struct import error as struct_error  # noqa: E402  (header parsers may hit truncated input)
