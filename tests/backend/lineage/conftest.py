"""Fixtures of the lineage tests: a dataset with two versions and a model trained on one, made through
the real services (so their lineage is what those services write)."""

from __future__ import annotations

import io

import pytest

from backend.catalog.datasets import service as datasets_service
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
from backend.core.db import session_scope

CSV = b"text,label\ngood,1\nbad,0\nfine,1\nawful,0\nnice,1\nmeh,0\n"


@pytest.fixture(autouse=True)
def no_broker(sent) -> None:
    """Jobs are recorded, not sent: these tests run no worker."""


def make_dataset(actor, name: str = "Feedback", roles: tuple[str, ...] = ()) -> str:
    """A dataset with version 1 (an upload) and version 2 (a transform of it)."""
    with session_scope() as s:
        dataset = datasets_service.create_dataset(session=s, actor=actor, data={"name": name, "type": "tabular"})
        if roles:
            datasets_service.set_access(session=s, actor=actor, dataset_id=dataset.id,
                                        entries=[{"subjectType": "role", "subject": r} for r in roles])
        datasets_service.upload(session=s, actor=actor, dataset_id=dataset.id, source=io.BytesIO(CSV),
                                filename="feedback.csv")
        dataset_id = dataset.id
    with session_scope() as s:
        datasets_service.transform(session=s, actor=actor, dataset_id=dataset_id,
                                   steps=[{"op": "filter", "expression": "label == 1"}])
    return dataset_id


def make_model(actor, name: str = "Sentiment", versions: tuple[dict, ...] = ()) -> str:
    with session_scope() as s:
        model = registry.create_model(session=s, actor=actor, data=ModelCreate.model_validate(
            {"name": name, "type": "NLP", "category": "Text", "framework": "PyTorch"}), embed=False)
        for body in versions:
            registry.create_version(session=s, actor=actor, model_id=model.id, data=VersionCreate.model_validate(body))
        return model.id


@pytest.fixture
def engineer(principals):
    return principals["ml_engineer"]


@pytest.fixture
def trained(engineer) -> tuple[str, str]:
    """A dataset (two versions) and a model whose 1.0.0 was trained on version 2, fine-tuned into 1.1.0."""
    dataset_id = make_dataset(engineer, roles=("ml_engineer",))
    model_id = make_model(engineer, versions=(
        {"version": "1.0.0", "source": {"datasets": [{"id": dataset_id, "version": "2"}]}},))
    with session_scope() as s:
        registry.create_version(session=s, actor=engineer, model_id=model_id, data=VersionCreate.model_validate(
            {"version": "1.1.0", "source": {"parent": {"modelId": model_id, "version": "1.0.0"}}}))
    return dataset_id, model_id


