"""The /api/v1/catalog/models routes: contract, permissions, errors and the full promote/rollback flow."""

from __future__ import annotations

import hashlib

import pytest
from sqlmodel import col, select

from backend.audit.models import AuditRecord
from backend.catalog.model_registry.models import ModelActivity
from backend.core.db import session_scope
from tests.backend.catalog.model_registry.conftest import model_body, safetensors_bytes

BASE = "/api/v1/catalog/models"


def create(api, auth, name="Customer Sentiment Analyzer", role="ml_engineer", **overrides):
    response = api.post(BASE, json=model_body(name, **overrides), headers=auth.headers(role))
    assert response.status_code == 201, response.text
    return response.json()


def upload(api, auth, model_id, version, data=None, role="ml_engineer", **params):
    return api.put(f"{BASE}/{model_id}/versions/{version}/artifact", content=data or safetensors_bytes(),
                   headers={**auth.headers(role), "Content-Type": "application/octet-stream"}, params=params)


def error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_register_read_update_and_list(api, auth):
    doc = create(api, auth)
    assert doc["id"].startswith("model_") and doc["createdBy"] and doc["version"] is None
    headers = auth.headers("data_scientist")
    got = api.get(f"{BASE}/{doc['id']}", headers=headers)
    assert got.status_code == 200 and got.json() == doc
    changed = api.put(f"{BASE}/{doc['id']}", json={"framework": "JAX"},
                      headers=auth.headers("ml_engineer")).json()
    assert changed["framework"] == "JAX" and changed["updatedAt"] >= doc["updatedAt"]
    page = api.get(BASE, params={"type": "NLP", "sort": "-accuracy", "limit": 10}, headers=headers).json()
    assert [m["id"] for m in page["items"]] == [doc["id"]] and page["nextCursor"] is None


def test_create_with_a_version_registers_it(api, auth):
    doc = create(api, auth, version="0.1.0")
    assert doc["version"] == "0.1.0"
    versions = api.get(f"{BASE}/{doc['id']}/versions", headers=auth.headers("business_user")).json()
    assert [v["version"] for v in versions["items"]] == ["0.1.0"]


@pytest.mark.parametrize("role", ["data_scientist", "business_user"])
def test_read_only_roles_cannot_change_models(api, auth, role):
    doc = create(api, auth)
    for method, path, body in [("POST", BASE, model_body("Other")), ("PUT", f"{BASE}/{doc['id']}", {}),
                               ("DELETE", f"{BASE}/{doc['id']}", None),
                               ("POST", f"{BASE}/{doc['id']}/versions", {"version": "1.0.0"}),
                               ("POST", f"{BASE}/{doc['id']}/rollback", {})]:
        response = api.request(method, path, json=body, headers=auth.headers(role))
        assert error(response) == (403, "AUTH_002"), (method, path)


def test_unknown_model_is_model_001(api, auth):
    for path in ("/model_nope", "/model_nope/versions", "/model_nope/versions/1.0.0", "/model_nope/metrics",
                 "/model_nope/lineage", "/model_nope/metadata", "/model_nope/versions/history"):
        assert error(api.get(BASE + path, headers=auth.headers("admin"))) == (404, "MODEL_001"), path


def test_client_chosen_storage_fields_are_refused(api, auth):
    """PATH-05: no field of a model or version can name a storage location."""
    doc = create(api, auth)
    for location in ["file:///etc/", "//proc/self/root", "file://./etc", "models:/other/1",
                     "http:///#/../../../etc/", "http:///?/../../etc/", "../../../etc"]:
        for field in ("source", "artifactLocation", "artifact_location", "artifactUri", "storagePath"):
            bad = api.post(BASE, json=model_body("X", **{field: location}), headers=auth.headers("ml_engineer"))
            assert error(bad) == (422, "REQ_001")
            bad = api.post(f"{BASE}/{doc['id']}/versions", json={"version": "1.0.0", field: location},
                           headers=auth.headers("ml_engineer"))
            assert error(bad) == (422, "REQ_001")
    special = api.post(BASE, json=model_body("Y", metadata={"tags": ["is_prompt"], "key": "is_prompt"}),
                       headers=auth.headers("ml_engineer"))
    assert error(special) == (422, "REQ_001")


