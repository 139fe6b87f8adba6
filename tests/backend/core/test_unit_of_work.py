"""Services only flush; the edge commits or rolls back: several services' writes are one transaction."""

from __future__ import annotations

import io

import pytest
from sqlmodel import select

from backend.audit.models import AuditRecord
from backend.catalog.datasets import service as datasets_service
from backend.catalog.datasets.models import Dataset, DatasetVersion
from backend.catalog.model_registry import service as registry_service
from backend.catalog.model_registry.models import RegisteredModel
from backend.catalog.model_registry.schemas import ModelCreate
from backend.core.db import new_session, session_scope
from backend.core.unit_of_work import after_commit, after_rollback, has_pending_changes
from backend.jobs.models import Job
from tests.conftest import data_files

CSV = b"customer,tenure,churned\n1,12,no\n2,3,yes\n3,40,no\n4,1,yes\n"


def dataset_and_model(session, actor) -> tuple[str, str]:  # noqa: ANN001
    """Two domains' writes in the caller's transaction: a dataset with data, and a registered model."""
    dataset = datasets_service.create_dataset(session=session, actor=actor, data={"name": "churn", "type": "tabular"})
    datasets_service.upload(session=session, actor=actor, dataset_id=dataset.id, source=io.BytesIO(CSV),
                            filename="churn.csv")
    data = ModelCreate.model_validate({"name": "Churn Model", "type": "Tabular", "category": "Classification",
                                       "framework": "scikit-learn", "version": "1.0.0"})
    model = registry_service.create_model(session=session, actor=actor, data=data)
    return dataset.id, model.id


def audit_entities(ids: tuple[str, ...]) -> list[str]:
    with session_scope(write=False) as s:
        return list(s.exec(select(AuditRecord.action).where(AuditRecord.entity_id.in_(ids))).all())


def test_two_services_roll_back_together(principals, sent):
    before = data_files()
    session = new_session()
    try:
        ids = dataset_and_model(session, principals["ml_engineer"])
        assert has_pending_changes(session)
        assert data_files() - before, "the upload wrote its data file"
        session.rollback()  # the edge decides
    finally:
        session.close()
    with session_scope(write=False) as s:
        assert s.get(Dataset, ids[0]) is None and s.get(RegisteredModel, ids[1]) is None
        assert not s.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == ids[0])).all()
        assert not s.exec(select(Job)).all()
    assert audit_entities(ids) == []
    assert data_files() == before, "the rolled-back upload left its file behind"
    assert sent == []  # the embedding job was never announced


def test_two_services_commit_together(principals, sent):
    with session_scope() as session:
        ids = dataset_and_model(session, principals["ml_engineer"])
    with session_scope(write=False) as s:
        dataset, model = s.get(Dataset, ids[0]), s.get(RegisteredModel, ids[1])
        assert dataset.current_version == 1 and model.version == "1.0.0"
    assert {"dataset.create", "dataset.upload", "model.create", "model.version.create"} <= set(audit_entities(ids))
    assert len(sent) == 1  # the embedding job, after the commit


def test_after_rollback_runs_only_when_the_transaction_does_not_commit(db_backend):
    ran: list[str] = []
    with pytest.raises(RuntimeError), session_scope() as session:
        after_rollback(session, lambda: ran.append("rolled back"))
        after_commit(session, lambda: ran.append("committed"))
        raise RuntimeError("the edge rolls back")
    assert ran == ["rolled back"]

    ran.clear()
    with session_scope() as session:
        after_rollback(session, lambda: ran.append("rolled back"))
        after_commit(session, lambda: ran.append("committed"))
        session.connection()  # a transaction to commit
    assert ran == ["committed"]

    ran.clear()
    session = new_session()
    session.connection()
    after_rollback(session, lambda: ran.append("closed unfinished"))
    session.close()  # no rollback() call: closing ends the transaction all the same
    assert ran == ["closed unfinished"]


