"""`tuning.advance` (queue `default`): one short step of a study, queued when the step that the
`training_finished` hook runs inline (as a trial's training job ends) fails — never a job that waits
for others. `tuning.sweep`
(every minute, on every worker): queues a step for a study whose step was lost. A lost worker during a
step is the job system's ordinary case: the reaper re-queues the job and the step, being idempotent,
runs again."""

from __future__ import annotations

from typing import Any

from backend.core.tasks import job_handler, periodic
from backend.tuning import service
from backend.tuning.schemas import AdvancePayload


@job_handler(service.ADVANCE_JOB, description="Advance a hyperparameter optimisation study by one step",
             payload_model=AdvancePayload, queue="default", time_limit_seconds=600)
def advance(ctx) -> dict[str, Any] | None:  # noqa: ANN001
    with ctx.finishing_transaction() as session:
        ctx.result = service.advance(session=session, study_id=ctx.payload["studyId"])
    return ctx.result


@periodic("tuning.sweep", every_seconds=60)
def sweep(session) -> dict[str, int]:  # noqa: ANN001
    return service.sweep(session)
