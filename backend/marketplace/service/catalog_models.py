"""Company models: what the model registry says about a listing's source model (`sourceModelId`), and
the listing fields a catalog model fills in when its publisher leaves them out.

The registry is called through its service, with its signatures:

- `registry_service.get_model(*, session, actor, model_id) -> RegisteredModel`; MODEL_001 when the model
  does not exist, AUTH_002 when the actor may not read models;
- `registry_service.list_versions(*, session, actor, model_id, params, descending=False)
  -> (versions, cursor)`;
- `registry_service.list_models(*, session, actor, params, ...) -> (rows, cursor)`, rows of the
  `RegisteredModel` columns (the demo seed publishes a few of them).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_
from sqlmodel import Session, select

from backend.auth.principal import Principal
from backend.catalog.model_registry import service as registry_service
from backend.catalog.model_registry.models import RegisteredModel
from backend.core.errors import AISystemError, InvalidRequest
from backend.core.pagination import PageParams
from backend.marketplace import schemas as s
from backend.marketplace.models import Category
from backend.marketplace.seed_data import CATEGORY_SYNONYMS

TAG = re.compile(r"[a-z0-9][a-z0-9+.\-]{0,48}")
SHOWN_VERSIONS = 20


def category_for_model(session: Session, model: RegisteredModel) -> Category | None:
    """The marketplace category of a catalog model (or a row of its columns): its category or type, by
    name, slug or synonym."""
    for value in (model.category, model.type):
        if not value:
            continue
        key = value.strip().lower()
        row = session.exec(select(Category).where(or_(
            Category.slug == CATEGORY_SYNONYMS.get(key, key), func.lower(Category.name) == key))).first()
        if row is not None:
            return row
    return None


def lookup_source_model(*, session: Session, actor: Principal, model_id: str) -> s.SourceModel:
    """What the catalog says about a listing's source model now; `available=False` when the model is gone
    or the actor may not read it."""
    try:
        model = registry_service.get_model(session=session, actor=actor, model_id=model_id)
        versions, _cursor = registry_service.list_versions(
            session=session, actor=actor, model_id=model_id, params=PageParams(limit=SHOWN_VERSIONS), descending=True)
    except AISystemError:
        return s.SourceModel(id=model_id, available=False)
    metrics = model.performance or {}
    return s.SourceModel(
        id=model_id, available=True, name=model.name, version=model.version, versions=[v.version for v in versions],
        metrics={k: v for k, v in metrics.items() if isinstance(v, int | float | str | dict)},
        endpoints=[str(e) for e in (model.deployment or {}).get("endpoints") or []],
    )


def _specifications(model: RegisteredModel) -> s.SpecificationsInput:
    accuracy = model.accuracy if model.accuracy is not None and 0 <= model.accuracy <= 1 else None
    try:
        return s.SpecificationsInput(parameters=model.parameters, context_length=model.context_length,
                                     accuracy=accuracy)
    except ValidationError:  # the catalog's figures are out of the marketplace's ranges: leave them out
        return s.SpecificationsInput()


def catalog_defaults(*, session: Session, model: RegisteredModel, data: s.ListingCreate) -> s.ListingCreate:
    """`data` with what the publisher left out taken from the catalog model (name, version, description,
    category, tags, features from its capabilities, specifications, licence) and the company defaults
    (free internal pricing, internal visibility)."""
    updates: dict[str, Any] = {}
    if data.name is None:
        updates["name"] = model.name[:120]
    if data.version is None and model.version:
        updates["version"] = model.version[:40]
    if data.description is None and model.description:
        updates["description"] = model.description[:5000]
    if data.category is None:
        category = category_for_model(session, model)
        if category is None:
            raise InvalidRequest("The catalog model's category is not a marketplace category",
                                 {"category": "required for this model (a marketplace category slug)"})
        updates["category"] = category.slug
    if data.tags is None:
        updates["tags"] = [t for t in (tag.lower() for tag in model.tags or []) if TAG.fullmatch(t)][:20]
    if data.features is None and model.capabilities:
        # What the model does, in words ("sentiment_analysis" → "Sentiment analysis"): shown and searched.
        updates["features"] = [c.replace("_", " ").strip().capitalize()[:200] for c in model.capabilities
                               if c.strip("_ ")][:30]
    if data.specifications is None:
        updates["specifications"] = _specifications(model)
    if data.licenses is None:
        updates["licenses"] = [s.LicenseInput(
            type=(model.license or "Company internal")[:80], commercial_use=True, modification_allowed=True,
            restrictions=["For use inside the company"])]
    if data.pricing is None:
        updates["pricing"] = s.PricingInput(model="free", tiers=[s.PricingTierInput(
            name="Internal", price=0, requests=s.UNLIMITED, features=["Served by the platform"])])
    if data.visibility is None:
        updates["visibility"] = "internal"
    merged = data.model_copy(update=updates)
    object.__setattr__(merged, "__pydantic_fields_set__", data.model_fields_set | set(updates))
    return merged
