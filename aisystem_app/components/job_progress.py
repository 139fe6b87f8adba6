"""A followed job, live: status, progress bar, what it is doing or why it failed, and a cancel button.

Pairs with `aisystem_app.state.jobs.JobProgressMixin`: `job_progress(PageState)` renders the job the
page state follows, and nothing while it follows none.
"""

from __future__ import annotations

import reflex as rx

from aisystem_app.components.tone_badge import tone_badge

JOB_COLORS = {"queued": "gray", "running": "blue", "succeeded": "green", "failed": "red", "cancelled": "orange"}


def job_progress(state: type[rx.State], *, title: str = "Background job") -> rx.Component:
    """The job `state` follows (a state with `JobProgressMixin`), updated every second until it ends."""
    return rx.cond(
        state.job_id != "",
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.text(title, weight="medium", size="2"),
                    tone_badge(state.job_status, JOB_COLORS, class_name="job-status"),
                    rx.spacer(),
                    rx.cond(state.job_active,
                            rx.button("Cancel", size="1", variant="soft", color_scheme="gray",
                                      on_click=state.cancel_followed_job, class_name="job-cancel")),
                    width="100%",
                    align="center",
                ),
                rx.progress(value=state.job_progress.to(int), max=100, width="100%", class_name="job-bar"),
                rx.cond(state.job_message != "",
                        rx.text(state.job_message, size="1", color_scheme="gray", class_name="job-message")),
                rx.cond(state.job_error != "",
                        rx.callout(state.job_error, icon="triangle_alert", color_scheme="red", size="1",
                                   class_name="job-error")),
                spacing="2",
                width="100%",
            ),
            width="100%",
            class_name="job-progress",
            data_job_id=state.job_id,
            data_status=state.job_status,
        ),
    )
