"""Artifact files: streamed to a local spool file with a byte counter and a running sha256, checked
without ever deserialising them, then moved atomically into the platform's artifact store
(`backend.core.artifacts`) under the key `models/<server-made id>`.

Accepted: safetensors weights (header parsed and checked against the file, plus a JSON config),
ONNX (the protobuf read with the `onnx` package, initializer data left out, nothing executed) and,
only when declared with `format=opaque`, any other file, kept as it is: stored, hashed and
downloadable, never loaded. Refused by sniffing the content, whatever the file is called: Python
pickles (torch `.pt`, joblib, `.pkl`), ZIP/TAR bundles holding a pickle or an unsafe member,
compressed pickles and NumPy object arrays. Nothing here imports torch, pickle or joblib.

Parameters are counted as the framework counts them (`sum(p.numel() for p in model.parameters())`
in PyTorch): a state dict also holds buffers — BatchNorm's running statistics and batch counter,
index tables, rotary frequencies, causal masks — which are not parameters. A weights file names no
kinds, so they are told apart by the names frameworks give them (`BUFFER_NAMES`).
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import math
import os
import pickletools
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.exceptions import FormParserError
from sqlmodel import Session, col, select

from backend.catalog.model_registry.models import ModelVersion
from backend.core import artifacts
from backend.core.artifacts import Stored, safe_file_name
from backend.core.config import get_settings
from backend.core.errors import AISystemError, InvalidRequest

MAX_CONFIG_BYTES = 64 * 1024
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
ARTIFACT_ID = re.compile(r"^artifact_[0-9a-f]{20}$")
REFUSED_EXTENSIONS = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".pt2", ".ckpt", ".dill", ".sav")
EXTENSIONS = {"safetensors": ".safetensors", "onnx": ".onnx", "opaque": ".bin"}
SAFETENSORS_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
                      "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
# The last part of a tensor's name that frameworks give buffers, not parameters: torch BatchNorm and
# InstanceNorm running statistics and batch counter, Keras BatchNormalization's moving statistics,
# Hugging Face's position / token-type index buffers, rotary embeddings' inverse frequencies, Swin's
# relative position index, GPT-2's masked bias and fairseq's dtype marker.
BUFFER_NAMES = frozenset({"running_mean", "running_var", "num_batches_tracked", "moving_mean", "moving_variance",
                          "position_ids", "token_type_ids", "inv_freq", "relative_position_index", "masked_bias",
                          "_float_tensor"})
LISTED = 200  # names kept per list in an artifact's details (inputs, outputs, initializers, buffers)
NAME_CHARS = 200
LEGACY_COUNT_NOTICE = ("Parameters are not shown: this file was read before buffers such as BatchNorm running "
                       "statistics were told apart from parameters. Upload it again to count them.")
OPAQUE_NOTICE = ("Stored as an opaque file: kept as uploaded, hashed and downloadable, but never loaded, "
                 "parsed or run by the platform, so it shows no parameters, inputs or outputs.")


def invalid(message: str, **details: Any) -> AISystemError:
    return AISystemError("MODEL_004", message, details)


# --- where files live ----------------------------------------------------------------------------


PREFIX = "models"


def artifact_key(artifact_id: str) -> str:
    """The store key of an artifact. Only server-made ids reach here; the check is belt and braces."""
    if not ARTIFACT_ID.match(artifact_id or ""):
        raise invalid("The artifact id is not valid")
    return f"{PREFIX}/{artifact_id}"


def store_root() -> Path:
    """Where a local artifact store keeps model files (for tests and maintenance)."""
    return artifacts.local_store().path(PREFIX)


def temp_root() -> Path:
    """Where uploads are spooled on this host (beside a local store, so moving one in is a rename)."""
    return artifacts.work_dir() / "tmp"


def artifact_path(artifact_id: str) -> Path:
    """The file of an artifact in a local store, which may not exist (for tests and maintenance)."""
    return artifacts.local_store().path(artifact_key(artifact_id))


def sanitize_file_name(name: str | None) -> str | None:
    """A display-only version of a client's file name (the platform's one rule)."""
    return safe_file_name(name)


def download_name(model_name: str, version: str, fmt: str | None) -> str:
    """The file name a version's artifact is downloaded as: `<model>-<version>.<format extension>`."""
    return artifacts.download_name(f"{model_name}-{version}", EXTENSIONS.get(fmt or "", ".bin"), fallback=version)


