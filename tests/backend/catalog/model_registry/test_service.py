"""Model registry services: documents, lifecycle, versions, stages and history, lineage, activity."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import event
from sqlmodel import col, select

from backend import domains
from backend.audit.models import AuditRecord
from backend.auth.principal import SYSTEM as SYSTEM_ACTOR
from backend.catalog.model_registry import discovery, service
from backend.catalog.model_registry.models import ModelVersion, StageHistory
from backend.catalog.model_registry.schemas import ModelCreate, ModelUpdate, VersionCreate
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from tests.backend.catalog.model_registry.conftest import add_version, model_body


def code_of(excinfo) -> str:
    return excinfo.value.code


def audit_actions(model_id: str) -> list[str]:
    with session_scope(write=False) as s:
        return list(s.exec(select(AuditRecord.action).where(AuditRecord.entity_id == model_id)
                           .order_by(col(AuditRecord.seq))).all())


# --- the document -----------------------------------------------------------------------------------


def test_create_returns_the_design_document_and_is_audited(make_model):
    model_id = make_model()
    with session_scope(write=False) as s:
        doc = service.model_read(service.get_model(session=s, actor=SYSTEM_ACTOR, model_id=model_id)).model_dump(by_alias=True,
                                                                                          mode="json")
    assert set(doc) == {"id", "name", "type", "category", "framework", "architecture", "version", "status",
                        "deploymentType", "createdAt", "updatedAt", "createdBy", "parameters", "contextLength",
                        "capabilities", "metadata", "training", "performance", "pricing", "deployment"}
    assert doc["performance"]["latency"] == {"p50": 45.0, "p95": 120.0, "p99": 250.0}
    assert doc["training"]["computeResources"]["gpu"] == "4x NVIDIA A100"
    assert doc["metadata"]["license"] == "Apache-2.0" and doc["status"] == "development"
    assert doc["createdAt"].endswith("Z")
    assert audit_actions(model_id) == ["model.create"]


def test_list_documents_are_exactly_what_the_validated_schema_writes(session):
    """Lists write documents without re-validating them; every seeded model (and a sparse one) must
    come out exactly as `ModelRead` would write it, so the two paths cannot drift apart."""
    from backend.catalog.model_registry import search
    from backend.catalog.model_registry.schemas import ModelRead, SearchPage
    from backend.catalog.model_registry.seed import seed_models

    seed_models(session)
    session.commit()
    service.create_model(session=session, actor=SYSTEM_ACTOR, data=ModelCreate(
        name="Sparse", type="NLP", category="misc", framework="PyTorch", training={"computeResources": {}}))
    session.commit()
    rows, _ = service.list_models(session=session, actor=SYSTEM_ACTOR, params=PageParams(limit=100))
    assert len(rows) == 33
    for row in rows:
        document = service.model_document(row)
        assert document == ModelRead.model_validate(document).model_dump(by_alias=True, mode="json")
        assert list(document) == list(ModelRead.model_json_schema(by_alias=True)["properties"])
    hits = search.search_document(session=session, actor=SYSTEM_ACTOR, q="sentiment", limit=5)
    assert hits["items"] and hits == SearchPage.model_validate(hits).model_dump(by_alias=True, mode="json")


@pytest.mark.parametrize("change,field", [
    ({"performance": {"accuracy": 1.2}}, "performance.accuracy"),
    ({"performance": {"latency": {"p50": 300, "p95": 100}}}, "performance.latency"),
    ({"parameters": -1}, "parameters"),
    ({"training": {"epochs": -3}}, "training.epochs"),
    ({"metadata": {"documentation": "javascript:alert(1)"}}, "metadata.documentation"),
    ({"metadata": {"paper": "ftp://example.com/x"}}, "metadata.paper"),
    ({"deployment": {"minReplicas": 5, "maxReplicas": 2}}, "deployment"),
    ({"pricing": {"currency": "dollars"}}, "pricing.currency"),
    ({"name": "x" * 201}, "name"),
    ({"name": "../../etc/passwd"}, "name"),
    ({"name": "bad\nname"}, "name"),
    ({"type": "Astrology"}, "type"),
    ({"source": "file:///etc/"}, "source"),
    ({"artifactLocation": "../../../etc"}, "artifactLocation"),
    ({"version": "1.0"}, "version"),
])
def test_invalid_documents_are_refused_naming_the_field(change, field):
    with pytest.raises(ValidationError) as excinfo:
        ModelCreate.model_validate(model_body(**change))
    located = {".".join(str(p) for p in e["loc"]) for e in excinfo.value.errors()}
    assert any(loc.startswith(field) for loc in located), located


def test_known_licences_are_normalised_and_free_text_is_kept():
    assert ModelCreate.model_validate(model_body(metadata={"license": "apache-2.0"})).metadata.license == "Apache-2.0"
    assert ModelCreate.model_validate(model_body(metadata={"license": "Acme EULA v2"})).metadata.license == "Acme EULA v2"


def test_names_are_unique_among_live_models_ignoring_case(make_model, engineer):
    make_model("Fraud Detector")
    with pytest.raises(AISystemError) as excinfo:
        make_model("fraud detector")
    assert code_of(excinfo) == "MODEL_002"


def test_update_changes_only_given_fields(make_model, engineer):
    model_id = make_model()
    with session_scope() as s:
        model = service.update_model(session=s, actor=engineer, model_id=model_id,
                                     data=ModelUpdate.model_validate({"framework": "JAX",
                                                                      "performance": {"accuracy": 0.5}}))
        doc = service.model_read(model)
    assert doc.framework == "JAX" and doc.performance.accuracy == 0.5 and doc.performance.latency is None
    assert doc.category == "Natural Language Processing"
    assert audit_actions(model_id)[-1] == "model.update"


# --- lifecycle ----------------------------------------------------------------------------------------


def test_lifecycle_moves_and_a_refused_move_names_the_allowed_ones(make_model, engineer):
    model_id = make_model()
    with session_scope() as s:
        for status in ("training", "validation", "development", "training", "validation", "deployment"):
            service.change_status(session=s, actor=engineer, model_id=model_id, status=status)
    with session_scope() as s, pytest.raises(AISystemError) as excinfo:
        service.change_status(session=s, actor=engineer, model_id=model_id, status="development")
    assert code_of(excinfo) == "MODEL_002" and excinfo.value.status == 409
    assert excinfo.value.details["allowed"] == ["monitoring", "validation"]
    assert "monitoring, validation" in excinfo.value.message


# --- versions -------------------------------------------------------------------------------------------


def test_versions_sort_semantically_in_sql(make_model, engineer):
    model_id = make_model()
    for v in ("2.9.0", "2.10.0", "10.0.0", "2.9.1", "1.0.0"):
        add_version(model_id, engineer, v, artifact=False)
    with session_scope(write=False) as s:
        rows, cursor = service.list_versions(session=s, actor=SYSTEM_ACTOR, model_id=model_id, params=PageParams(limit=3))
        more, _ = service.list_versions(session=s, actor=SYSTEM_ACTOR, model_id=model_id, params=PageParams(limit=3, cursor=cursor))
        newest, _ = service.list_versions(session=s, actor=SYSTEM_ACTOR, model_id=model_id, params=PageParams(limit=2), descending=True)
        model = service.get_model(session=s, actor=SYSTEM_ACTOR, model_id=model_id)
    assert [r.version for r in rows + more] == ["1.0.0", "2.9.0", "2.9.1", "2.10.0", "10.0.0"]
    assert [r.version for r in newest] == ["10.0.0", "2.10.0"]
    assert model.version == "10.0.0"  # no production version: the highest


def test_a_duplicate_version_is_model_002(make_model, engineer):
    model_id = make_model()
    add_version(model_id, engineer, "1.0.0", artifact=False)
    with pytest.raises(AISystemError) as excinfo:
        add_version(model_id, engineer, "1.0.0", artifact=False)
    assert code_of(excinfo) == "MODEL_002"


@pytest.mark.parametrize("bad", ["1.0", "v1.0.0", "1.0.0-beta", "01.0.0", "1.0.0.0", "../1.0.0", "", "1.0.0 "])
def test_non_semver_versions_are_refused(bad):
    with pytest.raises(ValidationError):
        VersionCreate.model_validate({"version": bad})


# --- stages, history, rollback ---------------------------------------------------------------------------


def promote(model_id, actor, version, stage="production", **kw):
    with session_scope() as s:
        return service.promote_version(session=s, actor=actor, model_id=model_id, version=version, stage=stage,
                                       reason=f"to {stage}", **kw)


def history(model_id, **kw):
    with session_scope(write=False) as s:
        rows, _ = service.list_stage_history(session=s, actor=SYSTEM_ACTOR, model_id=model_id, params=PageParams(limit=500), **kw)
        return rows


def test_a_new_version_becomes_the_model_version_only_while_no_version_is_in_production(make_model, engineer):
    def model_version(model_id: str) -> str:
        with session_scope(write=False) as s:
            return service.get_model(session=s, actor=SYSTEM_ACTOR, model_id=model_id).version

    model_id = make_model()
    add_version(model_id, engineer, "1.0.0")
    add_version(model_id, engineer, "1.2.0")
    add_version(model_id, engineer, "1.1.0")  # lower than the highest: the highest stays
    assert model_version(model_id) == "1.2.0"
    promote(model_id, engineer, "1.1.0")
    add_version(model_id, engineer, "2.0.0", artifact=False)  # higher, but 1.1.0 is in production
    assert model_version(model_id) == "1.1.0"


def test_promotion_to_production_archives_the_previous_and_moves_the_model_version(make_model, engineer):
    model_id = make_model()
    add_version(model_id, engineer, "1.0.0")
    add_version(model_id, engineer, "1.1.0")
    promote(model_id, engineer, "1.0.0")
    model, row, replaced = promote(model_id, engineer, "1.1.0")
    assert model.version == "1.1.0" and row.stage == "production" and replaced.version == "1.0.0"
    with session_scope(write=False) as s:
        stages = {v.version: v.stage for v in s.exec(select(ModelVersion)
                                                      .where(ModelVersion.model_id == model_id)).all()}
    assert stages == {"1.0.0": "archived", "1.1.0": "production"}
    moves = [(h.version, h.from_stage, h.stage, h.action) for h in reversed(history(model_id))]
    assert moves[-3:] == [("1.0.0", "none", "production", "promote"), ("1.0.0", "production", "archived", "replaced"),
                          ("1.1.0", "none", "production", "promote")]
    assert "model.version.promote" in audit_actions(model_id)


def test_production_needs_an_artifact_and_metrics(make_model, engineer):
    model_id = make_model()
    add_version(model_id, engineer, "1.0.0", artifact=False)
    add_version(model_id, engineer, "2.0.0", metrics={})
    for version, problem in (("1.0.0", "no artifact"), ("2.0.0", "no metrics")):
        with pytest.raises(AISystemError) as excinfo:
            promote(model_id, engineer, version)
        assert code_of(excinfo) == "MODEL_004" and problem in excinfo.value.message
    promote(model_id, engineer, "1.0.0", stage="staging")  # staging has no such rule


SEEN_BY_POLICY: list[tuple[str, str, str]] = []


def second_reviewer_policy(ctx):
    """A governance-style promotion hook, declared below through the domain list."""
    SEEN_BY_POLICY.append((ctx.version.version, ctx.stage, ctx.action))
    raise AISystemError("MODEL_004", "policy: a second reviewer must approve")


def test_a_domain_can_add_a_promotion_hook(make_model, engineer, monkeypatch):
    model_id = make_model()
    add_version(model_id, engineer, "1.0.0")
    SEEN_BY_POLICY.clear()
    governance = domains.Domain("backend.governance", hooks={"promotion": (f"{__name__}:second_reviewer_policy",)})
    monkeypatch.setattr(domains, "DOMAINS", (*domains.DOMAINS, governance))
    with pytest.raises(AISystemError, match="second reviewer"):
        promote(model_id, engineer, "1.0.0")
    assert SEEN_BY_POLICY == [("1.0.0", "production", "promote")]


def test_refused_stage_moves_name_the_allowed_ones(make_model, engineer):
    model_id = make_model()
    add_version(model_id, engineer, "1.0.0")
    promote(model_id, engineer, "1.0.0")
    with pytest.raises(AISystemError) as excinfo:
        promote(model_id, engineer, "1.0.0", stage="staging")
    assert code_of(excinfo) == "MODEL_002" and excinfo.value.details["allowed"] == ["archived"]
    with pytest.raises(AISystemError) as excinfo:
        promote(model_id, engineer, "1.0.0")
    assert "already" in excinfo.value.message


def test_rollback_restores_the_previous_production_and_history_answers_at(make_model, engineer):
    model_id = make_model()
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        add_version(model_id, engineer, v)
    promote(model_id, engineer, "1.0.0")
    time.sleep(0.01)
    t1 = promote(model_id, engineer, "1.1.0")[1].stage_changed_at
    time.sleep(0.01)
    t_between = t1 + (promote(model_id, engineer, "1.2.0")[1].stage_changed_at - t1) / 2
    with session_scope() as s:
        model, restored, replaced = service.rollback(session=s, actor=engineer, model_id=model_id, reason="bad")
    assert restored.version == "1.1.0" and replaced.version == "1.2.0" and model.version == "1.1.0"
    at_then = history(model_id, at=t_between, stage="production")
    assert [h.version for h in at_then] == ["1.1.0"]
    now_rows = history(model_id, at=restored.stage_changed_at + timedelta(microseconds=1), stage="production")
    assert [h.version for h in now_rows] == ["1.1.0"] and now_rows[0].action == "rollback"
    assert [h.version for h in history(model_id, at=t1 - timedelta(microseconds=1), stage="production")] == ["1.0.0"]
    with session_scope() as s:  # explicit target
        _m, restored, _r = service.rollback(session=s, actor=engineer, model_id=model_id, to_version="1.0.0")
    assert restored.version == "1.0.0"
    assert audit_actions(model_id).count("model.rollback") == 2


def test_rollback_without_an_earlier_production_is_refused(make_model, engineer):
    model_id = make_model()
    add_version(model_id, engineer, "1.0.0")
    promote(model_id, engineer, "1.0.0")
    with session_scope() as s, pytest.raises(AISystemError) as excinfo:
        service.rollback(session=s, actor=engineer, model_id=model_id)
    assert code_of(excinfo) == "MODEL_002"


def _open_production_rows(model_id: str) -> list[StageHistory]:
    with session_scope(write=False) as s:
        return list(s.exec(select(StageHistory).where(StageHistory.model_id == model_id,
                                                      StageHistory.stage == "production",
                                                      col(StageHistory.ended_at).is_(None))).all())


def _race(model_id, engineer, versions, **kw):
    barrier = threading.Barrier(len(versions))
    outcomes: dict[str, str] = {}

    def attempt(version):
        barrier.wait()
        try:
            promote(model_id, engineer, version, **kw)
            outcomes[version] = "won"
        except AISystemError as exc:
            outcomes[version] = exc.code

    threads = [threading.Thread(target=attempt, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def test_concurrent_promotions_with_the_same_premise_exactly_one_wins(make_model, engineer):
    model_id = make_model()
    for v in ("1.0.0", "2.0.0", "3.0.0"):
        add_version(model_id, engineer, v)
    promote(model_id, engineer, "1.0.0")
    outcomes = _race(model_id, engineer, ["2.0.0", "3.0.0"], expected_current_version="1.0.0")
    assert sorted(outcomes.values()) == ["MODEL_002", "won"], outcomes
    winner = next(v for v, o in outcomes.items() if o == "won")
    rows = _open_production_rows(model_id)
    assert [r.version for r in rows] == [winner]
    with session_scope(write=False) as s:
        assert service.get_model(session=s, actor=SYSTEM_ACTOR, model_id=model_id).version == winner


def test_concurrent_promotions_without_a_premise_serialise_and_keep_history_consistent(make_model, engineer):
    model_id = make_model()
    for v in ("1.0.0", "2.0.0"):
        add_version(model_id, engineer, v)
    outcomes = _race(model_id, engineer, ["1.0.0", "2.0.0"])
    assert set(outcomes.values()) == {"won"}
    assert len(_open_production_rows(model_id)) == 1
    rows = [h for h in history(model_id) if h.stage == "production"]
    closed = [h for h in rows if h.ended_at is not None]
    assert len(closed) == 1 and closed[0].ended_at >= closed[0].started_at


# --- metrics and lineage -----------------------------------------------------------------------------------


def test_metrics_per_version_and_series(make_model, engineer):
    model_id = make_model()
    add_version(model_id, engineer, "1.10.0", metrics={"accuracy": 0.93, "f1": 0.9}, artifact=False)
    add_version(model_id, engineer, "1.9.0", metrics={"accuracy": 0.91}, artifact=False)
    with session_scope(write=False) as s:
        metrics = service.model_metrics(session=s, actor=SYSTEM_ACTOR, model_id=model_id)
    assert [v.version for v in metrics.versions] == ["1.9.0", "1.10.0"]
    assert [p.value for p in metrics.series["accuracy"]] == [0.91, 0.93]
    assert [p.version for p in metrics.series["f1"]] == ["1.10.0"]


def _dataset(actor) -> str:
    """A real dataset with one version, to name as training data."""
    import io

    from backend.catalog.datasets import service as datasets_service

    with session_scope() as s:
        dataset = datasets_service.create_dataset(session=s, actor=actor, data={"name": "Churn", "type": "tabular"})
        datasets_service.upload(session=s, actor=actor, dataset_id=dataset.id, source=io.BytesIO(b"a,b\n1,2\n"),
                                filename="churn.csv")
        return dataset.id


def test_lineage_is_recorded_from_sources(make_model, engineer):
    dataset_id = _dataset(engineer)
    base = make_model("Base Language Model")
    add_version(base, engineer, "1.0.0", artifact=False)
    model_id = make_model(training={"dataset": dataset_id}, deployment={"endpoints": ["endpoint_123"]})
    add_version(model_id, engineer, "1.0.0", artifact=False, source={
        "datasets": [{"id": dataset_id, "version": "1"}], "gitCommit": "a" * 40,
        "parent": {"modelId": base, "version": "1.0.0"}})
    with session_scope(write=False) as s:
        graph = service.lineage_graph(session=s, actor=engineer, model_id=model_id).model_dump(by_alias=True)
    edges = {(e["source"], e["target"], e["relation"]) for e in graph["edges"]}
    version = f"model_version:{model_id}@1.0.0"
    assert (f"model:{model_id}", f"dataset:{dataset_id}", "wasDerivedFrom") in edges
    assert (f"model:{model_id}", version, "hadMember") in edges
    assert (version, f"dataset_version:{dataset_id}@1", "wasDerivedFrom") in edges
    assert (version, f"model_version:{base}@1.0.0", "wasDerivedFrom") in edges
    # An endpoint named in the document is no entity until the deployment domain records one.
    assert not any(n["kind"] == "endpoint" for n in graph["nodes"])
    node_ids = {n["id"] for n in graph["nodes"]}
    assert all(e["source"] in node_ids and e["target"] in node_ids for e in graph["edges"])
    assert audit_actions(model_id) == ["model.create", "model.version.create"]


def test_a_source_naming_a_dataset_version_that_does_not_exist_is_refused(make_model, engineer):
    model_id = make_model()
    with pytest.raises(AISystemError) as excinfo:
        add_version(model_id, engineer, "1.0.0", artifact=False,
                    source={"datasets": [{"id": "dataset_789", "version": "3.2.0"}]})
    assert excinfo.value.code == "REQ_001"
    assert excinfo.value.details["fields"][0]["field"] == "source.datasets.0"


def test_a_missing_parent_version_is_refused(make_model, engineer):
    model_id = make_model()
    with pytest.raises(AISystemError) as excinfo:
        add_version(model_id, engineer, "1.0.0", artifact=False,
                    source={"parent": {"modelId": "model_nope", "version": "1.0.0"}})
    assert code_of(excinfo) == "REQ_001"


# --- deletion --------------------------------------------------------------------------------------------


def test_delete_is_refused_while_in_production_unless_an_admin_forces(make_model, engineer, principals):
    model_id = make_model()
    add_version(model_id, engineer, "1.0.0")
    promote(model_id, engineer, "1.0.0")
    with session_scope() as s, pytest.raises(AISystemError) as excinfo:
        service.delete_model(session=s, actor=engineer, model_id=model_id)
    assert code_of(excinfo) == "MODEL_002" and excinfo.value.details["productionVersion"] == "1.0.0"
    with session_scope() as s, pytest.raises(AISystemError) as excinfo:
        service.delete_model(session=s, actor=engineer, model_id=model_id, force=True)
    assert code_of(excinfo) == "AUTH_002"
    with session_scope() as s:
        service.delete_model(session=s, actor=principals["admin"], model_id=model_id, force=True)
    with session_scope(write=False) as s:
        assert service.find_model(session=s, model_id=model_id) is None
        rows, _ = service.list_models(session=s, actor=SYSTEM_ACTOR, params=PageParams())
        assert model_id not in {r.id for r in rows}
    assert audit_actions(model_id)[-1] == "model.delete"
    make_model()  # the name is free again


def test_delete_is_refused_while_endpoints_serve_the_model(make_model, engineer):
    model_id = make_model(deployment={"endpoints": ["endpoint_1"]})
    with session_scope() as s, pytest.raises(AISystemError) as excinfo:
        service.delete_model(session=s, actor=engineer, model_id=model_id)
    assert excinfo.value.details["endpoints"] == ["endpoint_1"]


# --- listing ---------------------------------------------------------------------------------------------


def test_list_filters_and_sorts_with_keyset_pages(make_model, engineer):
    ids = {}
    for i, (name, mtype, acc) in enumerate([("A Vision", "Vision", 0.7), ("B Speech", "Speech", None),
                                            ("C Vision", "Vision", 0.9), ("D NLP", "NLP", 0.8)]):
        perf = {"accuracy": acc} if acc is not None else {}
        ids[name] = make_model(name, type=mtype, performance=perf,
                               metadata={"tags": ["vision" if mtype == "Vision" else "other", f"t{i}"]})
    with session_scope(write=False) as s:
        def names(**kw):
            rows, _ = service.list_models(session=s, actor=SYSTEM_ACTOR, params=PageParams(limit=50), **kw)
            return [r.name for r in rows]

        assert names(sort="-accuracy") == ["C Vision", "D NLP", "A Vision", "B Speech"]
        assert names(sort="name") == ["A Vision", "B Speech", "C Vision", "D NLP"]
        assert names(filters=service.ModelFilters(type="Vision"), sort="name") == ["A Vision", "C Vision"]
        assert names(filters=service.ModelFilters(tag="VISION"), sort="name") == ["A Vision", "C Vision"]
        page1, cursor = service.list_models(session=s, actor=SYSTEM_ACTOR, params=PageParams(limit=3), sort="-accuracy")
        page2, end = service.list_models(session=s, actor=SYSTEM_ACTOR, params=PageParams(limit=3, cursor=cursor), sort="-accuracy")
        assert [r.name for r in page1 + page2] == ["C Vision", "D NLP", "A Vision", "B Speech"] and end is None



@pytest.mark.parametrize("narrow_rows", [2000, 1])
def test_narrow_filter_ranges_give_the_same_pages_either_way(make_model, monkeypatch, narrow_rows):
    """A range that matches few rows is read through its own index and sorted (SQLite); above the
    threshold the sort order's index is walked. Pages, order and cursors must not depend on which."""
    from backend.catalog.model_registry import filters

    for i, params in enumerate([1_000_000, 2_000_000, 3_000_000, 400_000_000, 500_000_000, None]):
        make_model(f"P{i}", parameters=params)
    monkeypatch.setattr(service, "NARROW_RANGE_ROWS", narrow_rows)
    body = {"all": [{"field": "parameters", "op": "lt", "value": 10_000_000},
                    {"field": "type", "op": "eq", "value": "NLP"}]}
    statements: list[str] = []
    with session_scope(write=False) as s:
        event.listen(s.get_bind(), "before_cursor_execute", lambda *a: statements.append(a[2]))
        pages, cursor = [], None
        while True:
            rows, cursor = service.list_models(session=s, actor=SYSTEM_ACTOR, params=PageParams(limit=2, cursor=cursor),
                                               where=filters.compile_filter(body),
                                               indexed_ranges=filters.indexed_ranges(body))
            pages.append([r.name for r in rows])
            if cursor is None:
                break
        assert pages == [["P2", "P1"], ["P0"]]
        if s.get_bind().dialect.name == "sqlite":
            page_query = next(q for q in reversed(statements) if "ORDER BY" in q)
            assert ("ORDER BY (+ " in page_query) == (narrow_rows == 2000)


