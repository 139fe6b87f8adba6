"""Header-only readers for PNG, JPEG, WAV and FLAC: dimensions and audio facts without decoding pixels
or samples (so a crafted image cannot become a decompression bomb here). Pure Python, no Pillow."""

from __future__ import annotations

import struct
from typing import Any

MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb threshold

PNG_MODES = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}
JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}


class MediaError(ValueError):
    """The bytes are not a well-formed file of the announced kind."""


def image_info(data: bytes) -> dict[str, Any]:
    """{format, width, height, mode} of a PNG or JPEG."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        info = _png(data)
    elif data.startswith(b"\xff\xd8"):
        info = _jpeg(data)
    else:
        raise MediaError("not a PNG or JPEG image")
    if info["width"] <= 0 or info["height"] <= 0:
        raise MediaError("the image has no pixels")
    if info["width"] * info["height"] > MAX_PIXELS:
        raise MediaError(f"the image is larger than {MAX_PIXELS} pixels")
    return info


def _png(data: bytes) -> dict[str, Any]:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise MediaError("PNG without an IHDR header")
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    mode = PNG_MODES.get(color)
    if mode is None:
        raise MediaError("PNG with an unknown colour type")
    if mode == "L" and depth == 1:
        mode = "1"
    elif mode == "L" and depth == 16:
        mode = "I;16"
    return {"format": "png", "width": width, "height": height, "mode": mode}


def _jpeg(data: bytes) -> dict[str, Any]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise MediaError("JPEG with a broken marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            raise MediaError("JPEG with a broken segment")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 10 > len(data):
                break
            height, width, components = struct.unpack(">HHB", data[pos + 5 : pos + 10])
            return {"format": "jpeg", "width": width, "height": height, "mode": JPEG_MODES.get(components, "unknown")}
        if marker == 0xDA:  # start of scan before any frame header
            break
        pos += 2 + length
    raise MediaError("JPEG without a frame header")


def audio_info(data: bytes) -> dict[str, Any]:
    """{format, durationSeconds, sampleRate, channels, bitsPerSample} of a WAV or FLAC file."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav(data)
    if data[:4] == b"fLaC":
        return _flac(data)
    raise MediaError("not a WAV or FLAC file")


def _wav(data: bytes) -> dict[str, Any]:
    pos, fmt, data_size = 12, None, None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body = pos + 8
        if chunk_id == b"fmt " and size >= 16:
            fmt = struct.unpack("<HHIIHH", data[body : body + 16])
        elif chunk_id == b"data":
            data_size = min(size, len(data) - body)
            break
        pos = body + size + (size & 1)
    if fmt is None or data_size is None:
        raise MediaError("WAV without fmt/data chunks")
    _codec, channels, sample_rate, byte_rate, _align, bits = fmt
    if channels == 0 or sample_rate == 0 or byte_rate == 0:
        raise MediaError("WAV with an empty format")
    return {"format": "wav", "durationSeconds": round(data_size / byte_rate, 6), "sampleRate": sample_rate,
            "channels": channels, "bitsPerSample": bits}


def _flac(data: bytes) -> dict[str, Any]:
    if len(data) < 8 + 34 or (data[4] & 0x7F) != 0:
        raise MediaError("FLAC without STREAMINFO")
    info = data[8 + 10 : 8 + 18]
    bits = int.from_bytes(info, "big")
    sample_rate = bits >> 44
    channels = ((bits >> 41) & 0x7) + 1
    bits_per_sample = ((bits >> 36) & 0x1F) + 1
    total = bits & 0xFFFFFFFFF
    if sample_rate == 0:
        raise MediaError("FLAC with a zero sample rate")
    return {"format": "flac", "durationSeconds": round(total / sample_rate, 6), "sampleRate": sample_rate,
            "channels": channels, "bitsPerSample": bits_per_sample}


def png_bytes(pixels: list[list[int]]) -> bytes:
    """A grayscale 8-bit PNG of `pixels` (rows of 0–255), for demo data."""
    import zlib

    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def wav_bytes(samples: list[int], sample_rate: int = 8000) -> bytes:
    """A mono 16-bit PCM WAV of `samples`, for tests and demo data."""
    body = struct.pack(f"<{len(samples)}h", *samples)
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(body)) + b"WAVE" + b"fmt "
            + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body)) + body)
