"""Background work of the model registry: computing sentence embeddings for semantic search."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field, StringConstraints

from backend.catalog.model_registry import search
from backend.core.db import session_scope
from backend.core.schemas import InputModel
from backend.core.tasks import job_handler

EMBED_JOB = "catalog.embed_models"
BATCH = 64


class EmbedPayload(InputModel):
    model_ids: Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=1000)] = Field(
        default_factory=list, description="Models to (re)embed")
    missing: bool = Field(default=False, description="Also embed every live model that has no embedding yet")


@job_handler(EMBED_JOB, description="Compute the sentence embeddings of models (semantic search)",
             payload_model=EmbedPayload)
def embed_models(ctx) -> dict:  # noqa: ANN001
    """Read the texts, encode them outside any write transaction, then store the vectors."""
    ids = list(ctx.payload.get("modelIds") or [])
    with session_scope(write=False) as session:
        if ctx.payload.get("missing"):
            ids += search.missing_embeddings(session=session)
        planned = search.plan_embeddings(session=session, model_ids=ids)
    vectors = []
    for start in range(0, len(planned), BATCH):
        if ctx.cancelled():
            return {"embedded": 0, "cancelled": True}
        vectors.append(search.encode([text for _, text, _ in planned[start:start + BATCH]]))
        ctx.progress(0.1 + 0.8 * (start + BATCH) / max(len(planned), 1), f"encoded {start + BATCH} texts")
    with ctx.finishing_transaction() as session:
        saved = search.save_embeddings(session=session, planned=planned,
                                       vectors=np.concatenate(vectors) if vectors else np.zeros((0, 384)))
        ctx.result = {"embedded": saved, "requested": len(ids)}
    return ctx.result
