"""What an uploaded file is before it is read: its compression, its format, its text encoding and its
CSV dialect (separator, quoting, header rows), each either as the import options say or guessed from
the bytes — and when guessed, said so, so the user can correct it before the data counts.

- Compression by magic number: gzip, bzip2, Zstandard, and a ZIP holding exactly one file; each is
  unpacked as a stream under the same bomb limits as archives of media (ratio and total size).
- A binary file that is not data says what it looks like (an Excel workbook, a PDF, a PNG image...).
- Encodings: a BOM decides (UTF-8, UTF-16, UTF-32); then UTF-8 when every byte decodes; else
  charset-normalizer's best guess, with Windows-1252 preferred over Latin-1 and Central European code
  pages when it reads the bytes as well (`– ’ €` are 0x96 0x92 0x80 there and control codes in
  Latin-1). Text that is not UTF-8 is transcoded to UTF-8 as a stream for the reader.
- Dialects: clevercsv (a sniffer made for messy CSV) over the first 4 KB of whole lines, checked against
  the field counts each candidate separator gives over the sample; runs of spaces (a whitespace-separated file) become one separator.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from backend.core.config import get_settings
from backend.core.errors import AISystemError

CHUNK = 1024 * 1024
SAMPLE_BYTES = 64 * 1024  # the field counts that check a dialect use at most this much text (whole lines)
# clevercsv's search grows faster than linearly with its input (seconds on 60 KB of punctuation), so it
# sees only this much; what it finds is then checked against the field counts of the whole sample.
SNIFF_BYTES = 4 * 1024
SAMPLE_LINES = 200
ENCODING_SAMPLE_BYTES = 512 * 1024
MAX_RATIO = 100  # unpacked / packed, checked once past 1 MiB (as for ZIP archives of media)
UNPACKED_FACTOR = 4  # a compressed upload may unpack to at most 4 x the upload limit
WHITESPACE = "whitespace"  # the separator of files whose columns are separated by runs of spaces or tabs
SEPARATORS = (",", ";", "\t", "|")
COMPRESSIONS = ("gzip", "bzip2", "zstd", "zip")
# Single-byte code pages charset-normalizer often ranks above Windows-1252 for Western text that
# Windows-1252 reads just as well (they differ from it on a few letters).
_WESTERN_LOOKALIKES = {"cp1250", "cp1257", "latin_1", "iso8859_1", "iso8859_2", "iso8859_13", "iso8859_15",
                       "iso8859_4", "iso8859_9", "iso8859_10", "iso8859_14", "iso8859_16", "cp1254", "cp850",
                       "cp852", "cp775", "cp437", "cp858", "mac_latin2", "mac_roman", "mac_iceland", "mac_turkish",
                       "ascii", "cp1252", "windows_1252"}
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# (magic bytes, offset, what it is) of files people upload by mistake; first match wins.
_BINARY_KINDS: tuple[tuple[bytes, int, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "an Excel 97-2003 workbook or another Office document (.xls/.doc)"),
    (b"%PDF", 0, "a PDF document"),
    (b"\x89PNG", 0, "a PNG image"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
    (b"GIF8", 0, "a GIF image"),
    (b"SQLite format 3\x00", 0, "an SQLite database"),
    (b"\xfd7zXZ\x00", 0, "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", 0, "a 7-Zip archive"),
    (b"Rar!", 0, "a RAR archive"),
    (b"ustar", 257, "a tar archive"),
    (b"ARROW1", 0, "an Arrow IPC / Feather file"),
    (b"ORC", 0, "an ORC file"),
    (b"Obj\x01", 0, "an Avro file"),
    (b"\x89HDF", 0, "an HDF5 file"),
    (b"\x93NUMPY", 0, "a NumPy array file (.npy)"),
    (b"\x7fELF", 0, "a program (ELF executable)"),
    (b"MZ", 0, "a Windows program"),
    (b"RIFF", 0, "a RIFF media file (WAV/AVI)"),
    (b"fLaC", 0, "a FLAC audio file"),
    (b"OggS", 0, "an Ogg media file"),
    (b"\x1a\x45\xdf\xa3", 0, "a Matroska/WebM video"),
)


def refuse(message: str, code: str = "DATA_002", **details: Any) -> AISystemError:
    return AISystemError(code, message, details)


# --- compression ------------------------------------------------------------------------------------


def compression_of(head: bytes) -> str | None:
    """gzip | bzip2 | zstd | zip | None, from the first bytes."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    return None


