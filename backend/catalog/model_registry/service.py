"""The model registry: models, lifecycle, versions, artifacts, stages and their history, metadata,
metrics, lineage and activity.

Every function is keyword-only with the session first and the actor explicit, so REST routes,
Reflex event handlers and background jobs call the same code. Functions `flush()`; the caller
commits (routes before returning, others with `session_scope()`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, case, delete, exists, func, literal, or_
from sqlmodel import Session, col, select

from backend import domains
from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.catalog.datasets import service as datasets_service
from backend.catalog.model_registry import artifacts
from backend.catalog.model_registry.models import (
    FACET_FIELDS,
    LIFECYCLE,
    MODELS_GENERATION,
    ModelActivity,
    ModelEmbedding,
    ModelLabel,
    ModelVersion,
    RegisteredModel,
    StageHistory,
)
from backend.catalog.model_registry.schemas import (
    ArtifactRead,
    DatasetRef,
    Deployment,
    FacetCount,
    MetricsRead,
    ModelCreate,
    ModelFacets,
    ModelMetadata,
    ModelRead,
    ModelUpdate,
    Performance,
    Pricing,
    SeriesPoint,
    StageHistoryRead,
    Training,
    VersionCreate,
    VersionMetrics,
    VersionRead,
    VersionSource,
    VersionUpdate,
    parse_semver,
)
from backend.core.authorization import authorize
from backend.core.cache import GenerationCache
from backend.core.db import is_sqlite
from backend.core.errors import AISystemError, InvalidRequest
from backend.core.ids import new_id
from backend.core.pagination import PageParams, decode_cursor, paginate
from backend.core.schemas import complete_document
from backend.core.timeutil import isoformat_z, to_utc, utcnow
from backend.core.unit_of_work import after_commit, after_rollback, append, new_row, transaction_memo
from backend.jobs import service as jobs_service
from backend.jobs.models import Job
from backend.lineage import service as lineage
from backend.lineage.schemas import LineageGraph

log = logging.getLogger(__name__)

# Lifecycle moves that make sense; anything else is refused naming these.
STATUS_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "development": ("training", "retirement"),
    "training": ("validation", "development"),
    "validation": ("deployment", "development"),
    "deployment": ("monitoring", "validation"),
    "monitoring": ("training", "retirement"),
    "retirement": (),
}
STAGE_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "none": ("staging", "production", "archived"),
    "staging": ("production", "archived", "none"),
    "production": ("archived",),
    "archived": ("staging", "production"),
}
SORTS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "name": (RegisteredModel.name_key, str),
    "createdAt": (RegisteredModel.created_at, datetime.fromisoformat),
    "updatedAt": (RegisteredModel.updated_at, datetime.fromisoformat),
    "accuracy": (RegisteredModel.sort_accuracy, float),
    "parameters": (RegisteredModel.sort_parameters, int),
}
SORT_CHOICES = tuple(s for name in SORTS for s in (name, f"-{name}"))
# Deleting a model that is in production or served: only a role granted everything (admin) holds it.
FORCE_DELETE = "platform:force_delete_model"
ACTIVITY_KINDS = ("view", "download", "version", "deployment", "prediction", "favourite", "create", "train")


def not_found(model_id: str, version: str | None = None) -> AISystemError:
    details = {"modelId": model_id} | ({"version": version} if version else {})
    what = f"Version {version} of model {model_id}" if version else f"Model {model_id}"
    return AISystemError("MODEL_001", f"{what} does not exist", details)


# --- documents ------------------------------------------------------------------------------------


def model_document(model: RegisteredModel) -> dict[str, Any]:
    """The design's AI Model document as JSON-ready data, straight from a model row (or a row of its
    columns). Lists of models serialise these directly: their parts were validated when written, and
    validating 50 of them again through `ModelRead` cost more than the rest of the request."""
    return {
        "id": model.id, "name": model.name, "type": model.type, "category": model.category,
        "framework": model.framework, "architecture": model.architecture, "version": model.version,
        "status": model.status, "deploymentType": model.deployment_type,
        "createdAt": isoformat_z(model.created_at), "updatedAt": isoformat_z(model.updated_at),
        "createdBy": model.created_by, "parameters": model.parameters, "contextLength": model.context_length,
        "capabilities": list(model.capabilities or []),
        "metadata": {"description": model.description, "tags": list(model.tags or []),
                     "documentation": model.documentation, "paper": model.paper, "license": model.license},
        "training": complete_document(Training, model.training),
        "performance": complete_document(Performance, model.performance),
        "pricing": complete_document(Pricing, model.pricing),
        "deployment": complete_document(Deployment, model.deployment),
    }


def model_read(model: RegisteredModel) -> ModelRead:
    """The AI Model document of a row, as a validated `ModelRead`."""
    return ModelRead.model_validate(model_document(model))


def version_read(version: ModelVersion, declared_parameters: int | None = None) -> VersionRead:
    """A version's wire document; `declared_parameters` (the model's `parameters`) is shown beside the
    count read from the artifact when the two differ (`read_version` passes it)."""
    artifact = None
    if version.artifact_id:
        details = version.artifact_details or {}
        opaque = version.artifact_format == "opaque"
        # Details written before buffers were told apart from parameters hold no `tensorElements`:
        # their count included the buffers, so it is not shown (uploading the file again counts it).
        legacy = not opaque and "parameters" in details and "tensorElements" not in details
        counted = None if opaque or legacy else details.get("parameters")
        notice = artifacts.OPAQUE_NOTICE if opaque else artifacts.LEGACY_COUNT_NOTICE if legacy else None
        artifact = ArtifactRead(
            format=version.artifact_format, size_bytes=version.artifact_size or 0,
            sha256=version.artifact_sha256 or "", file_name=version.artifact_file_name,
            uploaded_at=version.artifact_uploaded_at, uploaded_by=version.artifact_uploaded_by,
            integrity=version.artifact_integrity or "unverified", verified_at=version.artifact_verified_at,
            handling="opaque" if opaque else "inspected", notice=notice,
            parameters=counted,
            declared_parameters=declared_parameters if counted is not None and declared_parameters is not None
            and declared_parameters != counted else None,
            details=details,
        )
    return VersionRead(
        id=version.id, model_id=version.model_id, version=version.version, stage=version.stage,
        stage_changed_at=version.stage_changed_at, source=version.source or {},
        hyperparameters=version.hyperparameters or {}, metrics=version.metrics or {}, notes=version.notes,
        artifact=artifact, created_by=version.created_by, created_at=version.created_at,
        updated_at=version.updated_at,
    )


def read_version(*, session: Session, version: ModelVersion) -> VersionRead:
    """`version_read` with the model's declared parameter count (from the session's identity map)."""
    model = session.get(RegisteredModel, version.model_id)
    return version_read(version, model.parameters if model is not None else None)


def history_read(row: StageHistory) -> StageHistoryRead:
    return StageHistoryRead.model_validate(row)


# --- models ---------------------------------------------------------------------------------------


def _dump(part) -> dict[str, Any]:  # noqa: ANN001
    return part.model_dump(by_alias=True, exclude_none=True) if part is not None else {}


_SIMPLE_FIELDS = ("name", "type", "category", "framework", "architecture", "deployment_type", "parameters",
                  "context_length", "status")


def _field_values(data: ModelCreate | ModelUpdate, fields: set[str],
                  model: RegisteredModel | None = None) -> dict[str, Any]:
    """The columns that `data`'s `fields` set, with what follows from them (the name's key, accuracy, the
    sort keys); what `fields` leaves out is read from `model` (None: a new model, which has no value yet)."""
    values = {name: getattr(data, name) for name in _SIMPLE_FIELDS if name in fields}
    if "name" in fields:
        values["name_key"] = data.name.lower()
    if "capabilities" in fields:
        values["capabilities"] = list(data.capabilities or [])
    if "metadata" in fields:
        meta = data.metadata or ModelMetadata()
        values.update(description=meta.description, tags=list(meta.tags), documentation=meta.documentation,
                      paper=meta.paper, license=meta.license)
    for name in ("training", "performance", "pricing", "deployment"):
        if name in fields:
            values[name] = _dump(getattr(data, name))
    performance = values.get("performance", model.performance if model else None)
    parameters = values.get("parameters", model.parameters if model else None)
    accuracy = (performance or {}).get("accuracy")
    values.update(accuracy=accuracy, sort_accuracy=accuracy if accuracy is not None else -1.0,
                  sort_parameters=parameters if parameters is not None else -1)
    return values


_LIVE_MODEL_NAMED = select(RegisteredModel.id).where(RegisteredModel.name_key == bindparam("name_key"),
                                                     col(RegisteredModel.deleted_at).is_(None))


def _check_name_free(session: Session, name: str, model_id: str | None = None) -> None:
    other = session.exec(_LIVE_MODEL_NAMED, params={"name_key": name.lower()}).first()
    if other and other != model_id:
        raise AISystemError("MODEL_002", f"A model named '{name}' exists already",
                            {"name": name, "modelId": other})


def _sync_labels(session: Session, model: RegisteredModel, *, new: bool = False) -> None:
    if not new:
        session.exec(delete(ModelLabel).where(col(ModelLabel.model_id) == model.id))
    labels = {("tag", t) for t in model.tags or []} | {("capability", c) for c in model.capabilities or []}
    labels |= {("endpoint", e) for e in (model.deployment or {}).get("endpoints", [])}
    session.add_all(ModelLabel(model_id=model.id, kind=k, value=v[:80]) for k, v in sorted(labels))


def create_model(*, session: Session, actor: Principal, data: ModelCreate, embed: bool = True) -> RegisteredModel:
    """Register a model (and its first version when `data.version` is given)."""
    from backend.catalog.model_registry import search

    authorize(actor, "model:create")
    _check_name_free(session, data.name)
    now = utcnow()
    # Built as appended rows are (`new_row`): the constructor's per-field events cost more than the INSERT.
    model = new_row(RegisteredModel, id=new_id("model"), created_by=actor.user_id, created_at=now, updated_at=now,
                    **_field_values(data, set(type(data).model_fields) - {"version"}))
    session.add(model)
    session.flush()  # the labels' and lineage's rows refer to it: the unit of work orders by relationships only
    _sync_labels(session, model, new=True)
    _model_lineage(session, actor, model, registered=True)
    _count_new_endpoints(session, actor, model, set())
    search.index_model(session, model, new=True)
    record_activity(session=session, model_id=model.id, user_id=actor.user_id, kind="create")
    audit.record(session=session, actor=actor, action="model.create", entity_type="model", entity_id=model.id,
                 summary={"name": model.name, "type": model.type, "status": model.status})
    if data.version:
        create_version(session=session, actor=actor, model_id=model.id, data=VersionCreate(version=data.version))
    if embed:
        schedule_embeddings(session=session, actor=actor, model_ids=[model.id])
    return model


# Built once: building and keying the query on each call cost as much as running it (every write loads its model).
_LIVE_MODEL = select(RegisteredModel).where(RegisteredModel.id == bindparam("model_id"),
                                            col(RegisteredModel.deleted_at).is_(None))
_LIVE_MODEL_FOR_UPDATE = _LIVE_MODEL.with_for_update().execution_options(populate_existing=True)


def find_model(*, session: Session, model_id: str, for_update: bool = False) -> RegisteredModel | None:
    """The live (not deleted) model, or None."""
    return session.exec(_LIVE_MODEL_FOR_UPDATE if for_update else _LIVE_MODEL, params={"model_id": model_id}).first()


def get_model(*, session: Session, actor: Principal, model_id: str) -> RegisteredModel:
    """The live model, for reading; MODEL_001 when it does not exist or was deleted."""
    model = _live_model(session, model_id)
    authorize(actor, "model:read", model)
    return model


def _live_model(session: Session, model_id: str, *, for_update: bool = False) -> RegisteredModel:
    """The live model, unchecked (each entry point authorizes what it does with it); MODEL_001 if none."""
    model = find_model(session=session, model_id=model_id, for_update=for_update)
    if model is None:
        raise not_found(model_id)
    return model


@dataclass(frozen=True)
class ModelFilters:
    type: str | None = None
    category: str | None = None
    framework: str | None = None
    status: str | None = None
    tag: str | None = None
    license: str | None = None
    created_by: str | None = None

    def any(self) -> bool:
        """Whether any filter is set."""
        return any(getattr(self, f.name) is not None for f in fields(self))


def live_models_query(*, columns: bool = False):
    """Live (not deleted) models: ORM objects, or with `columns` plain rows of every column, which
    read several times faster (no identity map, no change tracking) for pages that only show them."""
    source = RegisteredModel.__table__.columns if columns else [RegisteredModel]
    return select(*source).where(col(RegisteredModel.deleted_at).is_(None))


def matching_ids(filters: ModelFilters):  # noqa: ANN201
    """A select of the ids of the live models passing `filters` (for `IN` conditions)."""
    return apply_filters(select(RegisteredModel.id).where(col(RegisteredModel.deleted_at).is_(None)), filters)


def apply_filters(query, filters: ModelFilters):  # noqa: ANN001, ANN201
    for name in ("type", "category", "framework", "status", "license", "created_by"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(getattr(RegisteredModel, name) == value)
    if filters.tag:
        query = query.where(
            select(ModelLabel.model_id).where(ModelLabel.model_id == RegisteredModel.id, ModelLabel.kind == "tag",
                                              ModelLabel.value == filters.tag.lower()).exists()
        )
    return query


FACET_VALUES = 30
FACET_COLUMNS = {name: getattr(RegisteredModel, name) for name in FACET_FIELDS}


SEARCH_MODES = ("keyword", "semantic", "hybrid")


def model_facets(*, session: Session, actor: Principal, filters: ModelFilters | None = None,
                 q: str | None = None, mode: str = "keyword") -> ModelFacets:
    """Counts of live models per type, status, framework, category, license and tag (the
    FACET_VALUES most common of each), each facet under the filters other than its own; with `q`,
    only among the models a search for `q` in `mode` returns (keyword: the models matching every word;
    semantic: those above the relevance cut-off; hybrid: either), so a count is what its filter shows."""
    from backend.catalog.model_registry import search

    authorize(actor, "model:read")
    if mode not in SEARCH_MODES:
        raise InvalidRequest("Unknown search mode", {"mode": f"use one of {', '.join(SEARCH_MODES)}"})
    filters = filters or ModelFilters()
    terms, ids = None, None
    if q is not None and mode == "keyword":
        terms = search.query_words(q)
    elif q is not None:
        if mode == "hybrid":
            try:
                terms = search.query_words(q)
            except InvalidRequest:
                terms = None
        ids = tuple(sorted(search.semantic_matches(session, q).ids()))
    # Counting takes 0.3-0.9 s at 100,000 models: kept until a model changes (core.cache). A semantic
    # search's matches are part of the key (its embeddings change apart from the models).
    facets = _FACETS.get_or_compute(session, ("facets", filters, terms, ids),
                                    lambda: _count_facets(session, filters, terms, ids))
    return facets.model_copy(deep=True)


_FACETS = GenerationCache(MODELS_GENERATION)


def _count_facets(session: Session, filters: ModelFilters, terms: tuple[str, ...] | None,
                  ids: tuple[str, ...] | None = None) -> ModelFacets:
    from backend.catalog.model_registry import search

    conditions = []
    if terms:
        conditions.append(col(RegisteredModel.id).in_(search.keyword_matches(session, terms)))
    if ids is not None:
        conditions.append(col(RegisteredModel.id).in_(list(ids)))

    def among_matches(query):  # noqa: ANN001, ANN202
        return query.where(or_(*conditions)) if conditions else query

    counts: dict[str, list[FacetCount]] = {}
    for name, column in FACET_COLUMNS.items():
        query = apply_filters(select(column, func.count()).where(col(RegisteredModel.deleted_at).is_(None),
                                                                 column.is_not(None)), replace(filters, **{name: None}))
        counts[name] = _facet_counts(session, among_matches(query).group_by(column), func.count(), column)
    # Tags of the matching models through an IN: SQLite then reads the label index alone instead of
    # joining each of ~4 labels per model to its row (0.7 s → 0.2 s at 100,000 models).
    tags = select(ModelLabel.value, func.count()).where(
        ModelLabel.kind == "tag", col(ModelLabel.model_id).in_(among_matches(matching_ids(replace(filters, tag=None)))))
    counts["tag"] = _facet_counts(session, tags.group_by(ModelLabel.value), func.count(), ModelLabel.value)
    return ModelFacets(**counts)


def _facet_counts(session: Session, query, count, value) -> list[FacetCount]:  # noqa: ANN001
    rows = session.exec(query.order_by(count.desc(), value).limit(FACET_VALUES)).all()
    return [FacetCount(value=v, count=n) for v, n in rows]


def sort_spec(sort: str) -> tuple[list[Any], list[Callable[[Any], Any]], bool]:
    """(order columns, cursor parsers, descending) of a `sort` value like `-createdAt`."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORTS:
        raise InvalidRequest("Unknown sort", {"sort": f"use one of {', '.join(SORT_CHOICES)}"})
    column, parse = SORTS[key]
    return [column, RegisteredModel.id], [parse, str], descending


