"""The issue's bad-input list and the checklist rows PATH-*, RES-01/02/05, XSS-01/02, AUTHZ-01/03.

Every refused input must get a clear error code and leave nothing behind: no version, no dataset
change, and no new file anywhere under the data dir (the staging area is removed with the request).
"""

from __future__ import annotations

import json
import os
import zipfile

import pytest

from backend.catalog.datasets import media
from backend.core.config import reset_settings
from tests.backend.catalog.datasets.conftest import (
    API,
    FEEDBACK_CSV,
    create,
    datasets_root,
    error_code,
    image_zip,
    make_zip,
    upload,
)
from tests.conftest import data_files

PNG = media.png_bytes([[1, 2], [3, 4]])


def _symlink_zip() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("lnk.png")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("ok.png", PNG)
    return buffer.getvalue()


def _hardlink_like_zip() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        fifo = zipfile.ZipInfo("pipe.png")
        fifo.external_attr = 0o010644 << 16  # a FIFO: not a plain file
        archive.writestr(fifo, b"")
    return buffer.getvalue()


BAD_TABULAR = [
    ("ragged rows", b"a,b,c\n1,2,3\n4,5\n", "ragged.csv", "DATA_002", "line 3"),
    ("too many fields", b"a,b\n1,2\n3,4,5\n", "ragged2.csv", "DATA_002", "line 3"),
    ("binary named .csv", PNG + b"\x00" * 64, "image.csv", "DATA_002", "binary"),
    ("random binary", os.urandom(4096) + b"\x00", "data.csv", "DATA_002", "binary"),
    ("empty file", b"", "empty.csv", "DATA_004", "empty"),
    ("header only", b"a,b,c\n", "header.csv", "DATA_004", "no rows"),
    ("10,000 columns", (",".join(f"c{i}" for i in range(10000)) + "\n" + ",".join(["1"] * 10000) + "\n").encode(),
     "wide.csv", "DATA_002", "10000 columns"),
    ("newline in a column name", b'"a\nb",c\n1,2\n', "nl.csv", "DATA_002", "line break"),
    ("duplicate column names", b"a,a\n1,2\n", "dup.csv", "DATA_002", "repeats"),
    ("empty column name", b"a,,c\n1,2,3\n", "blank.csv", "DATA_002", "no name"),
    ("JSON of scalars", b"[1, 2, 3]", "x.json", "DATA_002", "JSON"),
    ("deep JSON", b"[" * 100_000 + b"]" * 100_000, "deep.json", "DATA_002", "JSON"),
    ("broken JSON lines", b'{"a": 1}\n{"a": \n', "x.jsonl", "DATA_002", "JSON Lines"),
    ("truncated Parquet", b"PAR1" + b"\x00" * 100, "x.parquet", "DATA_002", "Parquet"),
    ("a ZIP for a tabular dataset", image_zip(), "images.zip", "DATA_002", "ZIP"),
]

BAD_ARCHIVES = [
    ("zip bomb by ratio", make_zip({"bomb.png": b"\x00" * (20 * 1024 * 1024)}, compression=zipfile.ZIP_DEFLATED),
     "decompression bomb"),
    ("../ member", make_zip({"../evil.png": PNG}), "leaves the archive"),
    ("nested ../ member", make_zip({"a/../../evil.png": PNG}), "leaves the archive"),
    ("absolute member", make_zip({"/tmp/evil.png": PNG}), "absolute"),
    ("backslash member", make_zip({"..\\evil.png": PNG}), "Windows"),
    ("drive letter member", make_zip({"C:/evil.png": PNG}), "Windows"),
    ("symlink member", _symlink_zip(), "symbolic link"),
    ("special file member", _hardlink_like_zip(), "not a plain file"),
    ("not an image", make_zip({"a.png": b"hello"}), "not a valid image"),
    ("wrong extension", make_zip({"run.sh": b"#!/bin/sh"}), "not a"),
    ("no images", make_zip({"cat/": b""}), "no image"),
    ("not a zip at all", b"PK\x03\x04garbage", "could not be opened"),
]


@pytest.fixture
def owner(api, auth):
    return auth.headers("data_scientist")


def _state(api, headers, dataset_id):
    doc = api.get(f"{API}/{dataset_id}", headers=headers).json()
    versions = api.get(f"{API}/{dataset_id}/versions", headers=headers).json()["items"]
    return doc["version"], doc["status"], len(versions)


@pytest.mark.parametrize("label,data,filename,code,words", BAD_TABULAR, ids=[b[0] for b in BAD_TABULAR])
def test_bad_tabular_uploads_are_refused_and_leave_nothing(api, owner, label, data, filename, code, words):
    dataset_id = create(api, owner)
    before = data_files()
    response = upload(api, owner, dataset_id, data, filename)
    assert response.status_code == 422, response.text
    assert error_code(response) == code
    assert words.lower() in response.json()["error"]["message"].lower()
    assert _state(api, owner, dataset_id) == (None, "empty", 0)
    assert data_files() == before
    assert not any((datasets_root() / "staging").iterdir())