def _bomb_check(unpacked: int, packed: int, total_limit: int, label: str) -> None:
    if unpacked > total_limit:
        raise refuse(f"The {label} file would unpack to more than {total_limit} bytes", limit=total_limit)
    if unpacked > 1024 * 1024 and unpacked > MAX_RATIO * max(packed, 1):
        raise refuse(f"The {label} file looks like a decompression bomb (it expands more than {MAX_RATIO} times)")


def _reader(stream, compression: str):  # noqa: ANN001, ANN202
    """A file object giving the unpacked bytes, read in bounded pieces (several gzip members, bzip2
    streams or Zstandard frames one after the other are read as one file, as the tools write them)."""
    if compression == "gzip":
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if compression == "bzip2":
        return bz2.BZ2File(stream, "rb")
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)


def decompress(source: Path, compression: str, target: Path, *,
               stop_after: int | None = None) -> tuple[str | None, bool]:
    """Unpack a gzip/bzip2/zstd file or a one-file ZIP into `target`; (the inner file's name when the
    archive names it, whether all of it was unpacked).

    `stop_after` ends early once that many bytes are out (a preview needs the beginning only). The
    bomb limits hold however the packed file lies about its size: output is read in bounded pieces."""
    packed = source.stat().st_size
    total_limit = UNPACKED_FACTOR * get_settings().max_upload_bytes
    label_ = {"gzip": "gzip", "bzip2": "bzip2", "zstd": "Zstandard", "zip": "ZIP"}[compression]
    if compression == "zip":
        return _unzip_one(source, target, total_limit, stop_after)
    written = 0
    try:
        with open(source, "rb") as src, _reader(src, compression) as unpacked, open(target, "wb") as out:
            while chunk := unpacked.read(CHUNK):
                written += len(chunk)
                _bomb_check(written, packed, total_limit, label_)
                out.write(chunk)
                if stop_after is not None and written >= stop_after:
                    return None, False
    except AISystemError:
        raise
    except Exception as exc:  # noqa: BLE001  (gzip: OSError/EOFError; bz2: OSError; zstandard: ZstdError)
        raise refuse(f"The {label_} file could not be unpacked: {_short(exc)}") from exc
    if written == 0:
        raise refuse(f"The {label_} file unpacks to nothing", code="DATA_004")
    return None, True


def _unzip_one(source: Path, target: Path, total_limit: int, stop_after: int | None) -> tuple[str | None, bool]:
    from backend.catalog.datasets.ingest import _safe_member_name  # one rule for member names

    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise refuse(f"The ZIP archive could not be opened: {_short(exc)}") from exc
    with archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
            raise refuse("The file is binary (an Excel workbook, .xlsx), not text: save the sheet as CSV "
                         "(or Unicode text) in Excel and upload that", found="xlsx")
        if "mimetype" in names and any(n == "content.xml" for n in names):
            raise refuse("The file is binary (an OpenDocument file, .ods/.odt), not text: save the sheet as CSV",
                         found="opendocument")
        files = [i for i in infos if not i.is_dir() and not i.filename.lower().startswith("__macosx/")
                 and not PurePosixPath(i.filename).name.startswith(".")]
        if len(files) != 1:
            raise refuse(f"The ZIP archive has {len(files)} files; a tabular dataset takes one CSV/TSV, Parquet, "
                         "JSON or JSON Lines file (alone, or alone in a ZIP)", files=len(files))
        info = files[0]
        name = _safe_member_name(info.filename)
        if info.flag_bits & 0x1:
            raise refuse("Encrypted archives are not supported")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
            raise refuse("The archive uses an unsupported compression method")
        packed = max(info.compress_size, 1)
        _bomb_check(info.file_size, packed, total_limit, "ZIP")
        written = 0
        try:
            with archive.open(info) as member, open(target, "wb") as out:
                while chunk := member.read(CHUNK):
                    written += len(chunk)
                    if written > info.file_size:
                        raise refuse("An archive member is larger than its header says", member=name[:100])
                    _bomb_check(written, packed, total_limit, "ZIP")
                    out.write(chunk)
                    if stop_after is not None and written >= stop_after:
                        return PurePosixPath(name).name, False
        except AISystemError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error) as exc:
            raise refuse(f"The archive member could not be read: {_short(exc)}", member=name[:100]) from exc
    return PurePosixPath(name).name, True