def list_models(
    *, session: Session, actor: Principal, params: PageParams, filters: ModelFilters | None = None,
    sort: str = "-createdAt", where: Any = None, indexed_ranges: Sequence[Any] = (),
) -> tuple[list[Any], str | None]:
    """A keyset-paginated page of live models as read-only rows (attributes as on `RegisteredModel`).

    `where` is an extra SQL condition (the filter DSL); `indexed_ranges` are conditions within it
    that every match meets and an index answers (`filters.indexed_ranges`).
    """
    authorize(actor, "model:read")
    query = apply_filters(live_models_query(columns=True), filters or ModelFilters())
    if where is not None:
        query = query.where(where)
    order, parse, descending = sort_spec(sort)
    if params.cursor:
        # A range on the leading sort column lets the index seek straight to the page (the keyset
        # condition alone is an OR that SQLite's planner does not turn into a range).
        values = decode_cursor(params.cursor, len(order))
        try:
            lead = parse[0](values[0])
        except (TypeError, ValueError) as exc:
            raise InvalidRequest("The cursor is not valid", {"cursor": "not a cursor this API issued"}) from exc
        query = query.where(order[0] <= lead if descending else order[0] >= lead)
    return paginate(session, query, params=params, order=order, descending=descending, parse=parse,
                    sort_without_index=_any_narrow(session, indexed_ranges))


