"""Design tokens shared by every page: spacing, widths, and the few custom styles."""

from __future__ import annotations

ACCENT = "indigo"
GRAY = "slate"

SIDEBAR_WIDTH = "15rem"
TOPBAR_HEIGHT = "3.5rem"
CONTENT_MAX_WIDTH = "80rem"
PAGE_PADDING = ["1rem", "1rem", "1.5rem", "2rem"]

# Responsive display for plain `rx.el.div` wrappers (on Radix boxes the theme's own `display`
# rule can win the cascade): shown from the `sm` breakpoint (768px) up, or below it.
WIDE_ONLY = ["none", "none", "block"]
NARROW_ONLY = ["block", "block", "none"]

# Applied to the whole app (rx.App(style=...)).
BASE_STYLE: dict = {
    "font_family": "Inter, ui-sans-serif, system-ui, -apple-system, 'Segoe UI', sans-serif",
}

CARD_STYLE: dict = {"width": "100%"}

NAV_LINK_STYLE: dict = {
    "width": "100%",
    "padding_x": "0.75rem",
    "padding_y": "0.5rem",
    "border_radius": "var(--radius-3)",
    "_hover": {"background_color": "var(--gray-a4)", "color": "var(--gray-12)"},
}
# (inactive, active) colours of a sidebar link.
NAV_LINK_COLOR = ("var(--gray-11)", "var(--accent-11)")
NAV_LINK_BACKGROUND = ("transparent", "var(--accent-a3)")

MONO = {"font_family": "ui-monospace, SFMono-Regular, Menlo, monospace", "font_size": "0.8rem"}
