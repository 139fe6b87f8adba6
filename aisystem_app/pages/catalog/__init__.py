"""The catalog pages: models and datasets."""

from aisystem_app.pages.catalog import datasets, models

__all__ = ["datasets", "models"]
