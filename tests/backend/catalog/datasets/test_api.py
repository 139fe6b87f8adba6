"""The dataset routes end to end on SQLite and PostgreSQL: CRUD, versions, upload/download, split,
transform, validate, statistics/profile/quality, analyze, share/access — and the audit of each."""

from __future__ import annotations

import hashlib
import io

import polars as pl
from sqlmodel import col, select

from backend.audit.models import AuditRecord
from backend.core.db import session_scope
from tests.backend.catalog.datasets.conftest import API, FEEDBACK_CSV, create, error_code, image_zip, upload


def audit_actions(dataset_id: str) -> list[str]:
    with session_scope(write=False) as s:
        return list(s.exec(select(AuditRecord.action).where(AuditRecord.entity_id == dataset_id)
                           .order_by(col(AuditRecord.seq))).all())


def test_crud_list_filters_sort_pagination_and_soft_delete(api, auth):
    h = auth.headers("data_scientist")
    ids = [create(api, h, name=f"Set {i}", type="text" if i % 2 else "tabular",
                  metadata={"tags": ["nlp"] if i % 2 else ["tabular"], "collection_period": "2024"})
           for i in range(5)]
    body = api.get(f"{API}/{ids[0]}", headers=h).json()
    assert body["status"] == "empty" and body["version"] is None and body["schema"] == {"fields": []}
    assert body["metadata"]["collection_period"] == "2024" and body["access"] == "owner"
    assert body["privacy"] == {"containsPII": None, "anonymized": False, "encryptionType": "none", "compliance": []}
    page = api.get(API, params={"limit": 2, "sort": "name"}, headers=h).json()
    assert [d["name"] for d in page["items"]] == ["Set 0", "Set 1"] and page["nextCursor"]
    rest = api.get(API, params={"limit": 10, "sort": "name", "cursor": page["nextCursor"]}, headers=h).json()
    assert [d["name"] for d in rest["items"]] == ["Set 2", "Set 3", "Set 4"]
    newest = api.get(API, params={"sort": "-createdAt", "limit": 1}, headers=h).json()
    older = api.get(API, params={"sort": "-createdAt", "limit": 10, "cursor": newest["nextCursor"]}, headers=h).json()
    assert len(older["items"]) == 4 and newest["items"][0]["id"] not in {d["id"] for d in older["items"]}
    assert {d["type"] for d in api.get(API, params={"type": "text"}, headers=h).json()["items"]} == {"text"}
    assert len(api.get(API, params={"tag": "nlp"}, headers=h).json()["items"]) == 2
    assert [d["name"] for d in api.get(API, params={"q": "set 3"}, headers=h).json()["items"]] == ["Set 3"]

    updated = api.put(f"{API}/{ids[0]}", json={"description": "about", "labelColumn": "sentiment"}, headers=h)
    assert updated.status_code == 200 and updated.json()["description"] == "about"
    assert api.delete(f"{API}/{ids[0]}", headers=h).status_code == 204
    assert error_code(api.get(f"{API}/{ids[0]}", headers=h)) == "DATA_001"
    assert ids[0] not in {d["id"] for d in api.get(API, headers=h).json()["items"]}
    assert audit_actions(ids[0]) == ["dataset.create", "dataset.update", "dataset.delete"]


