"""Small status badges."""

from __future__ import annotations

import reflex as rx

OUTCOME_COLORS = {"success": "green", "failure": "red", "denied": "orange"}


def outcome_badge(outcome: rx.Var[str]) -> rx.Component:
    """An audit outcome (success / failure / denied) as a coloured badge."""
    color = rx.match(outcome, *OUTCOME_COLORS.items(), "gray")
    return rx.badge(outcome, color_scheme=color, variant="soft", radius="full")