def _short(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()[0] if exc and str(exc).strip() else type(exc).__name__
    return _CONTROL.sub("", text)[:300]


def strip_compression_suffix(name: str | None) -> str | None:
    """`data.csv.gz` -> `data.csv` (the inner name decides the format of a compressed file)."""
    if not name:
        return name
    lower = name.lower()
    for suffix in (".gz", ".gzip", ".bz2", ".zst", ".zstd", ".zip"):
        if lower.endswith(suffix):
            return name[: -len(suffix)] or None
    return name


# --- what a binary file is ------------------------------------------------------------------------------


def utf16_bom(head: bytes) -> str | None:
    """The BOM's encoding for UTF-16/32 text (None for anything else)."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return None


def utf16_without_bom(head: bytes) -> str | None:
    """utf-16-le / utf-16-be for BOM-less UTF-16 text (ASCII letters with a zero byte beside each)."""
    sample = head[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    sample = head[:8192]
    if not sample:
        return False
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 26))
    return controls / len(sample) > 0.01


def describe_binary(head: bytes) -> str:
    """What a binary file looks like, in words, for the message that refuses it."""
    for magic, offset, what in _BINARY_KINDS:
        if head[offset:offset + len(magic)] == magic:
            return what
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    start = " ".join(f"{b:02x}" for b in head[:8])
    return f"an unknown binary format (it starts with the bytes {start})" if start else "empty"


def binary_refusal(head: bytes) -> AISystemError:
    what = describe_binary(head)
    return refuse(f"The file is binary ({what}), not text: upload CSV/TSV, Parquet, JSON or JSON Lines, plain or "
                  "compressed with gzip, bzip2, Zstandard or ZIP (or a ZIP of images/audio for media datasets)",
                  found=what)


# --- encodings ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoding:
    """The text encoding of a file: a Python codec name, whether it was guessed, and other candidates."""

    name: str
    guessed: bool = False
    bom: bool = False
    alternatives: tuple[str, ...] = ()

    @property
    def is_utf8(self) -> bool:
        return self.name in ("utf-8", "utf-8-sig")


def codec_name(name: str) -> str:
    """The canonical name of a text codec (`windows-1252` -> `cp1252`); LookupError when unknown/not text."""
    info = codecs.lookup(name)
    if not getattr(info, "_is_text_encoding", True):
        raise LookupError(name)
    return info.name


def detect_encoding(path: Path, head: bytes, *, utf8_valid: bool | None, requested: str | None) -> Encoding:
    """The file's encoding: `requested` when given; a BOM; UTF-8 when every byte decodes; else a guess."""
    if requested:
        name = codec_name(requested)
        bom = head.startswith(b"\xef\xbb\xbf") if name == "utf-8" else bool(utf16_bom(head))
        return Encoding(name, bom=bom)
    if head.startswith(b"\xef\xbb\xbf"):
        return Encoding("utf-8", bom=True) if utf8_valid is not False else _guess(path, head)
    if bom := utf16_bom(head):
        return Encoding(bom, bom=True)
    if wide := utf16_without_bom(head):
        return Encoding(wide, guessed=True)
    if utf8_valid is None:
        utf8_valid = is_utf8(path)
    if utf8_valid:
        return Encoding("utf-8")
    return _guess(path, head)


def is_utf8(path: Path, *, partial: bool = False) -> bool:
    """Every byte decodes as UTF-8 (with `partial`, the file is a beginning: a character cut at its end is fine)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                decoder.decode(chunk)
            if not partial:
                decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _sample_for_guess(path: Path) -> bytes:
    """The file's beginning plus the region around its first byte that is not UTF-8."""
    with open(path, "rb") as f:
        start = f.read(ENCODING_SAMPLE_BYTES)
        try:
            start.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(start) - 4:
                return start
        # the beginning is UTF-8: find the first odd byte further on
        offset = len(start)
        decoder = codecs.getincrementaldecoder("utf-8")()
        decoder.decode(start)
        while chunk := f.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                f.seek(max(0, offset + exc.start - 64 * 1024))
                return start + b"\n" + f.read(256 * 1024)
            offset += len(chunk)
    return start


def _guess(path: Path, head: bytes) -> Encoding:
    from charset_normalizer import from_bytes

    sample = _sample_for_guess(path)
    matches = list(from_bytes(sample, explain=False))
    candidates: list[str] = []
    for match in matches:
        for name in [match.encoding, *match.could_be_from_charset]:
            if name not in candidates:
                candidates.append(name)
    best = matches[0] if matches else None
    western = best is None or best.encoding in _WESTERN_LOOKALIKES
    reads_as_1252 = _decodes(sample, "cp1252")
    if western and reads_as_1252 and (best is None or _cp1252_as_good(matches)):
        name = "cp1252"
    elif best is not None:
        name = codec_name(best.encoding)
    else:
        name = "cp1252" if reads_as_1252 else "iso8859-1"
    others = tuple(dict.fromkeys(codec_name(c) for c in candidates if _known(c) and codec_name(c) != name))[:5]
    return Encoding(name, guessed=True, alternatives=others)


def _known(name: str) -> bool:
    try:
        codec_name(name)
    except LookupError:
        return False
    return True


def _cp1252_as_good(matches: list) -> bool:  # noqa: ANN001
    """Windows-1252 reads the sample about as cleanly as the best candidate (charset-normalizer's ties
    go to Central European pages, which turn `ï` into `ď`), unless the best is sure of a language
    Windows-1252 cannot write (Polish, Czech, ...) with more coherence."""
    best = matches[0]
    same = next((m for m in matches if m.encoding == "cp1252" or "cp1252" in m.could_be_from_charset), None)
    if same is None:
        return best.encoding in ("latin_1", "iso8859_1", "iso8859_15", "ascii")
    if same is best:
        return True
    central = {"Polish", "Czech", "Slovak", "Hungarian", "Slovene", "Croatian", "Romanian", "Lithuanian",
               "Latvian", "Estonian", "Turkish"}
    if best.language in central and best.coherence > same.coherence + 0.05:
        return False
    return same.chaos <= best.chaos + 0.01


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc.start >= len(data) - 4  # a sequence cut by the sample's end is fine
    return True


def transcode(source: Path, encoding: Encoding, target: Path, *, whitespace: bool = False,
              cr_newlines: bool = False, stop_after: int | None = None) -> bool:
    """Write `source` as UTF-8 text (no BOM) to `target`; runs of whitespace become commas when
    `whitespace`, lone CR line ends become LF when `cr_newlines`. True when all of it was written.

    DATA_002 names the byte where the text stops being valid in its encoding."""
    decoder = codecs.getincrementaldecoder(_without_bom(encoding.name))(errors="strict")
    offset = 0
    pending = ""
    first = True
    with open(source, "rb") as src, open(target, "wb") as out:
        while True:
            chunk = src.read(CHUNK)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise refuse(f"The file is not valid {label(encoding.name)} text (byte {offset + exc.start + 1}); "
                             "choose its encoding in the import options", byte=offset + exc.start + 1) from exc
            offset += len(chunk)
            if first:
                text = text.lstrip("\ufeff") if text.startswith("\ufeff") else text
                first = False
            if cr_newlines:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if whitespace:
                text = pending + text
                cut = text.rfind("\n") + 1 if chunk else len(text)
                text, pending = text[:cut], text[cut:]
                text = normalize_whitespace(text)
            out.write(text.encode("utf-8"))
            if not chunk:
                break
            if stop_after is not None and out.tell() >= stop_after:
                return False
    return True


def _without_bom(name: str) -> str:
    # the BOM is dropped on the first chunk; utf-16/utf-32 read it themselves
    return "utf-8" if name in ("utf-8", "utf-8-sig") else name


_WS_TOKEN = re.compile(r'"((?:[^"]|"")*)"|(\S+)')


def normalize_whitespace(text: str) -> str:
    """Lines whose fields are separated by runs of spaces/tabs, as comma-separated lines (quoted as needed)."""
    lines = text.split("\n")
    out = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            out.append(stripped)
            continue
        if '"' not in stripped:
            fields = stripped.split()
            out.append(",".join(f if "," not in f else f'"{f}"' for f in fields))
            continue
        parts = []
        for quoted, plain in _WS_TOKEN.findall(stripped):
            value = plain if plain else quoted.replace('""', '"')
            parts.append(f'"{value.replace(chr(34), chr(34) * 2)}"' if ("," in value or '"' in value or plain == "")
                         else value)
        out.append(",".join(parts))
    return "\n".join(out)


LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1252": "Windows-1252", "iso8859-1": "Latin-1 (ISO-8859-1)",
          "latin-1": "Latin-1 (ISO-8859-1)", "utf-16": "UTF-16", "utf-16-le": "UTF-16 (little-endian)",
          "utf-16-be": "UTF-16 (big-endian)", "utf-32": "UTF-32", "cp1250": "Windows-1250 (Central European)",
          "cp1251": "Windows-1251 (Cyrillic)", "iso8859-15": "Latin-9 (ISO-8859-15)", "mac-roman": "Mac Roman",
          "shift_jis": "Shift JIS", "cp932": "Shift JIS (Windows)", "gb18030": "GB18030", "big5": "Big5",
          "euc_kr": "EUC-KR", "ascii": "ASCII"}


