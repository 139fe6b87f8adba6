"""The governance provenance routes: content hashes, time and agent filters, the training-data integrity
check, and the provenance graph of a model trained and served (dataset -> training -> version -> endpoint)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from backend.catalog.datasets import seed as dataset_seed
from backend.catalog.datasets import storage
from backend.catalog.datasets.models import DatasetVersion
from backend.core.timeutil import isoformat_z, utcnow
from backend.endpoints import seed as endpoint_seed
from backend.endpoints.models import Endpoint
from tests.backend.lineage.conftest import make_dataset, make_model

BASE = "/api/v1/governance/provenance"


@pytest.fixture
def model_on_data(principals) -> tuple[str, str]:
    engineer = principals["ml_engineer"]
    dataset_id = make_dataset(engineer, roles=("ml_engineer", "data_scientist"))
    model_id = make_model(engineer, versions=(
        {"version": "1.0.0", "source": {"datasets": [{"id": dataset_id, "version": "2"}]}},))
    return dataset_id, model_id


def _blob(session, dataset_id: str, number: int) -> str:
    return session.exec(select(DatasetVersion.blob_sha256).where(DatasetVersion.dataset_id == dataset_id,
                                                                 DatasetVersion.number == number)).one()


def test_records_carry_content_hashes_and_filter_by_time_and_agent(api, auth, session, model_on_data):
    dataset_id, model_id = model_on_data
    headers = auth.headers("ml_engineer")
    page = api.get(f"{BASE}?kind=transform", headers=headers)
    assert page.status_code == 200, page.text
    [record] = page.json()["items"]
    assert record["generated"][0]["contentHash"] == _blob(session, dataset_id, 2)
    assert record["used"][0]["contentHash"] == _blob(session, dataset_id, 1)
    later = isoformat_z(utcnow() + timedelta(hours=1))
    assert api.get(f"{BASE}?since={later}", headers=headers).json()["items"] == []
    assert len(api.get(f"{BASE}?until={later}&agent=ml_engineer", headers=headers).json()["items"]) >= 3
    assert api.get(f"{BASE}?agent=nobody", headers=headers).json()["items"] == []
    one = api.get(f"{BASE}/dataset_version:{dataset_id}@2", headers=headers).json()
    assert one["entity"]["contentHash"] == _blob(session, dataset_id, 2)
    assert one["memberOf"][0]["contentHash"] == _blob(session, dataset_id, 2)  # the dataset's current version


def test_query_filters_by_recording_time(api, auth, model_on_data):
    dataset_id, model_id = model_on_data
    headers = auth.headers("data_scientist")
    body = {"entity": f"model:{model_id}", "direction": "ancestors", "kinds": ["dataset_version"]}
    everything = api.post(f"{BASE}/query", headers=headers, json=body).json()["items"]
    assert [i["ref"] for i in everything] == [f"{dataset_id}@2", f"{dataset_id}@1"]
    assert all(i["contentHash"] and i["recordedAt"].endswith("Z") for i in everything)
    future = isoformat_z(utcnow() + timedelta(hours=1))
    assert api.post(f"{BASE}/query", headers=headers, json={**body, "since": future}).json()["items"] == []
    assert len(api.post(f"{BASE}/query", headers=headers, json={**body, "until": future}).json()["items"]) == 2
    bad = api.post(f"{BASE}/query", headers=headers, json={**body, "since": "yesterday"})
    assert bad.status_code == 422


def test_integrity_check_reports_changed_training_data(api, auth, session, model_on_data):
    dataset_id, model_id = model_on_data
    headers = auth.headers("ml_engineer")
    response = api.get(f"{BASE}/integrity?model={model_id}", headers=headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["intact"] is True and report["filesChecked"] == 1
    [finding] = report["findings"]
    assert finding["modelVersion"]["ref"] == f"{model_id}@1.0.0"
    assert finding["datasetVersion"]["ref"] == f"{dataset_id}@2"
    assert finding["status"] == "ok" and finding["currentHash"] == finding["recordedHash"] == _blob(session, dataset_id, 2)
    # Someone rewrites the stored file under the model's feet.
    path = storage.blob_path(_blob(session, dataset_id, 2))
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"tampered")
    changed = api.get(f"{BASE}/integrity", headers=headers).json()
    assert changed["intact"] is False
    assert [f["status"] for f in changed["findings"] if f["modelVersion"]["ref"] == f"{model_id}@1.0.0"] == ["mismatch"]
    path.unlink()
    gone = api.get(f"{BASE}/integrity?model={model_id}", headers=headers).json()
    assert gone["findings"][0]["status"] == "missing" and gone["findings"][0]["currentHash"] is None


def test_integrity_check_errors(api, auth, demo_users):
    assert api.get(f"{BASE}/integrity").status_code == 401
    refused = api.get(f"{BASE}/integrity", headers=auth.headers("business_user"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AUTH_002"
    unknown = api.get(f"{BASE}/integrity?model=model_nope", headers=auth.headers("ml_engineer"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "LINEAGE_001"
    assert api.get(f"{BASE}/integrity?model=a/b", headers=auth.headers("ml_engineer")).status_code in (404, 422)


def test_graph_of_a_trained_and_served_model(api, auth, session, monkeypatch):
    """The demo's model, trained at seed time on the Wine dataset and deployed: dataset -> training ->
    version -> deployment -> endpoint, with hashes on the data and the version."""
    headers = auth.headers("admin")
    monkeypatch.setattr(dataset_seed, "DEMO_DATASETS", [d for d in dataset_seed.DEMO_DATASETS if d["name"] == "Wine"])
    dataset_seed.seed_demo_datasets(session)
    session.commit()
    assert endpoint_seed.seed_demo_endpoint(session).startswith("created endpoint")
    session.commit()
    endpoint = session.exec(select(Endpoint).where(Endpoint.name == endpoint_seed.ENDPOINT_NAME)).one()
    session.commit()
    response = api.get(f"{BASE}/lineage/model:{endpoint.model_id}?depth=2", headers=headers)
    assert response.status_code == 200, response.text
    graph = response.json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    version = f"model_version:{endpoint.model_id}@1.0.0"
    activities = {n["ref"]: n["id"] for n in graph["nodes"] if n["kind"] == "activity"}
    [data] = [n for n in graph["nodes"] if n["kind"] == "dataset_version"]
    edges = {(e["source"], e["relation"], e["target"]) for e in graph["edges"]}
    # dataset -> training
    assert (activities["train"], "used", data["id"]) in edges
    # training -> version
    assert (version, "wasGeneratedBy", activities["train"]) in edges
    assert (version, "wasDerivedFrom", data["id"]) in edges
    # version -> endpoint
    assert (activities["deploy"], "used", version) in edges
    assert (f"endpoint:{endpoint.id}", "wasGeneratedBy", activities["deploy"]) in edges
    assert nodes[f"endpoint:{endpoint.id}"]["label"] == endpoint_seed.ENDPOINT_NAME
    assert data["contentHash"] and len(data["contentHash"]) == 64 and nodes[version]["contentHash"]