# --- receiving ----------------------------------------------------------------------------------


@dataclass
class ReceivedFile:
    path: Path
    size: int
    sha256: str
    file_name: str | None = None
    config: dict[str, Any] | None = None


class UploadSink(artifacts.Spool):
    """A spool file for an upload (size limit from the settings); `abort()` removes it."""

    def __init__(self, limit: int | None = None):
        super().__init__(temp_root(), limit=limit if limit is not None else get_settings().max_upload_bytes,
                         head_bytes=0)

    def finish(self, *, file_name: str | None = None, config: dict | None = None) -> ReceivedFile:
        stored = self.close()
        return ReceivedFile(self.path, stored.size, stored.sha256, sanitize_file_name(file_name), config)


def receive(chunks: Iterable[bytes], *, file_name: str | None = None, config: dict | None = None,
            limit: int | None = None) -> ReceivedFile:
    """Write an iterable of byte chunks to a temp file (for in-process callers and tests)."""
    sink = UploadSink(limit)
    try:
        for chunk in chunks:
            sink.write(chunk)
        return sink.finish(file_name=file_name, config=config)
    except BaseException:
        sink.abort()
        raise


def parse_config(raw: bytes | str | None) -> dict[str, Any] | None:
    """The JSON config that travels with safetensors weights: an object, 64 KiB at most; data only."""
    if raw is None or raw in (b"", ""):
        return None
    if len(raw) > MAX_CONFIG_BYTES:
        raise invalid(f"The config is over {MAX_CONFIG_BYTES} bytes")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("The config is not valid JSON") from exc
    if not isinstance(value, dict):
        raise invalid("The config must be a JSON object")
    return value


