"""Checklist rows PATH-01..05, DESER-01/03/04/05 and INTEG-01 on the model registry, plus cut-off and
oversized uploads. The hostile path list is one fixture, reused by every file-touching route here."""

from __future__ import annotations

import io
import os
import pickle  # noqa: S403  (only to build hostile payloads; never to load)
import re
import sys
import tarfile
import zipfile
from pathlib import Path

import anyio
import pytest
import torch
from sqlmodel import col, select

from backend.audit.models import AuditRecord
from backend.catalog.model_registry import artifacts
from backend.catalog.model_registry.models import ModelVersion
from backend.core.config import get_settings, reset_settings
from backend.core.db import session_scope
from tests.backend.catalog.model_registry.conftest import model_body, onnx_bytes, safetensors_bytes

BASE = "/api/v1/catalog/models"
HOSTILE_PATHS = [
    "../../../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "..\\..\\..\\etc\\passwd", "/etc/passwd", "C:/", "a;/../../etc/passwd", "a?/a", "a#/../../etc", "a%00.csv",
    "..%c0%af..%c0%afetc/passwd", "\\\\?\\C:\\x",
]


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/pwned-model-registry",))


@pytest.fixture
def hostile_paths() -> list[str]:
    return HOSTILE_PATHS


@pytest.fixture
def model_with_version(api, auth):
    headers = auth.headers("ml_engineer")
    mid = api.post(BASE, json=model_body(), headers=headers).json()["id"]
    api.post(f"{BASE}/{mid}/versions", json={"version": "1.0.0", "metrics": {"accuracy": 0.9}}, headers=headers)
    return mid


def put_raw(api, auth, mid, data, version="1.0.0", **params):
    return api.put(f"{BASE}/{mid}/versions/{version}/artifact", content=data, params=params,
                   headers={**auth.headers("ml_engineer"), "Content-Type": "application/octet-stream"})