def label(name: str) -> str:
    return LABELS.get(name, name.upper())


# --- dialects -----------------------------------------------------------------------------------------


@dataclass
class Dialect:
    """How the text is laid out. `separator` is one character, or WHITESPACE (runs of spaces/tabs)."""

    separator: str = ","
    quote_char: str | None = '"'
    guessed: bool = False


def sample_lines(text: str, *, skip_rows: int = 0, comment: str | None = None) -> list[str]:
    """The sample's complete lines after `skip_rows`, without blank and comment lines."""
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last one is cut
    lines = lines[skip_rows:]
    return [ln for ln in lines if ln.strip() and not (comment and ln.startswith(comment))][:SAMPLE_LINES]


def sniff_dialect(lines: list[str], *, separator: str | None = None) -> Dialect:
    """The separator and quote character of the sample's lines (`separator` when the user chose one)."""
    if separator:
        return Dialect(separator, '"', guessed=False)
    if not lines:
        return Dialect(",", '"', guessed=True)
    text = "\n".join(lines) + "\n"
    sniffed = _first_lines(lines, SNIFF_BYTES)
    found = _clevercsv(sniffed) if sniffed else None
    dialect = Dialect(",", '"', guessed=True)
    if found is not None:
        delimiter, quote = found
        if delimiter == " ":
            dialect.separator = WHITESPACE
        elif delimiter in SEPARATORS:
            dialect.separator = delimiter
        elif delimiter:
            dialect.separator = delimiter if len(delimiter) == 1 and delimiter.isascii() and \
                not delimiter.isalnum() else _counted(lines)
        else:
            dialect.separator = _counted(lines)
        dialect.quote_char = quote or ('"' if '"' not in text else None)
        if dialect.quote_char not in (None, '"', "'"):
            dialect.quote_char = '"'
    else:
        dialect.separator = _counted(lines)
    dialect.separator = _checked(lines, dialect.separator, dialect.quote_char or '"')
    return dialect


