"""The periodic sweep that gives models without an embedding one (after a job failed for good)."""

from __future__ import annotations

from sqlmodel import col, select, update

from backend.auth.principal import SYSTEM
from backend.catalog.model_registry import search
from backend.catalog.model_registry.tasks import EMBED_JOB
from backend.core.db import session_scope
from backend.jobs.models import Job
from backend.jobs.tasks import run_due_periodic_tasks, run_job
from tests.backend.catalog.model_registry.conftest import use_fake_encoder

NAME = "catalog.embed_missing"


def embed_jobs() -> list[Job]:
    with session_scope(write=False) as s:
        return list(s.exec(select(Job).where(Job.type == EMBED_JOB).order_by(col(Job.created_at))).all())


def sweep() -> None:
    assert NAME in run_due_periodic_tasks({})


def test_models_whose_embedding_job_failed_are_embedded_by_the_sweep(make_model, no_broker, monkeypatch):
    make_model("Customer Sentiment Analyzer")
    make_model("Churn Predictor", type="Tabular")
    with session_scope() as s:  # both jobs failed for good (say, the worker kept dying)
        s.exec(update(Job).where(Job.type == EMBED_JOB).values(status="failed"))
    before = len(embed_jobs())

    sweep()
    sweep()  # a second turn while the job waits queues nothing more
    jobs = embed_jobs()
    assert len(jobs) == before + 1 and jobs[-1].status == "queued" and jobs[-1].payload["missing"] is True

    use_fake_encoder(monkeypatch)
    try:
        run_job(jobs[-1].id)
        with session_scope(write=False) as s:
            assert search.missing_embeddings(session=s) == []
            hits = search.search_models(session=s, actor=SYSTEM, q="customer sentiment", mode="semantic", limit=5).items
        assert hits[0].model.name == "Customer Sentiment Analyzer"
    finally:
        search.set_encoder(None)
    sweep()
    assert len(embed_jobs()) == before + 1  # nothing is missing: no job


def test_the_sweep_queues_nothing_when_every_model_has_an_embedding(db_backend, no_broker):
    sweep()
    assert embed_jobs() == [] and no_broker == []


def test_a_cancel_during_encoding_ends_the_embedding_job_cancelled_and_stores_nothing(make_model, no_broker,
                                                                                       monkeypatch):
    from backend.core import semantic
    from backend.jobs import service as jobs_service
    from tests.backend.catalog.model_registry.conftest import fake_encoder

    make_model("Customer Sentiment Analyzer")
    make_model("Churn Predictor", type="Tabular")
    with session_scope() as s:  # one job for both (neither has been embedded: no worker ran)
        job = jobs_service.create_job(session=s, actor=SYSTEM, type=EMBED_JOB, payload={"missing": True})
    monkeypatch.setattr(semantic, "ENCODE_BATCH", 1)

    def cancelling(texts: list[str]):  # the first batch is encoded, then someone cancels the job
        with session_scope() as s:
            jobs_service.cancel_job(session=s, actor=SYSTEM, job_id=job.id)
        return fake_encoder(texts)

    search.set_encoder(cancelling)
    try:
        run_job(job.id)
    finally:
        search.set_encoder(None)
    with session_scope(write=False) as s:
        assert s.get(Job, job.id).status == "cancelled"
        assert len(search.missing_embeddings(session=s)) == 2
