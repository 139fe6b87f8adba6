"""A lean HTTP/1.1 load generator: N keep-alive connections on asyncio streams.

The benchmarks run client and server on the same 2 cores, so every millisecond of client CPU is
taken from the server being measured. A general-purpose client (httpx) spends about as much Python
per request as a cheap API route does; this one writes pre-built request bytes and reads back the
status line, the headers and a `Content-Length` body, which is all a latency benchmark needs.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the query string
    body: bytes = b""


def build_request(method: str, path: str, *, params: dict | None = None, json_body: object = None) -> Request:
    if params:
        path = f"{path}?{urlencode(params)}"
    body = json.dumps(json_body).encode() if json_body is not None else b""
    return Request(method, path, body)


class Connection:
    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, request: Request) -> int:
        """Send one request and read its whole response; returns the status code."""
        return (await self.exchange(request))[0]

    async def exchange(self, request: Request) -> tuple[int, bytes]:
        """Send one request; returns the status code and the response body."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"{request.method} {request.path} HTTP/1.1\r\n{self.head}"
        if request.body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(request.body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + request.body)
        header_block = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = header_block.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length = None
        for line in lines:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"response without Content-Length: {status_line}")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _run(base: str, headers: dict[str, str], make: Callable[[int], Request], clients: int,
               total: int) -> dict:
    parts = urlsplit(base)
    prefix = parts.path.rstrip("/")
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client() -> None:
        nonlocal errors
        connection = Connection(parts.hostname, parts.port, headers)
        try:
            for i in counter:
                request = make(i)
                request = Request(request.method, prefix + request.path, request.body)
                started = time.perf_counter()
                status = await connection.request(request)
                latencies.append(time.perf_counter() - started)
                errors += status != 200
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return summarise(latencies, errors, elapsed)


def summarise(latencies: list[float], errors: int, elapsed: float) -> dict:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    return {"requests": len(ordered), "errors": errors, "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
            "mean": round(statistics.fmean(ordered) * 1000, 1), "rps": round(len(ordered) / elapsed, 1)}


def run_load(base: str, headers: dict[str, str], make: Callable[[int], Request], *, clients: int,
             total: int) -> dict:
    """Send `total` requests (`make(i)` builds the i-th, its path relative to `base`) over `clients`
    connections; latency percentiles in ms, requests/s and the count of non-200 answers."""
    # The benchmark process holds the seeded data; keep the collector's full passes off it, or
    # they show up as the client's own latency.
    gc.collect()
    gc.freeze()
    return asyncio.run(_run(base, headers, make, clients, total))