def tree(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")} if root.exists() else set()


# The platform's own files, which change on every write (the audit checkpoint: up to seconds after it).
BOOKKEEPING = re.compile(r"(aisystem\.db|template\.db|audit-checkpoint|broker|secret_key)")


def store_folders() -> set[str]:
    """The store's own folders: the first upload of a test process creates them, whatever its test is."""
    return {str(get_settings().artifacts_dir), str(artifacts.temp_root()), str(artifacts.store_root())}


def platform_files(root: Path) -> set[str]:
    """What is under root, less the store's folders and the files that change on every write."""
    return {p for p in tree(root) - store_folders() if not BOOKKEEPING.search(Path(p).name)}


def outside(root: Path) -> set[str]:
    """Files beside the artifact store (not in it)."""
    return platform_files(root.parent) - tree(root)


def temp_files() -> list[Path]:
    return list(artifacts.temp_root().glob("*")) if artifacts.temp_root().exists() else []


def rejected(response) -> bool:
    return response.status_code == 422 and response.json()["error"]["code"] == "MODEL_004"


# --- PATH ----------------------------------------------------------------------------------------------


def test_path_01_read_traversal_never_reaches_the_file_system(api, auth, model_with_version, hostile_paths):
    headers = auth.headers("admin")
    for p in hostile_paths:
        for url in (f"{BASE}/{p}/versions/1.0.0/artifact", f"{BASE}/{model_with_version}/versions/{p}/artifact",
                    f"{BASE}/{p}"):
            response = api.get(url, headers=headers)
            assert response.status_code in (400, 404, 405, 422), (url, response.status_code)
            assert "root:x:0:0" not in response.text, url
            assert "/etc/passwd" not in response.json().get("error", {}).get("message", ""), (url, response.text)


def test_path_01_a_symlink_planted_in_the_store_is_refused(api, auth, model_with_version):
    assert put_raw(api, auth, model_with_version, safetensors_bytes()).status_code == 200
    with session_scope(write=False) as s:
        row = s.exec(select(ModelVersion).where(ModelVersion.model_id == model_with_version)).one()
    path = artifacts.store_root() / row.artifact_id
    path.unlink()
    path.symlink_to("/etc/passwd")
    response = api.get(f"{BASE}/{model_with_version}/versions/1.0.0/artifact", headers=auth.headers("admin"))
    assert response.status_code in (404, 422) and "root:x:0:0" not in response.text
    assert str(path) not in response.text


@pytest.mark.parametrize("name", ["../../app/main.py", "/etc/cron.d/x", "..\\..\\x.csv", "a/../../b.csv",
                                  "n" * 300, "line\nbreak.safetensors"])
def test_path_02_client_file_names_never_reach_the_file_system(api, auth, model_with_version, name):
    root = get_settings().artifacts_dir
    outside_before = outside(root)
    response = api.put(f"{BASE}/{model_with_version}/versions/1.0.0/artifact", headers=auth.headers("ml_engineer"),
                       files={"file": (name, safetensors_bytes(), "application/octet-stream")})
    assert response.status_code == 200, response.text
    stored = response.json()["artifact"]["fileName"]
    assert stored is None or ("/" not in stored and "\\" not in stored and "\n" not in stored and len(stored) <= 200)
    with session_scope(write=False) as s:
        row = s.exec(select(ModelVersion).where(ModelVersion.model_id == model_with_version)).one()
    assert artifacts.ARTIFACT_ID.match(row.artifact_id)
    assert sorted(p.name for p in artifacts.store_root().iterdir()) == [row.artifact_id]
    assert outside(root) == outside_before


def test_path_03_delete_traversal(api, auth, tmp_path):
    target = tmp_path / "passwd"
    target.write_text("keep me")
    for path in ("%252E%252E%252F%252E%252E%252Fetc%252Fpasswd", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"):
        response = api.delete(f"{BASE}/{path}", headers=auth.headers("admin"))
        assert response.status_code in (400, 404, 422)
    assert target.read_text() == "keep me" and Path("/etc/passwd").exists()


def _tar(members) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _member(name, data=b"x", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def _zip(name: str, data: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("bundle", [
    _tar([_member("../../evil.py")]), _tar([_member("/tmp/x")]),
    _tar([_member("lnk", kind=tarfile.SYMTYPE, link="/etc"), _member("lnk/passwd")]),
    _tar([_member("hard", kind=tarfile.LNKTYPE, link="/etc/shadow")]), _zip("..\\x"), _zip("../../x"),
], ids=["dotdot", "absolute", "symlink", "hardlink", "zip-backslash", "zip-dotdot"])
def test_path_04_archive_slip_bundles_are_refused_whole(api, auth, model_with_version, bundle):
    data_dir = get_settings().artifacts_dir.parent
    before = platform_files(data_dir)
    response = put_raw(api, auth, model_with_version, bundle, format="opaque")
    assert rejected(response), response.text
    assert not temp_files()
    assert platform_files(data_dir) == before


# --- DESER ----------------------------------------------------------------------------------------------


def test_deser_01_a_malicious_torch_checkpoint_is_refused_and_audited(api, auth, model_with_version):
    Path("/tmp/pwned-model-registry").unlink(missing_ok=True)
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": Evil()}, buffer)
    for name in ("model.pt", "model.safetensors", "weights.bin"):
        response = api.put(f"{BASE}/{model_with_version}/versions/1.0.0/artifact", headers=auth.headers("ml_engineer"),
                           files={"file": (name, buffer.getvalue(), "application/octet-stream")})
        assert rejected(response), response.text
    assert rejected(put_raw(api, auth, model_with_version, buffer.getvalue(), format="opaque"))
    assert not Path("/tmp/pwned-model-registry").exists()
    with session_scope(write=False) as s:
        row = s.exec(select(ModelVersion).where(ModelVersion.model_id == model_with_version)).one()
        assert row.artifact_id is None
        actions = s.exec(select(AuditRecord.action).where(AuditRecord.entity_id == model_with_version)).all()
    assert "model.artifact.rejected" in actions
    promote = api.post(f"{BASE}/{model_with_version}/versions/1.0.0/promote", json={"stage": "production"},
                       headers=auth.headers("ml_engineer"))
    assert rejected(promote)  # nothing to deploy


def _joblib_like() -> bytes:
    import zlib

    return zlib.compress(pickle.dumps({"coef": [1.0, 2.0]}, protocol=4))


def _pt2_like() -> bytes:
    return _zip("archive/data.pkl", pickle.dumps({"a": 1}))


@pytest.mark.parametrize("name,data", [
    ("model.pkl", pickle.dumps({"w": [1, 2, 3]}, protocol=0)),
    ("model.pkl", pickle.dumps({"w": [1, 2, 3]}, protocol=5)),
    ("model.joblib", _joblib_like()),
    ("model.pt2", _pt2_like()),
    ("bundle.zip", _zip("inner/weights.bin", pickle.dumps([1, 2], protocol=2))),
    ("data.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }" + b" " * 60),
    ("innocent.onnx", pickle.dumps(Evil(), protocol=2)),
], ids=["pickle-p0", "pickle-p5", "joblib", "pt2", "zip-with-pickle", "npy-object", "renamed"])
def test_deser_03_unsafe_formats_are_refused_by_content_and_name(api, auth, model_with_version, name, data):
    response = api.put(f"{BASE}/{model_with_version}/versions/1.0.0/artifact", headers=auth.headers("ml_engineer"),
                       files={"file": (name, data, "application/octet-stream")}, params={"format": "opaque"})
    assert rejected(response), response.text
    assert not temp_files() and not list(artifacts.store_root().glob("*")) if artifacts.store_root().exists() else True


def test_deser_04_config_cannot_select_code_or_paths(api, auth, model_with_version):
    config = ('{"loader_module": "evil_loader", "code": "code/", "pickled_model": "../outside/evil.pkl", '
              '"hidden": 8}')
    response = api.put(f"{BASE}/{model_with_version}/versions/1.0.0/artifact", headers=auth.headers("ml_engineer"),
                       files={"file": ("w.safetensors", safetensors_bytes(with_config=False), "application/octet-stream")},
                       data={"config": config})
    assert response.status_code == 200
    assert response.json()["artifact"]["details"]["config"]["loader_module"] == "evil_loader"  # inert data
    assert "evil_loader" not in sys.modules


def test_deser_05_the_registry_never_unpickles():
    package = Path(artifacts.__file__).parent
    source = "\n".join(p.read_text() for p in package.glob("*.py"))
    assert not re.search(r"^\s*(import pickle|from pickle|import joblib|import dill)\b", source, re.M)
    for forbidden in ("torch.load", "joblib.load", "weights_only=False", "np.load(", "allow_pickle"):
        assert forbidden not in source, forbidden


def test_safetensors_onnx_and_opaque_are_accepted(api, auth, model_with_version):
    headers = auth.headers("ml_engineer")
    for version in ("2.0.0", "3.0.0"):
        api.post(f"{BASE}/{model_with_version}/versions", json={"version": version}, headers=headers)
    st = put_raw(api, auth, model_with_version, safetensors_bytes())
    assert st.json()["artifact"]["format"] == "safetensors"
    onnx = put_raw(api, auth, model_with_version, onnx_bytes(), version="2.0.0")
    assert onnx.status_code == 200, onnx.text
    details = onnx.json()["artifact"]["details"]
    assert (details["irVersion"], details["producer"], details["opsets"], details["opset"]) == (
        8, "pytest", [{"domain": "ai.onnx", "version": 17}], 17)
    assert details["parameters"] == 0 and details["inputs"] == details["outputs"] == []
    opaque = put_raw(api, auth, model_with_version, b"GGUF\x03\x00external weights", version="3.0.0",
                     format="opaque")
    assert opaque.json()["artifact"]["format"] == "opaque"
    assert rejected(put_raw(api, auth, model_with_version, b"random bytes", version="3.0.0"))  # not declared
    assert rejected(put_raw(api, auth, model_with_version, onnx_bytes()[:-2], version="3.0.0", format="onnx"))
    assert rejected(put_raw(api, auth, model_with_version, safetensors_bytes()[:-4], version="3.0.0"))


# --- INTEG-01 ----------------------------------------------------------------------------------------------


def _stored_path(mid: str) -> Path:
    with session_scope(write=False) as s:
        row = s.exec(select(ModelVersion).where(ModelVersion.model_id == mid)).one()
    return artifacts.artifact_path(row.artifact_id)


@pytest.mark.parametrize("tamper", ["flip", "delete"])
def test_integ_01_a_tampered_artifact_is_flagged_and_never_served(api, auth, model_with_version, tamper):
    assert put_raw(api, auth, model_with_version, safetensors_bytes()).status_code == 200
    path = _stored_path(model_with_version)
    if tamper == "flip":
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.unlink()
    headers = auth.headers("ml_engineer")
    download = api.get(f"{BASE}/{model_with_version}/versions/1.0.0/artifact", headers=headers)
    assert rejected(download) and download.json()["error"]["details"]["integrity"] in ("mismatch", "missing")
    version = api.get(f"{BASE}/{model_with_version}/versions/1.0.0", headers=headers).json()
    assert version["artifact"]["integrity"] == ("mismatch" if tamper == "flip" else "missing")
    promote = api.post(f"{BASE}/{model_with_version}/versions/1.0.0/promote", json={"stage": "production"},
                       headers=headers)
    assert rejected(promote)
    with session_scope(write=False) as s:
        failures = s.exec(select(AuditRecord).where(AuditRecord.action == "model.artifact.integrity_failed",
                                                    col(AuditRecord.entity_id) == model_with_version)).all()
    assert failures and all(r.outcome == "failure" for r in failures)


# --- cut-off and oversized uploads -------------------------------------------------------------------------


def test_a_cut_off_upload_leaves_no_file_and_no_artifact(api, auth, model_with_version):
    from backend.api import create_api

    app = create_api()
    token = auth.headers("ml_engineer")["Authorization"]
    path = f"/api/v1/catalog/models/{model_with_version}/versions/1.0.0/artifact"
    messages = [{"type": "http.request", "body": safetensors_bytes()[:100], "more_body": True},
                {"type": "http.disconnect"}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"authorization", token.encode()), (b"content-type", b"application/octet-stream"),
                         (b"host", b"testserver")],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    anyio.run(app, scope, receive, send)
    assert not temp_files()
    with session_scope(write=False) as s:
        row = s.exec(select(ModelVersion).where(ModelVersion.model_id == model_with_version)).one()
    assert row.artifact_id is None and row.artifact_sha256 is None
    assert not artifacts.store_root().exists() or not list(artifacts.store_root().iterdir())


def test_an_oversized_upload_is_refused_and_cleaned_up(api, auth, model_with_version, monkeypatch):
    monkeypatch.setenv("AISYSTEM_MAX_UPLOAD_BYTES", "2048")
    reset_settings()
    try:
        big = safetensors_bytes() + b"\0" * 4096
        assert put_raw(api, auth, model_with_version, big).status_code == 413

        def chunks():
            for _ in range(10):
                yield b"\0" * 1024

        streamed = api.put(f"{BASE}/{model_with_version}/versions/1.0.0/artifact", content=chunks(),
                           headers={**auth.headers("ml_engineer"), "Content-Type": "application/octet-stream"})
        assert streamed.status_code == 413
        assert not temp_files()
        with pytest.raises(Exception) as excinfo:
            artifacts.receive([b"\0" * 3000])
        assert getattr(excinfo.value, "code", None) == "REQ_002" and not temp_files()
    finally:
        monkeypatch.delenv("AISYSTEM_MAX_UPLOAD_BYTES")
        reset_settings()


def test_a_promoted_versions_artifact_is_immutable(api, auth, model_with_version):
    headers = auth.headers("ml_engineer")
    put_raw(api, auth, model_with_version, safetensors_bytes())
    api.post(f"{BASE}/{model_with_version}/versions/1.0.0/promote", json={"stage": "production"}, headers=headers)
    again = put_raw(api, auth, model_with_version, safetensors_bytes(seed=3))
    assert again.status_code == 409 and again.json()["error"]["code"] == "MODEL_002"


def test_a_wrong_content_type_is_refused(api, auth, model_with_version):
    response = api.put(f"{BASE}/{model_with_version}/versions/1.0.0/artifact", json={"a": 1},
                       headers=auth.headers("ml_engineer"))
    assert response.status_code == 422 and response.json()["error"]["code"] == "REQ_001"
