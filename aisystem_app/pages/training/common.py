"""Pieces shared by the training pages: a job's status in words."""

from __future__ import annotations

import reflex as rx

from aisystem_app.state.training.view import STATUS_COLORS, STATUS_WORDS


def job_status(value: rx.Var[str], **props) -> rx.Component:
    """A job's status as words (`running` reads "Training"), coloured; `data-value` keeps the raw value."""
    color = rx.match(value, *STATUS_COLORS.items(), "gray")
    text = rx.match(value, *STATUS_WORDS.items(), value)
    return rx.badge(text, color_scheme=color, variant="soft", radius="full", data_value=value, **props)
