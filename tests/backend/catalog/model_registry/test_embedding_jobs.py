"""Embedding work is coalesced: models written while their author's embedding job waits join it."""

from __future__ import annotations

from sqlmodel import col, select

from backend.catalog.model_registry import service
from backend.catalog.model_registry.schemas import ModelUpdate
from backend.catalog.model_registry.tasks import EMBED_JOB
from backend.core.db import session_scope
from backend.jobs import service as jobs_service
from backend.jobs.models import Job


def embed_jobs() -> list[Job]:
    with session_scope(write=False) as s:
        return list(s.exec(select(Job).where(Job.type == EMBED_JOB).order_by(col(Job.created_at))).all())


def test_models_registered_while_the_job_waits_join_it(make_model, no_broker):
    ids = [make_model(f"Model {i}") for i in range(3)]
    jobs = embed_jobs()
    assert len(jobs) == 1 and jobs[0].payload["modelIds"] == ids
    assert no_broker == [jobs[0].id]  # one message for the three


def test_a_job_a_worker_took_gets_no_more_models(make_model, no_broker):
    first = make_model("Model A")
    with session_scope() as s:
        assert jobs_service.claim_job(session=s, job_id=embed_jobs()[0].id, worker="host:1") is not None
    second = make_model("Model B")
    jobs = embed_jobs()
    assert [j.payload["modelIds"] for j in jobs] == [[first], [second]]
    assert no_broker == [j.id for j in jobs]


def test_each_author_has_a_job_of_their_own(make_model, principals):
    mine = make_model("Model A")
    theirs = make_model("Model B", actor=principals["admin"])
    jobs = embed_jobs()
    assert {(j.created_by, tuple(j.payload["modelIds"])) for j in jobs} == {
        (principals["ml_engineer"].user_id, (mine,)), (principals["admin"].user_id, (theirs,))}


def test_a_full_job_starts_a_new_one_and_a_model_is_listed_once(make_model, engineer, monkeypatch):
    monkeypatch.setattr(service, "EMBED_BATCH", 2)
    ids = [make_model(f"Model {i}") for i in range(3)]
    with session_scope() as s:  # an edit that changes the text of a model already waiting to be embedded
        service.update_model(session=s, actor=engineer, model_id=ids[2],
                             data=ModelUpdate.model_validate({"metadata": {"description": "Reads invoices"}}))
    assert [j.payload["modelIds"] for j in embed_jobs()] == [ids[:2], ids[2:]]
