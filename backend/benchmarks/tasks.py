"""The `benchmarks.run` job (queue `inference`): each version of a run loaded on the worker's device,
scored on the dataset version's split and timed; the results and the run's success commit together."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from backend.auth import service as auth_service
from backend.auth.models import User
from backend.benchmarks import service
from backend.benchmarks.models import BenchmarkRun
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.core.tasks import job_handler


class BenchmarkPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runId: str = Field(max_length=40)  # noqa: N815


@job_handler(service.BENCHMARK_JOB, description="Benchmark model versions on a dataset version's split",
             payload_model=BenchmarkPayload, queue="inference", time_limit_seconds=2 * 3600,
             on_abort=service.mark_aborted)
def run_benchmark(ctx) -> dict | None:  # noqa: ANN001
    run_id = ctx.payload["runId"]
    with session_scope() as session:
        service.mark_running(session=session, run_id=run_id)
    with session_scope(write=False) as session:
        user = session.get(User, ctx.created_by)
        if user is None:
            raise AISystemError("AUTH_001", "The account that asked for the benchmark no longer exists")
        actor = auth_service.principal_for(user, credential_id=None, credential_type="system")
        run = session.get(BenchmarkRun, run_id)
        if run is None:
            raise service.not_found(run_id)
        ctx.progress(0.0, f"benchmarking {len(run.version_ids)} versions")
        measured = service.measure_run(session=session, actor=actor, run=run, progress=ctx.progress,
                                       cancelled=ctx.cancelled)
    if measured is None:
        ctx.stop_if_cancelled()
        return None
    ctx.result = {"benchmarkId": run_id, "results": len(measured["results"]), "device": measured["device"],
                  "deviceName": measured["deviceName"]}
    with ctx.finishing_transaction() as session:
        service.store_results(session=session, actor=actor, run_id=run_id, measured=measured)
    return ctx.result
