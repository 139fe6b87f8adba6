"""The comparison page: weighted multi-criteria comparison with the radar chart."""

from aisystem_app.pages.comparison import page

__all__ = ["page"]