def test_limit_is_bounded(api, auth):
    response = api.get(BASE, params={"limit": 100000}, headers=auth.headers("admin"))
    assert error(response) == (422, "REQ_001")
    assert api.get(BASE, params={"sort": "password"}, headers=auth.headers("admin")).status_code == 422
    assert error(api.get(BASE, params={"cursor": "garbage!"}, headers=auth.headers("admin"))) == (422, "REQ_001")


def test_huge_and_path_like_names(api, auth):
    huge = api.post(BASE, json=model_body("n" * 10_000), headers=auth.headers("ml_engineer"))
    assert error(huge) == (422, "REQ_001")
    assert huge.json()["error"]["details"]["fields"][0]["field"].endswith("name")
    for name in ("../../etc/passwd", "C:\\Windows\\x", ".hidden", "a/b"):
        assert api.post(BASE, json=model_body(name), headers=auth.headers("ml_engineer")).status_code == 422


def test_status_route_refuses_a_jump_with_the_allowed_moves(api, auth):
    doc = create(api, auth)
    response = api.patch(f"{BASE}/{doc['id']}/status", json={"status": "monitoring"},
                         headers=auth.headers("ml_engineer"))
    assert error(response) == (409, "MODEL_002")
    assert response.json()["error"]["details"]["allowed"] == ["training", "retirement"]
    ok = api.patch(f"{BASE}/{doc['id']}/status", json={"status": "training", "reason": "kick-off"},
                   headers=auth.headers("ml_engineer"))
    assert ok.status_code == 200 and ok.json()["status"] == "training"


def test_versions_duplicate_and_semver(api, auth):
    doc = create(api, auth)
    headers = auth.headers("ml_engineer")
    for v in ("2.9.0", "2.10.0"):
        assert api.post(f"{BASE}/{doc['id']}/versions", json={"version": v}, headers=headers).status_code == 201
    assert error(api.post(f"{BASE}/{doc['id']}/versions", json={"version": "2.9.0"}, headers=headers)) == (409, "MODEL_002")
    assert error(api.post(f"{BASE}/{doc['id']}/versions", json={"version": "2.9"}, headers=headers)) == (422, "REQ_001")
    listed = api.get(f"{BASE}/{doc['id']}/versions", params={"order": "desc"}, headers=headers).json()
    assert [v["version"] for v in listed["items"]] == ["2.10.0", "2.9.0"]
    put = api.put(f"{BASE}/{doc['id']}/versions/2.9.0", json={"notes": "ok", "metrics": {"accuracy": 0.9}},
                  headers=headers)
    assert put.status_code == 200 and put.json()["metrics"] == {"accuracy": 0.9}


