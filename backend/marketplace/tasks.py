"""Marketplace background work: subscription renewals on a schedule, and the listings' sentence
embeddings for search by meaning (after each publish or change, and a periodic sweep for any missing)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints
from sqlmodel import Session, col, select

from backend.auth.principal import SYSTEM
from backend.core import semantic
from backend.core.db import session_scope
from backend.core.schemas import InputModel
from backend.core.tasks import job_handler, periodic
from backend.jobs import service as jobs_service
from backend.jobs.models import Job
from backend.marketplace import service
from backend.marketplace.service import search_index

# Billing periods are months; a period that starts is billed within this many seconds even when no
# request touches the subscription (requests bill the subscription they touch at once).
RENEWAL_INTERVAL_SECONDS = 900


@periodic("marketplace.renew_subscriptions", every_seconds=RENEWAL_INTERVAL_SECONDS)
def renew_subscriptions(session: Session) -> dict[str, int] | None:
    """Bill the periods that have started and end the subscriptions whose cancellation is due. Safe on
    several workers at once: a period's bill is unique per subscription."""
    billed = service.renew_subscriptions(session=session)
    return {"periodsBilled": billed} if billed else None


# A listing whose embedding job failed for good (or that was published while no worker ran) gets its
# stored vector within this many seconds; until then each search embeds it in memory.
SWEEP_INTERVAL_SECONDS = 1800


class EmbedPayload(InputModel):
    listing_ids: Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=1000)] = Field(
        default_factory=list, description="Listings to (re)embed")
    missing: bool = Field(default=False, description="Also embed every live listing that has no embedding yet")


@job_handler(search_index.EMBED_JOB, description="Compute the sentence embeddings of marketplace listings "
             "(search by meaning)", payload_model=EmbedPayload)
def embed_listings(ctx) -> dict | None:  # noqa: ANN001
    """Read the texts, encode them outside any write transaction, then store the vectors."""
    ids = list(ctx.payload.get("listingIds") or [])
    with session_scope(write=False) as session:
        if ctx.payload.get("missing"):
            ids += search_index.missing_embeddings(session=session)
        planned = search_index.plan_embeddings(session=session, listing_ids=ids)
    vectors = semantic.encode_for_job(ctx, [body for _, body, _ in planned], what="listings")
    if vectors is None:
        return None
    with ctx.finishing_transaction() as session:
        saved = search_index.save_embeddings(session=session, planned=planned, vectors=vectors)
        ctx.result = {"embedded": saved, "requested": len(ids)}
    return ctx.result


@periodic("marketplace.embed_missing", every_seconds=SWEEP_INTERVAL_SECONDS)
def embed_missing(session: Session) -> dict[str, str] | None:
    """Queue one embedding job for the live listings without an embedding, unless one is queued or
    running already."""
    if not search_index.missing_embeddings(session=session, limit=1):
        return None
    waiting = session.exec(select(Job.id).where(Job.type == search_index.EMBED_JOB,
                                                col(Job.status).in_(("queued", "running"))).limit(1)).first()
    if waiting:
        return None
    job = jobs_service.create_job(session=session, actor=SYSTEM, type=search_index.EMBED_JOB,
                                  payload={"missing": True})
    return {"jobId": job.id}