def test_mass_assignment_is_refused_and_nothing_changes(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = create(api, h)
    for body in ({"createdBy": "admin"}, {"owner_id": "x"}, {"status": "available"}, {"size": 1},
                 {"storage": {"location": "file:///etc/"}}, {"checksum": "abc"}, {"version": 9}):
        response = api.put(f"{API}/{dataset_id}", json=body, headers=h)
        assert response.status_code == 422 and error_code(response) == "REQ_001", body
    response = api.post(API, json={"name": "x", "type": "tabular", "storage": {"location": "../../../etc"}}, headers=h)
    assert response.status_code == 422
    doc = api.get(f"{API}/{dataset_id}", headers=h).json()
    assert doc["createdBy"] != "admin" and doc["status"] == "empty"


def test_upload_versions_duplicates_and_restore(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = create(api, h, labelColumn="sentiment")
    first = upload(api, h, dataset_id, FEEDBACK_CSV, "feedback.csv", message="first")
    assert first.status_code == 201, first.text
    v1 = first.json()["version"]
    assert first.json()["duplicate"] is False and v1["version"] == 1 and v1["recordCount"] == 10
    assert v1["sourceFormat"] == "csv" and v1["sourceEncoding"] == "utf-8" and v1["message"] == "first"
    assert v1["sourceSha256"] == hashlib.sha256(FEEDBACK_CSV).hexdigest()
    fields = {f["name"]: f for f in v1["schema"]["fields"]}
    assert fields["rating"]["type"] == "integer" and fields["rating"]["nullable"] is True
    assert fields["sentiment"]["values"] == ["negative", "neutral", "positive"]
    again = upload(api, h, dataset_id, FEEDBACK_CSV, "again.csv")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["version"]["version"] == 1 and "version 1" in again.json()["message"]
    second = upload(api, h, dataset_id, FEEDBACK_CSV.replace(b"Meh", b"Hmm"), "v2.csv")
    assert second.json()["version"]["version"] == 2
    restored = api.post(f"{API}/{dataset_id}/versions", json={"fromVersion": 1}, headers=h)
    assert restored.status_code == 201 and restored.json()["version"] == 3
    assert restored.json()["sha256"] == v1["sha256"] and restored.json()["parentVersion"] == 1
    listing = api.get(f"{API}/{dataset_id}/versions", headers=h).json()["items"]
    assert [v["version"] for v in listing] == [3, 2, 1]
    assert api.get(f"{API}/{dataset_id}/versions/2", headers=h).json()["version"] == 2
    assert error_code(api.get(f"{API}/{dataset_id}/versions/9", headers=h)) == "DATA_001"
    doc = api.get(f"{API}/{dataset_id}", headers=h).json()
    assert doc["version"] == 3 and doc["recordCount"] == 10 and doc["status"] == "available"
    assert doc["storage"]["compression"] == "zstd" and doc["storage"]["location"].startswith("datasets/blobs/")
    assert doc["format"] == "parquet" and doc["size"] == v1["size"]
    assert audit_actions(dataset_id).count("dataset.upload") == 2
    assert "dataset.version.create" in audit_actions(dataset_id)


def test_statistics_profile_and_quality_are_computed_from_the_data(api, auth):
    h = auth.headers("ml_engineer")
    dataset_id = create(api, h, labelColumn="sentiment")
    upload(api, h, dataset_id, FEEDBACK_CSV)
    stats = api.get(f"{API}/{dataset_id}/statistics", headers=h).json()
    # 10 rows x 5 columns; nulls: rating 1, email 8
    assert stats["rows"] == 10 and stats["columns"] == 5
    assert stats["statistics"]["nullValues"] == 9 / 50
    assert stats["statistics"]["classDistribution"] == {"positive": 0.4, "negative": 0.3, "neutral": 0.3}
    assert stats["statistics"]["duplicates"] == 0
    assert stats["columnStatistics"]["rating"]["outliers"] == 1  # 500 lies outside the IQR fences
    prof = api.get(f"{API}/{dataset_id}/profile", headers=h).json()["profile"]
    assert prof["columns"]["rating"]["histogram"]["counts"][-1] == 1
    assert prof["columns"]["sentiment"]["topValues"][0] == {"value": "positive", "count": 4}
    quality = api.get(f"{API}/{dataset_id}/quality", headers=h).json()
    assert quality["quality"]["completeness"] == round(1 - 9 / 50, 6)
    assert quality["quality"]["accuracy"] == round(1 - 1 / 19, 6)  # 1 outlier among 19 numeric cells
    assert set(quality["formulas"]) >= {"completeness", "validity", "consistency", "accuracy"}
    doc = api.get(f"{API}/{dataset_id}", headers=h).json()
    assert doc["statistics"]["nullValues"] == 9 / 50 and doc["quality"] == quality["quality"]


def test_download_streams_with_length_checksum_and_attachment_headers(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = create(api, h, name="My <b>set</b>")
    upload(api, h, dataset_id, FEEDBACK_CSV.replace(b"Meh", b"<script>alert(1)</script>"))
    for fmt in ("parquet", "csv", "jsonl"):
        response = api.get(f"{API}/{dataset_id}/download", params={"format": fmt}, headers=h)
        assert response.status_code == 200
        body = response.content
        assert int(response.headers["content-length"]) == len(body)
        assert response.headers["x-content-sha256"] == hashlib.sha256(body).hexdigest()
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"].startswith("attachment;")
        assert f'My_b_set_b-v1.{fmt}"' in response.headers["content-disposition"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "sandbox"
        frame = {"parquet": pl.read_parquet, "csv": pl.read_csv, "jsonl": pl.read_ndjson}[fmt](io.BytesIO(body))
        assert frame.height == 10 and "<script>alert(1)</script>" in frame["text"].to_list()
    assert error_code(api.get(f"{API}/{dataset_id}/download", params={"version": 7}, headers=h)) == "DATA_001"
    assert api.get(f"{API}/{dataset_id}/download", params={"format": "html"}, headers=h).status_code == 422


def test_split_is_stratified_deterministic_and_stored_with_the_version(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = create(api, h)
    rows = "id,label\n" + "".join(f"{i},{'a' if i % 4 else 'b'}\n" for i in range(200))
    upload(api, h, dataset_id, rows.encode())
    body = {"train": 0.7, "validation": 0.15, "test": 0.15, "stratifyBy": "label", "seed": 42}
    first = api.post(f"{API}/{dataset_id}/split", json=body, headers=h)
    assert first.status_code == 200, first.text
    splits = first.json()["splits"]
    assert splits["counts"] == {"train": 140, "validation": 30, "test": 30}
    assert splits["stratifyBy"] == "label" and splits["seed"] == 42
    assert api.get(f"{API}/{dataset_id}", headers=h).json()["splits"]["train"] == 0.7
    again = api.post(f"{API}/{dataset_id}/split", json=body, headers=h).json()
    assert again["splits"] == splits
    bad = api.post(f"{API}/{dataset_id}/split", json={**body, "test": 0.2}, headers=h)
    assert bad.status_code == 422 and error_code(bad) == "REQ_001" and "sum to 1" in bad.text
    missing = api.post(f"{API}/{dataset_id}/split", json={**body, "stratifyBy": "nope"}, headers=h)
    assert error_code(missing) == "DATA_003"
    assert audit_actions(dataset_id).count("dataset.split") == 2


def test_transform_creates_a_version_with_lineage_and_names_failing_steps(api, auth):
    h = auth.headers("data_engineer")
    dataset_id = create(api, h)
    upload(api, h, dataset_id, FEEDBACK_CSV)
    steps = [
        {"op": "filter", "expression": "rating >= 3 and sentiment != \"neutral\""},
        {"op": "mask_pii", "columns": ["email"], "method": "hash"},
        {"op": "lowercase", "columns": ["text"]},
        {"op": "rename", "mapping": {"text": "review"}},
        {"op": "one_hot", "columns": ["sentiment"]},
        {"op": "drop", "columns": ["id"]},
    ]
    response = api.post(f"{API}/{dataset_id}/transform", json={"steps": steps, "message": "clean"}, headers=h)
    assert response.status_code == 201, response.text
    v2 = response.json()
    assert v2["version"] == 2 and v2["parentVersion"] == 1 and v2["operation"] == "transform"
    assert [s["op"] for s in v2["steps"]] == [s["op"] for s in steps] and v2["anonymized"] is True
    names = [f["name"] for f in v2["schema"]["fields"]]
    assert names == ["review", "rating", "email", "sentiment_positive"]
    data = pl.read_parquet(io.BytesIO(api.get(f"{API}/{dataset_id}/download", headers=h).content))
    assert data.height == 4 and data["review"][0] == "great product"
    assert data["email"][0] != "ann@example.com" and len(data["email"][0]) == 32
    missing = api.post(f"{API}/{dataset_id}/transform",
                       json={"steps": [{"op": "select", "columns": ["rating"]},
                                       {"op": "drop", "columns": ["ghost"]}]}, headers=h)
    assert missing.status_code == 422 and error_code(missing) == "DATA_003"
    assert missing.json()["error"]["details"] == {"step": 2, "op": "drop", "column": "ghost"}
    cast = api.post(f"{API}/{dataset_id}/transform",
                    json={"steps": [{"op": "cast", "columns": {"review": "integer"}}], "version": 2}, headers=h)
    assert error_code(cast) == "DATA_003" and cast.json()["error"]["details"]["step"] == 1
    assert api.get(f"{API}/{dataset_id}", headers=h).json()["version"] == 2
    assert "dataset.transform" in audit_actions(dataset_id)


def test_validate_reports_per_rule_and_gates(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = create(api, h)
    upload(api, h, dataset_id, FEEDBACK_CSV)
    rules = [{"type": "not_null", "column": "rating"},
             {"type": "range", "column": "rating", "min": 1, "max": 5},
             {"type": "allowed_values", "column": "sentiment", "values": ["positive", "negative", "neutral"]},
             {"type": "unique", "column": "id"},
             {"type": "regex", "column": "email", "pattern": "^[a-z]+@"},
             {"type": "row_count", "min": 5, "max": 100},
             {"type": "expression", "expression": "len(text) < 16", "name": "short texts"},
             {"type": "schema", "schema": {"id": "integer", "text": "string"}}]
    report = api.post(f"{API}/{dataset_id}/validate", json={"rules": rules}, headers=h)
    assert report.status_code == 200, report.text
    results = {r["rule"]: r for r in report.json()["results"]}
    assert report.json()["passed"] is False and report.json()["engine"].startswith("pandera")
    assert results["1:not_null:rating"]["failingRows"] == 1
    assert results["2:range:rating"]["failingRows"] == 1 and results["2:range:rating"]["examples"][0]["rating"] == 500
    assert results["3:allowed_values:sentiment"]["passed"] and results["4:unique:id"]["passed"]
    assert results["5:regex:email"]["passed"] and results["6:row_count"]["passed"]
    assert results["short texts"]["failingRows"] == 2 and results["8:schema"]["passed"]
    gated = api.post(f"{API}/{dataset_id}/validate", json={"rules": rules, "gate": True}, headers=h)
    assert gated.status_code == 422 and error_code(gated) == "DATA_002"
    assert "1:not_null:rating" in gated.json()["error"]["details"]["failedRules"]
    bad = api.post(f"{API}/{dataset_id}/validate", json={"rules": [{"type": "expression",
                                                                     "expression": "__import__('os')"}]}, headers=h)
    assert bad.status_code == 422 and error_code(bad) == "REQ_001"


def test_analyze_runs_as_a_job_and_marks_pii_and_drift(api, auth, sent):
    from backend.jobs import tasks as job_tasks

    h = auth.headers("data_scientist")
    dataset_id = create(api, h)
    upload(api, h, dataset_id, FEEDBACK_CSV)
    upload(api, h, dataset_id, FEEDBACK_CSV.replace(b",5,", b",1,").replace(b",4,", b",1,"))
    job = api.post(f"{API}/{dataset_id}/analyze", json={"baselineVersion": 1}, headers=h)
    assert job.status_code == 202 and job.json()["type"] == "catalog.datasets.analyze"
    assert sent == [job.json()["id"]]
    job_tasks.run_job(job.json()["id"])
    done = api.get(f"/api/v1/jobs/{job.json()['id']}", headers=h).json()
    assert done["status"] == "succeeded", done
    assert done["result"]["containsPII"] is True and done["result"]["piiColumns"] == ["email"]
    version = api.get(f"{API}/{dataset_id}/versions/2", headers=h).json()
    assert version["containsPII"] is True
    assert version["analysis"]["pii"]["columns"]["email"]["email"]["rows"] == 2
    assert "ann@example.com" not in str(version["analysis"])  # examples are masked
    assert version["analysis"]["drift"]["columns"]["rating"]["psi"] > 0.25
    assert version["analysis"]["correlations"]["columns"] == ["id", "rating"]
    assert api.get(f"{API}/{dataset_id}", headers=h).json()["privacy"]["containsPII"] is True
    assert "dataset.analyze" in audit_actions(dataset_id)


def test_image_archive_upload_profiles_each_image(api, auth):
    h = auth.headers("ml_engineer")
    dataset_id = create(api, h, type="image")
    response = upload(api, h, dataset_id, image_zip(), "images.zip")
    assert response.status_code == 201, response.text
    version = response.json()["version"]
    assert version["recordCount"] == 3 and version["sourceFormat"] == "zip"
    names = [f["name"] for f in version["schema"]["fields"]]
    assert {"path", "label", "width", "height", "mode", "bytes"} <= set(names)
    prof = api.get(f"{API}/{dataset_id}/profile", headers=h).json()["profile"]
    assert prof["columns"]["width"]["max"] == 4 and prof["columns"]["mode"]["topValues"][0]["value"] == "L"
    assert prof["statistics"]["classDistribution"] == {"cat": round(2 / 3, 6), "dog": round(1 / 3, 6)}
    csv = api.get(f"{API}/{dataset_id}/download", params={"format": "csv"}, headers=h)
    assert csv.status_code == 200 and b"bytes" not in csv.content.splitlines()[0]
    wrong = upload(api, h, dataset_id, FEEDBACK_CSV)
    assert error_code(wrong) == "DATA_002"


def test_access_is_enforced_everywhere_and_invisible_datasets_do_not_exist(api, auth, demo_users):
    owner, other = auth.headers("data_scientist"), auth.headers("data_engineer")
    dataset_id = create(api, owner)
    upload(api, owner, dataset_id, FEEDBACK_CSV)
    routes = [("GET", ""), ("PUT", ""), ("DELETE", ""), ("GET", "/versions"), ("POST", "/versions"),
              ("GET", "/versions/1"), ("GET", "/download"), ("POST", "/split"), ("POST", "/transform"),
              ("POST", "/validate"), ("GET", "/statistics"), ("GET", "/profile"), ("GET", "/quality"),
              ("POST", "/analyze"), ("POST", "/share"), ("GET", "/access"), ("PUT", "/access"), ("POST", "/upload")]
    bodies = {"/versions": {"fromVersion": 1}, "/split": {"train": 0.5, "test": 0.5},
              "/transform": {"steps": [{"op": "drop", "columns": ["id"]}]},
              "/validate": {"rules": [{"type": "row_count", "min": 1}]}, "/analyze": {},
              "/share": {"subjectType": "role", "subject": "data_engineer"}, "/access": {"entries": []},
              "": {"description": "x"}}
    ghost = "dataset_0000000000000000abcd"

    def seen(response, asked):  # the body without what differs per request
        error = response.json()["error"]
        return error["code"], error["message"], str(error["details"]).replace(asked, "ID")

    for method, suffix in routes:
        kwargs = {"files": {"file": ("x.csv", b"a\n1\n")}} if suffix == "/upload" else {"json": bodies.get(suffix)}
        response = api.request(method, f"{API}/{dataset_id}{suffix}", headers=other, **kwargs)
        missing = api.request(method, f"{API}/{ghost}{suffix}", headers=other, **kwargs)
        assert response.status_code == missing.status_code == 404, (method, suffix, response.text)
        assert error_code(response) == "DATA_001"
        assert seen(response, dataset_id) == seen(missing, ghost)  # no hint that it exists
    assert dataset_id not in {d["id"] for d in api.get(API, headers=other).json()["items"]}

    shared = api.post(f"{API}/{dataset_id}/share", json={"subjectType": "department", "subject": "Data"},
                      headers=owner)
    assert shared.status_code == 200 and shared.json()["entries"][0]["subject"] == "Data"
    assert api.get(f"{API}/{dataset_id}", headers=other).json()["access"] == "read"
    assert api.get(f"{API}/{dataset_id}/download", headers=other).status_code == 200
    denied = api.post(f"{API}/{dataset_id}/transform", json=bodies["/transform"], headers=other)
    assert denied.status_code == 403 and error_code(denied) == "AUTH_002"
    assert api.post(f"{API}/{dataset_id}/share", json={"subjectType": "role", "subject": "ml_ops"},
                    headers=other).status_code == 403
    api.put(f"{API}/{dataset_id}/access", json={"entries": [
        {"subjectType": "user", "subject": demo_users["data_engineer"], "permission": "write"}]}, headers=owner)
    assert api.post(f"{API}/{dataset_id}/transform", json=bodies["/transform"], headers=other).status_code == 201
    entries = api.get(f"{API}/{dataset_id}/access", headers=other).json()["entries"]
    assert [(e["subjectType"], e["permission"]) for e in entries] == [("user", "write")]
    assert api.put(f"{API}/{dataset_id}/access", json={"entries": [{"subjectType": "role", "subject": "wizard"}]},
                   headers=owner).status_code == 422
    api.put(f"{API}/{dataset_id}/access", json={"entries": []}, headers=owner)
    assert error_code(api.get(f"{API}/{dataset_id}", headers=other)) == "DATA_001"
    assert api.get(f"{API}/{dataset_id}", headers=auth.headers("admin")).json()["access"] == "admin"
    assert {"dataset.share", "dataset.access.update"} <= set(audit_actions(dataset_id))


def test_roles_without_dataset_permissions_are_refused(api, auth):
    for role in ("business_user", "ml_ops"):
        response = api.get(API, headers=auth.headers(role))
        assert response.status_code == 403 and error_code(response) == "AUTH_002"


def test_lineage_shows_the_versions_and_the_models_trained_on_them(api, auth, principals, sent):
    from tests.backend.lineage.conftest import make_dataset, make_model

    engineer = principals["ml_engineer"]
    dataset_id = make_dataset(engineer, roles=("ml_engineer", "data_scientist"))
    model_id = make_model(engineer, versions=(
        {"version": "1.0.0", "source": {"datasets": [{"id": dataset_id, "version": "2"}]}},))
    response = api.get(f"{API}/{dataset_id}/lineage?depth=3", headers=auth.headers("ml_engineer"))
    assert response.status_code == 200, response.text
    graph = response.json()
    assert graph["root"] == f"dataset:{dataset_id}"
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes[f"dataset_version:{dataset_id}@2"]["label"] == "Feedback v2"
    assert nodes[f"model_version:{model_id}@1.0.0"]["hidden"] is False
    assert {"source": f"model_version:{model_id}@1.0.0", "target": f"dataset_version:{dataset_id}@2",
            "relation": "wasDerivedFrom"} in graph["edges"]
    # The same document as the governance route, which adds each entity's content hash.
    same = api.get(f"/api/v1/governance/provenance/lineage/dataset:{dataset_id}", headers=auth.headers("ml_engineer"))
    provenance = same.json()
    hashed = {n["id"]: n.pop("contentHash", None) for n in provenance["nodes"]}
    for node in graph["nodes"]:
        node.pop("contentHash", None)
    assert provenance == graph
    assert hashed[f"dataset_version:{dataset_id}@2"]  # the version's Parquet blob


def test_lineage_errors(api, auth, principals, sent):
    from tests.backend.lineage.conftest import make_dataset

    dataset_id = make_dataset(principals["ml_engineer"])  # shared with nobody
    missing = api.get(f"{API}/{dataset_id}/lineage", headers=auth.headers("data_scientist"))
    assert missing.status_code == 404 and error_code(missing) == "DATA_001"
    too_deep = api.get(f"{API}/{dataset_id}/lineage?depth=11", headers=auth.headers("ml_engineer"))
    assert too_deep.status_code == 422 and error_code(too_deep) == "REQ_001"
    refused = api.get(f"{API}/{dataset_id}/lineage", headers=auth.headers("business_user"))
    assert refused.status_code == 403 and error_code(refused) == "AUTH_002"
    assert api.get(f"{API}/{dataset_id}/lineage").status_code == 401