def test_register_upload_promote_rollback_and_history(api, auth):
    """The issue's flow: register → upload artifact → promote → rollback → history shows both moves."""
    headers = auth.headers("ml_engineer")
    doc = create(api, auth)
    mid = doc["id"]
    for v in ("1.0.0", "1.1.0"):
        api.post(f"{BASE}/{mid}/versions", json={"version": v, "metrics": {"accuracy": 0.9}}, headers=headers)
        data = safetensors_bytes(seed=int(v[2]))
        up = upload(api, auth, mid, v, data)
        assert up.status_code == 200, up.text
        artifact = up.json()["artifact"]
        assert artifact["sha256"] == hashlib.sha256(data).hexdigest() and artifact["format"] == "safetensors"
        assert artifact["details"]["tensors"] == 2 and artifact["details"]["config"] == {"arch": "mlp", "hidden": 8}
    first = api.post(f"{BASE}/{mid}/versions/1.0.0/promote", json={"stage": "production", "reason": "launch"},
                     headers=headers)
    assert first.status_code == 200 and first.json()["model"]["version"] == "1.0.0"
    second = api.post(f"{BASE}/{mid}/versions/1.1.0/promote",
                      json={"stage": "production", "reason": "better", "expectedCurrentVersion": "1.0.0"},
                      headers=headers).json()
    assert second["replaced"]["version"] == "1.0.0" and second["replaced"]["stage"] == "archived"
    stale = api.post(f"{BASE}/{mid}/versions/1.0.0/promote",
                     json={"stage": "production", "expectedCurrentVersion": "1.0.0"}, headers=headers)
    assert error(stale) == (409, "MODEL_002")
    back = api.post(f"{BASE}/{mid}/rollback", json={"reason": "regression"}, headers=headers)
    assert back.status_code == 200 and back.json()["version"]["version"] == "1.0.0"
    assert back.json()["model"]["version"] == "1.0.0"
    hist = api.get(f"{BASE}/{mid}/versions/history", headers=auth.headers("business_user")).json()["items"]
    moves = [(h["version"], h["stage"], h["action"], h["reason"]) for h in hist]
    assert ("1.1.0", "production", "promote", "better") in moves
    assert ("1.0.0", "production", "rollback", "regression") in moves
    assert all(h["movedByName"] for h in hist if h["action"] != "register")
    at = hist[0]["startedAt"]
    now_prod = api.get(f"{BASE}/{mid}/versions/history", params={"at": at, "stage": "production"},
                       headers=headers).json()["items"]
    assert [h["version"] for h in now_prod] == ["1.0.0"]
    with session_scope(write=False) as s:
        actions = s.exec(select(AuditRecord.action).where(AuditRecord.entity_id == mid)
                         .order_by(col(AuditRecord.seq))).all()
    assert actions.count("model.artifact.upload") == 2 and "model.rollback" in actions


def test_download_carries_the_hash_and_is_recorded(api, auth):
    headers = auth.headers("ml_engineer")
    mid = create(api, auth)["id"]
    api.post(f"{BASE}/{mid}/versions", json={"version": "1.0.0"}, headers=headers)
    data = safetensors_bytes()
    upload(api, auth, mid, "1.0.0", data)
    response = api.get(f"{BASE}/{mid}/versions/1.0.0/artifact", headers=auth.headers("business_user"))
    assert response.status_code == 200 and response.content == data
    assert response.headers["x-artifact-sha256"] == hashlib.sha256(data).hexdigest()
    assert "Customer_Sentiment_Analyzer-1.0.0.safetensors" in response.headers["content-disposition"]
    with session_scope(write=False) as s:
        kinds = s.exec(select(ModelActivity.kind).where(ModelActivity.model_id == mid)).all()
    assert "download" in kinds


def test_multipart_upload_with_a_config_part(api, auth):
    headers = auth.headers("ml_engineer")
    mid = create(api, auth)["id"]
    api.post(f"{BASE}/{mid}/versions", json={"version": "1.0.0"}, headers=headers)
    data = safetensors_bytes(with_config=False)
    response = api.put(f"{BASE}/{mid}/versions/1.0.0/artifact", headers=headers,
                       files={"file": ("weights.safetensors", data, "application/octet-stream")},
                       data={"config": '{"hidden": 8, "loader_module": "evil_loader"}'})
    assert response.status_code == 200, response.text
    artifact = response.json()["artifact"]
    assert artifact["fileName"] == "weights.safetensors" and artifact["details"]["config"]["hidden"] == 8
    no_config = api.put(f"{BASE}/{mid}/versions/1.0.0/artifact", headers=headers,
                        files={"file": ("w.safetensors", data, "application/octet-stream")})
    assert error(no_config) == (422, "MODEL_004")


