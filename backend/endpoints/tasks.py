"""The `endpoints.batch_predict` job (queue `inference`): a dataset version through an endpoint's
version in chunks of at most `batchSize` rows, with progress, stored as a new tabular dataset of the
input rows and their predictions (lineage: the job used the model version and the input version and
generated the output version)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from backend.auth import service as auth_service
from backend.auth.models import User
from backend.catalog.datasets import service as datasets
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.core.tasks import job_handler
from backend.endpoints import serving
from backend.endpoints.service import BATCH_PREDICT_JOB
from backend.lineage import service as lineage


class BatchPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpointId: str = Field(max_length=40)  # noqa: N815
    modelId: str = Field(max_length=40)  # noqa: N815
    version: str = Field(max_length=20)
    datasetId: str = Field(max_length=40)  # noqa: N815
    datasetVersion: int = Field(ge=1)  # noqa: N815
    batchSize: int = Field(ge=1, le=1_000_000)  # noqa: N815


def _prediction_columns(config: dict[str, Any], outputs: list[dict[str, Any]]) -> dict[str, list]:
    if config["task"] == "classification":
        columns: dict[str, list] = {"prediction": [o["label"] for o in outputs]}
        for name in config["labelNames"]:
            columns[f"probability_{name}"] = [o["probabilities"][name] for o in outputs]
        return columns
    return {"prediction": [o["value"] for o in outputs]}


@job_handler(BATCH_PREDICT_JOB, description="Predict a dataset version with an endpoint's model",
             payload_model=BatchPayload, queue="inference", time_limit_seconds=6 * 3600)
def batch_predict(ctx) -> dict | None:  # noqa: ANN001
    p = ctx.payload
    with session_scope(write=False) as session:
        user = session.get(User, ctx.created_by)
        if user is None:
            raise AISystemError("AUTH_001", "The account that asked for the batch prediction no longer exists")
        actor = auth_service.principal_for(user, credential_id=None, credential_type="system")
        served = serving.CACHE.get(session=session, actor=actor, model_id=p["modelId"], version=p["version"])
        dataset, _row = datasets.get_version(session=session, actor=actor, dataset_id=p["datasetId"],
                                             version=p["datasetVersion"])
        source_name = dataset.name
        frame = datasets.open_frame(session=session, actor=actor, dataset_id=p["datasetId"],
                                    version=p["datasetVersion"]).collect()
    config = served.config
    inputs = [c["name"] for c in config["inputSchema"]["columns"]]
    missing = [c for c in inputs if c not in frame.columns]
    if missing:
        raise AISystemError("INFER_002", f"The dataset version lacks the input columns: {', '.join(missing[:10])}",
                            {"missing": missing[:50]})
    size, total, parts = p["batchSize"], frame.height, []
    ctx.progress(0.0, f"predicting {total} rows")
    for start in range(0, total, size):
        chunk = frame.slice(start, size)
        typed = serving.typed_frame(config, chunk)
        outputs = served.loaded.family.predict_frame(served.loaded.module, config, typed)
        parts.append(chunk.with_columns(**{k: pl.Series(k, v) for k, v in _prediction_columns(config, outputs).items()}))
        done = min(start + size, total)
        ctx.progress(0.9 * done / max(total, 1), f"{done} of {total} rows predicted")
        if ctx.stop_if_cancelled():
            return None
    result = pl.concat(parts) if parts else frame
    with tempfile.TemporaryDirectory(prefix="batch-predict-") as work:
        path = Path(work) / "predictions.parquet"
        result.write_parquet(path, compression="zstd")
        ctx.progress(0.95, "storing the predictions as a dataset")
        with ctx.finishing_transaction() as session:
            out = datasets.create_dataset(session=session, actor=actor, data={
                "name": f"{source_name[:120]} predictions {ctx.job_id[-8:]}", "type": "tabular",
                "description": f"Predictions of model {p['modelId']} {p['version']} (endpoint {p['endpointId']}) "
                               f"on {source_name} v{p['datasetVersion']}"})
            session.flush()
            outcome = datasets.upload(session=session, actor=actor, dataset_id=out.id, source=path,
                                      filename="predictions.parquet")
            lineage.record_batch_prediction(
                session=session, actor=actor, job=lineage.Ref("job", ctx.job_id, f"batch prediction {ctx.job_id[-8:]}"),
                model_version=lineage.model_version_ref(p["modelId"], p["version"]),
                inputs=[lineage.dataset_version_ref(p["datasetId"], p["datasetVersion"])],
                outputs=[lineage.dataset_version_ref(out.id, outcome.version.number)])
            ctx.result = {"datasetId": out.id, "datasetVersion": outcome.version.number, "rows": result.height,
                          "modelId": p["modelId"], "version": p["version"]}
    return ctx.result
