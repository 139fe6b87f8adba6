"""The one Celery app. JSON only; ids travel, rows are re-read; the job table owns the truth."""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from backend.core.config import get_settings

RUN_JOB_TASK = "aisystem.run_job"
QUEUE = "aisystem"
TASK_MODULES = ["backend.jobs.tasks"]


def _exempt_broker_tables_from_audit() -> None:
    """kombu's SQLAlchemy transport keeps messages in ORM tables of its own; the unit-of-work rules
    (registered for every SQLAlchemy Session in the process) would refuse each publish and each
    fetch as an unaudited change, so the embedded broker never delivered anything."""
    from kombu.transport.sqlalchemy.models import ModelBase

    ModelBase.__audited__ = False


def create_celery(broker_url: str) -> Celery:
    if broker_url.startswith(("sqla+", "sqlalchemy+")):
        _exempt_broker_tables_from_audit()
    # kombu's SQLAlchemy transport hands its options to create_engine, so it gets none.
    transport_options = {} if broker_url.startswith(("sqla+", "sqlalchemy+")) else {"visibility_timeout": 3600}
    app = Celery("aisystem", broker=broker_url, include=TASK_MODULES)
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


def send_job(job_id: str) -> None:
    """Put a job id on the broker (the worker re-reads the row)."""
    get_celery().send_task(RUN_JOB_TASK, args=[job_id], queue=QUEUE)


# `celery -A backend.core.celery_app worker` finds this.
app = get_celery()
