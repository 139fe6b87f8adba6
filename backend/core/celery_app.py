"""The one Celery app. JSON only; ids travel, rows are re-read; the job table owns the truth."""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from backend import domains
from backend.core.config import get_settings
from backend.core.tasks import DEFAULT_QUEUE

RUN_JOB_TASK = "aisystem.run_job"


def broker_queue(queue: str, *, gpu: bool = False) -> str:
    """The broker's name of a job queue. Jobs that need a GPU go to the queue's `.gpu` twin, which
    only workers with a GPU consume: such a job waits in the broker, not on a CPU worker."""
    return f"aisystem.{queue}.gpu" if gpu else f"aisystem.{queue}"


QUEUE = broker_queue(DEFAULT_QUEUE)


# How often an idle worker asks the embedded (SQLite) broker for a message: kombu's default of 1 s
# added up to a second to every hand-over (a trial's next training job); 0.05 s adds 25 ms on average.
# Each poll is one indexed SELECT per queue, so polling much more often costs an idle worker real CPU.
# (A Redis broker wakes a worker at once and never polls.)
EMBEDDED_BROKER_POLL_SECONDS = 0.05


def create_celery(broker_url: str) -> Celery:
    # kombu's SQLAlchemy transport hands its options to create_engine, so it gets none (its polling
    # interval, a transport option elsewhere, is therefore set on the transport class).
    embedded = broker_url.startswith(("sqla+", "sqlalchemy+"))
    transport_options = {} if embedded else {"visibility_timeout": 3600}
    if embedded:
        from kombu.transport import sqlalchemy as sqla_transport

        sqla_transport.Transport.polling_interval = EMBEDDED_BROKER_POLL_SECONDS
    app = Celery("aisystem", broker=broker_url, include=domains.task_modules())
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],  # never pickle (checklist DESER-06)
        result_serializer="json",
        result_accept_content=["json"],
        task_ignore_result=True,  # results live in the job table
        task_default_queue=QUEUE,
        # Jobs ack early: the lease + reaper in the job table recover lost work, not redelivery.
        task_acks_late=False,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app


@lru_cache(maxsize=4)
def celery_for(broker_url: str) -> Celery:
    return create_celery(broker_url)


def get_celery() -> Celery:
    return celery_for(get_settings().celery_broker_url)


def send_job(job_id: str, *, queue: str = DEFAULT_QUEUE, gpu: bool = False) -> None:
    """Put a job id on its queue (the worker re-reads the row)."""
    get_celery().send_task(RUN_JOB_TASK, args=[job_id], queue=broker_queue(queue, gpu=gpu))


# `celery -A backend.core.celery_app worker` finds this.
app = get_celery()


def purge_consumed_messages(older_than_seconds: int = 3600) -> int:
    """kombu's SQLAlchemy transport only hides consumed messages; delete old ones so the embedded
    broker's file stays small. A no-op on other brokers."""
    url = get_settings().celery_broker_url
    if not url.startswith("sqla+"):
        return 0
    from datetime import datetime, timedelta

    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url.removeprefix("sqla+"))
    try:
        if not inspect(engine).has_table("kombu_message"):
            return 0
        cutoff = datetime.now() - timedelta(seconds=older_than_seconds)  # kombu stores local naive time
        with engine.begin() as conn:
            return conn.execute(
                text("DELETE FROM kombu_message WHERE visible = :hidden AND timestamp < :cutoff"),
                {"hidden": False, "cutoff": cutoff},
            ).rowcount
    finally:
        engine.dispose()
