"""The dataset pages: the list and a dataset's page."""

from aisystem_app.pages.catalog.datasets import detail, index

__all__ = ["detail", "index"]
