"""REST routes of the platform lineage: /api/v1/governance/provenance (the design's provenance tracking)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.core.http import COMMON_ERRORS, error_responses, get_read_session, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page
from backend.lineage import service
from backend.lineage.schemas import (
    MAX_DEPTH,
    ActivityKind,
    Direction,
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
    params: PageParams = Depends(page_params),
    principal: Principal = require(service.LINEAGE_READ),
) -> Page[ProvenanceRecord]:
    """What happened on the platform, newest first: each upload, transform, registration, training,
    deployment, batch prediction or generation, who ran it and when, what it used and what it generated.
    Entities you may not read are left out (`withheld` counts them)."""
    records, cursor = service.list_records(session=session, actor=principal, params=params, kind=kind)
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
    return service.provenance_graph(session=session, actor=principal, entity_id=id, depth=depth,
                                    direction=direction, agents=agents)


@router.post("/query", response_model=ProvenanceQueryResult, summary="Query provenance", responses=ENTITY_ERRORS)
def query_provenance(body: ProvenanceQuery, session: ReadSession,
                     principal: Principal = require(service.LINEAGE_READ, read_only=True)) -> ProvenanceQueryResult:
    """The ancestors (what it came from) or descendants (what came from it) of one entity to a
    depth, nearest first, optionally only some kinds: e.g. every model version trained on a dataset."""
    return service.query(session=session, actor=principal, request=body)


@router.get("/{artifactId}", response_model=Provenance, summary="Get artifact provenance", responses=ENTITY_ERRORS)
def get_provenance(artifactId: EntityPath, session: SessionDep,  # noqa: N803
                   principal: Principal = require(service.LINEAGE_READ)) -> Provenance:
    """One entity's direct provenance: which activity generated it (who, when), what it was derived
    from, which activities used it and what derives from it, its versions or its model/dataset."""
    return service.provenance(session=session, actor=principal, entity_id=artifactId)