def test_filter_dsl(api, auth):
    create(api, auth, "High Accuracy NLP", performance={"accuracy": 0.95})
    create(api, auth, "Vision Thing", type="Vision", performance={"accuracy": 0.85},
           metadata={"tags": ["vision"]})
    create(api, auth, "Low Accuracy NLP", performance={"accuracy": 0.5})
    headers = auth.headers("business_user")
    body = {"all": [{"field": "performance.accuracy", "op": "gte", "value": 0.8},
                    {"any": [{"field": "type", "op": "eq", "value": "NLP"},
                             {"field": "metadata.tags", "op": "contains", "value": "vision"}]}]}
    found = api.post(f"{BASE}/filter", json=body, params={"sort": "name"}, headers=headers).json()
    assert [m["name"] for m in found["items"]] == ["High Accuracy NLP", "Vision Thing"]
    nested = {"all": [{"field": "training.computeResources.gpu", "op": "contains", "value": "a100"},
                      {"field": "training.learningRate", "op": "lt", "value": 0.01},
                      {"field": "training.optimizer", "op": "in", "value": ["Adam", "SGD"]},
                      {"field": "pricing.currency", "op": "exists"},
                      {"field": "name", "op": "contains", "value": "nlp"}]}
    assert len(api.post(f"{BASE}/filter", json=nested, headers=headers).json()["items"]) == 2
    assert len(api.post(f"{BASE}/filter", json={}, headers=headers).json()["items"]) == 3


@pytest.mark.parametrize("body,where", [
    ({"all": [{"field": "performance.secretSauce", "op": "gt", "value": 1}]}, "body.all[0].field"),
    ({"all": [{"field": "type", "op": "regex", "value": ".*"}]}, "body.all[0].op"),
    ({"any": [{"field": "parameters", "op": "contains", "value": "x"}]}, "body.any[0].op"),
    ({"all": [{"field": "parameters", "op": "gt", "value": "many"}]}, "body.all[0].value"),
    ({"all": []}, "body.all"),
    ({"none": [{"field": "type", "op": "eq", "value": "NLP"}]}, "body"),
    ({"field": "type", "op": "eq"}, "body.value"),
])
def test_filter_errors_name_the_place(api, auth, body, where):
    response = api.post(f"{BASE}/filter", json=body, headers=auth.headers("admin"))
    assert error(response) == (422, "REQ_001"), response.text
    assert response.json()["error"]["details"]["fields"][0]["field"] == where


def test_delete_route_rules(api, auth):
    headers = auth.headers("ml_engineer")
    mid = create(api, auth, deployment={"endpoints": ["endpoint_9"]})["id"]
    refused = api.delete(f"{BASE}/{mid}", headers=headers)
    assert error(refused) == (409, "MODEL_002") and "force=true" in refused.json()["error"]["message"]
    assert error(api.delete(f"{BASE}/{mid}", params={"force": "true"}, headers=headers)) == (403, "AUTH_002")
    assert api.delete(f"{BASE}/{mid}", params={"force": "true"}, headers=auth.headers("admin")).status_code == 204
    assert error(api.get(f"{BASE}/{mid}", headers=headers)) == (404, "MODEL_001")
    plain = create(api, auth, "Unused")["id"]
    assert api.delete(f"{BASE}/{plain}", headers=headers).status_code == 204


def test_metadata_metrics_lineage_routes(api, auth):
    headers = auth.headers("ml_engineer")
    mid = create(api, auth)["id"]
    meta = {"description": "new", "tags": ["a", "b"], "license": "mit"}
    put = api.put(f"{BASE}/{mid}/metadata", json=meta, headers=headers)
    assert put.status_code == 200 and put.json()["license"] == "MIT"
    assert api.get(f"{BASE}/{mid}/metadata", headers=headers).json()["tags"] == ["a", "b"]
    made_up = api.post(f"{BASE}/{mid}/versions", headers=headers, json={
        "version": "1.0.0", "source": {"datasets": [{"id": "dataset_789", "version": "3.2.0"}]}})
    assert error(made_up) == (422, "REQ_001")  # lineage links only what exists
    api.post(f"{BASE}/{mid}/versions", json={"version": "1.0.0", "metrics": {"accuracy": 0.8}}, headers=headers)
    metrics = api.get(f"{BASE}/{mid}/metrics", headers=headers).json()
    assert metrics["series"]["accuracy"][0]["value"] == 0.8
    lineage = api.get(f"{BASE}/{mid}/lineage", headers=headers).json()
    assert {"source", "target", "relation"} == set(lineage["edges"][0])
    assert {(e["source"], e["relation"]) for e in lineage["edges"]} >= {(f"model:{mid}", "hadMember")}
    assert any(n["kind"] == "model_version" for n in lineage["nodes"])


