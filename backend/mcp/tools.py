"""What each MCP tool does, as plain functions over the existing services.

Each takes the session and the acting principal first (keyword-only, as every service does) and returns
a JSON-ready document built with the REST API's own wire schemas, so an assistant reads exactly what
`/api/v1` answers. They query no table themselves: the services they call authorize the principal
(`model:read`, `dataset:read`, `experiment:read`, `marketplace:read`, `endpoint:invoke`) and raise the
platform's `AISystemError`s, which `backend.mcp.server` turns into tool errors carrying the code.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from backend.auth.principal import Principal
from backend.catalog.datasets import service as datasets_service
from backend.catalog.datasets.schemas import DatasetRead
from backend.catalog.experiments import service as experiments_service
from backend.catalog.experiments.schemas import ExperimentRead, MetricHistory, RunRead
from backend.catalog.model_registry import search as model_search
from backend.catalog.model_registry import service as models_service
from backend.catalog.model_registry.schemas import ModelRead, SearchPage
from backend.core.pagination import PageParams
from backend.endpoints import service as endpoints_service
from backend.marketplace import service as marketplace_service

MAX_VERSIONS = 50
MAX_RUNS = 50
HISTORY_POINTS = 50


def wire(document: BaseModel) -> dict[str, Any]:
    """A wire schema as the REST API writes it: camelCase keys, ISO-8601 `Z` times, JSON types only."""
    return document.model_dump(mode="json", by_alias=True)


def search_models(*, session: Session, actor: Principal, query: str, mode: str = "keyword",
                  limit: int = 10) -> dict[str, Any]:
    """The registry's ranked search (`GET /catalog/models/search`): keyword, semantic or hybrid."""
    document = model_search.search_document(session=session, actor=actor, q=query, mode=mode, limit=limit)
    return wire(SearchPage.model_validate(document))


def get_model(*, session: Session, actor: Principal, model_id: str, versions: int = 20) -> dict[str, Any]:
    """The model card (`GET /catalog/models/{id}`) and its newest versions with their stages and metrics."""
    model = models_service.get_model(session=session, actor=actor, model_id=model_id)
    card = wire(ModelRead.model_validate(models_service.model_document(model)))
    rows, cursor = models_service.list_versions(session=session, actor=actor, model_id=model.id,
                                                params=PageParams(limit=max(1, min(versions, MAX_VERSIONS))),
                                                descending=True)
    card["versions"] = [wire(models_service.read_version(session=session, version=row)) for row in rows]
    card["moreVersions"] = cursor is not None
    return card


def search_datasets(*, session: Session, actor: Principal, query: str | None = None, type: str | None = None,  # noqa: A002
                    limit: int = 10) -> dict[str, Any]:
    """Datasets the caller may see whose name contains `query` (`GET /catalog/datasets?q=`), newest first."""
    rows, cursor = datasets_service.list_datasets(session=session, actor=actor, params=PageParams(limit=limit),
                                                  q=query or None, type=type)
    items = [wire(DatasetRead.model_validate(datasets_service.dataset_document(session=session, actor=actor,
                                                                               dataset=row)))
             for row in rows]
    return {"items": items, "moreResults": cursor is not None}


def get_dataset(*, session: Session, actor: Principal, dataset_id: str) -> dict[str, Any]:
    """The dataset card (`GET /catalog/datasets/{id}`): schema, statistics, quality, splits, privacy."""
    dataset = datasets_service.get_dataset(session=session, actor=actor, dataset_id=dataset_id)
    return wire(DatasetRead.model_validate(datasets_service.dataset_document(session=session, actor=actor,
                                                                            dataset=dataset, compute=True)))


