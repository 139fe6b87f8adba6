"""Following a job from a page (the job-progress mixin), driven through the home page's worker self-test:
live progress, the end state, the completion events, refusals and cancelling."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from aisystem_app.state import jobs as job_state
from aisystem_app.state.home import HomeState
from backend.auth.principal import Principal
from backend.core.db import session_scope
from backend.jobs import service as jobs_service
from backend.jobs.models import Job
from tests.aisystem_app.conftest import signed_in_as

pytestmark = pytest.mark.anyio
WORKER = "ui-test:1"


@pytest.fixture
def quick_polls(monkeypatch, sent) -> None:
    """Polls every 50 ms; no broker: the test plays the worker."""
    monkeypatch.setattr(job_state, "POLL_SECONDS", 0.05)


def queued_selftest(user_id: str, role: str = "admin") -> str:
    with session_scope() as session:
        return jobs_service.create_job(session=session, actor=Principal(user_id=user_id, username=role, role=role),
                                       type="platform.selftest", payload={"durationSeconds": 3}).id


def work_on(job_id: str, fraction: float, message: str) -> None:
    """Claim the job as the test's worker (once) and report progress."""
    with session_scope() as session:
        jobs_service.claim_job(session=session, job_id=job_id, worker=WORKER)
    with session_scope() as session:
        assert jobs_service.report_progress(session=session, job_id=job_id, worker=WORKER, fraction=fraction,
                                            message=message)


def finish(job_id: str, status: str, error: str | None = None) -> None:
    with session_scope() as session:
        jobs_service.finish_job(session=session, job_id=job_id, worker=WORKER, status=status, error=error)


async def home_as(root_state, user_id: str) -> HomeState:
    """The home page state of a tab signed in as `user_id`."""
    await signed_in_as(root_state, user_id)
    return await root_state.get_state(HomeState)


def event_names(events) -> list[str]:  # noqa: ANN001
    return [getattr(event, "handler", event).fn.__qualname__ for event in events or []]


async def test_the_page_follows_progress_live_and_fires_its_completion_events(root_state, demo_users, quick_polls):
    home = await home_as(root_state, demo_users["admin"])
    job_id = queued_selftest(demo_users["admin"])
    follower = asyncio.create_task(HomeState.follow_job.fn(home, job_id))
    await asyncio.sleep(0.2)
    assert (home.job_id, home.job_status, home.job_active) == (job_id, "queued", True)

    work_on(job_id, 0.4, "step 2 of 5")
    await asyncio.sleep(0.3)
    assert (home.job_status, home.job_progress, home.job_message) == ("running", 40.0, "step 2 of 5")
    assert not follower.done(), "the follower stops only when the job ends"

    finish(job_id, "succeeded")
    events = await asyncio.wait_for(follower, timeout=5)
    assert (home.job_status, home.job_progress, home.job_active) == ("succeeded", 100.0, False)
    assert "HomeState.load" in " ".join(event_names(events)), "the page reloads what the job changed"


async def test_a_failed_job_shows_its_error(root_state, demo_users, quick_polls):
    home = await home_as(root_state, demo_users["admin"])
    job_id = queued_selftest(demo_users["admin"])
    work_on(job_id, 0.2, "step 1 of 5")
    finish(job_id, "failed", error="RuntimeError: disk on fire")
    await HomeState.follow_job.fn(home, job_id)
    assert (home.job_status, home.job_error) == ("failed", "RuntimeError: disk on fire")


async def test_someone_elses_job_cannot_be_followed(root_state, demo_users, quick_polls):
    job_id = queued_selftest(demo_users["ml_engineer"], "ml_engineer")
    home = await home_as(root_state, demo_users["data_scientist"])
    events = await HomeState.follow_job.fn(home, job_id)
    assert events, "a refusal is reported, not shown as progress"
    assert home.job_progress == 0.0 and home.job_message == ""


async def test_an_admin_starts_a_selftest_and_the_page_follows_it(root_state, demo_users, quick_polls):
    home = await home_as(root_state, demo_users["admin"])
    await HomeState.load.fn(home)
    assert home.tests_workers
    event = await HomeState.test_workers.fn(home)
    with session_scope(write=False) as session:
        job = session.exec(select(Job).where(Job.type == "platform.selftest")).one()
    assert event.handler.fn.__qualname__.endswith("follow_job")
    assert dict((name._js_expr, value._var_value) for name, value in event.args) == {"job_id": job.id}


async def test_a_user_without_job_create_gets_no_button_and_no_job(root_state, demo_users, quick_polls):
    home = await home_as(root_state, demo_users["business_user"])
    await HomeState.load.fn(home)
    assert not home.tests_workers
    events = await HomeState.test_workers.fn(home)
    assert events and "follow_job" not in " ".join(event_names(events))
    with session_scope(write=False) as session:
        assert session.exec(select(Job)).all() == []


async def test_cancelling_the_followed_job(root_state, demo_users, quick_polls):
    home = await home_as(root_state, demo_users["admin"])
    job_id = queued_selftest(demo_users["admin"])
    follower = asyncio.create_task(HomeState.follow_job.fn(home, job_id))
    await asyncio.sleep(0.2)
    await HomeState.cancel_followed_job.fn(home)
    await asyncio.wait_for(follower, timeout=5)
    assert (home.job_status, home.job_active) == ("cancelled", False)
