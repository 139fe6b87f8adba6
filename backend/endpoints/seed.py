"""The demo endpoint: a wine classifier trained at seed time on the demo "Wine" dataset (in-process,
about a second of CPU), registered as version 1.0.0 in production with its dataset as the source, and
served by the endpoint `wine-classifier`, which follows the production stage and stores three example
rows with their labels (the "try it" form and `POST .../test` use them). Idempotent."""

from __future__ import annotations

from sqlmodel import Session, col, select

from backend.auth.principal import SYSTEM
from backend.catalog.datasets import service as datasets
from backend.catalog.datasets.models import Dataset
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.models import RegisteredModel
from backend.endpoints import demo, service
from backend.endpoints.models import Endpoint
from backend.lineage import service as lineage

ENDPOINT_NAME = "wine-classifier"
MODEL_NAME = "Wine classifier (demo endpoint)"
DATASET_NAME = "Wine"


def seed_demo_endpoint(session: Session) -> str:
    if session.exec(select(Endpoint.id).where(Endpoint.name == ENDPOINT_NAME)).first() is not None:
        return "demo endpoint already present"
    dataset = session.exec(select(Dataset).where(Dataset.name == DATASET_NAME, Dataset.created_by == SYSTEM.user_id,
                                                 col(Dataset.deleted_at).is_(None))).first()
    if dataset is None or dataset.current_version is None:
        return "no demo Wine dataset: demo endpoint skipped"
    frame = datasets.open_frame(session=session, actor=SYSTEM, dataset_id=dataset.id).collect()
    label = dataset.label_column or "target"
    model = session.exec(select(RegisteredModel).where(RegisteredModel.name == MODEL_NAME,
                                                       col(RegisteredModel.deleted_at).is_(None))).first()
    if model is None:
        weights, config = demo.train_tabular(frame, label=label, seed=0, dataset={
            "datasetId": dataset.id, "name": dataset.name, "type": "tabular", "version": dataset.current_version})
        model_id, version = demo.register(session, SYSTEM, weights=weights, config=config, version="1.0.0",
                                          name=MODEL_NAME)
        # Provenance of the in-process training (as a training job records its own): Wine vN -> training -> 1.0.0.
        lineage.record_activity(
            session=session, actor=SYSTEM, kind="train", key=f"seed:{model_id}@{version}",
            used=[lineage.dataset_version_ref(dataset.id, dataset.current_version)],
            generated=[lineage.model_version_ref(model_id, version)],
            label=f"Training of {MODEL_NAME} {version} on {dataset.name} v{dataset.current_version} (seed)")
        registry.promote_version(session=session, actor=SYSTEM, model_id=model_id, version=version,
                                 stage="production", reason="demo endpoint")
    else:
        model_id = model.id
    examples = [{"input": {k: v for k, v in row.items() if k != label}, "expected": {"label": str(row[label])}}
                for row in frame.gather([0, 70, 150]).to_dicts()]
    endpoint = service.create_endpoint(session=session, actor=SYSTEM, data={
        "name": ENDPOINT_NAME, "description": "Classifies wines into three cultivars from 13 chemical measurements "
                                             "(the demo Wine dataset).", "examples": examples})
    service.deploy(session=session, actor=SYSTEM, endpoint_id=endpoint.id,
                   data={"modelId": model_id, "stage": "production", "followStage": True})
    return f"created endpoint {ENDPOINT_NAME} serving {MODEL_NAME}"