def test_has_pending_changes_sees_flushed_and_statement_writes(principals):
    from sqlalchemy import update

    with session_scope() as session:
        assert not has_pending_changes(session)
        session.exec(select(Dataset).limit(1)).all()
        assert not has_pending_changes(session), "a read is not a change"
        datasets_service.create_dataset(session=session, actor=principals["admin"],
                                        data={"name": "flushed", "type": "tabular"})
        assert has_pending_changes(session), "pending rows"
        session.flush()
        assert not (session.new or session.dirty)
        assert has_pending_changes(session), "flushed rows"
    with session_scope() as session:
        session.exec(update(Job).where(Job.id == "job_none").values(message="x"))
        assert has_pending_changes(session)
        session.rollback()
        assert not has_pending_changes(session)


def test_work_after_commit_waits_for_the_real_commit_not_a_savepoint(db_backend):
    """SQLAlchemy fires `after_commit` on releasing a savepoint too; the work (sending a job) must still
    wait for the outer transaction's commit, and be dropped when it rolls back."""
    ran: list[str] = []
    session = new_session()
    try:
        with session.begin_nested():
            after_commit(session, lambda: ran.append("committed"))
        assert ran == []  # the savepoint is released, nothing is durable yet
        session.commit()
        assert ran == ["committed"]
        with session.begin_nested():
            after_commit(session, lambda: ran.append("rolled back"))
        session.rollback()
        assert ran == ["committed"]
    finally:
        session.close()


def test_a_transaction_memo_outlives_flushes_but_not_its_transaction_or_savepoint(db_backend):
    from backend.core.unit_of_work import transaction_memo

    with session_scope() as s:
        transaction_memo(s, "things")["a"] = 1
        s.flush()  # a flush opens and ends a subtransaction of its own: the memo stays
        assert transaction_memo(s, "things") == {"a": 1}
        with s.begin_nested():
            transaction_memo(s, "things")["b"] = 2
        assert transaction_memo(s, "things") == {}, "a savepoint may have undone what it remembered"
        transaction_memo(s, "things")["c"] = 3
    with session_scope() as s:
        assert transaction_memo(s, "things") == {}


def test_default_factories_still_give_each_row_its_own_value():
    # backend.core.db remembers which default factories take the validated data; they still run per row
    first, second = Job(type="t", created_by="u"), Job(type="t", created_by="u")
    assert first.payload == {} == second.payload and first.payload is not second.payload


def _actions(prefix: str) -> list[str]:
    with session_scope(write=False) as s:
        return sorted(s.exec(select(AuditRecord.action).where(AuditRecord.action.startswith(prefix))).all())


def _audit(session, action: str) -> None:  # noqa: ANN001
    from backend.audit import service as audit

    audit.record(session=session, actor=None, actor_name="tester", action=action)


def test_appended_rows_are_written_like_pending_ones(db_backend):
    """Audit records are appended (`unit_of_work.append`): a query that autoflushes sees them, the commit
    writes them, and a rollback drops those it had not written."""
    with session_scope() as s:
        _audit(s, "append.first")
        assert has_pending_changes(s)
        assert s.exec(select(AuditRecord.action).where(AuditRecord.action == "append.first")).all() == ["append.first"]
        with s.no_autoflush:
            _audit(s, "append.second")
            assert not s.exec(select(AuditRecord).where(AuditRecord.action == "append.second")).all(), \
                "like a pending row, not written by a query that does not autoflush"
    assert _actions("append.") == ["append.first", "append.second"]

    session = new_session()
    try:
        _audit(session, "append.dropped")
        session.rollback()
    finally:
        session.close()
    assert _actions("append.dropped") == []


def test_appended_rows_and_savepoints(principals):
    """What was appended before a savepoint outlives the savepoint's rollback; what was appended inside
    it does not; and the chain stays whole across both (each record's number follows the last)."""
    from backend.audit import service as audit

    with session_scope() as s:
        _audit(s, "savepoint.before")
        with pytest.raises(RuntimeError), s.begin_nested():
            _audit(s, "savepoint.inside")
            raise RuntimeError("roll the savepoint back")
        with s.begin_nested():
            _audit(s, "savepoint.released")
        _audit(s, "savepoint.after")
    assert _actions("savepoint.") == ["savepoint.after", "savepoint.before", "savepoint.released"]
    with session_scope(write=False) as s:
        assert audit.verify(session=s, actor=principals["admin"]).valid