# At most this many matches are read and sorted rather than found by walking the sort order's index.
NARROW_RANGE_ROWS = 2000


def _any_narrow(session: Session, conditions: Sequence[Any]) -> bool:
    """Whether one of `conditions` matches few rows (SQLite only).

    SQLite's planner, without histograms, walks the sort order's index and tests every row: fast
    when matches are common, a scan of the whole table when a range matches a handful. Counting the
    range on its own index (at most NARROW_RANGE_ROWS + 1 entries) tells the two apart; PostgreSQL's
    planner has the statistics to choose by itself.
    """
    if not conditions or not is_sqlite(session):
        return False
    for condition in conditions:
        # Selecting a constant reads the index alone (no table row per entry).
        sample = select(literal(1)).select_from(RegisteredModel).where(condition).limit(NARROW_RANGE_ROWS + 1)
        if session.exec(select(func.count()).select_from(sample.subquery())).one() <= NARROW_RANGE_ROWS:
            return True
    return False


def update_model(*, session: Session, actor: Principal, model_id: str, data: ModelUpdate) -> RegisteredModel:
    """Change the fields given; nested objects given replace the stored ones."""
    from backend.catalog.model_registry import search

    model = _live_model(session, model_id)
    authorize(actor, "model:write", model)
    fields = set(data.model_fields_set)
    for required in ("name", "type", "category", "framework"):
        if required in fields and getattr(data, required) is None:
            raise InvalidRequest("A required field cannot be cleared", {required: "must not be null"})
    if "name" in fields:
        _check_name_free(session, data.name, model.id)
    before_text = search.embedding_text(model)
    previous_endpoints = set((model.deployment or {}).get("endpoints", []))
    for name, value in _field_values(data, fields, model).items():
        setattr(model, name, value)
    model.updated_at = utcnow()
    session.add(model)
    session.flush()
    _sync_labels(session, model)
    _model_lineage(session, actor, model, registered=False)
    _count_new_endpoints(session, actor, model, previous_endpoints)
    search.index_model(session, model)
    audit.record(session=session, actor=actor, action="model.update", entity_type="model", entity_id=model.id,
                 summary={"fields": sorted(data.model_dump(by_alias=True, exclude_unset=True))})
    if search.embedding_text(model) != before_text:
        schedule_embeddings(session=session, actor=actor, model_ids=[model.id])
    return model


