"""lineage: platform lineage (W3C PROV entities, activities, relations) replaces the model lineage edges

Upgrade records what the platform already holds: every dataset, dataset version, model and model
version as an entity, each version as a member of its dataset or model, and the activity that
produced it (upload, transform or restore of a dataset version; the registration of a model or a
version) with who and when. The old `catalog_model_lineage_edge` rows move over where both ends
name something that exists: a model version trained on a dataset version (`<dataset id>@<number>`)
or a dataset, fine-tuned from another version, produced by a job. Edges naming nothing the platform
holds (runs and endpoints no domain keeps yet, dataset ids that were never created) are dropped:
they were never checked and the graph showed them as if they were real. The old table is dropped;
nothing reads it any more. Downgrade rebuilds it from the model versions' relations.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 17:00:00
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ENTITY_KINDS = ("dataset", "dataset_version", "model", "model_version", "run", "job", "endpoint", "generated_app")
ACTIVITY_KINDS = ("upload", "transform", "restore", "split", "register", "train", "deploy", "batch_predict",
                  "generate")
RELATIONS = ("used", "wasGeneratedBy", "wasDerivedFrom", "hadMember")
OLD = "catalog_model_lineage_edge"


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _create_tables() -> None:
    op.create_table(
        "lineage_entity",
        sa.Column("id", _text(40), nullable=False),
        sa.Column("kind", _text(24), nullable=False),
        sa.Column("ref", _text(160), nullable=False),
        sa.Column("label", _text(200), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint(_one_of("kind", ENTITY_KINDS), name=op.f("ck_lineage_entity_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_entity")),
        sa.UniqueConstraint("ref", "kind", name=op.f("uq_lineage_entity_ref")),
    )
    op.create_table(
        "lineage_activity",
        sa.Column("id", _text(40), nullable=False),
        sa.Column("kind", _text(24), nullable=False),
        sa.Column("key", _text(160), nullable=True),
        sa.Column("label", _text(200), nullable=False),
        sa.Column("agent_id", _text(40), nullable=True),
        sa.Column("agent_name", _text(64), nullable=True),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint(_one_of("kind", ACTIVITY_KINDS), name=op.f("ck_lineage_activity_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_activity")),
        sa.UniqueConstraint("key", "kind", name=op.f("uq_lineage_activity_key")),
    )
    with op.batch_alter_table("lineage_activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lineage_activity_started_at"), ["started_at"], unique=False)
    op.create_table(
        "lineage_relation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", _text(40), nullable=False),
        sa.Column("relation", _text(24), nullable=False),
        sa.Column("object_id", _text(40), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint(_one_of("relation", RELATIONS), name=op.f("ck_lineage_relation_relation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_relation")),
        sa.UniqueConstraint("subject_id", "relation", "object_id", name=op.f("uq_lineage_relation_subject_id")),
    )
    with op.batch_alter_table("lineage_relation", schema=None) as batch_op:
        batch_op.create_index("ix_lineage_relation_object_id", ["object_id", "relation"], unique=False)


class _Writer:
    """Collects the rows of the back-fill and inserts them in three statements."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.entities: dict[tuple[str, str], dict] = {}
        self.activities: list[dict] = []
        self.relations: set[tuple[str, str, str]] = set()

    @staticmethod
    def new_id(prefix: str) -> str:
        return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(4)}"

    def entity(self, kind: str, ref: str, label: str) -> str:
        row = self.entities.setdefault((kind, ref), {"id": self.new_id("lent"), "kind": kind, "ref": ref[:160],
                                                      "label": (label or ref)[:200], "created_at": self.now})
        return row["id"]

    def activity(self, kind: str, key: str, label: str, agent: tuple[str | None, str | None], at: datetime) -> str:
        row = {"id": self.new_id("lact"), "kind": kind, "key": key, "label": label[:200], "agent_id": agent[0],
               "agent_name": agent[1], "started_at": at, "ended_at": None}
        self.activities.append(row)
        return row["id"]

    def relate(self, subject: str, relation: str, obj: str) -> None:
        if subject != obj:
            self.relations.add((subject, relation, obj))

    def insert(self, bind: sa.engine.Connection) -> None:
        stamp = sqlmodel.sql.sqltypes.UTCDateTime()
        entity = sa.table("lineage_entity", sa.column("id"), sa.column("kind"), sa.column("ref"), sa.column("label"),
                          sa.column("created_at", stamp))
        activity = sa.table("lineage_activity", sa.column("id"), sa.column("kind"), sa.column("key"),
                            sa.column("label"), sa.column("agent_id"), sa.column("agent_name"),
                            sa.column("started_at", stamp), sa.column("ended_at", stamp))
        relation = sa.table("lineage_relation", sa.column("subject_id"), sa.column("relation"),
                            sa.column("object_id"), sa.column("created_at", stamp))
        if self.entities:
            bind.execute(entity.insert(), list(self.entities.values()))
        if self.activities:
            bind.execute(activity.insert(), self.activities)
        if self.relations:
            bind.execute(relation.insert(), [{"subject_id": s, "relation": r, "object_id": o, "created_at": self.now}
                                             for s, r, o in sorted(self.relations)])


