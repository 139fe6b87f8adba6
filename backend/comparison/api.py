"""REST routes of comparison, scoring and analysis (thin: the service does the work).

/comparison/*, /scoring/*, /analysis/* and the catalog aliases /catalog/models/compare[/{id}]. The
aliases share the catalog's prefix: they are two segments deep (`compare/{id}`) or POST-only, so the model
registry's `/catalog/models/{modelId}` routes never shadow them (tests/backend/comparison/test_api.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.comparison import schemas as s
from backend.comparison import service
from backend.core.http import COMMON_ERRORS, error_responses, get_read_session, get_session

router = APIRouter(responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
ComparisonId = Annotated[str, Path(max_length=64, description="The comparison id (`comparison_…`)")]
COMPARE_ERRORS = error_responses(404, 422)
COMPARE_DOC = (
    "Compares 2–10 catalog models (`model_…`: its production version, else its newest), specific versions "
    "(`modelver_…` or `{modelId, version}`) and marketplace listings (`market_model_…` or slug), mixed freely. "
    "Weighting: a `profile` (balanced, cheapest_good_enough, best_quality; default balanced) or explicit "
    "`weights` (≥ 0, normalised to sum to 1). Each metric's raw value is scored 0–100 (min-max across the set "
    "or against a fixed reference); a missing value is left out of that model's overall score and reported in "
    "`missing`, never counted as zero. Ranks: equal at one decimal share a rank (1, 1, 3). `sensitivity` gives, "
    "per metric, the weight at which the winner changes and to whom (exact); `paretoFront` the models no other "
    "beats on every metric. Errors: COMPARE_002 (count, duplicates, negative or all-zero weights), COMPARE_003 "
    "(unknown metric key), COMPARE_004 (unknown model, version or listing ids, all named).")


@router.get("/comparison/metrics", response_model=s.MetricCatalogue, tags=["comparison"],
            summary="List comparison metrics and weighting profiles")
def list_metrics(session: SessionDep, principal: Principal = require("comparison:read")) -> s.MetricCatalogue:
    """The six built-in metrics (performance, cost efficiency, context size, capabilities, deployment
    flexibility, reliability) and the user-defined ones: source paths, direction, normalisation, unit."""
    return service.list_metrics(session=session, actor=principal)


@router.post("/comparison/metrics", response_model=s.MetricRead, status_code=201, tags=["comparison"],
             summary="Define a comparison metric", responses=error_responses(409))
def define_metric(body: s.MetricCreate, session: SessionDep,
                  principal: Principal = require("comparison:write")) -> s.MetricRead:
    """A metric read from field paths (`model.performance.latency.p95`, `version.metrics.f1Score`,
    `listing.specifications.accuracy`, `benchmark.latency_p95_ms`, `monitoring.errorRate`...), first present
    wins. COMPARE_005 when the key exists (built-in keys are reserved)."""
    metric = service.define_metric(session=session, actor=principal, data=body)
    session.commit()
    return metric


def _compare(body: s.CompareRequest, session: Session, principal: Principal) -> s.ComparisonResult:
    result = service.compare(session=session, actor=principal, data=body)
    session.commit()
    return result


@router.post("/comparison/compare", response_model=s.ComparisonResult, status_code=201, tags=["comparison"],
             summary="Compare models on weighted metrics", description=COMPARE_DOC, responses=COMPARE_ERRORS)
def compare(body: s.CompareRequest, session: SessionDep,
            principal: Principal = require("comparison:create")) -> s.ComparisonResult:
    return _compare(body, session, principal)


@router.get("/comparison/{comparisonId}", response_model=s.ComparisonResult, tags=["comparison"],
            summary="Get a comparison", responses=error_responses(404))
def get_comparison(comparisonId: ComparisonId, session: SessionDep,  # noqa: N803
                   principal: Principal = require("comparison:read")) -> s.ComparisonResult:
    """A stored comparison document (yours; an admin reads every one). COMPARE_001 when none."""
    return service.get_comparison(session=session, actor=principal, comparison_id=comparisonId)


@router.post("/catalog/models/compare", response_model=s.ComparisonResult, status_code=201,
             tags=["catalog: models"], summary="Compare models (catalog alias of /comparison/compare)",
             description=COMPARE_DOC, responses=COMPARE_ERRORS)
def catalog_compare(body: s.CompareRequest, session: SessionDep,
                    principal: Principal = require("comparison:create")) -> s.ComparisonResult:
    return _compare(body, session, principal)


@router.get("/catalog/models/compare/{comparisonId}", response_model=s.ComparisonResult, tags=["catalog: models"],
            summary="Get a comparison (catalog alias)", responses=error_responses(404))
def catalog_get_comparison(comparisonId: ComparisonId, session: SessionDep,  # noqa: N803
                           principal: Principal = require("comparison:read")) -> s.ComparisonResult:
    return service.get_comparison(session=session, actor=principal, comparison_id=comparisonId)


# --- scoring -----------------------------------------------------------------------------------------------------


@router.post("/scoring/calculate", response_model=s.ScoreList, tags=["scoring"], summary="Calculate weighted scores",
             responses=COMPARE_ERRORS)
def calculate(body: s.ScoreRequest, session: SessionDep,
              principal: Principal = require("comparison:create")) -> s.ScoreList:
    """Overall scores of 1–50 models under a profile or explicit weights, normalised across the scored set,
    ranked and stored per model (`GET /scoring/{modelId}` reads them back)."""
    result = service.calculate_scores(session=session, actor=principal, data=body)
    session.commit()
    return result


@router.post("/scoring/custom", response_model=s.ScoreList, tags=["scoring"], summary="Score with a custom formula",
             responses=COMPARE_ERRORS)
def custom(body: s.CustomScoreRequest, session: SessionDep,
           principal: Principal = require("comparison:create")) -> s.ScoreList:
    """A formula over metric keys, e.g. `0.7 * performance + 0.3 * min(cost_efficiency, reliability)`: each key
    is that metric's 0–100 score, `raw.<key>` its raw value; numbers, `+ - * / **`, parentheses and min, max,
    abs, sqrt, log, log10, clamp. Checked against a syntax whitelist and interpreted (never `eval`).
    COMPARE_006 for an invalid formula, COMPARE_003 for an unknown key."""
    result = service.custom_scores(session=session, actor=principal, data=body)
    session.commit()
    return result


@router.get("/scoring/rankings", response_model=s.Rankings, tags=["scoring"], summary="Rank catalog models")
def scoring_rankings(session: SessionDep, principal: Principal = require("comparison:read"),
                     profile: Annotated[str, Query(max_length=40, description="Weighting profile")] = "balanced",
                     type: Annotated[str | None, Query(max_length=40, description="Model type")] = None,  # noqa: A002
                     category: Annotated[str | None, Query(max_length=100)] = None,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50) -> s.Rankings:
    """Live catalog models ranked by their overall score under a profile (scores normalised across the
    ranked set); `missing` names the metrics each model lacks."""
    return service.rankings(session=session, actor=principal, profile=profile, type=type, category=category,
                            limit=limit)


@router.get("/scoring/{modelId}", response_model=s.ModelScores, tags=["scoring"], summary="A model's scores",
            responses=error_responses(404))
def model_scores(modelId: Annotated[str, Path(max_length=140)], session: SessionDep,  # noqa: N803
                 principal: Principal = require("comparison:read")) -> s.ModelScores:
    """The raw value of every metric for a model, version or listing now, with the field path it came from,
    and the scores you calculated for it, newest first. COMPARE_001 when no such model."""
    return service.model_scores(session=session, actor=principal, model_id=modelId)


# --- analysis ----------------------------------------------------------------------------------------------------


@router.get("/analysis/performance/{modelId}", response_model=s.PerformanceAnalysis, tags=["analysis"],
            summary="Performance across versions and over time", responses=error_responses(404))
def performance(modelId: Annotated[str, Path(max_length=40)], session: SessionDep,  # noqa: N803
                principal: Principal = require("comparison:read")) -> s.PerformanceAnalysis:
    """Each version's logged metrics (and benchmark results where measured), the latest metrics of the runs
    of its experiments over time (if you may read experiments), each metric's trend and the regressions
    between consecutive versions. MODEL_001 when the model does not exist."""
    return service.performance_analysis(session=session, actor=principal, model_id=modelId)


@router.post("/analysis/cost-efficiency", response_model=s.CostEfficiency, tags=["analysis"],
             summary="Cost per 1,000 predictions against quality", responses=COMPARE_ERRORS)
def cost_efficiency(body: s.CostEfficiencyRequest, session: ReadSessionDep,
                    principal: Principal = require("comparison:read", read_only=True)) -> s.CostEfficiency:
    """Cost per 1,000 predictions and the quality metric's raw value per model, the Pareto front (no other
    model is as cheap and as good), and what was missing. Reads only."""
    return service.cost_efficiency(session=session, actor=principal, data=body)


@router.get("/analysis/insights", response_model=s.InsightList, tags=["analysis"], summary="Notable changes")
def analysis_insights(session: SessionDep, principal: Principal = require("comparison:read"),
                      limit: Annotated[int, Query(ge=1, le=200)] = 50) -> s.InsightList:
    """Versions that regressed or improved on a logged metric against the version before, and cheaper models
    within 1 point of the best quality of their category."""
    return service.insights(session=session, actor=principal, limit=limit)