class MultipartReceiver:
    """Streams a multipart/form-data body: the `file` part goes to the sink as it arrives, the small
    `config` part is kept in memory (bounded). Other parts are ignored."""

    def __init__(self, content_type: str, sink: UploadSink):
        from python_multipart.multipart import MultipartParser, parse_options_header

        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise AISystemError("REQ_001", "The multipart body has no boundary")
        self.sink = sink
        self.file_name: str | None = None
        self.saw_file = False
        self._config = bytearray()
        self._part: str | None = None
        self._header_field = b""
        self._headers: dict[bytes, bytes] = {}
        self._parser = MultipartParser(boundary, callbacks={
            "on_part_begin": self._begin, "on_header_field": self._field, "on_header_value": self._value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_done,
            "on_part_data": self._data, "on_end": self._end,
        })
        self._ended = False
        self._value_buffer = b""

    def _begin(self) -> None:
        self._headers, self._part = {}, None

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._value_buffer += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._value_buffer
        self._header_field, self._value_buffer = b"", b""

    def _headers_done(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("latin-1")
        if name == "file":
            if self.saw_file:
                raise AISystemError("REQ_001", "Send one `file` part")
            self.saw_file = True
            self.file_name = options.get(b"filename", b"").decode("utf-8", "replace") or None
        self._part = name

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "file":
            self.sink.write(data[start:end])
        elif self._part == "config":
            self._config += data[start:end]
            if len(self._config) > MAX_CONFIG_BYTES:
                raise invalid(f"The config is over {MAX_CONFIG_BYTES} bytes")

    def _end(self) -> None:
        self._ended = True

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise InvalidRequest("The multipart body is invalid", {"body": str(exc)[:200]}) from exc

    def finish(self) -> ReceivedFile:
        try:
            self._parser.finalize()
        except FormParserError as exc:
            raise InvalidRequest("The multipart body is invalid", {"body": str(exc)[:200]}) from exc
        if not self._ended:
            raise InvalidRequest("The multipart body ends before its closing boundary",
                                 {"body": "a complete multipart body"})
        if not self.saw_file:
            raise AISystemError("REQ_001", "The multipart body needs a `file` part",
                                {"fields": [{"field": "file", "message": "missing"}]})
        return self.sink.finish(file_name=self.file_name, config=parse_config(bytes(self._config)))


# --- checking ------------------------------------------------------------------------------------


@dataclass
class Inspection:
    format: str
    details: dict[str, Any] = field(default_factory=dict)


def inspect(received: ReceivedFile, declared: str | None) -> Inspection:
    """Decide the format of an uploaded file and check it; MODEL_004 naming the problem otherwise.

    A file that is neither safetensors nor ONNX is refused unless it is declared `opaque` (pickles stay
    refused either way); an opaque file's details say what it looked like and that it is never loaded.
    """
    name = (received.file_name or "").lower()
    if name.endswith(REFUSED_EXTENSIONS):
        raise invalid("Pickle-based model files (.pt, .pth, .pkl, .joblib, .ckpt …) are not accepted; "
                      "upload safetensors weights or ONNX", fileName=received.file_name)
    if received.size == 0:
        raise invalid("The artifact is empty")
    with open(received.path, "rb") as f:
        head = f.read(64 * 1024)
    detected, st_details = None, None
    # A safetensors header length can begin with the bytes of pickle's magic (0x80 0x02 = 640 bytes),
    # so a file that parses as safetensors is judged as one; anything else is sniffed for pickles.
    if looks_like_safetensors(head, received.size):
        st_details = safetensors_details(received.path, received.size)
        detected = "safetensors"
    else:
        reason = refusal_reason(head, received.path)
        if reason:
            raise invalid(f"The artifact is refused: {reason}. Upload safetensors weights or ONNX",
                          refused=reason)
        if head[:1] == b"\x08" and onnx_structure(received.path, received.size, strict=False) is not None:
            detected = "onnx"
    fmt = declared or detected
    if fmt is None:
        found = describe(head)
        raise invalid(f"The format was not recognised: the file looks like {found}. Upload safetensors weights "
                      "or an ONNX model, or declare the format opaque (`format=opaque`; Format: Opaque in the "
                      "upload dialog) to store the file as it is, never loaded",
                      found=found, accepted=["safetensors", "onnx", "opaque"])
    if fmt == "safetensors":
        details = st_details or safetensors_details(received.path, received.size)
        config = received.config
        if config is None:
            embedded = details.pop("embeddedConfig", None)
            config = parse_config(embedded) if embedded else None
        if config is None:
            raise invalid("safetensors weights need a JSON config: send a `config` part, or put it in the "
                          "file's metadata under `config`")
        details.pop("embeddedConfig", None)
        details["config"] = config
        return Inspection("safetensors", details)
    if fmt == "onnx":
        onnx_structure(received.path, received.size, strict=True)
        return Inspection("onnx", onnx_details(received.path, received.size))
    found = {"safetensors": "safetensors weights", "onnx": "an ONNX model"}.get(detected or "") or describe(head)
    return Inspection("opaque", {"detected": detected, "found": found, "loaded": False})


_MAGIC = ((b"GGUF", "a GGUF file (llama.cpp weights)"), (b"\x89HDF\r\n\x1a\n", "an HDF5 file (e.g. Keras .h5)"),
          (b"PK\x03\x04", "a ZIP archive"), (b"PK\x05\x06", "an empty ZIP archive"),
          (b"\x1f\x8b", "gzip-compressed data"), (b"BZh", "bzip2-compressed data"),
          (b"\xfd7zXZ\x00", "xz-compressed data"), (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
          (b"\x93NUMPY", "a NumPy array"), (b"%PDF", "a PDF document"))


def describe(head: bytes) -> str:
    """What the first bytes of a file look like, in words (for messages; nothing is trusted from it)."""
    for magic, words in _MAGIC:
        if head.startswith(magic):
            return words
    if head[4:8] == b"TFL3":
        return "a TensorFlow Lite model"
    if _is_tar(head):
        return "a TAR archive"
    if head[:1] == b"\x08":
        return "protobuf data that is not an ONNX model"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the end of the sample is still text.
        try:
            text = head[:-3].decode("utf-8") if len(head) > 3 else None
        except UnicodeDecodeError:
            text = None
    if text is not None and all(c.isprintable() or c in "\r\n\t" for c in text):
        stripped = text.lstrip()
        return "JSON text" if stripped[:1] in ("{", "[") else "plain text"
    return "binary data of no known model format"


# Pickle sniffing: every layer of compression is undone (up to MAX_LAYERS, each bounded by
# CHECK_LIMIT_BYTES spooled to a temp file), every archive member is looked at (names and content),
# and a protocol 0/1 pickle is recognised by disassembling it (never running it).
MAX_LAYERS = 8
CHECK_LIMIT_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 100_000
PICKLE_WINDOW = 1024 * 1024
_HEAD = 64 * 1024


def _zstd_reader(f: BinaryIO) -> BinaryIO:
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True, closefd=True)


class _Inflating:
    """A zlib stream (joblib's default; the standard library has no file class for it), read in chunks."""

    def __init__(self, f: BinaryIO):
        self._f, self._d = f, zlib.decompressobj()

    def __enter__(self) -> _Inflating:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def read(self, n: int) -> bytes:
        while not self._d.eof:
            data = self._d.unconsumed_tail or self._f.read(64 * 1024)
            if not data:
                return self._d.flush()
            out = self._d.decompress(data, n)
            if out:
                return out
        return b""


_DECOMPRESSORS: dict[str, Any] = {
    "gzip": lambda f: gzip.GzipFile(fileobj=f), "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile, "zstd": _zstd_reader,
    "zlib": _Inflating,
}


def _compression(head: bytes) -> str | None:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if len(head) > 2 and head[0] == 0x78 and head[1] in (0x01, 0x5E, 0x9C, 0xDA):
        return "zlib"
    return None


def refusal_reason(head: bytes, path: Path | None = None, depth: int = 0) -> str | None:
    """Why this content must not be stored (pickle in some disguise), or None.

    With `path`, the whole file is judged (`head` is its first bytes); without, only `head`."""
    if path is None:
        return _head_reason(head)
    return _file_reason(path, depth)


def _head_reason(head: bytes) -> str | None:
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "it is a Python pickle"
    if head.startswith(b"\x93NUMPY"):
        return "it is a NumPy object array (needs pickle)" if _npy_is_object(head) else None
    return None


def _file_reason(path: Path, depth: int) -> str | None:
    with open(path, "rb") as f:
        head = f.read(_HEAD)
    reason = _head_reason(head)
    if reason or head.startswith(b"\x93NUMPY"):
        return reason
    kind = _compression(head)
    if kind is not None:
        return _compressed_reason(path, kind, depth)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")) or zipfile.is_zipfile(path):
        # is_zipfile finds the directory at the end, as torch and unzip do: junk before a zip hides nothing.
        return _zip_reason(path, depth, declared=head.startswith(b"PK"))
    if _is_tar(head):
        return _tar_reason(path, depth)
    if _parses_as_pickle(path):
        return "it is a Python pickle"
    return None


def _compressed_reason(path: Path, kind: str, depth: int) -> str | None:
    if depth >= MAX_LAYERS:
        return f"it is compressed more than {MAX_LAYERS} times over"
    with open(path, "rb") as raw, _DECOMPRESSORS[kind](raw) as stream:
        inner, complete = _spool(stream)
    if inner is None:
        return f"its {kind} content is over {CHECK_LIMIT_BYTES:,} bytes, too large to check for pickles"
    try:
        reason = _file_reason(inner, depth + 1)
    finally:
        inner.unlink(missing_ok=True)
    return f"{reason} ({kind}-compressed)" if reason else None


def _spool(stream: BinaryIO, limit: int = CHECK_LIMIT_BYTES) -> tuple[Path | None, bool]:
    """Copy a stream to a temp file (None when it is over `limit`); a damaged stream keeps what came
    before the damage, as a tool that unpacks it would. Returns (path, whether it ended cleanly)."""
    temp_root().mkdir(parents=True, exist_ok=True)
    out = temp_root() / f"spool-check-{os.urandom(8).hex()}.part"  # swept as upload spools are after a crash
    total, complete = 0, True
    with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        while True:
            try:
                chunk = stream.read(1024 * 1024)
            except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError):
                complete = False
                break
            except Exception:  # zstandard.ZstdError and the like
                complete = False
                break
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                f.close()
                out.unlink(missing_ok=True)
                return None, False
            f.write(chunk)
    return out, complete