@pytest.mark.parametrize("label,data,words", BAD_ARCHIVES, ids=[b[0] for b in BAD_ARCHIVES])
def test_bad_archives_are_refused_before_anything_is_extracted(api, owner, label, data, words):
    dataset_id = create(api, owner, type="image")
    before = data_files()
    response = upload(api, owner, dataset_id, data, "images.zip")
    assert response.status_code == 422, response.text
    assert error_code(response) in ("DATA_002", "DATA_004")
    assert words.lower() in response.json()["error"]["message"].lower()
    assert _state(api, owner, dataset_id) == (None, "empty", 0)
    assert data_files() == before
    assert not (datasets_root().parent / "evil.png").exists()


def test_zip_bomb_by_total_size_is_refused(api, owner, monkeypatch):
    monkeypatch.setenv("AISYSTEM_MAX_UPLOAD_BYTES", str(200_000))
    reset_settings()
    dataset_id = create(api, owner, type="image")
    # each member compresses 50:1 (below the ratio limit) but together they unpack past 4 x the limit
    members = {f"m{i}.png": PNG + bytes([i % 7]) * 40_000 + os.urandom(600) for i in range(25)}
    data = make_zip(members, compression=zipfile.ZIP_DEFLATED)
    assert len(data) < 200_000
    before = data_files()
    response = upload(api, owner, dataset_id, data, "many.zip")
    assert error_code(response) == "DATA_002" and "would unpack to more than" in response.json()["error"]["message"]
    assert data_files() == before


def test_upload_over_the_size_limit_is_refused_with_req_002(api, owner, monkeypatch):
    monkeypatch.setenv("AISYSTEM_MAX_UPLOAD_BYTES", str(50_000))
    reset_settings()
    dataset_id = create(api, owner)
    before = data_files()
    big = b"a,b\n" + b"1,2\n" * 20_000
    response = upload(api, owner, dataset_id, big, "big.csv")
    assert response.status_code == 413 and error_code(response) == "REQ_002"
    assert _state(api, owner, dataset_id) == (None, "empty", 0)
    assert data_files() == before


def test_the_service_refuses_streams_over_the_limit_without_a_content_length(session, principals, monkeypatch):
    """RES-01 for in-process callers (the UI hands over a stream): the byte counter stops it."""
    import io

    from backend.catalog.datasets import service
    from backend.core.errors import AISystemError

    monkeypatch.setenv("AISYSTEM_MAX_UPLOAD_BYTES", str(10_000))
    reset_settings()
    actor = principals["data_scientist"]
    dataset = service.create_dataset(session=session, actor=actor, data={"name": "s", "type": "tabular"})
    session.commit()
    before = data_files()

    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            buffer[: len(buffer)] = b"1" * len(buffer)
            return len(buffer)

    with pytest.raises(AISystemError) as excinfo:
        service.upload(session=session, actor=actor, dataset_id=dataset.id, source=Endless(), filename="x.csv")
    assert excinfo.value.code == "REQ_002"
    assert data_files() == before


HOSTILE_NAMES = ["../../app/main.py", "/etc/cron.d/x", "..\\..\\x.csv", "a/../../b.csv", "x" * 300 + ".csv",
                 "evil\nname.csv", "../../tmp/poc.txt"]


@pytest.mark.parametrize("filename", HOSTILE_NAMES)
def test_client_file_names_never_become_paths(api, owner, filename):
    """PATH-02: stored under the content hash; the name is kept only as sanitized metadata."""
    dataset_id = create(api, owner)
    before = data_files()
    response = upload(api, owner, dataset_id, FEEDBACK_CSV + filename.encode()[:0], filename)
    assert response.status_code in (201, 200), response.text
    stored = response.json()["version"]["sourceFilename"]
    assert stored is None or ("/" not in stored and "\\" not in stored and "\n" not in stored and len(stored) <= 200)
    new = data_files() - before
    assert all(path.startswith("artifacts/datasets/blobs/") for path in new), new
    assert not (datasets_root().parent.parent / "tmp" / "poc.txt").exists()


HOSTILE_PATHS = [
    "../../../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "..\\..\\..\\etc\\passwd", "/etc/passwd", "C:/", "a;/../../etc/passwd", "a?/a", "a#/../../etc",
    "a%00.csv", "..%c0%af..%c0%afetc/passwd", "\\\\?\\C:\\x",
]
FILE_ROUTES = [("GET", "/download"), ("POST", "/upload"), ("GET", "/profile"), ("GET", "/versions/1"),
               ("POST", "/transform"), ("DELETE", "")]


@pytest.mark.parametrize("hostile", HOSTILE_PATHS)
def test_hostile_ids_in_every_file_route_never_reach_the_disk(api, owner, hostile):
    """PATH-01/03: ids are looked up, never joined to a path; the answer is 4xx and leaks nothing."""
    for method, suffix in FILE_ROUTES:
        kwargs = {"files": {"file": ("x.csv", b"a\n1\n")}} if suffix == "/upload" else {}
        if suffix == "/transform":
            kwargs = {"json": {"steps": [{"op": "drop", "columns": ["a"]}]}}
        response = api.request(method, f"{API}/{hostile}{suffix}", headers=owner, **kwargs)
        assert 400 <= response.status_code < 500, (hostile, suffix, response.status_code)
        assert "root:x:0:0" not in response.text
    assert os.path.exists("/etc/passwd")


