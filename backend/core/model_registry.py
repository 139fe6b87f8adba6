"""Every module that defines tables; Alembic and the test suite import them all from here."""

from __future__ import annotations

import importlib

MODEL_MODULES = [
    "backend.core.cache",
    "backend.auth.models",
    "backend.audit.models",
    "backend.jobs.models",
    "backend.marketplace.models",
    "backend.catalog.model_registry.models",
    "backend.catalog.datasets.models",
]


def import_all_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)