def _member_reason(opener: Any, size: int, depth: int) -> str | None:
    """A member's content: its first bytes, and when it could hide a pickle further in (compressed, an
    archive, a protocol 0 pickle, or a zip directory at its end), the whole member spooled and judged."""
    with opener() as member:
        head = member.read(_HEAD)
        tail = head[-_HEAD:]
        if size > len(head) and not _suspicious(head):
            while chunk := member.read(1024 * 1024):  # only an archive can hide behind other bytes
                tail = (tail + chunk)[-_HEAD:]
    reason = _head_reason(head)
    if reason or not (_suspicious(head) or b"PK\x05\x06" in tail):
        return reason
    if depth >= MAX_LAYERS:
        return f"it nests archives or compression more than {MAX_LAYERS} deep"
    with opener() as member:
        inner, _complete = _spool(member)
    if inner is None:
        return f"it is an archive member over {CHECK_LIMIT_BYTES:,} bytes, too large to check for pickles"
    try:
        return _file_reason(inner, depth + 1)
    finally:
        inner.unlink(missing_ok=True)


def _suspicious(head: bytes) -> bool:
    return bool(_compression(head) or head.startswith(b"PK") or _is_tar(head) or _may_start_pickle(head))


def _npy_is_object(head: bytes) -> bool:
    header = head[10:10 + 4096].split(b"\n", 1)[0]
    return b"'descr': '|O'" in header or b"'descr': 'O'" in header or b"|O" in header