# --- activity, trending, recommendations -------------------------------------------------------------------


def test_trending_decays_with_age_and_respects_the_window(make_model, engineer):
    fresh, old, ancient = make_model("Fresh"), make_model("Old"), make_model("Ancient")
    now = service.utcnow()
    with session_scope() as s:
        for _ in range(5):
            service.record_activity(session=s, model_id=fresh, user_id=engineer.user_id, kind="view", at=now)
            service.record_activity(session=s, model_id=old, user_id=engineer.user_id, kind="view",
                                    at=now - timedelta(days=5))
        service.record_activity(session=s, model_id=ancient, user_id=engineer.user_id, kind="deployment",
                                at=now - timedelta(days=20))
    with session_scope(write=False) as s:
        week = discovery.trending(session=s, actor=SYSTEM_ACTOR, window="7d")
        month = discovery.trending(session=s, actor=SYSTEM_ACTOR, window="30d")
    assert [i.model.name for i in week.items][:2] == ["Fresh", "Old"] and "Ancient" not in [i.model.name for i in week.items]
    assert week.items[0].events["views"] == 5
    assert "Ancient" in [i.model.name for i in month.items]
    for bad in ("7", "0d", "1y", "999d"):
        with session_scope(write=False) as s, pytest.raises(AISystemError):
            discovery.trending(session=s, actor=SYSTEM_ACTOR, window=bad)


