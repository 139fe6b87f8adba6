"""Small status badges."""

from __future__ import annotations

import reflex as rx

from aisystem_app.components.tone_badge import tone_badge

OUTCOME_COLORS = {"success": "green", "failure": "red", "denied": "orange"}


def outcome_badge(outcome: rx.Var[str]) -> rx.Component:
    """An audit outcome (success / failure / denied) as a coloured badge."""
    return tone_badge(outcome, OUTCOME_COLORS)