def _first_lines(lines: list[str], limit: int) -> str:
    """The whole lines that fit in `limit` characters ("" when the first one alone does not: a wide file
    is left to the field counts, which cost one pass)."""
    taken, size = [], 0
    for line in lines:
        size += len(line) + 1
        if size > limit:
            break
        taken.append(line)
    return "\n".join(taken) + "\n" if taken else ""


def _clevercsv(text: str) -> tuple[str, str] | None:
    try:
        import clevercsv

        found = clevercsv.Detector().detect(text)
    except Exception:  # noqa: BLE001  (a sniffer failing is a reason to count fields ourselves)
        return None
    if found is None:
        return None
    return found.delimiter or "", found.quotechar or ""


def field_counts(lines: list[str], separator: str, quote: str = '"') -> list[int]:
    if separator == WHITESPACE:
        return [len(_WS_TOKEN.findall(ln.strip())) for ln in lines]
    try:
        return [len(row) for row in csv.reader(lines, delimiter=separator, quotechar=quote or '"')]
    except csv.Error:
        return [ln.count(separator) + 1 for ln in lines]


def _consistency(counts: list[int]) -> tuple[int, float]:
    """(the most common field count, the share of lines that have it)."""
    if not counts:
        return 1, 0.0
    mode, times = Counter(counts).most_common(1)[0]
    return mode, times / len(counts)


