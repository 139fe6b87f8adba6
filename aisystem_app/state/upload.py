"""Receiving a browser upload: the one path every upload dialog streams its file through.

The file's bytes go to a `write` callable (a staging file, an artifact sink) in batches, each batch off
the event loop; a small companion file (a model's `.json` config) may ride along and is kept in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import reflex as rx

from aisystem_app import format as fmt
from backend.core.errors import AISystemError, PayloadTooLarge

WRITE_BATCH = 1 << 20


class UploadRefused(AISystemError):
    """The browser sent something an upload form does not take (two files, a huge companion file)."""

    def __init__(self, message: str):
        super().__init__("REQ_001", message, {})


@dataclass
class Uploaded:
    """What arrived: the file's name and size, and the companion file's bytes (empty when none came)."""

    filename: str | None = None
    size: int = 0
    side: bytes = b""


async def receive(chunks: rx.UploadChunkIterator, write: Callable[[bytes], object], *, limit: int | None = None,
                  side_suffix: str | None = None, side_limit: int = 0) -> Uploaded:
    """Stream one file's chunks to `write`; REQ_002 past `limit` bytes, REQ_001 for a second file or a
    companion file (named `*side_suffix`) over `side_limit` bytes. `filename` is None when nothing came."""
    got, buffer, side = Uploaded(), bytearray(), bytearray()
    async for chunk in chunks:
        if side_suffix and chunk.filename.lower().endswith(side_suffix):
            side += chunk.data
            if len(side) > side_limit:
                raise UploadRefused(f"The {side_suffix} file is over {fmt.size(side_limit)}")
            continue
        if got.filename not in (None, chunk.filename):
            raise UploadRefused("Upload one file at a time" + (f" (and its {side_suffix} file)" if side_suffix else ""))
        got.filename = chunk.filename
        got.size += len(chunk.data)
        if limit is not None and got.size > limit:
            raise PayloadTooLarge(limit)
        buffer += chunk.data
        if len(buffer) >= WRITE_BATCH:
            await _flush(write, buffer)
    await _flush(write, buffer)
    got.side = bytes(side)
    return got


async def _flush(write: Callable[[bytes], object], buffer: bytearray) -> None:
    if buffer:
        data = bytes(buffer)
        buffer.clear()
        await rx.run_in_thread(partial(write, data))
