"""Security checklist rows for serving: DESER-01/02 (no pickle loaded or parsed), INTEG-01 (tampered
artifact), with real files. AUTH-03 and RES-06 are in test_api.py (model keys, rate limits)."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from backend.catalog.model_registry import artifacts as registry_artifacts
from backend.catalog.model_registry import service as registry
from backend.core.errors import AISystemError
from backend.endpoints import service
from tests.backend.endpoints.conftest import rows

BASE = "/api/v1/catalog/endpoints"
PWNED = Path("/tmp/aisystem-endpoints-pwned")


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


def evil_checkpoint() -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": Evil()}, buffer)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _no_pwned():
    PWNED.unlink(missing_ok=True)
    yield
    assert not PWNED.exists(), "a pickle was executed"


def test_deser_01_a_pickled_checkpoint_is_never_loaded(session, principals, iris_model):
    """The registry refuses the upload; and a version whose stored file was swapped for the pickle (its
    row still claiming a safetensors package) fails the hash check before anything reads it."""
    engineer, ops = principals["ml_engineer"], principals["ml_ops"]
    registry.create_version(session=session, actor=engineer, model_id=iris_model,
                            data=registry.VersionCreate(version="6.6.6"))
    session.commit()
    with pytest.raises(AISystemError) as refused:
        registry.store_artifact(session=session, actor=engineer, model_id=iris_model, version="6.6.6",
                                chunks=iter([evil_checkpoint()]), file_name="model.pt")
    session.rollback()
    assert refused.value.code == "MODEL_004"
    row = registry.find_version(session=session, model_id=iris_model, version="1.0.0")
    registry_artifacts.artifact_path(row.artifact_id).write_bytes(evil_checkpoint())
    endpoint = service.create_endpoint(session=session, actor=ops, data={"name": "evil"})
    session.commit()
    with pytest.raises(AISystemError) as err:
        service.deploy(session=session, actor=ops, endpoint_id=endpoint.id,
                       data={"modelId": iris_model, "version": "1.0.0"})
    session.rollback()
    assert err.value.code == "MODEL_004"
    assert session.get(service.Endpoint, endpoint.id).status == "undeployed"


def test_deser_01_weights_that_are_not_safetensors_are_refused(session, principals, iris_model):
    """Even with a matching hash in the registry row, the loader reads safetensors only (TRAIN_004)."""
    from backend.endpoints import serving

    ops = principals["ml_ops"]
    row = registry.find_version(session=session, model_id=iris_model, version="1.0.0")
    data = evil_checkpoint()
    registry_artifacts.artifact_path(row.artifact_id).write_bytes(data)
    import hashlib

    row.artifact_sha256 = hashlib.sha256(data).hexdigest()
    row.artifact_details = {**row.artifact_details, "config": {**row.artifact_details["config"], "weights": {}}}
    with pytest.raises(AISystemError) as err:
        serving.load_version(session=session, actor=ops, row=row)
    assert err.value.code == "TRAIN_004"
    session.rollback()
    from sqlmodel import select

    from backend.audit.models import AuditRecord

    rejected = session.exec(select(AuditRecord).where(AuditRecord.action == "model.load_rejected")).all()
    assert [r.entity_id for r in rejected] == [iris_model]


@pytest.mark.parametrize("content_type", ["application/vnd.bentoml+pickle", "application/octet-stream",
                                          "application/x-python-serialize"])
def test_deser_02_pickle_bodies_are_not_parsed(api, auth, iris_model, content_type):
    ops = auth.headers("ml_ops")
    endpoint = api.post(BASE, json={"name": "p"}, headers=ops).json()
    api.post(f"{BASE}/{endpoint['id']}/deploy", json={"modelId": iris_model, "version": "1.0.0"}, headers=ops)
    body = pickle.dumps({"instances": rows(1), "x": Evil()})
    answer = api.post(f"{BASE}/{endpoint['id']}/predict", content=body,
                      headers={**ops, "Content-Type": content_type})
    assert answer.status_code in (415, 422), answer.text
    assert answer.json()["error"]["code"].startswith("REQ_")


def test_integ_01_tampered_weights_are_not_served(api, auth, iris_model):
    ops = auth.headers("ml_ops")
    endpoint = api.post(BASE, json={"name": "t"}, headers=ops).json()
    from backend.core.db import session_scope

    with session_scope(write=False) as s:
        row = registry.find_version(session=s, model_id=iris_model, version="1.0.0")
        path = registry_artifacts.artifact_path(row.artifact_id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    answer = api.post(f"{BASE}/{endpoint['id']}/deploy", json={"modelId": iris_model, "version": "1.0.0"}, headers=ops)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "MODEL_004"
    assert api.get(f"{BASE}/{endpoint['id']}", headers=ops).json()["status"] == "undeployed"
    audit = api.get("/api/v1/governance/audit", params={"action": "model.artifact.integrity_failed"},
                    headers=auth.headers("admin"))
    assert audit.status_code == 200 and audit.json()["items"], audit.text
