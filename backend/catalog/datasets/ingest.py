"""Turning an uploaded file into a Parquet (zstd) file: format sniffing, CSV dialect and encoding,
structural checks (ragged rows, odd column names, too many columns) and safe ZIP archives of media.

Every function works on files in a staging folder (see storage.staging) and raises AISystemError
with a clear message; the caller removes the staging folder whatever happens.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from backend.catalog.datasets import media
from backend.catalog.datasets.storage import CHUNK, StagedFile, Staging
from backend.core.config import get_settings
from backend.core.errors import AISystemError

TABULAR_FORMATS = ("csv", "tsv", "parquet", "json", "jsonl")
MAX_COLUMNS = 2000
MAX_COLUMN_NAME = 256
MAX_ROWS = 500_000_000
MAX_JSON_ARRAY_BYTES = 512 * 1024 * 1024  # a JSON array is parsed whole; JSON Lines stream
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_RATIO = 100  # uncompressed / compressed, per member (above 1 MiB) and for the whole archive
ZIP_UNPACKED_FACTOR = 4  # an archive may unpack to at most 4 x the upload limit
PARQUET_BATCH_BYTES = 64 * 1024 * 1024
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
AUDIO_EXTENSIONS = (".wav", ".flac")
LABEL_FILES = ("labels.csv",)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def refuse(message: str, code: str = "DATA_002", **details: Any) -> AISystemError:
    return AISystemError(code, message, details)


@dataclass
class IngestResult:
    parquet: Path
    source_format: str
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)


# --- sniffing -----------------------------------------------------------------------------------


def detect_format(filename: str | None, head: bytes) -> str:
    """csv | tsv | parquet | json | jsonl | zip, from the content first and the file name second."""
    ext = PurePosixPath((filename or "").lower()).suffix
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if _looks_binary(head):
        raise refuse("The file is binary, not text: upload CSV/TSV, Parquet, JSON, JSON Lines or a ZIP archive")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    if ext == ".json" or stripped[:1] in (b"[", b"{"):
        return "json" if stripped[:1] == b"[" else "jsonl"
    if ext in (".tsv", ".tab"):
        return "tsv"
    return "csv"


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    sample = head[:8192]
    if not sample:
        return False
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    return controls / len(sample) > 0.01


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


# --- tabular ------------------------------------------------------------------------------------


def ingest_tabular(staged: StagedFile, fmt: str, work: Staging) -> IngestResult:
    """Convert a staged CSV/TSV/Parquet/JSON/JSONL file into `work/data.parquet` (zstd)."""
    if staged.size == 0:
        raise refuse("The file is empty", code="DATA_004")
    out = work.path("data.parquet")
    if fmt in ("csv", "tsv"):
        result = _csv(staged, fmt, work, out)
    elif fmt == "parquet":
        _sink(lambda _full: pl.scan_parquet(staged.path), out, "Parquet")
        result = IngestResult(out, "parquet")
    elif fmt == "json":
        if staged.size > MAX_JSON_ARRAY_BYTES:
            raise refuse("JSON arrays above 512 MiB are not supported; upload JSON Lines instead")
        _sink(lambda full: pl.read_json(staged.path, infer_schema_length=None if full else 10_000).lazy(), out,
              "JSON")
        result = IngestResult(out, "json", "utf-8")
    elif fmt == "jsonl":
        _sink(lambda full: pl.scan_ndjson(staged.path, infer_schema_length=None if full else 10_000), out,
              "JSON Lines")
        result = IngestResult(out, "jsonl", "utf-8")
    else:
        raise refuse(f"Unsupported format '{fmt}'")
    schema = pl.scan_parquet(out).collect_schema()
    check_column_names(list(schema.names()))
    if fmt in ("json", "jsonl") and list(schema.names()) in ([""], ["column_0"]):
        raise refuse("Each JSON record must be an object with named fields")
    rows = pl.scan_parquet(out).select(pl.len()).collect().item()
    if rows == 0:
        raise refuse("The file has a header or schema but no rows", code="DATA_004")
    if rows > MAX_ROWS:
        raise refuse(f"The data has more than {MAX_ROWS} rows")
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
    raise refuse(f"The {label} file could not be read: {_short(last)}")


def _short(exc: Exception | None) -> str:
    text = str(exc).strip().splitlines()[0] if exc and str(exc).strip() else type(exc).__name__
    return _CONTROL.sub("", text)[:300]


def _csv(staged: StagedFile, fmt: str, work: Staging, out: Path) -> IngestResult:
    """Check every row, re-write the rows as UTF-8 CSV chunks of ≤ CSV_CHUNK_BYTES, parse each chunk
    with the schema inferred on the first, and combine the Parquet parts with a streaming sink.

    polars' streaming CSV reader keeps ~300 MB of buffers whatever the row-group size; chunking keeps
    the peak near one chunk's frame plus the combining sink (~150 MB for 1M rows x 20 columns)."""
    encoding = _encoding(staged.path)
    head_text = staged.head.decode(encoding, errors="ignore")
    if head_text.startswith("\ufeff"):
        head_text = head_text[1:]
    delimiter = _delimiter(head_text, fmt)
    names, chunks = _check_and_chunk(staged.path, encoding, delimiter, work)
    parts: list[Path] = []
    try:
        # Types (dates included) are inferred once on the first 10,000 rows; every chunk is then read
        # with that schema (inferring dates on every value costs ~7x the parse).
        sample = pl.read_csv(chunks[0], has_header=True, new_columns=names, try_parse_dates=True, n_rows=10_000,
                             separator=delimiter)
        schema = dict(sample.schema)
        del sample
        for index, chunk in enumerate(chunks):
            frame = pl.read_csv(chunk, has_header=True, new_columns=names, schema=schema, separator=delimiter,
                                truncate_ragged_lines=False, raise_if_empty=False)
            part = work.path(f"part-{index:05d}.parquet")
            frame.write_parquet(part, compression="zstd")
            parts.append(part)
            del frame
            chunk.unlink()
        _sink(lambda _full: pl.scan_parquet(parts), out, fmt.upper())
    except (pl.exceptions.PolarsError, ValueError):
        # A type that changes further down (e.g. a number column with text later): infer from all rows.
        for part in parts:
            part.unlink(missing_ok=True)

        def make(full: bool) -> pl.LazyFrame:
            return pl.scan_csv(chunks, separator=delimiter, has_header=True, new_columns=names, try_parse_dates=True,
                               infer_schema_length=None if full else 10_000, truncate_ragged_lines=False)

        _sink(make, out, fmt.upper())
    return IngestResult(out, fmt, encoding)


