"""Background work of the model registry: computing sentence embeddings for semantic search, and a
periodic sweep for live models that still have none."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints
from sqlmodel import Session, col, select

from backend.auth.principal import SYSTEM
from backend.catalog.model_registry import search
from backend.core import semantic
from backend.core.db import session_scope
from backend.core.schemas import InputModel
from backend.core.tasks import job_handler, periodic
from backend.jobs import service as jobs_service
from backend.jobs.models import Job

EMBED_JOB = "catalog.embed_models"
# A model whose embedding job failed for good (or that was written while no worker ran) is found by
# semantic search again within this many seconds.
SWEEP_INTERVAL_SECONDS = 1800


class EmbedPayload(InputModel):
    model_ids: Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=1000)] = Field(
        default_factory=list, description="Models to (re)embed")
    missing: bool = Field(default=False, description="Also embed every live model that has no embedding yet")


@job_handler(EMBED_JOB, description="Compute the sentence embeddings of models (semantic search)",
             payload_model=EmbedPayload)
def embed_models(ctx) -> dict | None:  # noqa: ANN001
    """Read the texts, encode them outside any write transaction, then store the vectors."""
    ids = list(ctx.payload.get("modelIds") or [])
    with session_scope(write=False) as session:
        if ctx.payload.get("missing"):
            ids += search.missing_embeddings(session=session)
        planned = search.plan_embeddings(session=session, model_ids=ids)
    vectors = semantic.encode_for_job(ctx, [text for _, text, _ in planned], what="models")
    if vectors is None:
        return None
    with ctx.finishing_transaction() as session:
        saved = search.save_embeddings(session=session, planned=planned, vectors=vectors)
        ctx.result = {"embedded": saved, "requested": len(ids)}
    return ctx.result


@periodic("catalog.embed_missing", every_seconds=SWEEP_INTERVAL_SECONDS)
def embed_missing(session: Session) -> dict[str, str] | None:
    """Queue one embedding job for the live models without an embedding, unless one is queued or
    running already. Two workers may both queue one; the second then finds nothing to embed."""
    if not search.missing_embeddings(session=session, limit=1):
        return None
    waiting = session.exec(select(Job.id).where(Job.type == EMBED_JOB, col(Job.status).in_(("queued", "running")))
                           .limit(1)).first()
    if waiting:
        return None
    job = jobs_service.create_job(session=session, actor=SYSTEM, type=EMBED_JOB, payload={"missing": True})
    return {"jobId": job.id}