def test_a_symlink_planted_in_the_blob_store_is_not_followed(api, owner):
    dataset_id = create(api, owner)
    version = upload(api, owner, dataset_id, FEEDBACK_CSV).json()["version"]
    from backend.catalog.datasets import storage

    blob = storage.blob_path(version["sha256"])
    blob.chmod(0o644)
    blob.unlink()
    blob.symlink_to("/etc/passwd")
    try:
        response = api.get(f"{API}/{dataset_id}/download", headers=owner)
        assert response.status_code == 404 and error_code(response) == "DATA_001"
        assert "root:x:0:0" not in response.text and "/etc" not in response.text
    finally:
        blob.unlink()


def test_stored_xss_in_headers_and_cells_is_data_served_as_json_and_attachments(api, owner):
    """XSS-01/02: the payload is kept as data, JSON-escaped in documents, downloaded as an attachment."""
    payload = '<img src=x onerror=alert(1)>'
    data = f'"{payload}",ünïcødé,"quo""te"\n<script>alert(1)</script>,2,3\n'.encode()
    dataset_id = create(api, owner)
    response = upload(api, owner, dataset_id, data, "x.html")
    assert response.status_code == 201, response.text
    names = [f["name"] for f in response.json()["version"]["schema"]["fields"]]
    assert names == [payload, "ünïcødé", 'quo"te']
    assert response.headers["content-type"] == "application/json"
    download = api.get(f"{API}/{dataset_id}/download", params={"format": "csv"}, headers=owner)
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-security-policy"] == "sandbox"


def test_multipart_abuse_is_refused_quickly(api, owner):
    """RES-02: too many parts, an oversized non-file part, a body that is not multipart."""
    dataset_id = create(api, owner)
    boundary = "xyz"
    many = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n\r\n' for i in range(1001))
    response = api.post(f"{API}/{dataset_id}/upload", content=(many + f"--{boundary}--\r\n").encode(),
                        headers={**owner, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code in (400, 422) and error_code(response) == "REQ_001"
    big_field = api.post(f"{API}/{dataset_id}/upload", data={"file": "x" * 200_000}, headers=owner)
    assert big_field.status_code in (400, 422) and error_code(big_field) == "REQ_001"
    not_multipart = api.post(f"{API}/{dataset_id}/upload", json={"file": "x"}, headers=owner)
    assert not_multipart.status_code == 422 and error_code(not_multipart) == "REQ_001"
    preamble = api.post(f"{API}/{dataset_id}/upload", content=b"\r\n" * 500_000 + b"--xyz--\r\n",
                        headers={**owner, "Content-Type": "multipart/form-data; boundary=xyz"})
    assert preamble.status_code in (400, 422) and error_code(preamble) == "REQ_001"
    assert _state(api, owner, dataset_id) == (None, "empty", 0)


def test_transform_and_split_refusals_leave_nothing(api, owner):
    dataset_id = create(api, owner)
    upload(api, owner, dataset_id, FEEDBACK_CSV)
    before = data_files()
    cases = [
        ({"steps": [{"op": "filter", "expression": "__import__('os').system('id')"}]}, "DATA_003", "step 1"),
        ({"steps": [{"op": "filter", "expression": "rating.__class__"}]}, "DATA_003", "unexpected"),
        ({"steps": [{"op": "filter", "expression": "eval(\"1\") == 1"}]}, "DATA_003", "unknown function"),
        ({"steps": [{"op": "filter", "expression": "ghost > 1"}]}, "DATA_003", "ghost"),
        ({"steps": [{"op": "standardize", "columns": ["text"]}]}, "DATA_003", "not numeric"),
        ({"steps": [{"op": "filter", "expression": "rating > 1000"}]}, "DATA_004", "no rows"),
        ({"steps": [{"op": "explode_everything"}]}, "REQ_001", "invalid"),
    ]
    for body, code, words in cases:
        response = api.post(f"{API}/{dataset_id}/transform", json=body, headers=owner)
        assert error_code(response) == code, (body, response.text)
        assert words.lower() in response.text.lower(), (body, response.text)
    bad_split = api.post(f"{API}/{dataset_id}/split", json={"train": 0.6, "validation": 0.2, "test": 0.1},
                         headers=owner)
    assert bad_split.status_code == 422 and error_code(bad_split) == "REQ_001"
    tiny = api.post(f"{API}/{dataset_id}/split", json={"train": 0.9, "validation": 0.05, "test": 0.05},
                    headers=owner)
    assert error_code(tiny) == "DATA_004"
    assert api.get(f"{API}/{dataset_id}", headers=owner).json()["version"] == 1
    assert data_files() == before


def test_errors_never_contain_server_paths(api, owner):
    dataset_id = create(api, owner)
    response = upload(api, owner, dataset_id, b"PAR1" + b"\x00" * 100, "x.parquet")
    text = json.dumps(response.json())
    assert str(datasets_root()) not in text and "staging" not in text
