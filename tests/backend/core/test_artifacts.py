"""The artifact store: one set of tests run against the local backend and against a real
S3-compatible server (moto in server mode, started here on a free port)."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest
from pydantic import ValidationError

from backend.core import artifacts
from backend.core.artifacts import LocalStore, check_key, safe_file_name
from backend.core.artifacts.s3 import S3Store
from backend.core.config import Settings, reset_settings
from backend.core.errors import AISystemError

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server for this test session, stopped by its process id at the end."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("the moto S3 server did not start")
            time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def s3_client(s3_endpoint):
    return boto3.client("s3", endpoint_url=s3_endpoint, **CREDENTIALS)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    client = request.getfixturevalue("s3_client")
    bucket = f"test-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=bucket)
    return S3Store(bucket, "platform/artifacts", work_dir=tmp_path / "work", client=client)


def leftovers(store) -> list[str]:
    """Temp files and unfinished uploads a write could have left behind."""
    if isinstance(store, LocalStore):
        temp = store.root / ".tmp"
        return [p.name for p in temp.iterdir()] if temp.exists() else []
    spools = [p.name for p in (store.work_dir / "tmp").glob("*")] if (store.work_dir / "tmp").exists() else []
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return spools + [u["Key"] for u in uploads]


def chunks(total: int, size: int = 1024 * 1024, fail_after: int | None = None):
    sent = 0
    while sent < total:
        if fail_after is not None and sent >= fail_after:
            raise OSError("the client went away")
        piece = bytes([sent // size % 251]) * min(size, total - sent)
        sent += len(piece)
        yield piece


# --- the same tests on both backends -------------------------------------------------------------


def test_round_trip_keeps_bytes_and_hash(store):
    data = b"weights\x00\xff" * 1000
    stored = store.put("models/m1/weights.bin", data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert store.exists("models/m1/weights.bin") and store.size("models/m1/weights.bin") == len(data)
    with store.open("models/m1/weights.bin") as stream:
        assert stream.read() == data
    assert store.local_path("models/m1/weights.bin").read_bytes() == data
    assert store.stat("models/m1/weights.bin").sha256 == stored.sha256


def test_every_kind_of_source_is_accepted(store, tmp_path):
    source = tmp_path / "in.bin"
    source.write_bytes(b"from a file")
    assert store.put("a/file", source).size == 11 and source.exists()
    assert store.put("a/moved", source, move=True).sha256 == hashlib.sha256(b"from a file").hexdigest()
    assert not source.exists()
    store.put("a/stream", io.BytesIO(b"from a stream"))
    store.put("a/chunks", iter([b"from ", b"", b"chunks"]))
    assert store.read_bytes("a/stream") == b"from a stream" and store.read_bytes("a/chunks") == b"from chunks"
    assert store.read_bytes("a/moved") == b"from a file"


def test_put_replaces_a_key_whole(store):
    store.put("reports/r.json", b"old")
    store.put("reports/r.json", b"new contents")
    assert store.read_bytes("reports/r.json") == b"new contents"


def test_blobs_are_stored_once_by_hash(store, tmp_path):
    first = store.put_blob("datasets/blobs", b"same bytes", ext="parquet")
    again = store.put_blob("datasets/blobs", io.BytesIO(b"same bytes"), ext="parquet")
    sha = hashlib.sha256(b"same bytes").hexdigest()
    assert first.key == again.key == f"datasets/blobs/{sha[:2]}/{sha}.parquet"
    assert first.created and not again.created
    staged = tmp_path / "staged.parquet"
    staged.write_bytes(b"same bytes")
    moved = store.put_blob("datasets/blobs", staged, ext="parquet", move=True)
    assert not moved.created and not staged.exists()
    assert list(store.list("datasets/")) == [first.key]


def test_a_stream_that_fails_midway_leaves_nothing(store):
    with pytest.raises(OSError):
        store.put("models/m2/weights.bin", chunks(3 * 1024 * 1024, fail_after=2 * 1024 * 1024))
    with pytest.raises(OSError):
        store.put_blob("blobs", chunks(3 * 1024 * 1024, fail_after=1024 * 1024))
    assert not store.exists("models/m2/weights.bin")
    assert list(store.list()) == [] and leftovers(store) == []


def test_a_write_over_the_limit_is_refused_and_leaves_nothing(store):
    with pytest.raises(AISystemError) as excinfo:
        store.put("uploads/big", chunks(4096, size=1024), limit=2048)
    assert excinfo.value.code == "REQ_002"
    assert not store.exists("uploads/big") and leftovers(store) == []


BAD_KEYS = ["", "../etc/passwd", "a/../../b", "/etc/passwd", "a//b", "a/./b", "a\\b", "C:/x", "a\x00b",
            "line\nbreak", "tab\there", ".hidden/x", "a/.tmp", "x" * 1025]


@pytest.mark.parametrize("key", BAD_KEYS, ids=range(len(BAD_KEYS)))
def test_bad_keys_are_refused_everywhere(store, key):
    for action in (lambda: store.put(key, b"x"), lambda: store.open(key), lambda: store.exists(key),
                   lambda: store.delete(key), lambda: store.local_path(key)):
        with pytest.raises(AISystemError) as excinfo:
            action()
        assert excinfo.value.code == "ARTIFACT_001"
    assert list(store.list()) == []


def test_a_missing_key_is_artifact_002(store):
    for action in (lambda: store.open("no/such"), lambda: store.local_path("no/such"),
                   lambda: store.size("no/such"), lambda: store.stat("no/such")):
        with pytest.raises(AISystemError) as excinfo:
            action()
        assert excinfo.value.code == "ARTIFACT_002"
    assert not store.exists("no/such")


def test_delete(store):
    store.put("gen/app_1/bundle.zip", b"zip")
    store.put("gen/app_1/readme.md", b"# app")
    store.delete("gen/app_1/bundle.zip")
    store.delete("gen/app_1/bundle.zip")  # twice is fine
    assert not store.exists("gen/app_1/bundle.zip")
    assert list(store.list("gen/")) == ["gen/app_1/readme.md"]


def test_list_by_prefix(store):
    for key in ("runs/r1/ckpt-1", "runs/r1/ckpt-2", "runs/r2/ckpt-1", "runsx/y"):
        store.put(key, key.encode())
    assert sorted(store.list("runs/r1/")) == ["runs/r1/ckpt-1", "runs/r1/ckpt-2"]
    assert sorted(store.list("runs/")) == ["runs/r1/ckpt-1", "runs/r1/ckpt-2", "runs/r2/ckpt-1"]
    assert sorted(store.list("runs")) == ["runs/r1/ckpt-1", "runs/r1/ckpt-2", "runs/r2/ckpt-1", "runsx/y"]


def test_a_large_stream_goes_up_in_parts(store):
    total = 12 * 1024 * 1024
    digest = hashlib.sha256()
    for piece in chunks(total):
        digest.update(piece)
    stored = store.put("checkpoints/big.ckpt", chunks(total))
    assert stored.size == total and stored.sha256 == digest.hexdigest()
    assert store.stat("checkpoints/big.ckpt").sha256 == digest.hexdigest()
    assert hashlib.sha256(store.local_path("checkpoints/big.ckpt").read_bytes()).hexdigest() == digest.hexdigest()
    if isinstance(store, S3Store):
        head = store.client.head_object(Bucket=store.bucket, Key="platform/artifacts/checkpoints/big.ckpt")
        assert head["ETag"].strip('"').endswith("-2")  # a multipart object of two parts
    assert leftovers(store) == []


# --- backend-specific -----------------------------------------------------------------------------


def test_local_store_refuses_planted_links(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.put("models/a", b"real")
    path = tmp_path / "store" / "models" / "a"
    path.unlink()
    path.symlink_to("/etc/passwd")
    with pytest.raises(AISystemError) as excinfo:
        store.open("models/a")
    assert excinfo.value.code == "ARTIFACT_002"
    (tmp_path / "outside").mkdir()
    (tmp_path / "store" / "escape").symlink_to(tmp_path / "outside")
    with pytest.raises(AISystemError) as excinfo:
        store.put("escape/x", b"x")
    assert excinfo.value.code == "ARTIFACT_001" and not (tmp_path / "outside" / "x").exists()


def test_local_blobs_are_read_only(tmp_path):
    store = LocalStore(tmp_path / "store")
    stored = store.put_blob("blobs", b"immutable")
    assert (store.local_path(stored.key).stat().st_mode & 0o777) == 0o444


def test_s3_multipart_failure_is_aborted(store, monkeypatch):
    if not isinstance(store, S3Store):
        pytest.skip("S3 only")
    real = store.client.upload_part
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs["PartNumber"])
        if kwargs["PartNumber"] == 2:
            raise store.client.exceptions.ClientError({"Error": {"Code": "SlowDown", "Message": "x"}}, "UploadPart")
        return real(**kwargs)

    monkeypatch.setattr(store.client, "upload_part", flaky)
    with pytest.raises(AISystemError) as excinfo:
        store.put("checkpoints/cut.ckpt", chunks(12 * 1024 * 1024))
    assert excinfo.value.code == "ARTIFACT_003" and calls == [1, 2]
    assert not store.exists("checkpoints/cut.ckpt") and leftovers(store) == []


def test_s3_local_path_is_a_verified_cache(store, monkeypatch):
    if not isinstance(store, S3Store):
        pytest.skip("S3 only")
    stored = store.put("models/w.safetensors", b"tensor bytes")
    path = store.local_path("models/w.safetensors")
    assert path.is_relative_to(store.work_dir / "cache") and path.suffix == ".safetensors"
    assert path.read_bytes() == b"tensor bytes" and stored.sha256 in path.name

    def no_download(**_kwargs):
        raise AssertionError("a cached file is not fetched again")

    monkeypatch.setattr(store.client, "get_object", no_download)
    assert store.local_path("models/w.safetensors") == path
    monkeypatch.undo()
    path.unlink()
    assert store.local_path("models/w.safetensors").read_bytes() == b"tensor bytes"

    # Bytes that do not match the hash recorded with them are never handed out.
    store.client.put_object(Bucket=store.bucket, Key="platform/artifacts/models/bad.bin", Body=b"tampered",
                            Metadata={"sha256": stored.sha256})
    with pytest.raises(AISystemError) as excinfo:
        store.local_path("models/bad.bin")
    assert excinfo.value.code == "ARTIFACT_003"
    assert not list((store.work_dir / "cache" / "tmp").glob("*"))


# --- configuration and naming ----------------------------------------------------------------------


def test_the_setting_selects_the_backend(monkeypatch, s3_endpoint, s3_client, tmp_path):
    s3_client.create_bucket(Bucket="configured")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AISYSTEM_ARTIFACT_URL", "s3://configured/prefix")
    reset_settings()
    try:
        store = artifacts.get_store()
        assert isinstance(store, S3Store) and store.url == "s3://configured/prefix"
        store.put("hello.txt", b"hi")
        assert s3_client.get_object(Bucket="configured", Key="prefix/hello.txt")["Body"].read() == b"hi"
        monkeypatch.setenv("AISYSTEM_ARTIFACT_URL", f"file://{tmp_path}/elsewhere")
        reset_settings()
        assert artifacts.get_store().url == f"file://{tmp_path}/elsewhere"
        monkeypatch.delenv("AISYSTEM_ARTIFACT_URL")
        reset_settings()
        local = artifacts.get_store()
        assert isinstance(local, LocalStore) and local.root == artifacts.work_dir()
    finally:
        reset_settings()


@pytest.mark.parametrize("url", ["ftp://x", "s3://", "/plain/path", "file://relative"])
def test_a_bad_artifact_url_is_refused_at_start(url):
    with pytest.raises(ValidationError):
        Settings(artifact_url=url)


@pytest.mark.parametrize("name,expected", [
    ("../../app/main.py", "main.py"), ("C:\\Users\\x\\data.csv", "data.csv"), ("line\nbreak.csv", "line_break.csv"),
    ("  ..hidden.. ", "hidden"), ("données.csv", "données.csv"), ('a<b>:"c"|?*.bin', "a_b___c____.bin"),
    ("", None), ("..", None), (None, None), ("n" * 300, "n" * 200),
])
def test_one_rule_for_client_file_names(name, expected):
    assert safe_file_name(name) == expected


def test_check_key_accepts_ordinary_keys():
    assert check_key("datasets/blobs/ab/" + "ab" * 32 + ".parquet").startswith("datasets/")


def test_scratch_and_spool_clean_up():
    with artifacts.scratch("tests/scratch") as folder:
        (folder / "f").write_text("x")
    assert not folder.exists()
    spool = artifacts.spool(limit=10)
    with pytest.raises(AISystemError):
        spool.fill([b"0123456789", b"x"])
    assert not spool.path.exists()
    spool = artifacts.spool().fill([b"abc"])
    assert spool.close().sha256 == hashlib.sha256(b"abc").hexdigest()
    os.unlink(spool.path)


# --- moving files from the old local layout ---------------------------------------------------------


def _old_tree(root) -> dict[str, str]:
    """A tree in the old local layout; returns what the database would record (key -> sha256)."""
    good = b"parquet bytes"
    sha = hashlib.sha256(good).hexdigest()
    files = {f"datasets/blobs/{sha[:2]}/{sha}.parquet": good, "models/artifact_0123456789abcdef0123": b"weights",
             "models/artifact_ffffffffffffffffffff": b"tampered", "datasets/exports/x.csv": b"derived",
             "tmp/upload.part": b"half", "models/artifact_00000000000000000000": b"orphan"}
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return {f"datasets/blobs/{sha[:2]}/{sha}.parquet": sha,
            "models/artifact_0123456789abcdef0123": hashlib.sha256(b"weights").hexdigest(),
            "models/artifact_ffffffffffffffffffff": hashlib.sha256(b"original").hexdigest(),
            "models/artifact_11111111111111111111": hashlib.sha256(b"gone").hexdigest()}


def test_copy_into_is_verified_and_idempotent(store, tmp_path):
    from backend.core.artifacts.migrate import copy_into

    source = tmp_path / "old"
    expected = _old_tree(source)
    first = copy_into(source, store, expected)
    assert (first.copied, first.present, first.unreferenced) == (2, 0, 3)
    assert first.failed == ["models/artifact_ffffffffffffffffffff"]
    assert first.missing == ["models/artifact_11111111111111111111"]
    assert sorted(store.list()) == sorted(k for k in expected if k.endswith(("0123", ".parquet")))
    assert store.read_bytes("models/artifact_0123456789abcdef0123") == b"weights"
    again = copy_into(source, store, expected)
    assert (again.copied, again.present) == (0, 2) and "copied 0, already present 2" in again.lines()[0]


def test_copy_into_the_same_local_root_copies_nothing(tmp_path):
    from backend.core.artifacts.migrate import copy_into

    expected = _old_tree(tmp_path / "store")
    report = copy_into(tmp_path / "store", LocalStore(tmp_path / "store"), expected)
    assert (report.copied, report.present) == (0, 2)


def test_migrate_artifacts_command_moves_a_platform_onto_s3(api, auth, s3_endpoint, s3_client, monkeypatch,
                                                            capsys):
    from backend import cli
    from tests.backend.catalog.datasets.conftest import API as DATASETS
    from tests.backend.catalog.datasets.conftest import FEEDBACK_CSV, create, upload
    from tests.backend.catalog.model_registry.conftest import model_body, safetensors_bytes

    headers = auth.headers("ml_engineer")
    dataset_id = create(api, headers)
    blob_sha = upload(api, headers, dataset_id, FEEDBACK_CSV).json()["version"]["sha256"]
    model_id = api.post("/api/v1/catalog/models", json=model_body(), headers=headers).json()["id"]
    api.post(f"/api/v1/catalog/models/{model_id}/versions", json={"version": "1.0.0"}, headers=headers)
    weights = safetensors_bytes()
    put = api.put(f"/api/v1/catalog/models/{model_id}/versions/1.0.0/artifact", content=weights,
                  headers={**headers, "Content-Type": "application/octet-stream"})
    assert put.status_code == 200, put.text

    bucket = f"moved-{secrets.token_hex(4)}"
    s3_client.create_bucket(Bucket=bucket)
    for name, value in {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "test",
                        "AWS_SECRET_ACCESS_KEY": "test", "AISYSTEM_ARTIFACT_URL": f"s3://{bucket}/aisystem"}.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    try:
        # Three files: the dataset version's Parquet, the original bytes of its upload, the model's weights.
        for run, line in ((1, "copied 3, already present 0"), (2, "copied 0, already present 3")):
            with pytest.raises(SystemExit) as exit_info:
                cli.main(["migrate-artifacts"])
            assert exit_info.value.code == 0, run
            assert line in capsys.readouterr().out, run
        keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}
        assert f"aisystem/datasets/blobs/{blob_sha[:2]}/{blob_sha}.parquet" in keys
        (model_key,) = [k for k in keys if k.startswith("aisystem/models/artifact_")]
        assert s3_client.get_object(Bucket=bucket, Key=model_key)["Body"].read() == weights
        # The platform now reads from S3: the download is served from the store's verified cache.
        download = api.get(f"/api/v1/catalog/models/{model_id}/versions/1.0.0/artifact", headers=headers)
        assert download.status_code == 200 and download.content == weights
        data = api.get(f"{DATASETS}/{dataset_id}/download", params={"format": "csv"}, headers=headers)
        assert data.status_code == 200 and data.content.startswith(b"id,text")
        original = api.get(f"{DATASETS}/{dataset_id}/download", params={"format": "original"}, headers=headers)
        assert original.status_code == 200 and original.content == FEEDBACK_CSV
    finally:
        monkeypatch.delenv("AISYSTEM_ARTIFACT_URL")
        reset_settings()
