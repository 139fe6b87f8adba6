"""Catalog content for the MCP tests, built through the services (as an assistant would find it)."""

from __future__ import annotations

from typing import Any

import pytest

from backend.auth.principal import Principal
from backend.catalog.datasets import service as datasets_service
from backend.catalog.experiments import service as experiments_service
from backend.catalog.model_registry import service as models_service
from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
from backend.core.db import session_scope


def model_body(name: str, **overrides: Any) -> dict[str, Any]:
    body = {"name": name, "type": "NLP", "category": "Natural Language Processing", "framework": "PyTorch",
            "architecture": "Transformer-based", "capabilities": ["sentiment_analysis"],
            "metadata": {"description": "Reads customer e-mails and tells whether the customer is happy",
                         "tags": ["nlp", "customer"], "license": "Apache-2.0"},
            "performance": {"accuracy": 0.91}}
    return body | overrides


@pytest.fixture
def catalog(principals, sent) -> dict[str, str]:
    """A model with two versions, a dataset and an experiment with three runs; returns their ids."""
    engineer: Principal = principals["ml_engineer"]
    with session_scope() as s:
        model = models_service.create_model(session=s, actor=engineer,
                                            data=ModelCreate.model_validate(model_body("Customer Sentiment Analyzer")),
                                            embed=False)
        other = models_service.create_model(session=s, actor=engineer, embed=False, data=ModelCreate.model_validate(
            model_body("Product Defect Detector", type="Vision", capabilities=["defect_detection"],
                       metadata={"description": "Spots scratches on assembly-line photos", "tags": ["vision"]},
                       performance={"accuracy": 0.84})))
        for version, accuracy in (("1.0.0", 0.88), ("1.1.0", 0.91)):
            models_service.create_version(session=s, actor=engineer, model_id=model.id, data=VersionCreate.model_validate(
                {"version": version, "metrics": {"accuracy": accuracy}}))
        dataset = datasets_service.create_dataset(session=s, actor=engineer, data={
            "name": "customer-emails", "type": "text", "description": "Labelled support e-mails"})
        experiment = experiments_service.create_experiment(session=s, actor=engineer, data={
            "name": "sentiment-tuning", "modelId": model.id, "datasetId": dataset.id,
            "objective": "maximize_val_accuracy"})
        for i, (accuracy, loss) in enumerate(((0.81, 0.6), (0.93, 0.3), (0.87, 0.4))):
            run = experiments_service.start_run(session=s, actor=engineer, experiment_id=experiment.id,
                                                data={"name": f"lr-{i}", "params": {"lr": 10 ** -(i + 2)}})
            experiments_service.log_batch(session=s, actor=engineer, run_id=run.id, metrics=[
                {"key": "val_accuracy", "value": accuracy - 0.1, "step": 0, "timestamp": 1},
                {"key": "val_accuracy", "value": accuracy, "step": 1, "timestamp": 2},
                {"key": "val_loss", "value": loss, "step": 1, "timestamp": 2}])
        return {"model": model.id, "other": other.id, "dataset": dataset.id, "experiment": experiment.id}
