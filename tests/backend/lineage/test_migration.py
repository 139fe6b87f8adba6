"""The 0007 migration: it drops the old model lineage edges, its upgrade records what the
platform holds (moving the old model lineage edges that name real things) and its downgrade brings
the old edges back."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from backend.core.db import get_engine, session_scope
from backend.lineage import service as lineage
from tests.backend.lineage.conftest import make_dataset, make_model

ROOT = Path(__file__).resolve().parents[3]


def test_the_models_lineage_edges_are_gone(db_backend):
    """(The tables themselves are checked against the models with every domain's, in tests/test_migrations.py.)"""
    with get_engine().connect() as conn:
        assert "catalog_model_lineage_edge" not in inspect(conn).get_table_names()


def _alembic(action: str, revision: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "backend" / "migrations"))
    config.attributes["configure_logging"] = False
    config.attributes["url"] = str(get_engine().url)
    get_engine().dispose()
    getattr(command, action)(config, revision)
    get_engine().dispose()


def _entity_edges(model_id: str) -> set[tuple[str, str, str]]:
    from backend.auth.principal import SYSTEM

    with session_scope(write=False) as s:
        graph = lineage.entity_graph(session=s, actor=SYSTEM, entity_id=f"model:{model_id}", depth=5)
    name = {n.id: (f"activity:{n.ref}" if n.kind == "activity" else n.id) for n in graph.nodes}
    return {(name[e.source], e.relation, name[e.target]) for e in graph.edges}


def test_downgrade_keeps_the_model_edges_and_upgrade_rebuilds_the_lineage(db_backend, principals):
    if db_backend != "sqlite":
        pytest.skip("moves the schema: run on the per-test SQLite copy only, never the shared PostgreSQL")
    engineer = principals["ml_engineer"]
    dataset_id = make_dataset(engineer)
    model_id = make_model(engineer, versions=(
        {"version": "1.0.0", "source": {"datasets": [{"id": dataset_id, "version": "2"}]}},))
    before = _entity_edges(model_id)
    assert (f"model_version:{model_id}@1.0.0", "wasDerivedFrom", f"dataset_version:{dataset_id}@2") in before

    _alembic("downgrade", "0006")
    with get_engine().begin() as conn:
        old = {tuple(r) for r in conn.execute(text(
            "SELECT source_id, relation, target_id FROM catalog_model_lineage_edge"))}
        assert old == {(model_id, "has_version", f"{model_id}@1.0.0"),
                       (f"{model_id}@1.0.0", "trained_on", f"{dataset_id}@2")}
        # Edges the old registry stored without checking: a made-up dataset version and a run.
        for i, (kind, ref) in enumerate((("dataset_version", "dataset_789@3.2.0"), ("run", "run_b813dbea4c"))):
            conn.execute(text(
                "INSERT INTO catalog_model_lineage_edge (id, model_id, source_type, source_id, target_type, "
                "target_id, relation, created_at) VALUES (:id, :model, 'model_version', :version, :kind, :ref, "
                "'trained_on', '2026-12-01 00:00:00')"),
                {"id": f"edge_{i}", "model": model_id, "version": f"{model_id}@1.0.0", "kind": kind, "ref": ref})
    _alembic("upgrade", "head")

    after = _entity_edges(model_id)
    assert after == before
    assert not any("dataset_789" in part or "run_" in part for edge in after for part in edge)
    with get_engine().connect() as conn:
        agents = {r[0] for r in conn.execute(text("SELECT agent_name FROM lineage_activity"))}
    assert agents == {"ml_engineer"}
