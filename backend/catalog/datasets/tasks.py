"""Background analysis of a dataset version (correlations, PII detection, drift against a baseline), and
the periodic purge of deleted datasets' versions and files.

The worker knows the job type because the datasets entry of `backend/domains.py` names this module.
"""

from __future__ import annotations

import logging
import time

from pydantic import Field

from backend.catalog.datasets import drift, pii
from backend.catalog.datasets import service as datasets_service
from backend.core.db import session_scope
from backend.core.schemas import InputModel
from backend.core.tasks import job_handler, periodic

log = logging.getLogger(__name__)
MAX_ANALYSIS_ROWS = 1_000_000  # correlations and PII run on a sample of this size at most
PURGE_INTERVAL_SECONDS = 3600  # deleted datasets wait days; an hour late is no matter


class AnalyzePayload(InputModel):
    dataset_id: str = Field(max_length=40)
    version: int = Field(ge=1)
    baseline_version: int | None = Field(default=None, ge=1)


@job_handler(datasets_service.ANALYZE_JOB, description="Correlations, PII detection and drift of a dataset version",
             payload_model=AnalyzePayload)
def analyze(ctx) -> dict | None:  # noqa: ANN001
    """Expensive analysis in phases, reporting progress; the result lands on the version."""
    started = time.perf_counter()
    dataset_id = ctx.payload["datasetId"]
    number = int(ctx.payload["version"])
    baseline = ctx.payload.get("baselineVersion")
    ctx.progress(0.05, "loading the data")
    with session_scope(write=False) as session:
        _row, lf = datasets_service.read_version_frame(session=session, dataset_id=dataset_id, version=number)
        base_lf = None
        if baseline is not None:
            _base, base_lf = datasets_service.read_version_frame(session=session, dataset_id=dataset_id,
                                                                 version=int(baseline))
    frame = lf.head(MAX_ANALYSIS_ROWS).collect()
    binary = [c for c, t in frame.schema.items() if str(t) == "Binary"]
    frame = frame.drop(binary)
    if ctx.stop_if_cancelled():
        return None
    ctx.progress(0.25, "correlations")
    analysis: dict = {"rowsAnalyzed": frame.height, "correlations": datasets_service.correlations(frame)}
    if ctx.stop_if_cancelled():
        return None
    ctx.progress(0.5, "PII detection")
    analysis["pii"] = pii.detect(frame)
    if base_lf is not None:
        if ctx.stop_if_cancelled():
            return None
        ctx.progress(0.75, f"drift against version {baseline}")
        analysis["drift"] = {"baselineVersion": int(baseline),
                             **drift.drift_report(base_lf.drop(binary, strict=False), frame)}
    analysis["seconds"] = round(time.perf_counter() - started, 3)
    ctx.progress(0.95, "saving")
    summary = {"datasetId": dataset_id, "version": number, "containsPII": analysis["pii"]["containsPII"],
               "piiColumns": sorted(analysis["pii"]["columns"]),
               "driftScore": analysis.get("drift", {}).get("driftScore")}
    ctx.result = summary
    with ctx.finishing_transaction() as session:
        datasets_service.record_analysis(session=session, job_id=ctx.job_id, dataset_id=dataset_id, version=number,
                                         analysis=analysis)
    return summary


@periodic("catalog.datasets.purge_deleted", every_seconds=PURGE_INTERVAL_SECONDS)
def purge_deleted(session) -> dict[str, int] | None:  # noqa: ANN001
    """Remove the versions and files of datasets deleted more than `AISYSTEM_DATASET_PURGE_DAYS` ago
    (files another dataset's version still names stay). Safe on several workers at once."""
    return datasets_service.purge_deleted(session=session) or None