_PICKLE_FIRST_OPS = b"(]}cIJKLNSVXdlt\x80."


def _may_start_pickle(head: bytes) -> bool:
    return bool(head) and head[:1] in _PICKLE_FIRST_OPS


def _parses_as_pickle(path: Path) -> bool:
    """Protocol 0/1 pickles have no magic: disassemble (never run) the start and see if it stops.

    Only the first PICKLE_WINDOW bytes are read; a file longer than that whose window disassembles to
    its very end without an error (a pickle whose first strings are long) counts as a pickle too."""
    with open(path, "rb") as f:
        window = f.read(PICKLE_WINDOW + 1)
    cut = len(window) > PICKLE_WINDOW
    window = window[:PICKLE_WINDOW]
    if not _may_start_pickle(window):
        return False
    stream = io.BytesIO(window)
    try:
        for ops, (opcode, _arg, _pos) in enumerate(pickletools.genops(stream), 1):
            if opcode.name == "STOP":
                return ops >= 2
    except Exception:  # not a pickle, or one cut off by the window
        return cut and stream.tell() >= len(window)
    return cut


def _is_tar(head: bytes) -> bool:
    return len(head) > 262 and head[257:262] == b"ustar"


_PICKLE_MEMBER = re.compile(r"(\.pkl|\.pickle|\.joblib|\.pt|\.pth|\.ckpt|\.dill|(^|/)data\.pkl)$", re.I)


def _unsafe_member_name(name: str) -> bool:
    normalized = name.replace("\\", "/")
    return normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized) is not None or \
        ".." in normalized.split("/")


def _names_reason(names: Iterable[str]) -> str | None:
    """Every member's name is checked, however many come first (a pickle was hidden as member 10,001)."""
    for name in names:
        if _unsafe_member_name(name):
            return f"the archive member '{sanitize_file_name(name)}' points outside the archive"
        if _PICKLE_MEMBER.search(name):
            return "the archive holds a pickle (e.g. a torch checkpoint)"
    return None


def _zip_reason(path: Path, depth: int = 0, declared: bool = True) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                return f"the archive has more than {MAX_MEMBERS:,} members, too many to check for pickles"
            reason = _names_reason(info.filename for info in infos)
            if reason:
                return reason
            for info in infos:
                if info.file_size and not info.is_dir():
                    reason = _member_reason(lambda info=info: archive.open(info), info.file_size, depth)
                    if reason:
                        return f"the archive holds a file that {reason.removeprefix('it ')}"
    except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, EOFError, zlib.error):
        # Bytes that merely end like a zip directory are not a zip; a file that starts as one and breaks is refused.
        return "it is a damaged or encrypted ZIP archive" if declared else None
    return None


def _tar_reason(path: Path, depth: int = 0) -> str | None:
    try:
        with tarfile.open(path, "r:*") as archive:
            members = archive.getmembers()
            if len(members) > MAX_MEMBERS:
                return f"the archive has more than {MAX_MEMBERS:,} members, too many to check for pickles"
            if any(m.issym() or m.islnk() for m in members):
                return "the archive holds a link"
            reason = _names_reason(m.name for m in members)
            if reason:
                return reason
            for member in members:
                if member.isfile() and member.size:
                    reason = _member_reason(lambda member=member: archive.extractfile(member), member.size, depth)
                    if reason:
                        return f"the archive holds a file that {reason.removeprefix('it ')}"
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError):
        return "it is a damaged TAR archive"
    return None


# --- safetensors ----------------------------------------------------------------------------------


def looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 10:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= MAX_SAFETENSORS_HEADER and 8 + n <= size and head[8:9] == b"{"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def safetensors_details(path: Path, size: int) -> dict[str, Any]:
    """Parse and check a safetensors header against the file: every tensor's dtype, shape and byte
    range, ranges contiguous and covering the data exactly (what `safetensors` itself checks)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if not 2 <= n <= MAX_SAFETENSORS_HEADER or 8 + n > size:
            raise invalid("Not a safetensors file: the header length is out of range")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("Not a safetensors file: the header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise invalid("Not a safetensors file: the header is not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise invalid("safetensors metadata must map strings to strings")
    ranges, dtypes, counts = [], set(), ParameterCount()
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise invalid("safetensors tensor entry is malformed", tensor=name[:100])
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in SAFETENSORS_DTYPES:
            raise invalid("safetensors tensor has an unknown dtype", tensor=name[:100], dtype=str(dtype)[:20])
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise invalid("safetensors tensor has an invalid shape", tensor=name[:100])
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)):
            raise invalid("safetensors tensor has invalid offsets", tensor=name[:100])
        count = math.prod(shape)
        if offsets[1] - offsets[0] != count * SAFETENSORS_DTYPES[dtype]:
            raise invalid("safetensors tensor size does not match its shape and dtype", tensor=name[:100])
        ranges.append((offsets[0], offsets[1]))
        dtypes.add(dtype)
        counts.add(name, shape, count)
    position = 0
    for begin, end in sorted(ranges):
        if begin != position:
            raise invalid("safetensors tensors overlap or leave gaps")
        position = end
    if 8 + n + position != size:
        raise invalid("safetensors data does not match the header (truncated or extra bytes)")
    return {"tensors": len(ranges), **counts.details(), "dtypes": sorted(dtypes), "headerBytes": n,
            "metadata": {k: v[:200] for k, v in list(metadata.items())[:50] if k != "config"},
            "embeddedConfig": metadata.get("config")}


def is_buffer(name: str, shape: list[int] | tuple[int, ...]) -> bool:
    """Whether a saved tensor is a framework buffer rather than a parameter, by its name (`bn.running_var`,
    TF's `batch_normalization/moving_mean:0`); GPT-2's `attn.bias` is its causal mask when 4-D."""
    parts = re.split(r"[./]", name.rsplit(":", 1)[0])
    last = parts[-1]
    if last in BUFFER_NAMES:
        return True
    return last == "bias" and len(parts) > 1 and parts[-2] == "attn" and len(shape) == 4


@dataclass
class ParameterCount:
    """Elements of a file's tensors, split into parameters and buffers (see `is_buffer`)."""

    parameters: int = 0
    elements: int = 0
    buffer_elements: int = 0
    buffers: list[str] = field(default_factory=list)

    def add(self, name: str, shape: list[int] | tuple[int, ...], count: int) -> None:
        self.elements += count
        if is_buffer(name, shape):
            self.buffer_elements += count
            self.buffers.append(name)
        else:
            self.parameters += count

    def details(self) -> dict[str, Any]:
        """`parameters` as the framework counts them; `tensorElements` every element in the file; the
        buffers left out (count, elements and their first names)."""
        out: dict[str, Any] = {"parameters": self.parameters, "tensorElements": self.elements}
        if self.buffers:
            out["buffers"] = {"tensors": len(self.buffers), "elements": self.buffer_elements,
                              "names": [b[:NAME_CHARS] for b in self.buffers[:LISTED]]}
        return out


# --- ONNX ------------------------------------------------------------------------------------------


def _varint(f: BinaryIO) -> int | None:
    shift, value = 0, 0
    for _ in range(10):
        byte = f.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
    return None


def onnx_structure(path: Path, size: int, *, strict: bool) -> dict[str, Any] | None:
    """Walk the top-level fields of an ONNX ModelProto (protobuf) without building or running it.

    Needs an IR version, a graph and at least one opset import; None (or MODEL_004 when `strict`)
    when the bytes are not such a message.
    """
    def fail(message: str) -> None:
        if strict:
            raise invalid(f"Not an ONNX model: {message}")

    ir_version, has_graph, opsets, producer = None, False, [], None
    with open(path, "rb") as f:
        while f.tell() < size:
            tag = _varint(f)
            if tag is None or tag >> 3 == 0:
                return fail("malformed protobuf")
            number, wire = tag >> 3, tag & 7
            if wire == 0:
                value = _varint(f)
                if value is None:
                    return fail("malformed protobuf")
                if number == 1:
                    ir_version = value
            elif wire == 2:
                length = _varint(f)
                if length is None or f.tell() + length > size:
                    return fail("a field runs past the end of the file")
                if number == 7:
                    has_graph = True
                    f.seek(length, os.SEEK_CUR)
                elif number == 8 and length <= 4096:
                    opsets.append(_opset(f.read(length)))
                elif number == 2 and length <= 200:
                    producer = f.read(length).decode("utf-8", "replace")
                else:
                    f.seek(length, os.SEEK_CUR)
            elif wire == 1:
                f.seek(8, os.SEEK_CUR)
            elif wire == 5:
                f.seek(4, os.SEEK_CUR)
            else:
                return fail("unexpected protobuf wire type")
        if f.tell() != size:
            return fail("a field runs past the end of the file")
    if ir_version is None or not 1 <= ir_version <= 64:
        return fail("no valid IR version")
    if not has_graph:
        return fail("no graph")
    if not opsets:
        return fail("no opset import")
    return {"irVersion": ir_version, "producer": producer, "opsets": opsets[:20]}


def _opset(raw: bytes) -> dict[str, Any]:
    f = io.BytesIO(raw)
    domain, version = "", None
    while f.tell() < len(raw):
        tag = _varint(f)
        if tag is None:
            break
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value = _varint(f)
            if number == 2:
                version = value
        elif wire == 2:
            length = _varint(f) or 0
            data = f.read(length)
            if number == 1:
                domain = data.decode("utf-8", "replace")[:100]
        else:
            break
    return {"domain": domain or "ai.onnx", "version": version}


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


# TensorProto fields that hold the tensor's values (float, int32, string, int64, raw, double, uint64 data).
_TENSOR_DATA = frozenset({4, 5, 6, 7, 9, 10, 11})
_NOT_ONNX = "Not an ONNX model: the protobuf does not parse"


def _copy_message(f: BinaryIO, end: int, *, drop: frozenset[int] = frozenset(),
                  rewrite: dict[int, Any] | None = None) -> bytes:
    """The protobuf message between here and `end`, re-encoded without the fields `drop` names and
    with the sub-messages `rewrite` names passed through their function (which reads up to its end)."""
    out = bytearray()
    while f.tell() < end:
        start = f.tell()
        tag = _varint(f)
        if tag is None or tag >> 3 == 0:
            raise invalid(_NOT_ONNX)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            if _varint(f) is None:
                raise invalid(_NOT_ONNX)
            stop = f.tell()
        elif wire in (1, 5):
            stop = f.tell() + (8 if wire == 1 else 4)
        elif wire == 2:
            length = _varint(f)
            if length is None:
                raise invalid(_NOT_ONNX)
            stop = f.tell() + length
        else:
            raise invalid(_NOT_ONNX)
        if stop > end:
            raise invalid("Not an ONNX model: a field runs past its end")
        if number in drop:
            pass
        elif wire == 2 and rewrite and number in rewrite:
            inner = rewrite[number](f, stop)
            out += _varint_bytes(tag) + _varint_bytes(len(inner)) + inner
        else:
            f.seek(start)
            out += f.read(stop - start)
        f.seek(stop)
    return bytes(out)


def _tensor_skeleton(f: BinaryIO, end: int) -> bytes:
    return _copy_message(f, end, drop=_TENSOR_DATA)


def _sparse_skeleton(f: BinaryIO, end: int) -> bytes:
    return _copy_message(f, end, rewrite={1: _tensor_skeleton, 2: _tensor_skeleton})


def _graph_skeleton(f: BinaryIO, end: int) -> bytes:
    return _copy_message(f, end, rewrite={5: _tensor_skeleton, 15: _sparse_skeleton})


def onnx_skeleton(path: Path, size: int) -> bytes:
    """The ModelProto's bytes without its initializers' values (names, shapes and types kept), so a
    multi-gigabyte model is read in the memory its graph needs, not its weights."""
    with open(path, "rb") as f:
        return _copy_message(f, size, rewrite={7: _graph_skeleton})


def _dtype_name(elem_type: int) -> str:
    import onnx

    try:
        return onnx.TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return "unknown"


def _value_info(value: Any) -> dict[str, Any]:
    """An input or output: name, kind, element type and shape (a dimension is a size, a symbolic name
    such as `batch`, or null when unknown; the shape is null when even the rank is unknown)."""
    kind = value.type.WhichOneof("value") or "unknown"
    out: dict[str, Any] = {"name": value.name[:NAME_CHARS], "type": kind.removesuffix("_type")}
    if kind in ("tensor_type", "sparse_tensor_type"):
        tensor = getattr(value.type, kind)
        out["dtype"] = _dtype_name(tensor.elem_type)
        out["shape"] = ([d.dim_value if d.HasField("dim_value") else (d.dim_param[:NAME_CHARS] or None)
                         for d in tensor.shape.dim[:32]] if tensor.HasField("shape") else None)
    return out


def onnx_details(path: Path, size: int) -> dict[str, Any]:
    """What an ONNX model declares, read with the `onnx` package from the protobuf alone (never run):
    IR version, producer, opsets, inputs and outputs with their shapes, the graph's size, and its
    parameters: the initializers' elements (buffers by name left out, as for safetensors)."""
    import onnx

    try:
        model = onnx.load_model_from_string(onnx_skeleton(path, size))
    except AISystemError:
        raise
    except Exception as exc:  # DecodeError, RecursionError: bytes that are not a ModelProto
        raise invalid(_NOT_ONNX) from exc
    graph = model.graph
    counts, names, external = ParameterCount(), [], 0
    for tensor in graph.initializer:
        counts.add(tensor.name, list(tensor.dims), math.prod(tensor.dims))
        names.append(tensor.name[:NAME_CHARS])
        external += tensor.data_location == onnx.TensorProto.EXTERNAL
    for sparse in graph.sparse_initializer:
        counts.add(sparse.values.name, list(sparse.dims), math.prod(sparse.values.dims))
        names.append(sparse.values.name[:NAME_CHARS])
    initialized = set(names)
    opsets = [{"domain": o.domain or "ai.onnx", "version": o.version} for o in model.opset_import[:20]]
    details: dict[str, Any] = {
        "irVersion": model.ir_version, "producer": model.producer_name[:200] or None,
        "producerVersion": model.producer_version[:60] or None, "opsets": opsets,
        "opset": next((o["version"] for o in opsets if o["domain"] in ("ai.onnx", "")), None),
        "graph": graph.name[:NAME_CHARS] or None, "nodes": len(graph.node),
        # IR < 4 lists the initializers among the inputs too: they are weights, not inputs.
        "inputs": [_value_info(v) for v in graph.input if v.name not in initialized][:LISTED],
        "outputs": [_value_info(v) for v in graph.output][:LISTED],
        **counts.details(), "initializers": len(names), "initializerNames": names[:LISTED],
    }
    if external:
        details["externalData"] = external  # weights kept in files beside the model, not uploaded here
    return details


# --- storing and reading ---------------------------------------------------------------------------


def move_into_store(received: ReceivedFile, artifact_id: str) -> Stored:
    """Move the checked spool file into the store under its id (atomic: whole or not at all)."""
    return artifacts.get_store().put(artifact_key(artifact_id), received.path, move=True, sha256=received.sha256)


def current_sha256(artifact_id: str) -> str | None:
    """The sha256 of the artifact's bytes as stored now; None when they are missing."""
    try:
        return artifacts.sha256_file(artifacts.get_store().local_path(artifact_key(artifact_id)))
    except AISystemError as exc:
        if exc.code == "ARTIFACT_003":  # the store found its bytes do not match the hash written with them
            return ""
        if exc.code in ("ARTIFACT_001", "ARTIFACT_002"):
            return None
        raise


def local_file(artifact_id: str) -> Path:
    """A local file with the artifact's bytes (for serving, or loading with safetensors/onnx)."""
    return artifacts.get_store().local_path(artifact_key(artifact_id))


def recorded_files(session: Session) -> dict[str, str]:
    """Store key -> sha256 of every artifact a model version names."""
    rows = session.exec(select(ModelVersion.artifact_id, ModelVersion.artifact_sha256)
                        .where(col(ModelVersion.artifact_id).is_not(None))).all()
    return {artifact_key(artifact_id): sha for artifact_id, sha in rows if sha}


def remove(artifact_id: str) -> None:
    """Delete a replaced artifact's file."""
    artifacts.get_store().delete(artifact_key(artifact_id))
