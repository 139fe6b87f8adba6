"""Platform lineage: written by the real actions (dataset upload, transform, split; model and version
registration), walked to a depth without looping, read with each entity's own permission."""

from __future__ import annotations

import pytest
from sqlmodel import select

from backend.auth.principal import SYSTEM
from backend.catalog.datasets import service as datasets_service
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.lineage import service as lineage
from backend.lineage.models import LineageActivity, LineageRelation
from backend.lineage.schemas import ProvenanceQuery
from tests.backend.lineage.conftest import make_dataset, make_model


def edges(graph) -> set[tuple[str, str, str]]:
    kinds = {n.id: (n.kind if n.kind != "activity" else f"activity:{n.ref}") for n in graph.nodes}
    refs = {n.id: (n.ref if n.kind != "activity" else kinds[n.id]) for n in graph.nodes}
    return {(refs[e.source], e.relation, refs[e.target]) for e in graph.edges}


# --- written by the real actions ---------------------------------------------------------------------------


def test_upload_and_transform_record_versions_generated_by_their_activities(engineer, db_backend):
    dataset_id = make_dataset(engineer)
    with session_scope(write=False) as s:
        graph = lineage.entity_graph(session=s, actor=engineer, entity_id=f"dataset:{dataset_id}", depth=2)
    v1, v2 = f"{dataset_id}@1", f"{dataset_id}@2"
    found = edges(graph)
    assert {(dataset_id, "hadMember", v1), (dataset_id, "hadMember", v2), (v1, "wasGeneratedBy", "activity:upload"),
            (v2, "wasGeneratedBy", "activity:transform"), ("activity:transform", "used", v1),
            (v2, "wasDerivedFrom", v1)} <= found
    labels = {n.ref: n.label for n in graph.nodes}
    assert labels[dataset_id] == "Feedback" and labels[v2] == "Feedback v2"
    upload = next(n for n in graph.nodes if n.ref == "upload")
    assert upload.label == "Upload of feedback.csv" and upload.detail.startswith("by ml_engineer, ")
    assert next(n for n in graph.nodes if n.ref == dataset_id).href == f"/catalog/datasets/{dataset_id}"


def test_a_split_is_an_activity_that_used_the_version_once_per_assignment(engineer, db_backend):
    dataset_id = make_dataset(engineer)
    request = {"version": 1, "train": 0.5, "validation": 0.0, "test": 0.5, "seed": 7}
    for _ in range(2):
        with session_scope() as s:
            datasets_service.split(session=s, actor=engineer, dataset_id=dataset_id, request=request)
    with session_scope(write=False) as s:
        splits = s.exec(select(LineageActivity).where(LineageActivity.kind == "split")).all()
        assert len(splits) == 1 and splits[0].label == "Split of v1 (0.5/0/0.5)"
        users = lineage.descendants(session=s, actor=engineer, entity_id=f"dataset_version:{dataset_id}@1")
    assert [(e.kind, d) for e, d in users] == [("dataset_version", 1)]  # the transform's v2; a split makes none


def test_registration_links_versions_to_real_dataset_versions_and_parents(engineer, trained, db_backend):
    dataset_id, model_id = trained
    with session_scope(write=False) as s:
        graph = registry.lineage_graph(session=s, actor=engineer, model_id=model_id)
    v1, v2 = f"{model_id}@1.0.0", f"{model_id}@1.1.0"
    found = edges(graph)
    assert {(model_id, "hadMember", v1), (model_id, "hadMember", v2), (v1, "wasDerivedFrom", f"{dataset_id}@2"),
            ("activity:register", "used", f"{dataset_id}@2"), (v2, "wasDerivedFrom", v1),
            (dataset_id, "hadMember", f"{dataset_id}@2")} <= found
    assert graph.root == f"model:{model_id}" and not graph.truncated
    kinds = {n.kind for n in graph.nodes}
    assert kinds >= {"model", "model_version", "dataset", "dataset_version", "activity"}
    # The version's training data goes back to the upload of version 1, two steps further.
    with session_scope(write=False) as s:
        found = lineage.ancestors(session=s, actor=engineer, entity_id=f"model_version:{v1}", depth=2)
    assert [(e.ref, d) for e, d in found] == [(f"{dataset_id}@2", 1), (f"{dataset_id}@1", 2)]