CSV_CHUNK_BYTES = 24 * 1024 * 1024


def _check_and_chunk(path: Path, encoding: str, delimiter: str, work: Staging) -> tuple[list[str], list[Path]]:
    """Two passes: the csv module reads every row (header, field counts — ragged rows are refused
    with their line number — and the physical line where each chunk may end, so quoted newlines
    never split a record); then the raw lines are copied into UTF-8 chunks that each start with the
    header (transcoded on the way when the file is Latin-1)."""
    csv.field_size_limit(64 * 1024 * 1024)
    ends: list[int] = []
    with open(path, encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader, None)
            if header is None:
                raise refuse("The file is empty", code="DATA_004")
            check_column_names(header)
            header_lines = reader.line_num
            width = len(header)
            rows = budget = 0
            per_chunk = 0
            for row in reader:
                if len(row) != width:
                    if not row:
                        continue
                    raise refuse(
                        f"Row on line {reader.line_num} has {len(row)} fields; the header has {width}",
                        line=reader.line_num, fields=len(row), expected=width,
                    )
                rows += 1
                if not per_chunk:
                    budget += sum(map(len, row)) + width
                    if rows == 1000:
                        per_chunk = max(1000, int(CSV_CHUNK_BYTES / (budget / rows)))
                elif rows % per_chunk == 0:
                    ends.append(reader.line_num)
        except csv.Error as exc:
            raise refuse(f"The CSV is malformed near line {reader.line_num}: {_short(exc)}") from exc
    if rows == 0:
        raise refuse("The file has a header but no rows", code="DATA_004")
    chunks: list[Path] = []
    with open(path, "rb") as src:
        head = b"".join(src.readline() for _ in range(header_lines))
        head = _utf8(head.removeprefix(b"\xef\xbb\xbf"), encoding)
        line_no, out = header_lines, None
        pending = iter(ends + [None])
        end = next(pending)
        for line in src:
            if out is None:
                chunks.append(work.path(f"chunk-{len(chunks):05d}.csv"))
                out = open(chunks[-1], "wb")  # noqa: SIM115  (spans loop iterations; closed below)
                out.write(head if head.endswith(b"\n") else head + b"\n")
            out.write(_utf8(line, encoding))
            line_no += 1
            if end is not None and line_no >= end:
                out.close()
                out, end = None, next(pending)
        if out is not None:
            out.close()
    return header, chunks


def _utf8(data: bytes, encoding: str) -> bytes:
    return data if encoding == "utf-8" else data.decode(encoding).encode("utf-8")


def _encoding(path: Path) -> str:
    """utf-8 when every byte decodes as UTF-8 (BOM allowed), else latin-1."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _delimiter(sample: str, fmt: str) -> str:
    if fmt == "tsv":
        return "\t"
    lines = sample.splitlines()
    sample = "\n".join(lines[:50]) if len(lines) > 1 else sample
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


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