def test_recommendations_are_explained(make_model, engineer, principals):
    scientist = principals["data_scientist"]
    churn = _dataset(engineer)
    mine = make_model("Churn Model A", training={"dataset": churn}, metadata={"tags": ["churn"]})
    sibling = make_model("Churn Model B", training={"dataset": churn}, metadata={"tags": ["other"]})
    similar = make_model("Retention Scorer", metadata={"tags": ["churn", "retention"]})
    popular = make_model("Popular With Scientists", metadata={"tags": ["x"]})
    with session_scope() as s:
        service.record_activity(session=s, model_id=mine, user_id=scientist.user_id, kind="view")
    with session_scope() as s:
        from backend.auth.models import User
        from backend.auth.service import create_user

        colleague = create_user(session=s, actor=principals["admin"], username="ds2", password="another-pass-123",
                                role="data_scientist")
        service.record_activity(session=s, model_id=popular, user_id=colleague.id, kind="download", count=5)
        assert s.get(User, colleague.id)
    with session_scope(write=False) as s:
        result = discovery.recommended(session=s, actor=scientist, limit=10)
    reasons = {i.model.id: (i.reason, i.reason_type) for i in result.items}
    assert mine not in reasons
    assert reasons[sibling] == (f"because you used {churn}", "dataset")
    assert reasons[similar] == ("because you viewed Churn Model A", "similar")
    assert reasons[popular] == ("popular with other data scientists", "role")


# --- seed -------------------------------------------------------------------------------------------------


def test_seed_creates_at_least_30_models_once(demo_users, no_broker):
    from backend.catalog.model_registry.seed import seed_models

    with session_scope() as s:
        assert seed_models(s) == "32 demo models created"
    with session_scope() as s:
        assert seed_models(s) == "demo models present"
    with session_scope(write=False) as s:
        rows, _ = service.list_models(session=s, actor=SYSTEM_ACTOR, params=PageParams(limit=100))
        assert len(rows) == 32 and {r.type for r in rows} >= {"NLP", "Vision", "Tabular", "Speech", "Generative"}
        production = s.exec(select(ModelVersion).where(ModelVersion.stage == "production")).all()
        assert len(production) == 32 and all(v.artifact_sha256 and v.metrics for v in production)
        assert all(r.version for r in rows)
        trending = discovery.trending(session=s, actor=SYSTEM_ACTOR, window="14d", limit=5)
        assert len(trending.items) == 5
    assert no_broker  # one embedding job queued for the new models

