"""REST routes of the platform lineage (/governance/provenance) and the model's lineage route."""

from __future__ import annotations

import pytest

from tests.backend.lineage.conftest import make_dataset, make_model

BASE = "/api/v1/governance/provenance"


@pytest.fixture
def model_on_data(api, auth, principals) -> tuple[str, str]:
    """A dataset every data role may read, and a model version trained on its version 2."""
    engineer = principals["ml_engineer"]
    dataset_id = make_dataset(engineer, roles=("ml_engineer", "data_scientist"))
    model_id = make_model(engineer, versions=(
        {"version": "1.0.0", "source": {"datasets": [{"id": dataset_id, "version": "2"}]}},))
    return dataset_id, model_id


def test_lineage_graph_of_a_model(api, auth, model_on_data):
    dataset_id, model_id = model_on_data
    response = api.get(f"{BASE}/lineage/model:{model_id}?depth=2", headers=auth.headers("data_scientist"))
    assert response.status_code == 200, response.text
    graph = response.json()
    assert graph["root"] == f"model:{model_id}" and graph["depth"] == 2 and graph["truncated"] is False
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes[f"model:{model_id}"]["href"] == f"/catalog/models/{model_id}"
    assert nodes[f"dataset_version:{dataset_id}@2"]["label"] == "Feedback v2"
    assert {"source", "target", "relation"} == set(graph["edges"][0])
    assert {"source": f"model_version:{model_id}@1.0.0", "target": f"dataset_version:{dataset_id}@2",
            "relation": "wasDerivedFrom"} in graph["edges"]
    same = api.get(f"/api/v1/catalog/models/{model_id}/lineage?depth=2", headers=auth.headers("data_scientist"))
    # The model page's route answers the same document (the governance route adds content hashes).
    for node in graph["nodes"]:
        node["contentHash"] = None
    assert same.status_code == 200 and same.json() == graph


def test_agents_are_added_on_request(api, auth, model_on_data):
    _dataset_id, model_id = model_on_data
    graph = api.get(f"{BASE}/lineage/{model_id}?agents=true", headers=auth.headers("ml_engineer")).json()
    agents = [n for n in graph["nodes"] if n["kind"] == "agent"]
    assert [a["label"] for a in agents] == ["ml_engineer"]
    assert any(e["relation"] == "wasAssociatedWith" for e in graph["edges"])


def test_provenance_of_an_artifact(api, auth, model_on_data):
    dataset_id, model_id = model_on_data
    response = api.get(f"{BASE}/model_version:{model_id}@1.0.0", headers=auth.headers("ml_engineer"))
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["entity"]["kind"] == "model_version"
    assert [a["kind"] for a in doc["generatedBy"]] == ["register"]
    assert doc["generatedBy"][0]["agentName"] == "ml_engineer" and doc["generatedBy"][0]["startedAt"].endswith("Z")
    assert [e["ref"] for e in doc["derivedFrom"]] == [f"{dataset_id}@2"]
    assert [e["ref"] for e in doc["memberOf"]] == [model_id]


def test_query_ancestors_and_descendants_by_kind(api, auth, model_on_data):
    dataset_id, model_id = model_on_data
    headers = auth.headers("data_scientist")
    response = api.post(f"{BASE}/query", headers=headers,
                        json={"entity": f"model:{model_id}", "direction": "ancestors", "depth": 3,
                              "kinds": ["dataset_version"]})
    assert response.status_code == 200, response.text
    assert [(i["ref"], i["distance"]) for i in response.json()["items"]] == [(f"{dataset_id}@2", 1),
                                                                             (f"{dataset_id}@1", 2)]
    down = api.post(f"{BASE}/query", headers=headers, json={"entity": dataset_id, "direction": "descendants"}).json()
    assert f"{model_id}@1.0.0" in [i["ref"] for i in down["items"]]


