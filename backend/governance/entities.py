"""The entities policies govern, as the documents their rules see (`entity` in CEL).

Each document is the entity's wire document (what the REST API returns), with a few facts added where a
rule needs them and the wire document does not carry them: `owner` (the creating user's department,
project and cost centre), a version's `model` and `trainingData` (the privacy of the datasets it was
trained on), an endpoint's `model`, `modelVersion` and `modelKeys` (active model keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.auth.models import ApiKey, User
from backend.auth.principal import SYSTEM
from backend.core.errors import AISystemError
from backend.core.timeutil import isoformat_z


def plain(value: Any) -> Any:
    """`value` as JSON-like data CEL reads: datetimes as ISO `Z` strings, models dumped camelCase."""
    if isinstance(value, BaseModel):
        return plain(value.model_dump(by_alias=True, mode="json"))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return isoformat_z(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _owner(session: Session, user_id: str | None) -> dict[str, Any]:
    user = session.get(User, user_id) if user_id else None
    if user is None:
        return {"userId": user_id, "username": None, "department": None, "project": None, "costCenter": None}
    return {"userId": user.id, "username": user.username, "department": user.department, "project": user.project,
            "costCenter": user.cost_center}


# --- documents --------------------------------------------------------------------------------------------------


def model_doc(session: Session, model: Any) -> dict[str, Any]:
    from backend.catalog.model_registry import service as registry

    return plain({**registry.model_document(model), "owner": _owner(session, model.created_by)})


def _training_data(session: Session, version: Any) -> list[dict[str, Any]]:
    from backend.catalog.datasets.models import Dataset, DatasetVersion

    refs = [(d.get("id"), d.get("version")) for d in (version.source or {}).get("datasets", []) if d.get("id")]
    out = []
    for dataset_id, number in refs:
        dataset = session.get(Dataset, dataset_id)
        row = None
        if dataset is not None:
            wanted = int(number) if str(number or "").isdigit() else dataset.current_version
            row = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id,
                                                            DatasetVersion.number == wanted)).first()
        out.append({"id": dataset_id, "name": dataset.name if dataset else None,
                    "containsPII": row.contains_pii if row else None, "anonymized": bool(row and row.anonymized)})
    return out


def version_doc(session: Session, version: Any) -> dict[str, Any]:
    from backend.catalog.model_registry import service as registry
    from backend.catalog.model_registry.models import RegisteredModel

    model = session.get(RegisteredModel, version.model_id)
    doc = plain(registry.read_version(session=session, version=version))
    doc["model"] = model_doc(session, model) if model is not None else None
    doc["trainingData"] = _training_data(session, version)
    return doc


def dataset_doc(session: Session, dataset: Any) -> dict[str, Any]:
    from backend.catalog.datasets import service as datasets

    doc = plain(datasets.dataset_document(session=session, actor=SYSTEM, dataset=dataset))
    doc["owner"] = _owner(session, dataset.created_by)
    return doc


def endpoint_doc(session: Session, endpoint: Any, *, model_id: str | None = None,
                 version: str | None = None) -> dict[str, Any]:
    """An endpoint's document; `model_id`/`version` describe the version it is about to serve (deploy)."""
    from backend.catalog.model_registry import service as registry
    from backend.endpoints.schemas import EndpointRead

    doc = plain(EndpointRead.model_validate(endpoint))
    model_id, version = model_id or endpoint.model_id, version or endpoint.version
    if model_id:
        doc["modelId"], doc["version"] = model_id, version
    model = registry.find_model(session=session, model_id=model_id) if model_id else None
    row = registry.find_version(session=session, model_id=model_id, version=version) if model_id and version else None
    doc["model"] = model_doc(session, model) if model is not None else None
    doc["modelVersion"] = version_doc(session, row) if row is not None else None
    doc["modelKeys"] = int(session.exec(select(func.count()).select_from(ApiKey).where(
        ApiKey.kind == "model", ApiKey.endpoint_id == endpoint.id, col(ApiKey.revoked_at).is_(None))).one())
    doc["owner"] = _owner(session, endpoint.created_by)
    return doc


def listing_doc(session: Session, listing: Any) -> dict[str, Any]:
    from backend.marketplace.service.search import get_listing

    return plain(get_listing(session=session, actor=SYSTEM, listing_id=listing.id, with_source=False))


# --- the types ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntityType:
    name: str
    label: str
    fields: Callable[[], set[str]]  # top-level keys of its document
    get: Callable[[Session, str], Any]  # row by id, or None
    document: Callable[[Session, Any], dict[str, Any]]
    rows: Callable[[Session, int], list[Any]]  # existing entities (for `enforce`), at most n
    name_of: Callable[[Any], str]


def _aliases(model: type[BaseModel]) -> set[str]:
    return {f.alias or n for n, f in model.model_fields.items()}


def _model_fields() -> set[str]:
    from backend.catalog.model_registry.schemas import ModelRead

    return _aliases(ModelRead) | {"owner"}


def _version_fields() -> set[str]:
    from backend.catalog.model_registry.schemas import VersionRead

    return _aliases(VersionRead) | {"model", "trainingData"}