def _rows(bind: sa.engine.Connection, sql: str) -> list:
    """Rows of `sql`, its `created_at` read as an aware datetime on every database."""
    return list(bind.execute(sa.text(sql).columns(created_at=sqlmodel.sql.sqltypes.UTCDateTime())).all())


def _backfill(bind: sa.engine.Connection) -> None:
    w = _Writer(datetime.now(UTC))
    users = dict(bind.execute(sa.text("SELECT id, username FROM auth_user")).all())

    def agent(user_id: str | None) -> tuple[str | None, str | None]:
        return user_id, users.get(user_id, user_id)

    datasets = {r.id: r for r in bind.execute(sa.text("SELECT id, name FROM catalog_dataset")).all()}
    versions = _rows(bind, "SELECT id, dataset_id, number, parent_number, operation, created_by, created_at "
                           "FROM catalog_dataset_version ORDER BY dataset_id, number")
    dsv_ids: dict[str, str] = {}
    for d in datasets.values():
        w.entity("dataset", d.id, d.name)
    for v in versions:
        name = datasets[v.dataset_id].name
        ref = f"{v.dataset_id}@{v.number}"
        dsv_ids[ref] = w.entity("dataset_version", ref, f"{name} v{v.number}")
        w.relate(w.entity("dataset", v.dataset_id, name), "hadMember", dsv_ids[ref])
        kind = v.operation if v.operation in ("upload", "transform", "restore") else "upload"
        act = w.activity(kind, v.id, f"{kind.capitalize()} of {name} v{v.number}", agent(v.created_by), v.created_at)
        w.relate(dsv_ids[ref], "wasGeneratedBy", act)
        parent = dsv_ids.get(f"{v.dataset_id}@{v.parent_number}") if v.parent_number else None
        if parent:
            w.relate(act, "used", parent)
            w.relate(dsv_ids[ref], "wasDerivedFrom", parent)

    models = {r.id: r for r in _rows(bind, "SELECT id, name, created_by, created_at FROM catalog_model")}
    for m in models.values():
        model = w.entity("model", m.id, m.name)
        w.relate(model, "wasGeneratedBy", w.activity("register", m.id, f"Registration of {m.name}",
                                                     agent(m.created_by), m.created_at))
    register: dict[str, str] = {}
    mv_ids: dict[str, str] = {}
    for v in _rows(bind, "SELECT id, model_id, version, created_by, created_at FROM catalog_model_version"):
        name = models[v.model_id].name
        ref = f"{v.model_id}@{v.version}"
        mv_ids[ref] = w.entity("model_version", ref, f"{name} {v.version}")
        w.relate(w.entity("model", v.model_id, name), "hadMember", mv_ids[ref])
        register[ref] = w.activity("register", v.id, f"Registration of {name} {v.version}", agent(v.created_by),
                                   v.created_at)
        w.relate(mv_ids[ref], "wasGeneratedBy", register[ref])

    jobs = {r.id for r in bind.execute(sa.text("SELECT id FROM core_job")).all()}
    for e in bind.execute(sa.text(f"SELECT model_id, source_type, source_id, target_type, target_id, relation "
                                  f"FROM {OLD} ORDER BY created_at, id")).all():
        if e.source_type == "model" and e.relation == "trained_on" and e.target_id in datasets:
            w.relate(w.entity("model", e.source_id, models[e.model_id].name), "wasDerivedFrom",
                     w.entity("dataset", e.target_id, datasets[e.target_id].name))
            continue
        if e.source_type != "model_version" or e.source_id not in mv_ids:
            continue  # has_version and served_by: members are back-filled above, endpoints are not kept
        target = None
        if e.target_type == "dataset_version":
            target = dsv_ids.get(e.target_id)
        elif e.target_type == "dataset" and e.target_id in datasets:
            target = w.entity("dataset", e.target_id, datasets[e.target_id].name)
        elif e.target_type == "model_version":
            target = mv_ids.get(e.target_id)
        elif e.target_type == "training_job" and e.target_id in jobs:
            target = w.entity("job", e.target_id, f"Job {e.target_id}")
        if target:
            w.relate(register[e.source_id], "used", target)
            if e.target_type != "training_job":
                w.relate(mv_ids[e.source_id], "wasDerivedFrom", target)
    w.insert(bind)