def change_status(*, session: Session, actor: Principal, model_id: str, status: str,
                  reason: str | None = None) -> RegisteredModel:
    """Move the model along its lifecycle; 409 (MODEL_002) naming the allowed moves otherwise."""
    model = _live_model(session, model_id, for_update=True)
    authorize(actor, "model:write", model)
    if status not in LIFECYCLE:
        raise InvalidRequest("Unknown status", {"status": f"use one of {', '.join(LIFECYCLE)}"})
    allowed = STATUS_TRANSITIONS[model.status]
    if status not in allowed:
        allowed_text = ", ".join(allowed) if allowed else "none (it is final)"
        raise AISystemError(
            "MODEL_002", f"A model in '{model.status}' cannot move to '{status}'; allowed: {allowed_text}",
            {"status": model.status, "requested": status, "allowed": list(allowed)},
        )
    previous, model.status, model.updated_at = model.status, status, utcnow()
    session.add(model)
    audit.record(session=session, actor=actor, action="model.status", entity_type="model", entity_id=model.id,
                 summary={"from": previous, "to": status, "reason": reason})
    return model


def delete_model(*, session: Session, actor: Principal, model_id: str, force: bool = False) -> RegisteredModel:
    """Soft-delete. Refused while a version is in production or endpoints serve it, unless an admin forces."""
    from backend.catalog.model_registry import search

    model = _live_model(session, model_id, for_update=True)
    authorize(actor, "model:delete", model)
    production = _production_version(session, model.id)
    endpoints = list((model.deployment or {}).get("endpoints", []))
    if (production or endpoints) and not force:
        raise AISystemError(
            "MODEL_002",
            "The model is in use: " + "; ".join(filter(None, [
                production and f"version {production.version} is in production",
                endpoints and f"{len(endpoints)} endpoint(s) serve it"])) + ". An admin may delete it with force=true",
            {"productionVersion": production.version if production else None, "endpoints": endpoints},
        )
    if force and (production or endpoints):
        authorize(actor, FORCE_DELETE, model)
    now = utcnow()
    model.deleted_at, model.deleted_by, model.updated_at = now, actor.user_id, now
    session.add(model)
    session.exec(delete(ModelEmbedding).where(col(ModelEmbedding.model_id) == model.id))
    search.unindex_model(session, model.id)
    audit.record(session=session, actor=actor, action="model.delete", entity_type="model", entity_id=model.id,
                 summary={"name": model.name, "forced": bool(force and (production or endpoints)),
                          "productionVersion": production.version if production else None,
                          "endpoints": endpoints})
    return model


def get_metadata(*, session: Session, actor: Principal, model_id: str) -> ModelMetadata:
    return model_read(get_model(session=session, actor=actor, model_id=model_id)).metadata


def update_metadata(*, session: Session, actor: Principal, model_id: str, metadata: ModelMetadata) -> ModelMetadata:
    """Replace the model's metadata (description, tags, documentation, paper, licence)."""
    model = update_model(session=session, actor=actor, model_id=model_id, data=ModelUpdate(metadata=metadata))
    return model_read(model).metadata


# --- versions -------------------------------------------------------------------------------------


_CURRENT_VERSION = (
    select(ModelVersion.version).where(ModelVersion.model_id == bindparam("model_id"))
    .order_by(case((col(ModelVersion.stage) == "production", 1), else_=0).desc(), col(ModelVersion.major).desc(),
              col(ModelVersion.minor).desc(), col(ModelVersion.patch).desc())
    .limit(1)
)


def _refresh_current_version(session: Session, model: RegisteredModel) -> None:
    """The model's `version`: the production version, else the highest one (one query for both)."""
    model.version = session.exec(_CURRENT_VERSION, params={"model_id": model.id}).first()


_MODEL_ID = bindparam("model_id")
# What registering a version must know of the model's versions, in one read before anything is written:
# whether the number is taken, and the production and the highest version (the model's `version` after).
_VERSION_FACTS = select(
    exists().where(ModelVersion.model_id == _MODEL_ID, ModelVersion.version == bindparam("version")).label("taken"),
    select(ModelVersion.version).where(ModelVersion.model_id == _MODEL_ID, ModelVersion.stage == "production")
    .scalar_subquery().label("production"),
    select(ModelVersion.version).where(ModelVersion.model_id == _MODEL_ID)
    .order_by(col(ModelVersion.major).desc(), col(ModelVersion.minor).desc(), col(ModelVersion.patch).desc())
    .limit(1).scalar_subquery().label("highest"),
)


def _version_after(facts, new: str) -> str:  # noqa: ANN001
    """The model's `version` once `new` (stage none) is registered: production wins, else the highest."""
    if facts.production is not None:
        return facts.production
    if facts.highest is None or parse_semver(new) > parse_semver(facts.highest):
        return new
    return facts.highest


def _production_version(session: Session, model_id: str) -> ModelVersion | None:
    return session.exec(
        select(ModelVersion).where(ModelVersion.model_id == model_id, ModelVersion.stage == "production")
    ).first()


_VERSION_OF_MODEL = select(ModelVersion).where(ModelVersion.model_id == bindparam("model_id"),
                                               ModelVersion.version == bindparam("version"))


def find_version(*, session: Session, model_id: str, version: str) -> ModelVersion | None:
    return session.exec(_VERSION_OF_MODEL, params={"model_id": model_id, "version": version}).first()


def get_version(*, session: Session, actor: Principal, model_id: str, version: str) -> ModelVersion:
    """The version of a live model, for reading; MODEL_001 otherwise."""
    authorize(actor, "model:read", _live_model(session, model_id))
    return _live_version(session, model_id, version)


def _live_version(session: Session, model_id: str, version: str) -> ModelVersion:
    """The version of a live model, unchecked; MODEL_001 otherwise."""
    _live_model(session, model_id)
    row = find_version(session=session, model_id=model_id, version=version)
    if row is None:
        raise not_found(model_id, version)
    return row


def list_versions(*, session: Session, actor: Principal, model_id: str, params: PageParams,
                  descending: bool = False) -> tuple[list[ModelVersion], str | None]:
    """Versions in semantic order (2.9.0 before 2.10.0), sorted by SQL on integer columns."""
    get_model(session=session, actor=actor, model_id=model_id)
    query = select(ModelVersion).where(ModelVersion.model_id == model_id)
    return paginate(session, query, params=params, descending=descending,
                    order=[ModelVersion.major, ModelVersion.minor, ModelVersion.patch, ModelVersion.id],
                    parse=[int, int, int, str])