def list_experiments(*, session: Session, actor: Principal, query: str | None = None, model_id: str | None = None,
                     dataset_id: str | None = None, status: str | None = None, limit: int = 10) -> dict[str, Any]:
    """Experiments (`GET /catalog/experiments`), newest first, filtered."""
    rows, cursor = experiments_service.list_experiments(
        session=session, actor=actor, params=PageParams(limit=limit), q=query or None, model_id=model_id,
        dataset_id=dataset_id, status=status)
    documents = experiments_service.experiment_documents(session=session, experiments=rows)
    return {"items": [wire(ExperimentRead.model_validate(d)) for d in documents], "moreResults": cursor is not None}


def get_experiment_metrics(*, session: Session, actor: Principal, experiment_id: str, metric: str | None = None,
                           limit: int = 20, history: bool = False) -> dict[str, Any]:
    """One experiment with its best run, and its runs with their params and latest metrics, best first by
    `metric` (default: the experiment's objective; without one, the newest runs first). With `history`,
    each run's curve of `metric`, downsampled to 50 points."""
    experiment = experiments_service.get_experiment(session=session, actor=actor, experiment_id=experiment_id)
    objective = experiments_service.objective_of(experiment.objective)
    key = metric or (objective[0] if objective else None)
    if key is None:
        sort = "-startTime"
    else:
        goal = objective[1] if objective and objective[0] == key else experiments_service.default_goal(key)
        sort = f"{'-' if goal == 'max' else ''}metrics.`{key}`"
    runs, cursor = experiments_service.list_runs(session=session, actor=actor, experiment_id=experiment.id,
                                                 params=PageParams(limit=max(1, min(limit, MAX_RUNS))), sort=sort)
    documents = [wire(RunRead.model_validate(d))
                 for d in experiments_service.run_documents(session=session, runs=runs)]
    if history and key is not None:
        for document in documents:
            answer = experiments_service.run_metrics(session=session, actor=actor, run_id=document["id"], keys=[key],
                                                     max_points=HISTORY_POINTS)
            document["history"] = wire(answer.histories[0] if answer.histories else
                                       MetricHistory(key=key, points=[], total_points=0, downsampled=False))
    return {
        "experiment": wire(ExperimentRead.model_validate(
            experiments_service.experiment_document(session=session, experiment=experiment))),
        "rankedBy": key,
        "runs": documents,
        "moreRuns": cursor is not None,
    }


def search_marketplace(*, session: Session, actor: Principal, query: str | None = None, category: str | None = None,
                       sort: str = "relevance", limit: int = 10) -> dict[str, Any]:
    """Marketplace listings (`GET /marketplace/search`): by keyword and meaning, without facet counts."""
    filters = marketplace_service.SearchFilters(q=query or None, categories=(category,) if category else (),
                                                sort=sort)
    result = marketplace_service.search(session=session, actor=actor, filters=filters,
                                        params=PageParams(limit=limit), with_facets=False)
    document = wire(result)
    document.pop("facets", None)
    document["moreResults"] = document.pop("nextCursor", None) is not None
    return document


def compare_models(*, session: Session, actor: Principal, models: list[str], profile: str = "balanced",
                   metrics: list[str] | None = None) -> dict[str, Any]:
    """Score and rank 2-10 models under a weighting (`POST /comparison/compare`); the comparison is stored
    like one made on the page, so its id opens it later."""
    from backend.comparison import service as comparison_service
    from backend.comparison.schemas import CompareRequest

    request = CompareRequest.model_validate({"models": models, "profile": profile, "metrics": metrics,
                                             "title": "Compared by an assistant (MCP)"})
    return wire(comparison_service.compare(session=session, actor=actor, data=request))


def predict(*, session: Session, actor: Principal, endpoint_id: str,
            instances: list[dict[str, Any]]) -> dict[str, Any]:
    """Predictions of a deployed endpoint (`POST /catalog/endpoints/{id}/predict`), logged and rate-limited
    like every prediction."""
    answer = endpoints_service.predict(session=session, actor=actor, endpoint_id=endpoint_id, instances=instances)
    return {"predictions": answer["predictions"], "modelId": answer["model_id"], "version": answer["version"],
            "role": answer["role"], "latencyMs": answer["latency_ms"]}