def _counted(lines: list[str]) -> str:
    """Our own check when no sniffer answers: the candidate giving the same several fields on (nearly)
    every line; "," (one column) when none does."""
    best, best_score = ",", (0.0, 0)
    for separator in (*SEPARATORS, WHITESPACE):
        mode, share = _consistency(field_counts(lines, separator))
        if mode > 1 and share >= 0.8 and (share, mode) > best_score:
            best, best_score = separator, (share, mode)
    return best


def _checked(lines: list[str], separator: str, quote: str) -> str:
    """Keep the sniffed separator unless it gives one column where runs of whitespace give a
    consistent several (a whitespace-separated file a sniffer read as one text column), or gives
    ragged lines where tabs or whitespace do not."""
    mode, share = _consistency(field_counts(lines, separator, quote))
    if separator != WHITESPACE and (mode == 1 or share < 0.8):
        ws_mode, ws_share = _consistency(field_counts(lines, WHITESPACE))
        if ws_mode > 1 and ws_share >= 0.9 and (mode == 1 or ws_share > share):
            return WHITESPACE
    if separator == WHITESPACE and share < 0.8:
        return _counted(lines)  # words of free text, not columns
    return separator


def guess_comment(lines: list[str], separator: str | None = None) -> str | None:
    """"#" when lines starting with it are comments, not the header: several of them, or one whose
    field count differs from the other lines' (`#id,name` above `1,Ann` is a header)."""
    hashed = [ln for ln in lines if ln.startswith("#")]
    others = [ln for ln in lines if not ln.startswith("#")]
    if not hashed or not others:
        return None
    if len(hashed) >= 2:
        return "#"
    chosen = separator or sniff_dialect(others).separator
    mode, _share = _consistency(field_counts(others, chosen))
    return "#" if field_counts(hashed, chosen)[0] != mode else None


def looks_numeric(value: str) -> bool:
    return bool(_NUMBER.match(value.strip()))


def header_guess(first_row: list[str], na_values: set[str]) -> bool:
    """True unless every field of the first row is a number or a missing value (then it is data)."""
    meaningful = [v for v in first_row if v.strip() and v not in na_values]
    return not meaningful or not all(looks_numeric(v) for v in meaningful)