def create_version(*, session: Session, actor: Principal, model_id: str, data: VersionCreate) -> ModelVersion:
    """Record a new version (stage `none`); MODEL_002 when the number exists. Its source becomes lineage."""
    model = _live_model(session, model_id, for_update=True)
    authorize(actor, "model:create", model)
    major, minor, patch = parse_semver(data.version)
    # Read before the first write, so that no query in this route flushes: everything goes in the commit's one flush.
    facts = session.exec(_VERSION_FACTS, params={"model_id": model_id, "version": data.version}).one()
    if facts.taken:
        raise AISystemError("MODEL_002", f"Version {data.version} of this model exists already",
                            {"modelId": model_id, "version": data.version})
    source = data.source
    inputs = _source_lineage(session, actor, source) if source else []
    now = _instant()
    row = new_row(
        ModelVersion,
        id=new_id("modelver"), model_id=model_id, version=data.version, major=major, minor=minor, patch=patch,
        stage="none", stage_changed_at=now, source=_dump(source), hyperparameters=dict(data.hyperparameters),
        metrics=dict(data.metrics), notes=data.notes, created_by=actor.user_id, created_at=now, updated_at=now,
    )
    session.add(row)
    # The history row refers to it: appended rows are written after the pending ones they may refer to.
    _open_history(session, row, stage="none", from_stage=None, action="register", actor=actor, at=now,
                  reason="registered")
    version_ref = lineage.model_version_ref(model.id, row.version, f"{model.name} {row.version}", new=True)
    lineage.record_activity(session=session, actor=actor, kind="register", key=row.id, used=inputs,
                            generated=[version_ref], label=f"Registration of {model.name} {row.version}",
                            started_at=now, key_is_new=True)
    lineage.add_member(session=session, collection=lineage.Ref("model", model.id, model.name), member=version_ref)
    model.version = _version_after(facts, row.version)
    model.updated_at = now
    session.add(model)
    # The identity map holds clean objects weakly: keep the model until the transaction ends, so that
    # reading the version's document (`read_version`) does not load it again.
    transaction_memo(session, "models_written")[model.id] = model
    record_activity(session=session, model_id=model.id, user_id=actor.user_id, kind="version")
    audit.record(session=session, actor=actor, action="model.version.create", entity_type="model",
                 entity_id=model.id, summary={"version": row.version, "source": row.source})
    return row


def update_version(*, session: Session, actor: Principal, model_id: str, version: str,
                   data: VersionUpdate) -> ModelVersion:
    """Change notes, metrics or hyperparameters of a version."""
    row = _live_version(session, model_id, version)
    authorize(actor, "model:write", row)
    fields = data.model_fields_set
    if "notes" in fields:
        row.notes = data.notes
    if "metrics" in fields:
        row.metrics = dict(data.metrics or {})
    if "hyperparameters" in fields:
        row.hyperparameters = dict(data.hyperparameters or {})
    row.updated_at = utcnow()
    session.add(row)
    audit.record(session=session, actor=actor, action="model.version.update", entity_type="model",
                 entity_id=model_id, summary={"version": version, "fields": sorted(fields)})
    return row


# --- artifacts ------------------------------------------------------------------------------------


def check_artifact_upload(*, session: Session, actor: Principal, model_id: str, version: str) -> ModelVersion:
    """Before receiving bytes: the actor may write the version, which exists and may (still) take an artifact."""
    row = _live_version(session, model_id, version)
    authorize(actor, "model:write", row)
    if row.artifact_id and row.stage in ("production", "archived", "staging"):
        raise AISystemError(
            "MODEL_002", f"Version {version} is in stage '{row.stage}'; its artifact can no longer be replaced. "
                         "Register a new version instead", {"version": version, "stage": row.stage})
    return row


def attach_artifact(*, session: Session, actor: Principal, model_id: str, version: str,
                    received: artifacts.ReceivedFile, declared_format: str | None = None) -> ModelVersion:
    """Check a received file and make it the version's artifact (the temp file is consumed either way).

    The file moves into the store under a new id before the row changes, so a reader never sees a row
    pointing at a half-written file; a replaced artifact's file is removed after the commit.
    """
    try:
        row = check_artifact_upload(session=session, actor=actor, model_id=model_id, version=version)
        try:
            inspection = artifacts.inspect(received, declared_format)
        except AISystemError as exc:
            _audit_once_ended(session, partial(_audit_rejection, actor, model_id, version, received, exc))
            raise
        artifact_id = new_id("artifact")
        artifacts.move_into_store(received, artifact_id)
    except BaseException:
        received.path.unlink(missing_ok=True)
        raise
    old = row.artifact_id
    now = utcnow()
    row.artifact_id, row.artifact_format, row.artifact_size = artifact_id, inspection.format, received.size
    row.artifact_sha256, row.artifact_file_name = received.sha256, received.file_name
    row.artifact_details, row.artifact_uploaded_at = inspection.details, now
    row.artifact_uploaded_by, row.artifact_integrity, row.artifact_verified_at = actor.user_id, "ok", now
    row.updated_at = now
    session.add(row)
    audit.record(session=session, actor=actor, action="model.artifact.upload", entity_type="model",
                 entity_id=model_id, summary={"version": version, "format": inspection.format,
                                              "sizeBytes": received.size, "sha256": received.sha256,
                                              "replaced": old})
    if old:
        after_commit(session, lambda: artifacts.remove(old))
    return row


def _audit_rejection(actor: Principal, model_id: str, version: str, received: artifacts.ReceivedFile,
                     exc: AISystemError) -> None:
    """A refused artifact leaves an audit record (its own transaction: the caller's fails)."""
    from backend.core.db import session_scope

    try:
        with session_scope() as own:
            audit.record(session=own, actor=actor, action="model.artifact.rejected", entity_type="model",
                         entity_id=model_id, outcome="failure",
                         summary={"version": version, "reason": exc.message, "sizeBytes": received.size,
                                  "sha256": received.sha256, "fileName": received.file_name})
    except Exception:
        log.exception("could not audit a rejected artifact")


def store_artifact(*, session: Session, actor: Principal, model_id: str, version: str, chunks,  # noqa: ANN001
                   file_name: str | None = None, config: dict | None = None,
                   declared_format: str | None = None) -> ModelVersion:
    """Receive an iterable of byte chunks and attach it (for Reflex handlers, scripts and seeds)."""
    check_artifact_upload(session=session, actor=actor, model_id=model_id, version=version)
    received = artifacts.receive(chunks, file_name=file_name, config=config)
    return attach_artifact(session=session, actor=actor, model_id=model_id, version=version, received=received,
                           declared_format=declared_format)


@dataclass(frozen=True)
class ArtifactFile:
    path: Path
    sha256: str
    size: int
    format: str
    download_name: str


