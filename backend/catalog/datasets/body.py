"""Reading an upload's multipart body in one pass: the file part streams straight into a staging file
(hashed, counted and checked for UTF-8 on the way, see `storage.UploadSink`), small text fields stay
in memory. No spooled temporary copy, no second read: the staged file is what the import reads.

Refused with REQ_001 (naming the field): a body that is not multipart, unknown or repeated fields, a
text field over 64 KiB, more parts than the form has; REQ_002 past the size limit of a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import python_multipart
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from backend.catalog.datasets import storage
from backend.core.errors import InvalidRequest

MAX_TEXT_FIELD = 64 * 1024
MAX_PARTS = 8
FLUSH_BYTES = 1024 * 1024  # file bytes are handed to the writer thread in pieces of about this size


@dataclass
class UploadForm:
    """What the body held: staged files by field name (with the client's file names) and text fields."""

    files: dict[str, storage.StagedFile] = field(default_factory=dict)
    filenames: dict[str, str | None] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)


class _Reader:
    """python-multipart callbacks: headers are collected, file data buffered for the writer thread."""

    def __init__(self, work: storage.Staging, files: dict[str, int | None], texts: tuple[str, ...]):
        self.work, self.file_limits, self.texts = work, files, texts
        self.form = UploadForm()
        self.parts = 0
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name: str | None = None
        self._sink: storage.UploadSink | None = None
        self._text = bytearray()
        self.pending = bytearray()  # bytes of the open file part not yet handed to its writer
        self.finished: list[tuple[str, storage.UploadSink, bytes]] = []  # ended file parts and their last bytes
        self.sinks: list[storage.UploadSink] = []

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidRequest(f"The form has more than {MAX_PARTS} parts", {"body": f"at most {MAX_PARTS} parts"})
        self._disposition, self._name, self._sink = b"", None, None
        self._text.clear()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value[:4096]
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _kind, params = parse_options_header(self._disposition)
        name = params.get(b"name", b"").decode("utf-8", errors="replace")[:100]
        if not name:
            raise InvalidRequest("A form part has no name", {"body": "every part needs a Content-Disposition name"})
        if name in self.form.fields or name in self.form.filenames:
            raise InvalidRequest(f"The field '{name}' is sent twice", {name: "send it once"})
        self._name = name
        if b"filename" in params:
            if name not in self.file_limits:
                raise InvalidRequest(f"Unknown file field '{name}'", {name: f"one of {', '.join(self.file_limits)}"})
            self._sink = storage.UploadSink(self.work.path(f"part-{name}"), limit=self.file_limits[name])
            self.sinks.append(self._sink)
            self.form.filenames[name] = params[b"filename"].decode("utf-8", errors="replace")[:1000]
        elif name not in self.texts:
            if name in self.file_limits:
                raise InvalidRequest(f"Send '{name}' as a file (a multipart part with a filename)", {name: "a file"})
            raise InvalidRequest(f"Unknown field '{name}'", {name: f"one of {', '.join((*self.file_limits, *self.texts))}"})

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._sink is not None:
            self.pending += data[start:end]
            return
        self._text += data[start:end]
        if len(self._text) > MAX_TEXT_FIELD:
            raise InvalidRequest(f"The field '{self._name}' is over {MAX_TEXT_FIELD // 1024} KiB",
                                 {str(self._name): f"at most {MAX_TEXT_FIELD // 1024} KiB"})

    def on_part_end(self) -> None:
        if self._sink is not None:
            self.finished.append((str(self._name), self._sink, bytes(self.pending)))
            self.pending.clear()
        elif self._name is not None:
            self.form.fields[self._name] = self._text.decode("utf-8", errors="replace")
        self._name, self._sink = None, None

    def callbacks(self) -> dict:
        return {"on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished}


def _write(sink: storage.UploadSink, data: bytes) -> None:
    sink.write(data)


async def read_upload(request: Request, work: storage.Staging, *, files: dict[str, int | None],
                      texts: tuple[str, ...]) -> UploadForm:
    """Stream the body's file parts (`files`: field -> byte limit, None for the upload limit) into the
    staging folder and keep its text fields; the file bytes are written off the event loop."""
    content_type = request.headers.get("content-type", "")
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidRequest("Send the data as multipart/form-data with the file in the field 'file'",
                             {"body": "multipart/form-data"})
    reader = _Reader(work, files, texts)
    parser = python_multipart.MultipartParser(boundary, reader.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            while reader.finished:  # parts that ended in this chunk: their last bytes, then close
                name, sink, tail = reader.finished.pop(0)
                if tail:
                    await run_in_threadpool(_write, sink, tail)
                reader.form.files[name] = await run_in_threadpool(sink.close)
            if reader._sink is not None and len(reader.pending) >= FLUSH_BYTES:
                data = bytes(reader.pending)
                reader.pending.clear()
                await run_in_threadpool(_write, reader._sink, data)
        parser.finalize()
    except python_multipart.exceptions.FormParserError as exc:
        _abort(reader)
        raise InvalidRequest("The multipart body is invalid", {"body": str(exc)[:200]}) from exc
    except BaseException:
        _abort(reader)
        raise
    if reader._sink is not None or reader._name is not None:
        _abort(reader)
        raise InvalidRequest("The multipart body ends inside a part", {"body": "a complete multipart body"})
    return reader.form


def _abort(reader: _Reader) -> None:
    for sink in reader.sinks:
        sink.abort()