def test_the_models_of_a_dataset_are_its_descendants(engineer, trained, db_backend):
    dataset_id, model_id = trained
    with session_scope(write=False) as s:
        found = lineage.descendants(session=s, actor=engineer, entity_id=dataset_id, depth=3,
                                    kinds=["model_version"])
        assert lineage.derived_owners(session=s, kind="dataset", ref=dataset_id, derived_kind="model") == [model_id]
        assert lineage.derivations(session=s, kind="model", refs=[model_id], source_kind="dataset") == [
            (model_id, dataset_id)]
    assert [(e.ref, d) for e, d in found] == [(f"{model_id}@1.0.0", 1), (f"{model_id}@1.1.0", 2)]


@pytest.mark.parametrize("source,field", [
    ({"datasets": [{"id": "dataset_0123456789abcdef0123", "version": "1"}]}, "source.datasets.0"),
    ({"datasets": [{"id": "dataset_789", "version": "3.2.0"}]}, "source.datasets.0"),
    ({"experimentRunId": "run_42"}, "source.experimentRunId"),
    ({"trainingJobId": "job_7"}, "source.trainingJobId"),
])
def test_a_version_naming_something_that_does_not_exist_is_refused(engineer, source, field, db_backend):
    model_id = make_model(engineer)
    with session_scope() as s, pytest.raises(AISystemError) as error:
        registry.create_version(session=s, actor=engineer, model_id=model_id,
                                data=VersionCreate.model_validate({"version": "1.0.0", "source": source}))
    assert error.value.code == "REQ_001"
    assert [f["field"] for f in error.value.details["fields"]] == [field]


def test_a_dataset_the_registrant_cannot_see_is_refused_as_missing(principals, db_backend):
    hidden = make_dataset(principals["data_engineer"], name="Private")  # shared with nobody
    model_id = make_model(principals["ml_engineer"])
    with session_scope() as s, pytest.raises(AISystemError) as error:
        registry.create_version(session=s, actor=principals["ml_engineer"], model_id=model_id,
                                data=VersionCreate.model_validate(
                                    {"version": "1.0.0", "source": {"datasets": [{"id": hidden, "version": "1"}]}}))
    assert error.value.code == "REQ_001" and "not found" in error.value.details["fields"][0]["message"]


def test_the_training_dataset_of_a_model_document_links_only_when_it_exists(engineer, db_backend):
    dataset_id = make_dataset(engineer)
    with session_scope() as s:
        real = registry.create_model(session=s, actor=engineer, embed=False, data=ModelCreate.model_validate(
            {"name": "Real", "type": "NLP", "category": "Text", "framework": "PyTorch",
             "training": {"dataset": dataset_id}}))
        made_up = registry.create_model(session=s, actor=engineer, embed=False, data=ModelCreate.model_validate(
            {"name": "Made up", "type": "NLP", "category": "Text", "framework": "PyTorch",
             "training": {"dataset": "dataset_789"}}))
        real_id, made_up_id = real.id, made_up.id
    with session_scope(write=False) as s:
        assert [e.ref for e, _ in lineage.ancestors(session=s, actor=engineer, entity_id=real_id)] == [dataset_id]
        assert lineage.ancestors(session=s, actor=engineer, entity_id=made_up_id) == []
        graph = registry.lineage_graph(session=s, actor=engineer, model_id=made_up_id)
    assert "dataset_789" not in {n.ref for n in graph.nodes}


def test_renaming_a_model_relabels_its_node(engineer, db_backend):
    from backend.catalog.model_registry.schemas import ModelUpdate

    model_id = make_model(engineer)
    with session_scope() as s:
        registry.update_model(session=s, actor=engineer, model_id=model_id, data=ModelUpdate(name="Renamed"))
    with session_scope(write=False) as s:
        graph = registry.lineage_graph(session=s, actor=engineer, model_id=model_id)
    assert [n.label for n in graph.nodes if n.kind == "model"] == ["Renamed"]


# --- call points of the coming domains ----------------------------------------------------------------------


