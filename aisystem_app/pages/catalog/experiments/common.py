"""Pieces shared by the experiments pages: status badges."""

from __future__ import annotations

import reflex as rx

from aisystem_app.components.tone_badge import tone_badge

EXPERIMENT_COLORS = {"created": "gray", "running": "blue", "completed": "green", "failed": "red", "stopped": "amber"}
RUN_COLORS = {"SCHEDULED": "gray", "RUNNING": "blue", "FINISHED": "green", "FAILED": "red", "KILLED": "amber"}
RUN_WORDS = {"SCHEDULED": "Scheduled", "RUNNING": "Running", "FINISHED": "Finished", "FAILED": "Failed",
             "KILLED": "Stopped"}


def experiment_status(value: rx.Var[str]) -> rx.Component:
    return tone_badge(value, EXPERIMENT_COLORS)


def run_status(value: rx.Var[str]) -> rx.Component:
    """A run's status in words (MLflow's upper-case values never reach the screen)."""
    color = rx.match(value, *RUN_COLORS.items(), "gray")
    text = rx.match(value, *RUN_WORDS.items(), value)
    return rx.badge(text, color_scheme=color, variant="soft", radius="full", data_value=value)
