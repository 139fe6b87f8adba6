"""The benchmark pages."""

from aisystem_app.pages.benchmarks import page

__all__ = ["page"]
