"""Pickles that got past the refusal as "opaque" files (issue 12, item 4): nested compression, protocol 0
pickles whose start is long, junk before a zip, a pickle behind 10,001 members; what an opaque file's
downloader is told; a malformed multipart body (item 5)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import pickle  # noqa: S403  (only to build hostile payloads; never to load)
import tarfile
import zipfile

import pytest
import zstandard

from tests.backend.catalog.model_registry.conftest import model_body
from tests.backend.catalog.model_registry.test_security import BASE, Evil, put_raw, rejected, temp_files

PICKLE = pickle.dumps(Evil(), protocol=2)


@pytest.fixture
def model_with_version(api, auth) -> str:
    headers = auth.headers("ml_engineer")
    mid = api.post(BASE, json=model_body(), headers=headers).json()["id"]
    api.post(f"{BASE}/{mid}/versions", json={"version": "1.0.0", "metrics": {"accuracy": 0.9}}, headers=headers)
    return mid


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar_gz(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _dummies(n: int) -> list[tuple[str, bytes]]:
    return [(f"d/{i}.txt", b"") for i in range(n)]


DISGUISES = {
    "gzip-x3": gzip.compress(gzip.compress(gzip.compress(PICKLE))),
    "bz2-xz-zstd": zstandard.ZstdCompressor().compress(lzma.compress(bz2.compress(PICKLE))),
    "gzip-x9": (lambda d: [d := gzip.compress(d) for _ in range(9)][-1])(PICKLE),
    "p0-long-start": pickle.dumps(["x" * 200_000, {"w": [1, 2]}], protocol=0),
    "p0-longer-than-window": pickle.dumps(["x" * 3_000_000, 1], protocol=0),
    "junk-then-zip": os.urandom(5000) + _zip([("archive/data.pkl", PICKLE)]),
    "zip-10001-then-data.pkl": _zip([*_dummies(10_001), ("archive/data.pkl", PICKLE)]),
    "zip-10001-then-renamed-pickle": _zip([*_dummies(10_001), ("weights.bin", PICKLE)]),
    "zip-in-gzip": gzip.compress(_zip([("w.bin", gzip.compress(PICKLE))])),
    "zip-member-junk-then-zip": _zip([("inner.bin", b"junk" * 100_000 + _zip([("x/data.pkl", PICKLE)]))]),
    "tar-gz-renamed-pickle": _tar_gz("weights.bin", bz2.compress(PICKLE)),
}


@pytest.mark.parametrize("data", list(DISGUISES.values()), ids=list(DISGUISES))
def test_disguised_pickles_are_refused_even_when_declared_opaque(api, auth, model_with_version, data):
    response = put_raw(api, auth, model_with_version, data, format="opaque")
    assert rejected(response), response.text
    assert "pickle" in response.json()["error"]["message"] or "compressed more than" in response.text
    assert not temp_files()


BENIGN = {
    "gguf": b"GGUF\x03\x00" + os.urandom(200_000),
    "gzip-of-text": gzip.compress(b"(not a pickle) just text\n" * 1000),
    "zip-of-configs": _zip([*_dummies(50), ("config.json", b'{"a": 1}')]),
    "random": os.urandom(300_000),
}


@pytest.mark.parametrize("data", list(BENIGN.values()), ids=list(BENIGN))
def test_other_opaque_files_are_stored_and_marked_for_downloaders(api, auth, model_with_version, data):
    response = put_raw(api, auth, model_with_version, data, format="opaque")
    assert response.status_code == 200, response.text
    assert response.json()["artifact"]["handling"] == "opaque"
    download = api.get(f"{BASE}/{model_with_version}/versions/1.0.0/artifact",
                       headers=auth.headers("data_scientist"))
    assert download.status_code == 200 and download.content == data
    assert download.headers["x-artifact-format"] == "opaque"
    assert "never loaded" in download.headers["x-artifact-notice"]
    assert download.headers["content-disposition"].startswith("attachment")
    assert not temp_files()


@pytest.mark.parametrize("body", [
    b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\nabc",  # never closed
    b"garbage without any boundary at all",
    b"--b\r\nno-colon-header\r\n\r\nabc\r\n--b--\r\n",
])
def test_a_malformed_multipart_artifact_upload_is_a_client_error(api, auth, model_with_version, body):
    response = api.put(f"{BASE}/{model_with_version}/versions/1.0.0/artifact", content=body,
                       headers={**auth.headers("ml_engineer"), "Content-Type": "multipart/form-data; boundary=b"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "REQ_001", response.text
    assert not temp_files()
