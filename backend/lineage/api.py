"""REST routes of the platform lineage: /api/v1/governance/provenance (the design's provenance tracking)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.core.http import COMMON_ERRORS, error_responses, get_read_session, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page
from backend.lineage import provenance, service
from backend.lineage.schemas import (
    MAX_DEPTH,
    ActivityKind,
    Direction,
    IntegrityReport,
    LineageGraph,
    Provenance,
    ProvenanceQuery,
    ProvenanceQueryResult,
    ProvenanceRecord,
)

router = APIRouter(prefix="/governance/provenance", tags=["governance"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
ReadSession = Annotated[Session, Depends(get_read_session)]  # the POST query only reads
EntityPath = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9_.:@\-]+$",
                                 description="`kind:ref` (e.g. `model:model_0192…`) or the ref alone")]
DepthQuery = Annotated[int, Query(ge=1, le=MAX_DEPTH, description="Steps to follow each way")]
ENTITY_ERRORS = error_responses(404)


@router.get("", response_model=Page[ProvenanceRecord], summary="Get provenance records")
def list_provenance_records(
    session: SessionDep,
    kind: Annotated[ActivityKind | None, Query(description="Only activities of this kind")] = None,
    since: Annotated[datetime | None, Query(description="Only activities started at or after (ISO-8601)")] = None,
    until: Annotated[datetime | None, Query(description="Only activities started before (ISO-8601)")] = None,
    agent: Annotated[str | None, Query(max_length=64, description="Only activities run by this username")] = None,
    params: PageParams = Depends(page_params),
    principal: Principal = require(service.LINEAGE_READ),
) -> Page[ProvenanceRecord]:
    """What happened on the platform, newest first: each upload, transform, registration, training,
    deployment, batch prediction or generation, who ran it and when, what it used and what it generated
    (each entity with its recorded content hash). Entities you may not read are left out (`withheld`
    counts them)."""
    records, cursor = provenance.list_records(session=session, actor=principal, params=params, kind=kind,
                                              since=since, until=until, agent=agent)
    return Page[ProvenanceRecord](items=records, next_cursor=cursor)


@router.get("/lineage/{id}", response_model=LineageGraph, summary="Get lineage graph", responses=ENTITY_ERRORS)
def get_lineage_graph(
    id: EntityPath,  # noqa: A002
    session: SessionDep,
    depth: DepthQuery = 3,
    direction: Annotated[Direction, Query(description="Which way to walk from the entity")] = "both",
    agents: Annotated[bool, Query(description="Add the users who ran each activity (wasAssociatedWith)")] = False,
    principal: Principal = require(service.LINEAGE_READ),
) -> LineageGraph:
    """The PROV graph around an entity and its versions: the activities that generated and used
    them, what they derive from and what derives from them, to `depth` steps. Reading it needs the
    entity's own read permission too (`model:read` for a model); nodes you may not read keep their
    place with the label withheld. LINEAGE_001 when the entity is not recorded."""
    return provenance.graph(session=session, actor=principal, entity_id=id, depth=depth, direction=direction,
                            agents=agents)


@router.post("/query", response_model=ProvenanceQueryResult, summary="Query provenance", responses=ENTITY_ERRORS)
def query_provenance(body: ProvenanceQuery, session: ReadSession,
                     principal: Principal = require(service.LINEAGE_READ, read_only=True)) -> ProvenanceQueryResult:
    """The ancestors (what it came from) or descendants (what came from it) of one entity to a
    depth, nearest first, optionally only some kinds and only those recorded in a time window: e.g.
    every model version trained on a dataset since January."""
    return provenance.query(session=session, actor=principal, request=body)


@router.get("/integrity", response_model=IntegrityReport, summary="Check training data integrity",
            responses=ENTITY_ERRORS)
def check_training_data(
    session: SessionDep,
    model: Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9_\-]+$",
                                       description="Only this model's versions (all readable ones when absent)")] = None,
    principal: Principal = require(service.LINEAGE_READ),
) -> IntegrityReport:
    """Re-hash, through the artifact store, every dataset file that a model version was trained from
    and compare it with the sha256 recorded for that dataset version. A `mismatch` finding means the
    data changed since the model was trained; `missing` that the file is gone. LINEAGE_001 for an
    unknown model."""
    return provenance.training_data_integrity(session=session, actor=principal, model_id=model)


@router.get("/{artifactId}", response_model=Provenance, summary="Get artifact provenance", responses=ENTITY_ERRORS)
def get_provenance(artifactId: EntityPath, session: SessionDep,  # noqa: N803
                   principal: Principal = require(service.LINEAGE_READ)) -> Provenance:
    """One entity's direct provenance: which activity generated it (who, when), what it was derived
    from, which activities used it and what derives from it, its versions or its model/dataset; each
    entity with its recorded content hash (`contentHash`)."""
    return provenance.provenance(session=session, actor=principal, entity_id=artifactId)