def test_training_deployment_and_batch_prediction_call_points(engineer, trained, db_backend):
    dataset_id, model_id = trained
    version = lineage.model_version_ref(model_id, "1.1.0")
    with session_scope() as s:
        run = lineage.Ref("run", "run_1", "Run 1")
        lineage.record_training(session=s, actor=engineer, run=run, inputs=[lineage.dataset_version_ref(dataset_id, 2)],
                                outputs=[version])
        lineage.record_deployment(session=s, actor=engineer, model_version=version,
                                  endpoint=lineage.Ref("endpoint", "endpoint_1", "Sentiment API"))
        lineage.record_batch_prediction(session=s, actor=engineer, job=lineage.Ref("job", "job_1", "Scoring"),
                                        model_version=version, inputs=[lineage.dataset_version_ref(dataset_id, 1)],
                                        outputs=[])
        lineage.record_generated_app(session=s, actor=engineer, app=lineage.Ref("generated_app", "app_1", "Dashboard"),
                                     models=[version])
        # The same calls again add nothing.
        lineage.record_training(session=s, actor=engineer, run=run, inputs=[lineage.dataset_version_ref(dataset_id, 2)],
                                outputs=[version])
        from backend.audit import service as audit

        audit.record(session=s, actor=engineer, action="test.lineage", entity_type="model", entity_id=model_id)
    with session_scope(write=False) as s:
        assert len(s.exec(select(LineageActivity).where(LineageActivity.kind == "train")).all()) == 1
        down = lineage.descendants(session=s, actor=SYSTEM, entity_id=f"model_version:{model_id}@1.1.0")
        up = lineage.ancestors(session=s, actor=engineer, entity_id=f"model_version:{model_id}@1.1.0", depth=1)
    assert {(e.kind, e.ref) for e, _ in down} == {("endpoint", "endpoint_1"), ("generated_app", "app_1")}
    # The run is what the training used, not what the version derives from; the job is not upstream at all.
    assert {(e.kind, e.ref) for e, _ in up} == {("model_version", f"{model_id}@1.0.0"), ("run", "run_1"),
                                                 ("dataset_version", f"{dataset_id}@2")}


def test_an_input_that_is_not_recorded_is_refused(engineer, db_backend):
    with session_scope() as s, pytest.raises(AISystemError) as error:
        lineage.record_deployment(session=s, actor=engineer, model_version=lineage.model_version_ref("model_x", "1.0.0"),
                                  endpoint=lineage.Ref("endpoint", "endpoint_1", "API"))
    assert error.value.code == "LINEAGE_002" and error.value.details == {"entity": "model_version:model_x@1.0.0"}
    with session_scope() as s, pytest.raises(AISystemError) as error:
        lineage.record_entity(session=s, kind="spaceship", ref="x", label="x")
    assert error.value.code == "LINEAGE_002"


# --- walking -------------------------------------------------------------------------------------------------


def chain(session, n: int) -> list[lineage.Ref]:
    """Datasets d0 <- d1 <- ... (each derived from the one before), recorded directly."""
    refs = [lineage.Ref("dataset", f"dataset_chain{i}", f"Chain {i}") for i in range(n)]
    for earlier, later in zip(refs, refs[1:], strict=False):
        lineage.derive(session=session, entity=later, sources=[earlier])
    return refs


def test_depth_bounds_the_walk_and_is_checked(session):
    admin = SYSTEM
    refs = chain(session, 6)
    found = lineage.ancestors(session=session, actor=admin, entity_id=refs[-1].key, depth=2)
    assert [(e.ref, d) for e, d in found] == [("dataset_chain4", 1), ("dataset_chain3", 2)]
    assert len(lineage.ancestors(session=session, actor=admin, entity_id=refs[-1].key, depth=10)) == 5
    graph = lineage.entity_graph(session=session, actor=admin, entity_id=refs[2].key, depth=1)
    assert sorted((n.ref, n.depth) for n in graph.nodes) == [
        ("dataset_chain1", -2), ("dataset_chain2", 0), ("dataset_chain3", 2)]
    for depth in (0, 11):
        with pytest.raises(AISystemError) as error:
            lineage.entity_graph(session=session, actor=admin, entity_id=refs[0].key, depth=depth)
        assert error.value.code == "REQ_001"