def upgrade() -> None:
    _create_tables()
    _backfill(op.get_bind())
    with op.batch_alter_table(OLD, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_model_lineage_edge_model_id"))
        batch_op.drop_index(batch_op.f("ix_catalog_model_lineage_edge_target_id"))
    op.drop_table(OLD)


def downgrade() -> None:
    op.create_table(
        OLD,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("model_id", _text(40), nullable=False),
        sa.Column("source_type", _text(24), nullable=False),
        sa.Column("source_id", _text(160), nullable=False),
        sa.Column("source_label", _text(200), nullable=True),
        sa.Column("target_type", _text(24), nullable=False),
        sa.Column("target_id", _text(160), nullable=False),
        sa.Column("target_label", _text(200), nullable=True),
        sa.Column("relation", _text(24), nullable=False),
        sa.Column("created_by", _text(40), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["catalog_model.id"], name=op.f("fk_catalog_model_lineage_edge_model_id_catalog_model")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_model_lineage_edge")),
        sa.UniqueConstraint("model_id", "source_type", "source_id", "target_type", "target_id", "relation",
                            name="uq_catalog_model_lineage_edge_model_id"),
    )
    with op.batch_alter_table(OLD, schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_model_lineage_edge_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_model_lineage_edge_target_id"), ["target_id"], unique=False)
    bind = op.get_bind()
    # A model version's members and derivations become has_version, trained_on and fine_tuned_from edges.
    rows = bind.execute(sa.text(
        "SELECT s.kind AS s_kind, s.ref AS s_ref, s.label AS s_label, r.relation, o.kind AS o_kind, o.ref AS o_ref, "
        "o.label AS o_label FROM lineage_relation r JOIN lineage_entity s ON s.id = r.subject_id "
        "JOIN lineage_entity o ON o.id = r.object_id WHERE r.relation IN ('hadMember', 'wasDerivedFrom')")).all()
    models = {r[0] for r in bind.execute(sa.text("SELECT id FROM catalog_model")).all()}
    old = sa.table(OLD, *(sa.column(c) for c in ("id", "model_id", "source_type", "source_id", "source_label",
                                                  "target_type", "target_id", "target_label", "relation",
                                                  "created_by")),
                   sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()))
    edges = []
    for r in rows:
        relation = {("model", "model_version"): "has_version", ("model_version", "dataset_version"): "trained_on",
                    ("model_version", "dataset"): "trained_on", ("model", "dataset"): "trained_on",
                    ("model_version", "model_version"): "fine_tuned_from"}.get((r.s_kind, r.o_kind))
        model_id = r.s_ref.split("@", 1)[0]
        if relation and model_id in models:
            edges.append({"id": _Writer.new_id("edge"), "model_id": model_id, "source_type": r.s_kind,
                          "source_id": r.s_ref, "source_label": r.s_label, "target_type": r.o_kind,
                          "target_id": r.o_ref, "target_label": r.o_label, "relation": relation,
                          "created_by": None, "created_at": datetime.now(UTC)})
    if edges:
        bind.execute(old.insert(), edges)
    with op.batch_alter_table("lineage_relation", schema=None) as batch_op:
        batch_op.drop_index("ix_lineage_relation_object_id")
    with op.batch_alter_table("lineage_activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lineage_activity_started_at"))
    op.drop_table("lineage_relation")
    op.drop_table("lineage_activity")
    op.drop_table("lineage_entity")
