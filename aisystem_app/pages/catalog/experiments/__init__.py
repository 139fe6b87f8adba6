"""The experiments pages: the list, an experiment's page and the compare view."""

from aisystem_app.pages.catalog.experiments import compare, detail, index

__all__ = ["compare", "detail", "index"]