def test_viewing_records_activity_once_per_window(api, auth):
    mid = create(api, auth)["id"]
    for _ in range(3):
        api.get(f"{BASE}/{mid}", headers=auth.headers("business_user"))
    with session_scope(write=False) as s:
        views = s.exec(select(ModelActivity).where(ModelActivity.model_id == mid, ModelActivity.kind == "view")).all()
    assert len(views) == 1
    trending = api.get(f"{BASE}/trending", params={"window": "24h"}, headers=auth.headers("business_user")).json()
    assert trending["items"][0]["model"]["id"] == mid and trending["window"] == "24h"
    assert error(api.get(f"{BASE}/trending", params={"window": "forever"}, headers=auth.headers("admin"))) == (422, "REQ_001")
    assert api.get(f"{BASE}/recommended", headers=auth.headers("business_user")).status_code == 200


def test_facets_count_each_value_under_the_other_filters(api, auth, make_model):
    make_model("Vision A", type="Vision", framework="PyTorch", metadata={"tags": ["vision", "edge"]})
    make_model("Vision B", type="Vision", framework="ONNX", metadata={"tags": ["vision"]})
    make_model("Speech C", type="Speech", framework="PyTorch", metadata={"tags": ["audio"]})
    headers = auth.headers("business_user")
    everything = api.get(f"{BASE}/facets", headers=headers).json()
    assert everything["type"] == [{"value": "Vision", "count": 2}, {"value": "Speech", "count": 1}]
    assert everything["tag"][0] == {"value": "vision", "count": 2}
    chosen = api.get(f"{BASE}/facets", params={"type": "Vision"}, headers=headers).json()
    # the type facet ignores its own filter; the others count only Vision models
    assert {f["value"] for f in chosen["type"]} == {"Vision", "Speech"}
    assert chosen["framework"] == [{"value": "ONNX", "count": 1}, {"value": "PyTorch", "count": 1}]
    assert {f["value"] for f in chosen["tag"]} == {"vision", "edge"}
    refused = api.get(f"{BASE}/facets", params={"status": "sleeping"}, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "REQ_001"
    assert api.get(f"{BASE}/facets").status_code == 401


def test_facets_of_a_keyword_search_count_only_its_matches(api, auth, make_model):
    make_model("Vision A", type="Vision", framework="PyTorch", metadata={"tags": ["vision", "edge"]})
    make_model("Vision B", type="Vision", framework="ONNX", metadata={"tags": ["vision"]})
    make_model("Speech C", type="Speech", framework="PyTorch", metadata={"tags": ["audio"]})
    headers = auth.headers("business_user")
    edge = api.get(f"{BASE}/facets", params={"q": "Edg"}, headers=headers).json()
    assert edge["type"] == [{"value": "Vision", "count": 1}]
    assert edge["framework"] == [{"value": "PyTorch", "count": 1}]
    assert {f["value"] for f in edge["tag"]} == {"vision", "edge"}
    pytorch_matches = api.get(f"{BASE}/facets", params={"q": "vision", "framework": "PyTorch"}, headers=headers).json()
    assert pytorch_matches["type"] == [{"value": "Vision", "count": 1}]
    assert pytorch_matches["framework"] == [{"value": "ONNX", "count": 1}, {"value": "PyTorch", "count": 1}]
    nothing = api.get(f"{BASE}/facets", params={"q": "quantum"}, headers=headers).json()
    assert nothing["type"] == [] and nothing["tag"] == []
    refused = api.get(f"{BASE}/facets", params={"q": "!!!"}, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "REQ_001"


# --- what an upload reads from the file ------------------------------------------------------------------


def test_upload_counts_parameters_as_torch_does_and_shows_the_declared_count(api, auth):
    import json

    import torch
    from safetensors.torch import save

    model = torch.nn.Sequential(torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3))
    counted = sum(p.numel() for p in model.parameters())
    every_tensor = sum(t.numel() for t in model.state_dict().values())
    mid = create(api, auth, parameters=every_tensor)["id"]
    headers = auth.headers("ml_engineer")
    api.post(f"{BASE}/{mid}/versions", json={"version": "1.0.0"}, headers=headers)
    response = upload(api, auth, mid, "1.0.0", save(model.state_dict(), metadata={"config": json.dumps({"n": 8})}))
    assert response.status_code == 200, response.text
    artifact = response.json()["artifact"]
    assert (artifact["parameters"], artifact["declaredParameters"]) == (counted, every_tensor)
    assert artifact["handling"] == "inspected" and artifact["notice"] is None
    assert sorted(artifact["details"]["buffers"]["names"]) == ["0.num_batches_tracked", "0.running_mean", "0.running_var"]
    for path in (f"{BASE}/{mid}/versions/1.0.0", f"{BASE}/{mid}/versions"):
        read = api.get(path, headers=auth.headers("business_user")).json()
        version = read["items"][0] if "items" in read else read
        assert version["artifact"]["parameters"] == counted
        assert version["artifact"]["declaredParameters"] == every_tensor
    api.put(f"{BASE}/{mid}", json={"parameters": counted}, headers=headers)  # the catalog corrects its figure
    agreed = api.get(f"{BASE}/{mid}/versions/1.0.0", headers=headers).json()["artifact"]
    assert agreed["parameters"] == counted and agreed["declaredParameters"] is None


def test_onnx_upload_reads_inputs_outputs_and_initializers(api, auth):
    from tests.backend.catalog.model_registry.test_artifacts import classifier_onnx

    mid = create(api, auth)["id"]
    api.post(f"{BASE}/{mid}/versions", json={"version": "1.0.0"}, headers=auth.headers("ml_engineer"))
    response = api.put(f"{BASE}/{mid}/versions/1.0.0/artifact", headers=auth.headers("ml_engineer"),
                       files={"file": ("classifier.onnx", classifier_onnx(), "application/octet-stream")})
    assert response.status_code == 200, response.text
    artifact = response.json()["artifact"]
    details = artifact["details"]
    assert artifact["format"] == "onnx" and details["opset"] == 17
    assert details["inputs"][0]["shape"] == ["batch", 3, 8, 8] and details["outputs"][0]["name"] == "logits"
    assert artifact["parameters"] == 1930 and details["initializerNames"][:2] == ["fc.weight", "fc.bias"]
    assert artifact["declaredParameters"] == 125_000_000  # what the model document says


def test_an_unknown_format_is_model_004_unless_declared_opaque(api, auth):
    mid = create(api, auth)["id"]
    headers = auth.headers("ml_engineer")
    api.post(f"{BASE}/{mid}/versions", json={"version": "1.0.0"}, headers=headers)
    data = b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4  # a Keras .h5 file, say
    refused = upload(api, auth, mid, "1.0.0", data)
    assert error(refused) == (422, "MODEL_004")
    body = refused.json()["error"]
    assert "format=opaque" in body["message"] and "HDF5" in body["message"]
    assert api.get(f"{BASE}/{mid}/versions/1.0.0", headers=headers).json()["artifact"] is None
    accepted = upload(api, auth, mid, "1.0.0", data, format="opaque")
    assert accepted.status_code == 200, accepted.text
    artifact = accepted.json()["artifact"]
    assert artifact["format"] == "opaque" and artifact["handling"] == "opaque"
    assert "never loaded" in artifact["notice"] and artifact["parameters"] is None
    assert artifact["sha256"] == hashlib.sha256(data).hexdigest() and artifact["details"]["loaded"] is False
    download = api.get(f"{BASE}/{mid}/versions/1.0.0/artifact", headers=auth.headers("business_user"))
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-disposition"].endswith('-1.0.0.bin"')
    bad_format = upload(api, auth, mid, "1.0.0", data, format="pickle")
    assert error(bad_format) == (422, "REQ_001")