def verify_artifact(*, session: Session, actor: Principal | None, row: ModelVersion) -> None:
    """Re-hash the stored file; on a mismatch flag the version (own transaction, audited) and raise MODEL_004."""
    if not row.artifact_id:
        raise AISystemError("MODEL_004", f"Version {row.version} has no artifact", {"version": row.version})
    actual = artifacts.current_sha256(row.artifact_id)
    if actual == row.artifact_sha256:
        return
    state = "missing" if actual is None else "mismatch"
    expected, model_id, version, version_id = row.artifact_sha256, row.model_id, row.version, row.id
    _audit_once_ended(session, lambda: _flag_integrity(actor, version_id, state))
    raise AISystemError(
        "MODEL_004", f"The artifact of version {version} failed its integrity check ({state}); it will not be served",
        {"modelId": model_id, "version": version, "integrity": state, "expectedSha256": expected},
    )


def _audit_once_ended(session: Session, fn: Callable[[], None]) -> None:
    """Run `fn` (a write in its own transaction) once the caller's transaction has ended, however it
    ends: the caller's operation fails, and on SQLite its transaction may hold the write lock."""
    after_rollback(session, fn)
    after_commit(session, fn)


def _flag_integrity(actor: Principal | None, version_id: str, state: str) -> None:
    from backend.core.db import session_scope

    try:
        with session_scope() as own:
            row = own.get(ModelVersion, version_id)
            if row is None:
                return
            row.artifact_integrity, row.artifact_verified_at = state, utcnow()
            own.add(row)
            audit.record(session=own, actor=actor, actor_name=None if actor else "system",
                         action="model.artifact.integrity_failed", entity_type="model", entity_id=row.model_id,
                         outcome="failure", summary={"version": row.version, "integrity": state,
                                                     "expectedSha256": row.artifact_sha256})
    except Exception:
        log.exception("could not flag the artifact of %s", version_id)


def open_artifact(*, session: Session, actor: Principal, model_id: str, version: str) -> ArtifactFile:
    """The verified artifact file of a version, for download; MODEL_004 when it no longer matches its hash."""
    model = get_model(session=session, actor=actor, model_id=model_id)
    row = _live_version(session, model_id, version)
    if not row.artifact_id:
        raise AISystemError("MODEL_001", f"Version {version} has no artifact",
                            {"modelId": model_id, "version": version})
    verify_artifact(session=session, actor=actor, row=row)
    return ArtifactFile(path=artifacts.local_file(row.artifact_id), sha256=row.artifact_sha256,
                        size=row.artifact_size or 0, format=row.artifact_format,
                        download_name=artifacts.download_name(model.name, row.version, row.artifact_format))


# --- stages ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromotionContext:
    session: Session
    actor: Principal
    model: RegisteredModel
    version: ModelVersion
    stage: str
    action: str  # promote | rollback


PromotionHook = Callable[[PromotionContext], None]


def production_needs_artifact_and_metrics(ctx: PromotionContext) -> None:
    """Today's policy: a production version has a verified artifact and recorded metrics."""
    if ctx.stage != "production":
        return
    problems = []
    if not ctx.version.artifact_id:
        problems.append("it has no artifact")
    if not ctx.version.metrics:
        problems.append("it has no metrics")
    if problems:
        raise AISystemError("MODEL_004", f"Version {ctx.version.version} cannot go to production: "
                            + " and ".join(problems), {"version": ctx.version.version, "problems": problems})
    verify_artifact(session=ctx.session, actor=ctx.actor, row=ctx.version)


def _instant() -> datetime:
    """Now, cut to the millisecond the wire shows, so `?at=<a startedAt from the API>` finds that row."""
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _open_history(session: Session, version: ModelVersion, *, stage: str, from_stage: str | None, action: str,
                  actor: Principal, at: datetime, reason: str | None) -> StageHistory:
    row = new_row(StageHistory, id=new_id("stagehist"), model_id=version.model_id, version_id=version.id,
                  version=version.version, stage=stage, from_stage=from_stage, action=action, started_at=at,
                  moved_by=actor.user_id, moved_by_name=actor.username, reason=reason)
    append(session, row)
    return row


def _move(session: Session, version: ModelVersion, stage: str, *, action: str, actor: Principal, at: datetime,
          reason: str | None) -> None:
    """Close the version's open history row and open the next one at the same instant."""
    current = session.exec(
        select(StageHistory).where(StageHistory.version_id == version.id, col(StageHistory.ended_at).is_(None))
    ).first()
    if current is not None:
        current.ended_at = at
        session.add(current)
        session.flush()  # the partial unique index allows one open row per version
    previous = version.stage
    version.stage, version.stage_changed_at, version.updated_at = stage, at, at
    session.add(version)
    session.flush()
    _open_history(session, version, stage=stage, from_stage=previous, action=action, actor=actor, at=at,
                  reason=reason)


def _run_hooks(ctx: PromotionContext) -> None:
    """Every domain's "promotion" hooks (backend/domains.py): governance adds its policies there."""
    for hook in domains.hooks("promotion"):
        hook(ctx)


def _switch_production(session: Session, actor: Principal, model: RegisteredModel, target: ModelVersion,
                       *, action: str, reason: str | None) -> ModelVersion | None:
    now = _instant()
    replaced = _production_version(session, model.id)
    if replaced is not None and replaced.id != target.id:
        why = f"replaced by {target.version}" + (f": {reason}" if reason else "")
        _move(session, replaced, "archived", action="replaced" if action == "promote" else action, actor=actor,
              at=now, reason=why)
    _move(session, target, "production", action=action, actor=actor, at=now, reason=reason)
    return replaced if replaced is not None and replaced.id != target.id else None


def promote_version(*, session: Session, actor: Principal, model_id: str, version: str, stage: str,
                    reason: str | None = None,
                    expected_current_version: str | None = None) -> tuple[RegisteredModel, ModelVersion,
                                                                          ModelVersion | None]:
    """Move a version to a stage. To production: the previous production version is archived and the
    model's `version` follows. Returns (model, version, replaced production version or None).

    The model row is locked (PostgreSQL `FOR UPDATE`; SQLite write transactions are serialised), so
    concurrent moves apply one after the other and never leave two production versions. With
    `expected_current_version`, a move whose premise changed meanwhile is refused: exactly one of
    several racing promotions wins.
    """
    model = _live_model(session, model_id, for_update=True)
    authorize(actor, "model:promote", model)
    row = find_version(session=session, model_id=model_id, version=version)
    if row is None:
        raise not_found(model_id, version)
    current = _production_version(session, model.id)
    if expected_current_version is not None and (current.version if current else None) != expected_current_version:
        raise AISystemError(
            "MODEL_002", "The production version changed meanwhile; reload and try again",
            {"expectedCurrentVersion": expected_current_version,
             "currentVersion": current.version if current else None})
    if row.stage == stage:
        raise AISystemError("MODEL_002", f"Version {version} is in stage '{stage}' already",
                            {"version": version, "stage": stage})
    allowed = STAGE_TRANSITIONS[row.stage]
    if stage not in allowed:
        raise AISystemError("MODEL_002", f"A version in stage '{row.stage}' cannot move to '{stage}'; "
                            f"allowed: {', '.join(allowed)}",
                            {"version": version, "stage": row.stage, "requested": stage, "allowed": list(allowed)})
    _run_hooks(PromotionContext(session=session, actor=actor, model=model, version=row, stage=stage,
                                action="promote"))
    replaced = None
    if stage == "production":
        replaced = _switch_production(session, actor, model, row, action="promote", reason=reason)
    else:
        _move(session, row, stage, action="promote" if stage == "staging" else "demote", actor=actor,
              at=_instant(), reason=reason)
    model.stage_revision += 1
    model.updated_at = utcnow()
    _refresh_current_version(session, model)
    session.add(model)
    session.flush()
    audit.record(session=session, actor=actor, action="model.version.promote", entity_type="model",
                 entity_id=model.id, summary={"version": version, "stage": stage, "reason": reason,
                                              "replaced": replaced.version if replaced else None})
    if stage == "production":
        record_activity(session=session, model_id=model.id, user_id=actor.user_id, kind="deployment")
    return model, row, replaced


