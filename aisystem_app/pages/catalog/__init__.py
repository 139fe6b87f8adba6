"""The catalog pages: models and datasets."""

from aisystem_app.pages.catalog import datasets, experiments, models

__all__ = ["datasets", "experiments", "models"]
