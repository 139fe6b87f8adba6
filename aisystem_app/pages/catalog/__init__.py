"""The catalog pages: models and datasets."""

from aisystem_app.pages.catalog import datasets, endpoints, experiments, models

__all__ = ["datasets", "endpoints", "experiments", "models"]
