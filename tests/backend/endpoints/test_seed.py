"""The demo endpoint: a wine classifier trained at seed time, serving its stored examples."""

from __future__ import annotations

import time

from sqlmodel import select

from backend.auth.principal import SYSTEM
from backend.catalog.datasets import seed as dataset_seed
from backend.endpoints import seed, service
from backend.endpoints.models import Endpoint


def test_seed_serves_a_trained_model(session, principals, monkeypatch):
    assert seed.seed_demo_endpoint(session) == "no demo Wine dataset: demo endpoint skipped"
    monkeypatch.setattr(dataset_seed, "DEMO_DATASETS", [d for d in dataset_seed.DEMO_DATASETS if d["name"] == "Wine"])
    dataset_seed.seed_demo_datasets(session)
    session.commit()
    started = time.perf_counter()
    assert seed.seed_demo_endpoint(session).startswith("created endpoint")
    session.commit()
    assert time.perf_counter() - started < 30  # a few seconds of CPU, not a training job
    endpoint = session.exec(select(Endpoint).where(Endpoint.name == seed.ENDPOINT_NAME)).one()
    assert endpoint.status == "running" and endpoint.follow_stage == "production" and len(endpoint.examples) == 3
    report = service.run_examples(session=session, actor=SYSTEM, endpoint_id=endpoint.id)
    assert report["passed"] == 3, report
    business = principals["business_user"]
    answer = service.predict(session=session, actor=business, endpoint_id=endpoint.id,
                             instances=[endpoint.examples[1]["input"]])
    assert answer["predictions"][0]["label"] == endpoint.examples[1]["expected"]["label"]
    explained = service.explain(session=session, actor=business, endpoint_id=endpoint.id,
                                instances=[endpoint.examples[0]["input"]])
    assert len(explained["explanations"][0]["attributions"]) == 13
    assert seed.seed_demo_endpoint(session) == "demo endpoint already present"