def rollback(*, session: Session, actor: Principal, model_id: str, reason: str | None = None,
             to_version: str | None = None) -> tuple[RegisteredModel, ModelVersion, ModelVersion | None]:
    """Put back the version that was in production before the current one (or `to_version`)."""
    model = _live_model(session, model_id, for_update=True)
    authorize(actor, "model:promote", model)
    current = _production_version(session, model.id)
    if to_version is not None:
        target = find_version(session=session, model_id=model_id, version=to_version)
        if target is None:
            raise not_found(model_id, to_version)
    else:
        query = (select(StageHistory).where(StageHistory.model_id == model.id, StageHistory.stage == "production",
                                            col(StageHistory.ended_at).is_not(None))
                 .order_by(col(StageHistory.ended_at).desc(), col(StageHistory.id).desc()))
        if current is not None:
            query = query.where(StageHistory.version_id != current.id)
        previous = session.exec(query.limit(1)).first()
        if previous is None:
            raise AISystemError("MODEL_002", "No earlier production version to roll back to",
                                {"currentVersion": current.version if current else None})
        target = session.get(ModelVersion, previous.version_id)
    if current is not None and target.id == current.id:
        raise AISystemError("MODEL_002", f"Version {target.version} is in production already",
                            {"version": target.version})
    _run_hooks(PromotionContext(session=session, actor=actor, model=model, version=target, stage="production",
                                action="rollback"))
    replaced = _switch_production(session, actor, model, target, action="rollback", reason=reason)
    model.stage_revision += 1
    model.updated_at = utcnow()
    _refresh_current_version(session, model)
    session.add(model)
    session.flush()
    audit.record(session=session, actor=actor, action="model.rollback", entity_type="model", entity_id=model.id,
                 summary={"to": target.version, "from": replaced.version if replaced else None, "reason": reason})
    record_activity(session=session, model_id=model.id, user_id=actor.user_id, kind="deployment")
    return model, target, replaced


def list_stage_history(*, session: Session, actor: Principal, model_id: str, params: PageParams,
                       at: datetime | None = None, stage: str | None = None,
                       version: str | None = None) -> tuple[list[StageHistory], str | None]:
    """Stage history, newest first. With `at`: the rows that held their stage at that instant
    (so `at=T&stage=production` answers "which version was in production at T")."""
    get_model(session=session, actor=actor, model_id=model_id)
    query = select(StageHistory).where(StageHistory.model_id == model_id)
    if stage:
        query = query.where(StageHistory.stage == stage)
    if version:
        query = query.where(StageHistory.version == version)
    if at is not None:
        at = to_utc(at)
        query = query.where(StageHistory.started_at <= at,
                            (col(StageHistory.ended_at).is_(None)) | (col(StageHistory.ended_at) > at))
    return paginate(session, query, params=params, order=[StageHistory.started_at, StageHistory.id],
                    descending=True, parse=[datetime.fromisoformat, str])


# --- metrics --------------------------------------------------------------------------------------