def test_an_appended_change_to_audited_data_needs_an_audit_record(principals):
    from backend.core.errors import UnauditedChange
    from backend.core.unit_of_work import append
    from backend.lineage import service as lineage
    from backend.lineage.models import LineageEntity, LineageRelation

    with session_scope() as s:  # two entities to relate, recorded properly
        first = lineage.record_entity(session=s, kind="dataset", ref="ds_append_1", label="one")
        second = lineage.record_entity(session=s, kind="dataset", ref="ds_append_2", label="two")
        _audit(s, "lineage.setup")
    with pytest.raises(UnauditedChange), session_scope() as s:
        append(s, LineageRelation(subject_id=first.id, relation="wasDerivedFrom", object_id=second.id))
    with session_scope(write=False) as s:
        assert not s.exec(select(LineageRelation).where(LineageRelation.subject_id == first.id)).all()
        assert s.get(LineageEntity, first.id) is not None


def test_rows_a_result_cache_tracks_cannot_be_appended(db_backend):
    from backend.catalog.model_registry.models import ModelLabel
    from backend.core.unit_of_work import append

    with session_scope() as s, pytest.raises(TypeError, match="result-cache generation"):
        append(s, ModelLabel(model_id="model_x", kind="tag", value="x"))


def test_an_appended_row_may_refer_to_a_pending_one(principals):
    """Written after the pending rows it refers to, whether a query or the commit writes it."""
    from backend.catalog.model_registry.models import ModelActivity
    from backend.core.ids import new_id
    from backend.core.timeutil import utcnow
    from backend.core.unit_of_work import append

    now, user = utcnow(), principals["ml_engineer"].user_id
    ids = []
    for query_first in (True, False):
        with session_scope() as s:
            model = RegisteredModel(id=new_id("model"), name=f"Pending {query_first}", name_key=f"pending {query_first}",
                                    type="NLP", category="c", framework="PyTorch", created_by=user,
                                    created_at=now, updated_at=now)
            s.add(model)  # pending, not flushed
            append(s, ModelActivity(model_id=model.id, user_id=user, kind="create", count=1, occurred_at=now,
                                    hour_bucket=int(now.timestamp() // 3600)))
            if query_first:
                assert s.exec(select(ModelActivity).where(ModelActivity.model_id == model.id)).all()
            _audit(s, "pending.model")
            ids.append(model.id)
    with session_scope(write=False) as s:
        assert len(s.exec(select(ModelActivity).where(ModelActivity.model_id.in_(ids))).all()) == 2


def test_a_row_built_for_appending_is_the_row_the_constructor_builds():
    from sqlalchemy import inspect as sa_inspect

    from backend.audit.models import AuditRecord
    from backend.core.timeutil import utcnow
    from backend.core.unit_of_work import new_row
    from backend.lineage.models import LineageRelation

    values = dict(seq=7, id="audit_same", occurred_at=utcnow(), actor_id="user_1", actor_name="ada", action="x.y",
                  summary={"a": 1}, outcome="success", prev_hash="0" * 64, hash="")
    built, constructed = new_row(AuditRecord, **values), AuditRecord(**values)
    assert built.model_dump() == constructed.model_dump()
    assert built.__pydantic_fields_set__ == constructed.__pydantic_fields_set__
    assert sa_inspect(built).transient
    built.hash = "abc"  # still an instrumented object: a later change is seen as one
    assert built.hash == "abc" and sa_inspect(built).attrs.hash.history.added == ["abc"]
    relation = new_row(LineageRelation, subject_id="a", relation="used", object_id="b")
    assert relation.id is None and relation.created_at is not None  # defaults and default factories filled