@pytest.mark.parametrize("method,path,body", [
    ("get", "/lineage/model:model_nope", None),
    ("get", "/dataset_nope", None),
    ("post", "/query", {"entity": "model:model_nope"}),
])
def test_an_unknown_entity_is_lineage_001(api, auth, demo_users, method, path, body):
    response = api.request(method.upper(), BASE + path, json=body, headers=auth.headers("ml_engineer"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "LINEAGE_001"


@pytest.mark.parametrize("query", ["depth=0", "depth=11", "direction=sideways"])
def test_bad_parameters_are_req_001(api, auth, model_on_data, query):
    _dataset_id, model_id = model_on_data
    response = api.get(f"{BASE}/lineage/model:{model_id}?{query}", headers=auth.headers("ml_engineer"))
    assert response.status_code == 422 and response.json()["error"]["code"] == "REQ_001"


def test_a_query_with_unknown_fields_or_kinds_is_refused(api, auth, demo_users):
    for body in ({"entity": "model:x", "extra": 1}, {"entity": "model:x", "kinds": ["spaceship"]},
                 {"entity": "a b"}):
        response = api.post(f"{BASE}/query", json=body, headers=auth.headers("ml_engineer"))
        assert response.status_code == 422 and response.json()["error"]["code"] == "REQ_001"


def test_permissions(api, auth, model_on_data):
    dataset_id, model_id = model_on_data
    # business users read models but hold no lineage:read; the model page's route is theirs.
    refused = api.get(f"{BASE}/lineage/model:{model_id}", headers=auth.headers("business_user"))
    assert refused.status_code == 403 and refused.json()["error"]["details"]["permission"] == "lineage:read"
    graph = api.get(f"/api/v1/catalog/models/{model_id}/lineage", headers=auth.headers("business_user")).json()
    hidden = [n for n in graph["nodes"] if n["hidden"]]
    assert hidden and {n["kind"] for n in hidden} == {"dataset", "dataset_version"}
    assert all(n["ref"] is None and n["href"] is None for n in hidden)
    # data engineers hold lineage:read but not model:read.
    refused = api.get(f"{BASE}/{model_id}", headers=auth.headers("data_engineer"))
    assert refused.status_code == 403 and refused.json()["error"]["details"]["permission"] == "model:read"
    # ...and the dataset's access list leaves them out: it does not exist for them.
    missing = api.get(f"{BASE}/{dataset_id}", headers=auth.headers("data_engineer"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "LINEAGE_001"
    assert api.get(f"{BASE}/{dataset_id}").status_code == 401


def test_provenance_records_newest_first(api, auth, model_on_data):
    dataset_id, model_id = model_on_data
    response = api.get(BASE, headers=auth.headers("ml_engineer"))
    assert response.status_code == 200, response.text
    records = response.json()["items"]
    assert [r["kind"] for r in records] == ["register", "register", "transform", "upload"]
    registration = records[0]
    assert registration["agentName"] == "ml_engineer" and registration["startedAt"].endswith("Z")
    assert [e["id"] for e in registration["generated"]] == [f"model_version:{model_id}@1.0.0"]
    transform = records[2]
    assert [e["id"] for e in transform["used"]] == [f"dataset_version:{dataset_id}@1"]
    assert [e["id"] for e in transform["generated"]] == [f"dataset_version:{dataset_id}@2"]
    # One kind, one record a page: the cursor walks the rest.
    first = api.get(f"{BASE}?kind=register&limit=1", headers=auth.headers("ml_engineer")).json()
    rest = api.get(f"{BASE}?kind=register&limit=1&cursor={first['nextCursor']}", headers=auth.headers("ml_engineer")).json()
    assert [r["id"] for r in first["items"] + rest["items"]] == [records[0]["id"], records[1]["id"]]
    assert rest["nextCursor"] is None


def test_provenance_records_withhold_what_you_may_not_read(api, auth, model_on_data):
    # data engineers hold lineage:read, but not model:read, and the dataset's access list leaves them out.
    records = api.get(BASE, headers=auth.headers("data_engineer")).json()["items"]
    assert records and all(r["used"] == [] and r["generated"] == [] for r in records)
    assert all(r["withheld"] >= 1 for r in records)


@pytest.mark.parametrize("query,status,code", [("kind=spaceship", 422, "REQ_001"), ("limit=0", 422, "REQ_001"),
                                               ("cursor=nonsense", 422, "REQ_001")])
def test_provenance_records_bad_parameters(api, auth, demo_users, query, status, code):
    response = api.get(f"{BASE}?{query}", headers=auth.headers("ml_engineer"))
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_provenance_records_need_lineage_read(api, auth, demo_users):
    refused = api.get(BASE, headers=auth.headers("business_user"))
    assert refused.status_code == 403 and refused.json()["error"]["details"]["permission"] == "lineage:read"
    assert api.get(BASE).status_code == 401