# --- JSON nesting -----------------------------------------------------------------------------------

MAX_JSON_DEPTH = 64  # arrays and objects inside each other; tabular records need a handful
JSON_SCAN_CHUNK = 8 * 1024 * 1024


def check_json_depth(path: Path, *, limit: int = MAX_JSON_DEPTH, stop_after: int | None = None) -> None:
    """DATA_002 when arrays and objects nest more than `limit` deep anywhere in a (UTF-8) JSON or JSON
    Lines file, before any parser sees it: the JSON readers recurse once per level, and a thousand
    levels overflow their stack (a 6 KB file crashed the process that read it).

    A streaming count with numpy over 8 MiB pieces: brackets inside strings do not count (a string
    ends at its closing quote or, as valid JSON has no raw line break in a string, at the line's end),
    and the depth never goes below zero, so surplus closing brackets cannot hide deep opening ones.
    `stop_after` bytes end the scan early (a preview reads only the file's beginning)."""
    depth = 0
    scanned = 0
    line_quotes = 0  # quotes since the last line break, carried from the previous piece
    escape_next = False  # the previous piece ended with a backslash escaping this piece's first byte
    with open(path, "rb") as f:
        while (stop_after is None or scanned < stop_after) and (chunk := f.read(JSON_SCAN_CHUNK)):
            scanned += len(chunk)
            a = np.frombuffer(chunk, dtype=np.uint8)
            quote = a == 0x22
            escaped, escape_next = _escaped_bytes(a, escape_next)
            quote[escaped] = False
            quotes = np.flatnonzero(quote)
            newlines = np.flatnonzero(a == 0x0A)
            brackets = np.flatnonzero((a == 0x5B) | (a == 0x7B) | (a == 0x5D) | (a == 0x7D))
            if len(brackets):
                since = np.searchsorted(quotes, brackets) + line_quotes  # quotes since the line began
                if len(newlines):
                    line = np.searchsorted(newlines, brackets) - 1  # the line break before each bracket
                    since = np.where(line >= 0, since - line_quotes
                                     - np.searchsorted(quotes, newlines[np.maximum(line, 0)]), since)
                brackets = brackets[(since & 1) == 0]
                opening = (a[brackets] == 0x5B) | (a[brackets] == 0x7B)
                walk = depth + np.cumsum(np.where(opening, 1, -1))
                floored = walk - np.minimum(np.minimum.accumulate(walk), 0)
                if len(floored):
                    if int(floored.max()) > limit:
                        raise refuse(f"The JSON nests arrays or objects more than {limit} levels deep; "
                                     "flatten the records before uploading them", limit=limit)
                    depth = int(floored[-1])
            line_quotes = (line_quotes + len(quotes) if not len(newlines)
                           else len(quotes) - int(np.searchsorted(quotes, newlines[-1])))


def _escaped_bytes(a: np.ndarray, first_escaped: bool) -> tuple[np.ndarray, bool]:
    """(positions of the bytes a backslash escapes, whether the piece's last backslash escapes the next
    piece's first byte): in a run of backslashes every other one escapes the byte after it."""
    backslashes = np.flatnonzero(a == 0x5C)
    head = np.array([0], dtype=np.int64) if first_escaped and len(a) and a[0] != 0x5C else \
        np.array([], dtype=np.int64)
    if not len(backslashes):
        return head, False
    starts = np.concatenate(([True], np.diff(backslashes) != 1))
    run_start = np.maximum.accumulate(np.where(starts, backslashes, 0))
    parity = (backslashes - run_start) & 1
    if first_escaped and backslashes[0] == 0:  # the first run begins with an escaped backslash
        parity = np.where(run_start == 0, parity ^ 1, parity)
    targets = backslashes[parity == 0] + 1
    carry = bool(len(targets)) and int(targets[-1]) == len(a)
    return np.concatenate((head, targets[targets < len(a)])), carry