def model_metrics(*, session: Session, actor: Principal, model_id: str, limit: int = 500) -> MetricsRead:
    """Metrics of every version (semantic order) and, per metric, its series across versions."""
    model = get_model(session=session, actor=actor, model_id=model_id)
    rows = session.exec(
        select(ModelVersion).where(ModelVersion.model_id == model_id)
        .order_by(col(ModelVersion.major), col(ModelVersion.minor), col(ModelVersion.patch)).limit(limit)
    ).all()
    series: dict[str, list[SeriesPoint]] = {}
    for row in rows:
        for name, value in (row.metrics or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                series.setdefault(name, []).append(SeriesPoint(version=row.version, value=float(value),
                                                               created_at=row.created_at))
    return MetricsRead(
        model_id=model.id, performance=Performance.model_validate(model.performance or {}),
        versions=[VersionMetrics(version=r.version, stage=r.stage, created_at=r.created_at,
                                 metrics=r.metrics or {}) for r in rows],
        series=dict(sorted(series.items())),
    )


# --- lineage --------------------------------------------------------------------------------------


def _source_lineage(session: Session, actor: Principal, source: VersionSource) -> list[lineage.Ref]:
    """The entities a version's declared source names, each checked to exist (and, for datasets, to be
    visible to the actor); REQ_001 naming the field otherwise, so lineage joins only real things."""
    refs = [_dataset_ref(session, actor, f"source.datasets.{i}", ds) for i, ds in enumerate(source.datasets)]
    if source.parent:
        parent = find_version(session=session, model_id=source.parent.model_id, version=source.parent.version)
        parent_model = find_model(session=session, model_id=source.parent.model_id)
        if parent is None or parent_model is None:
            raise InvalidRequest("The parent version does not exist",
                                 {"source.parent": f"{source.parent.model_id} {source.parent.version} not found"})
        refs.append(lineage.model_version_ref(parent.model_id, parent.version, f"{parent_model.name} {parent.version}"))
    if source.training_job_id:
        try:
            job = jobs_service.get_job(session=session, actor=actor, job_id=source.training_job_id)
        except AISystemError as exc:
            raise InvalidRequest("The training job does not exist",
                                 {"source.trainingJobId": f"{source.training_job_id} not found"}) from exc
        refs.append(lineage.Ref("job", job.id, f"Job {job.type}"))
    if source.experiment_run_id:
        # Runs are recorded by the training domain when they start.
        if lineage.find_entity(session=session, kind="run", ref=source.experiment_run_id) is None:
            raise InvalidRequest("The experiment run does not exist",
                                 {"source.experimentRunId": f"{source.experiment_run_id} not found"})
        refs.append(lineage.Ref("run", source.experiment_run_id))
    return refs


DATASET_VERSION_RE = re.compile(r"^[1-9][0-9]{0,8}$")


def _dataset_ref(session: Session, actor: Principal, field: str, ds: DatasetRef) -> lineage.Ref:
    named = f"{ds.id}@{ds.version}" if ds.version else ds.id
    if ds.version is not None and not DATASET_VERSION_RE.match(ds.version):
        raise InvalidRequest("Dataset versions are numbered 1, 2, 3...", {field: f"{named}: not a version number"})
    try:
        if ds.version is None:
            dataset = datasets_service.get_dataset(session=session, actor=actor, dataset_id=ds.id)
            return lineage.Ref("dataset", dataset.id, dataset.name)
        dataset, version = datasets_service.get_version(session=session, actor=actor, dataset_id=ds.id,
                                                        version=int(ds.version))
    except AISystemError as exc:
        if exc.code != "DATA_001":
            raise
        raise InvalidRequest("The dataset does not exist", {field: f"{named} not found"}) from exc
    return lineage.dataset_version_ref(dataset.id, version.number, f"{dataset.name} v{version.number}")


def _model_lineage(session: Session, actor: Principal, model: RegisteredModel, *, registered: bool) -> None:
    """The model as a lineage entity (renamed with it), the registration that made it, and a derivation
    from the dataset its document names when that exists and the actor may see it (the field is free text)."""
    ref = lineage.Ref("model", model.id, model.name, new=registered)
    if registered:
        lineage.record_activity(session=session, actor=actor, kind="register", key=model.id, generated=[ref],
                                label=f"Registration of {model.name}", started_at=model.created_at, key_is_new=True)
    else:
        lineage.record_entity(session=session, kind="model", ref=model.id, label=model.name)
    named = (model.training or {}).get("dataset")
    dataset = datasets_service.find_dataset(session=session, actor=actor, dataset_id=named) if named else None
    if dataset is not None:
        lineage.derive(session=session, entity=ref, sources=[lineage.Ref("dataset", dataset.id, dataset.name)])


def _count_new_endpoints(session: Session, actor: Principal, model: RegisteredModel, previous: set[str]) -> None:
    for endpoint in (model.deployment or {}).get("endpoints", []):
        if endpoint not in previous:
            record_activity(session=session, model_id=model.id, user_id=actor.user_id, kind="deployment")


def lineage_graph(*, session: Session, actor: Principal, model_id: str, depth: int = 3) -> LineageGraph:
    """The model's lineage (see backend.lineage): its versions, what they came from and what uses them."""
    model = _live_model(session, model_id)
    authorize(actor, "model:read", model)
    return lineage.entity_graph(session=session, actor=actor, entity_id=f"model:{model.id}", depth=depth)


# --- activity -------------------------------------------------------------------------------------


def record_activity(*, session: Session, model_id: str, user_id: str | None, kind: str, count: int = 1,
                    at: datetime | None = None) -> ModelActivity:
    """Record an activity event (views, downloads, versions, deployments, predictions...) for trending and
    recommendations. Other domains call it too (e.g. the endpoints service for predictions, with `count`)."""
    if kind not in ACTIVITY_KINDS:
        raise InvalidRequest("Unknown activity kind", {"kind": f"use one of {', '.join(ACTIVITY_KINDS)}"})
    when = to_utc(at) if at else utcnow()
    row = new_row(ModelActivity, model_id=model_id, user_id=user_id, kind=kind, count=max(1, int(count)),
                  occurred_at=when, hour_bucket=int(when.timestamp() // 3600))
    append(session, row)
    return row


def record_activity_now(*, model_id: str, user_id: str | None, kind: str, throttle_seconds: int = 0) -> None:
    """Record an event in its own short transaction (after a read request's response); never raises.
    With `throttle_seconds`, a repeat by the same user within that time is not counted again."""
    from backend.core.db import session_scope

    throttled = bool(throttle_seconds and user_id)
    try:
        if throttled:
            # Most views are repeats: find that out on a read session, without queueing every view
            # of every server worker for SQLite's write lock.
            with session_scope(write=False) as session:
                if _done_recently(session, model_id, user_id, kind, throttle_seconds):
                    return
        with session_scope() as session:
            if throttled and _done_recently(session, model_id, user_id, kind, throttle_seconds):
                return  # recorded by a concurrent request meanwhile
            record_activity(session=session, model_id=model_id, user_id=user_id, kind=kind)
    except Exception:
        log.warning("could not record %s activity on %s", kind, model_id, exc_info=True)


def _done_recently(session: Session, model_id: str, user_id: str, kind: str, seconds: int) -> bool:
    since = utcnow() - timedelta(seconds=seconds)
    return session.exec(select(func.count()).select_from(ModelActivity).where(
        ModelActivity.user_id == user_id, ModelActivity.model_id == model_id,
        ModelActivity.kind == kind, ModelActivity.occurred_at >= since)).one() > 0


# --- embeddings -----------------------------------------------------------------------------------


# Models per embedding job (its payload allows 1,000). Every model that joins a queued job rewrites the
# job's list of ids inside the write turn: with 500 a registration's turn grew from 2.8 to 4.3 ms as the
# list filled; with 50 it stays flat, and 50 registrations still make one job and one broker message.
EMBED_BATCH = 50


@lru_cache(maxsize=1)
def _waiting_embedding_job():  # noqa: ANN202  (built once: every registration asks it)
    from backend.catalog.model_registry.tasks import EMBED_JOB

    return (select(Job).where(Job.type == EMBED_JOB, Job.status == "queued", Job.created_by == bindparam("user"),
                              col(Job.cancel_requested).is_(False))
            .order_by(col(Job.created_at).desc()).limit(1).with_for_update().execution_options(populate_existing=True))


def schedule_embeddings(*, session: Session, actor: Principal, model_ids: list[str]) -> None:
    """Queue the background job that (re)computes the models' sentence embeddings after the commit.

    Models join the actor's embedding job that no worker has taken yet, while it has room: registering
    many models makes one job, not one job, one audit record and one broker message each. That job's
    row is locked, so a worker cannot claim it between this read and the commit (on SQLite the write
    lock does the same)."""
    from backend.catalog.model_registry.tasks import EMBED_JOB  # (importing registers the job type)

    ids = list(dict.fromkeys(model_ids))
    if not ids:
        return
    waiting = session.exec(_waiting_embedding_job(), params={"user": actor.user_id}).first()
    if waiting is not None:
        authorize(actor, "job:write", waiting)
        queued = list((waiting.payload or {}).get("modelIds") or [])
        known = set(queued)
        joining = [i for i in ids if i not in known][:max(0, EMBED_BATCH - len(queued))]
        if joining:
            waiting.payload = {**waiting.payload, "modelIds": queued + joining}
            waiting.updated_at = utcnow()
            session.add(waiting)
        known.update(joining)
        ids = [i for i in ids if i not in known]
    for start in range(0, len(ids), EMBED_BATCH):
        jobs_service.create_job(session=session, actor=actor, type=EMBED_JOB,
                                payload={"modelIds": ids[start:start + EMBED_BATCH]})


def count_models(session: Session) -> int:
    """Live models (the platform dashboard's counter)."""
    return session.exec(select(func.count()).select_from(RegisteredModel)
                        .where(col(RegisteredModel.deleted_at).is_(None))).one()