def _dataset_fields() -> set[str]:
    from backend.catalog.datasets.schemas import DatasetRead

    return _aliases(DatasetRead) | {"owner"}


def _endpoint_fields() -> set[str]:
    from backend.endpoints.schemas import EndpointRead

    return _aliases(EndpointRead) | {"model", "modelVersion", "modelKeys", "owner"}


def _listing_fields() -> set[str]:
    from backend.marketplace.schemas import ListingCreate, MarketplaceModel

    return _aliases(MarketplaceModel) | _aliases(ListingCreate)


def _get_model(session: Session, entity_id: str) -> Any:
    from backend.catalog.model_registry import service as registry

    return registry.find_model(session=session, model_id=entity_id)


def _get_version(session: Session, entity_id: str) -> Any:
    """A version by its row id (`modelver_…`), or as `<modelId>@<version>`."""
    from backend.catalog.model_registry import service as registry
    from backend.catalog.model_registry.models import ModelVersion

    if "@" in entity_id:
        model_id, _, version = entity_id.partition("@")
        return registry.find_version(session=session, model_id=model_id, version=version)
    return session.get(ModelVersion, entity_id)


def _get_dataset(session: Session, entity_id: str) -> Any:
    from backend.catalog.datasets.models import Dataset

    row = session.get(Dataset, entity_id)
    return row if row is not None and getattr(row, "deleted_at", None) is None else None


def _get_endpoint(session: Session, entity_id: str) -> Any:
    from backend.endpoints.models import Endpoint

    return session.get(Endpoint, entity_id)


def _get_listing(session: Session, entity_id: str) -> Any:
    from backend.marketplace.models import Listing

    row = session.get(Listing, entity_id)
    return row if row is not None and row.removed_at is None else None


def _rows(table: Any, *filters: Any) -> Callable[[Session, int], list[Any]]:
    def rows(session: Session, limit: int) -> list[Any]:
        return list(session.exec(select(table).where(*filters).order_by(col(table.id)).limit(limit)).all())

    return rows


def _types() -> Iterator[EntityType]:
    from backend.catalog.datasets.models import Dataset
    from backend.catalog.model_registry.models import ModelVersion, RegisteredModel
    from backend.endpoints.models import Endpoint
    from backend.marketplace.models import Listing

    yield EntityType("model", "Model", _model_fields, _get_model, model_doc,
                     _rows(RegisteredModel, col(RegisteredModel.deleted_at).is_(None)), lambda m: m.name)
    yield EntityType("model_version", "Model version", _version_fields, _get_version, version_doc,
                     _rows(ModelVersion),
                     lambda v: f"{v.model_id} {v.version}")
    yield EntityType("dataset", "Dataset", _dataset_fields, _get_dataset, dataset_doc,
                     _rows(Dataset, col(Dataset.deleted_at).is_(None)), lambda d: d.name)
    yield EntityType("endpoint", "Endpoint", _endpoint_fields, _get_endpoint, endpoint_doc, _rows(Endpoint),
                     lambda e: e.name)
    yield EntityType("marketplace_listing", "Marketplace listing", _listing_fields, _get_listing, listing_doc,
                     _rows(Listing, col(Listing.removed_at).is_(None)), lambda listing: listing.name)


ENTITY_TYPE_NAMES = ("model", "model_version", "dataset", "endpoint", "marketplace_listing")
_CACHE: dict[str, EntityType] = {}


def entity_type(name: str) -> EntityType:
    if not _CACHE:
        _CACHE.update({t.name: t for t in _types()})
    return _CACHE[name]


def fields_of(names: list[str]) -> set[str]:
    """The top-level attributes `entity` has for any of these types."""
    return set().union(*(entity_type(n).fields() for n in names)) if names else set()


def load(session: Session, type_name: str, entity_id: str) -> Any:
    row = entity_type(type_name).get(session, entity_id)
    if row is None:
        raise AISystemError("REQ_001", f"No {entity_type(type_name).label.lower()} {entity_id}",
                            {"fields": [{"field": "entityId", "message": "no such entity"}]})
    return row


def describe(session: Session, type_name: str, entity: Any,
             details: dict[str, Any] | None = None) -> tuple[str, str, dict[str, Any]]:
    """(id, display name, document) of an entity given as a row, its id, or a wire document. For a deployment
    (`details` with modelId and version), an endpoint's document describes the version about to be served."""
    if isinstance(entity, str):
        entity = load(session, type_name, entity)
    if type_name == "endpoint" and details and details.get("modelId") and not isinstance(entity, dict):
        return str(entity.id), entity.name, endpoint_doc(session, entity, model_id=details["modelId"],
                                                         version=details.get("version"))
    if isinstance(entity, dict):
        doc = plain(entity)
        return str(doc.get("id") or doc.get("sourceModelId") or doc.get("name") or "new"), \
            str(doc.get("name") or doc.get("id") or "new"), doc
    kind = entity_type(type_name)
    doc = kind.document(session, entity)
    name = kind.name_of(entity)
    if type_name == "model_version" and doc.get("model"):
        name = f"{doc['model']['name']} {entity.version}"
    return str(entity.id), name, doc