def test_a_cycle_ends_the_walk(session):
    admin = SYSTEM
    a, _b, c = chain(session, 3)
    lineage.derive(session=session, entity=a, sources=[c])  # c -> b -> a -> c
    found = lineage.ancestors(session=session, actor=admin, entity_id=a.key, depth=10)
    assert [(e.ref, d) for e, d in found] == [("dataset_chain2", 1), ("dataset_chain1", 2)]
    graph = lineage.entity_graph(session=session, actor=admin, entity_id=a.key, depth=10)
    assert len(graph.nodes) == 3 and len(graph.edges) == 3
    assert len(session.exec(select(LineageRelation)).all()) == 3


def test_an_unknown_entity_is_lineage_001(engineer, db_backend):
    with session_scope(write=False) as s:
        for entity_id in ("model:model_nope", "dataset_nope", "spaceship:x"):
            with pytest.raises(AISystemError) as error:
                lineage.entity_graph(session=s, actor=engineer, entity_id=entity_id)
            assert error.value.code == "LINEAGE_001"


# --- reading with each entity's permission ---------------------------------------------------------------------


def test_nodes_the_reader_may_not_read_are_hidden(principals, trained, db_backend):
    dataset_id, model_id = trained  # the dataset is shared with ml_engineers only
    with session_scope(write=False) as s:
        graph = registry.lineage_graph(session=s, actor=principals["business_user"], model_id=model_id)
        hidden = {n.id: n for n in graph.nodes if n.hidden}
        assert {n.kind for n in hidden.values()} == {"dataset", "dataset_version"}
        assert all(n.label.startswith("Hidden ") and n.href is None and n.ref is None for n in hidden.values())
        # A data scientist may read datasets, but not this one (its access list leaves them out).
        graph = registry.lineage_graph(session=s, actor=principals["data_scientist"], model_id=model_id)
        assert {n.kind for n in graph.nodes if n.hidden} == {"dataset", "dataset_version"}
        with pytest.raises(AISystemError) as error:
            lineage.entity_graph(session=s, actor=principals["data_scientist"], entity_id=dataset_id)
        assert error.value.code == "LINEAGE_001"  # as the datasets do: what you may not see does not exist
        with pytest.raises(AISystemError) as error:
            lineage.entity_graph(session=s, actor=principals["data_engineer"], entity_id=f"model:{model_id}")
        assert error.value.code == "AUTH_002" and error.value.details["permission"] == "model:read"
        with pytest.raises(AISystemError) as error:
            lineage.query(session=s, actor=principals["business_user"],
                          request=ProvenanceQuery(entity=f"model:{model_id}"))
        assert error.value.code == "AUTH_002" and error.value.details["permission"] == "lineage:read"


def test_provenance_of_one_entity(engineer, trained, db_backend):
    dataset_id, model_id = trained
    with session_scope(write=False) as s:
        doc = lineage.provenance(session=s, actor=engineer, entity_id=f"{dataset_id}@2")
    assert doc.entity.id == f"dataset_version:{dataset_id}@2"
    assert [a.kind for a in doc.generated_by] == ["transform"] and doc.generated_by[0].agent_name == "ml_engineer"
    assert [e.ref for e in doc.derived_from] == [f"{dataset_id}@1"]
    assert [e.ref for e in doc.member_of] == [dataset_id]
    assert [a.kind for a in doc.used_by] == ["register"]
    assert [e.ref for e in doc.derivatives] == [f"{model_id}@1.0.0"]


@pytest.mark.parametrize("written_before_rename", [False, True])
def test_an_entity_recorded_and_relabelled_in_one_transaction_keeps_the_last_label(db_backend, written_before_rename):
    """New entities are appended (written with the transaction's next flush or query); relabelling one in
    the same transaction, before or after it was written, still leaves one row with the last label."""
    from backend.audit import service as audit
    from backend.lineage.models import LineageEntity

    with session_scope() as s:
        lineage.record_entity(session=s, kind="dataset", ref="ds_relabel", label="First", new=True)
        if written_before_rename:
            assert s.exec(select(LineageEntity).where(LineageEntity.ref == "ds_relabel")).all()
        lineage.record_entity(session=s, kind="dataset", ref="ds_relabel", label="Second")
        audit.record(session=s, actor=None, actor_name="tester", action="lineage.relabel")
    with session_scope(write=False) as s:
        rows = s.exec(select(LineageEntity).where(LineageEntity.ref == "ds_relabel")).all()
    assert [r.label for r in rows] == ["Second"]
