"""Service-level behaviour, called as the Reflex pages and the worker call it (in-process)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlmodel import select

from backend.catalog.datasets import drift, pii, profiling, service, storage
from backend.catalog.datasets.expressions import ExpressionError, compile_expression
from backend.catalog.datasets.models import Dataset, DatasetVersion
from backend.core import artifacts
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from tests.backend.catalog.datasets.conftest import FEEDBACK_CSV
from tests.conftest import data_files


def make(session, actor, data=FEEDBACK_CSV, **fields):
    dataset = service.create_dataset(session=session, actor=actor, data={"name": "t", "type": "tabular", **fields})
    session.commit()
    outcome = service.upload(session=session, actor=actor, dataset_id=dataset.id, source=io.BytesIO(data),
                             filename="d.csv")
    session.commit()
    return dataset.id, outcome


# --- expressions ---------------------------------------------------------------------------------------

FRAME = pl.DataFrame({"a": [1, 2, 3, None], "s": ["x", "Y", "zz", None], "my col": [1.5, 2.5, 3.5, 4.5]})


@pytest.mark.parametrize("text,rows", [
    ('a > 1 and s != "zz"', 1), ("a in [1, 3] or s is null", 3), ("len(s) >= 2", 1), ("`my col` * 2 > 6", 2),
    ("not (a == 2)", 2), ('lower(s) == "y"', 1), ('matches(s, "^[a-z]+$")', 2), ("a not in [1]", 2),
    ("-a < -1", 2), ("abs(-a) == 2", 1), ("a is not null and a % 2 == 1", 2), ('startswith(s, "z")', 1),
])
def test_expressions_compile_to_polars(text, rows):
    assert FRAME.filter(compile_expression(text, FRAME.columns)).height == rows


@pytest.mark.parametrize("text", [
    "__import__('os').system('id')", "__import__", "a.__class__", "a[0]", "open('x')", "eval('1')", "lambda: 1",
    "a; 1", "(" * 100 + "a" + ")" * 100, "a >", "", "a ** 2", "getattr(a, 'x')", "x" * 3000, "matches(s, '(')",
])
def test_unsafe_or_malformed_expressions_are_refused(text):
    with pytest.raises(ExpressionError):
        compile_expression(text, FRAME.columns)


# --- profiling formulas -----------------------------------------------------------------------------------


def test_profile_figures_follow_the_documented_formulas(tmp_path: Path):
    frame = pl.DataFrame({
        "x": [1.0, 2.0, 3.0, 4.0, 100.0, None, float("nan"), 2.0],
        "c": ["a", "A", "a", " a", "b", None, "", "a"],
        "label": ["p", "n", "p", "p", "n", "p", "p", "p"],
    })
    frame = pl.concat([frame, frame.head(1)])  # one duplicate row
    path = tmp_path / "f.parquet"
    frame.write_parquet(path)
    prof = profiling.compute_profile(path)
    rows, cells = 9, 27
    nulls = 1 + 1  # x None, c None
    assert prof["statistics"]["nullValues"] == nulls / cells
    assert prof["statistics"]["duplicates"] == 1 / rows
    assert prof["columns"]["x"]["outliers"] == 1  # 100 lies beyond Q3 + 1.5 IQR
    assert prof["statistics"]["classDistribution"] == {"p": round(7 / 9, 6), "n": round(2 / 9, 6)}
    q = prof["quality"]
    assert q["completeness"] == round(1 - nulls / cells, 6)
    assert q["validity"] == round(1 - 2 / (cells - nulls), 6)  # one NaN, one empty string
    # c: "A" and " a" are spelling variants of the more frequent "a"
    assert prof["columns"]["c"]["spellingVariants"] == 2
    text_cells = 8 + 9  # c non-null + label
    assert q["consistency"] == round(((1 - 2 / text_cells) + (1 - 1 / rows)) / 2, 6)
    assert q["accuracy"] == round(1 - 1 / 7, 6)  # 7 finite numeric cells in x
    assert q["overall"] == round(sum(q[k] for k in ("completeness", "validity", "consistency", "accuracy")) / 4, 6)
    assert prof["passes"] == 2


# --- drift and PII ------------------------------------------------------------------------------------------


def test_drift_is_zero_for_the_same_data_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    ref = pl.DataFrame({"x": rng.normal(0, 1, 5000), "c": rng.choice(["a", "b"], 5000)})
    same = drift.drift_report(ref, ref)
    assert same["driftScore"] == 0 and same["columns"]["x"]["psi"] < 1e-9 and same["columns"]["x"]["ks"] == 0
    shifted = ref.with_columns(pl.col("x") + 1.0, pl.lit("a").alias("c"))
    report = drift.drift_report(ref, shifted)
    assert report["columns"]["x"]["drift"] and report["columns"]["x"]["pValue"] < 1e-6
    assert report["columns"]["c"]["psi"] > 0.25 and report["driftScore"] == 1.0


def test_ks_matches_the_textbook_statistic():
    d, p = drift.ks_2samp(np.array([1, 2, 3, 4]), np.array([3, 4, 5, 6]))
    assert d == 0.5 and 0 < p < 1


@pytest.mark.parametrize("number,valid", [("4111 1111 1111 1111", True), ("4111 1111 1111 1112", False),
                                          ("5500-0000-0000-0004", True), ("1234", False)])
def test_luhn(number, valid):
    assert pii.luhn_valid(number) is valid


@pytest.mark.parametrize("iban,valid", [("DE89 3704 0044 0532 0130 00", True), ("DE89 3704 0044 0532 0130 01", False),
                                        ("GB82WEST12345698765432", True), ("XX00", False)])
def test_iban(iban, valid):
    assert pii.iban_valid(iban) is valid


def test_pii_detection_validates_candidates_and_masks_examples():
    frame = pl.DataFrame({"t": ["mail me: jo@example.com", "card 4111 1111 1111 1111", "card 4111 1111 1111 1112",
                                "ip 192.168.1.20", "iban DE89 3704 0044 0532 0130 00", "call +1 555-123-4567",
                                "nothing here"], "n": list(range(7))})
    report = pii.detect(frame)
    found = report["columns"]["t"]
    assert report["containsPII"] and set(found) == {"email", "credit_card", "ip_address", "iban", "phone"}
    assert found["credit_card"]["rows"] == 1  # the Luhn-invalid number is not counted
    assert "4111 1111 1111 1111" not in str(report) and "jo@example.com" not in str(report)


# --- split, versions, rollback, in-process callers -------------------------------------------------------


def test_split_frames_are_deterministic_and_stratified(session, principals):
    actor = principals["data_scientist"]
    data = ("id,label\n" + "".join(f"{i},{'a' if i % 5 else 'b'}\n" for i in range(500))).encode()
    dataset_id, _ = make(session, actor, data)
    request = {"train": 0.6, "validation": 0.2, "test": 0.2, "stratifyBy": "label", "seed": 7}
    service.split(session=session, actor=actor, dataset_id=dataset_id, request=request)
    session.commit()
    first = {k: v.collect() for k, v in service.split_frames(session=session, actor=actor,
                                                              dataset_id=dataset_id).items()}
    service.split(session=session, actor=actor, dataset_id=dataset_id, request=request)
    session.commit()
    second = {k: v.collect() for k, v in service.split_frames(session=session, actor=actor,
                                                               dataset_id=dataset_id).items()}
    assert all(first[k]["id"].to_list() == second[k]["id"].to_list() for k in first)
    assert sum(f.height for f in first.values()) == 500
    assert set(first["train"]["id"]).isdisjoint(first["test"]["id"])
    for name, frame in first.items():  # class shares preserved (1 in 5 is "b")
        assert frame.filter(pl.col("label") == "b").height / frame.height == pytest.approx(0.2, abs=0.01), name
    other = {**request, "seed": 8}
    service.split(session=session, actor=actor, dataset_id=dataset_id, request=other)
    session.commit()
    third = service.split_frames(session=session, actor=actor, dataset_id=dataset_id)["train"].collect()
    assert third["id"].to_list() != first["train"]["id"].to_list()


def test_upload_takes_a_path_or_a_stream(session, principals, tmp_path):
    actor = principals["ml_engineer"]
    path = tmp_path / "feedback.csv"
    path.write_bytes(FEEDBACK_CSV.replace(b",", b";"))
    dataset = service.create_dataset(session=session, actor=actor, data={"name": "p", "type": "text"})
    session.commit()
    outcome = service.upload(session=session, actor=actor, dataset_id=dataset.id, source=path, filename=path.name)
    session.commit()
    assert outcome.version.record_count == 10 and outcome.version.column_count == 5  # ';' was sniffed
    latin = "name,city\nJosé,Köln\nZoë,Zürich\n".encode("latin-1")
    outcome = service.upload(session=session, actor=actor, dataset_id=dataset.id, source=io.BytesIO(latin))
    session.commit()
    # Windows-1252 reads these bytes as Latin-1 does, and is preferred: it also reads – ’ € (issue 11)
    assert outcome.version.source_encoding == "cp1252"
    frame = service.open_frame(session=session, actor=actor, dataset_id=dataset.id).collect()
    assert frame["city"].to_list() == ["Köln", "Zürich"]


def test_a_rolled_back_upload_leaves_no_version_and_no_blob(session, principals):
    actor = principals["data_scientist"]
    dataset = service.create_dataset(session=session, actor=actor, data={"name": "r", "type": "tabular"})
    session.commit()
    before = data_files()
    outcome = service.upload(session=session, actor=actor, dataset_id=dataset.id,
                             source=io.BytesIO(FEEDBACK_CSV + b"11,new,positive,5,\n"))
    key = storage.blob_key(outcome.version.blob_sha256)
    assert artifacts.get_store().exists(key)
    session.rollback()  # e.g. the request failed after the service returned
    assert not artifacts.get_store().exists(key) and data_files() == before
    with session_scope(write=False) as s:
        assert s.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)).first() is None


def test_identical_content_in_two_datasets_shares_one_blob(session, principals):
    actor = principals["data_scientist"]
    first, one = make(session, actor)
    second, two = make(session, actor)
    assert one.version.blob_sha256 == two.version.blob_sha256 and first != second


def test_list_visibility_by_owner_role_department_and_user(session, principals):
    owner, engineer, business = principals["data_scientist"], principals["data_engineer"], principals["ml_engineer"]
    dataset_id, _ = make(session, owner)
    visible = lambda actor: [d.id for d in service.list_datasets(  # noqa: E731
        session=session, actor=actor, params=PageParams())[0]]
    assert dataset_id in visible(owner) and dataset_id not in visible(engineer)
    service.share(session=session, actor=owner, dataset_id=dataset_id, entry={"subjectType": "role",
                                                                             "subject": "data_engineer"})
    session.commit()
    assert dataset_id in visible(engineer) and dataset_id not in visible(business)
    service.set_access(session=session, actor=owner, dataset_id=dataset_id,
                       entries=[{"subjectType": "department", "subject": "AI Lab"}])
    session.commit()
    assert dataset_id in visible(business) and dataset_id not in visible(engineer)
    with pytest.raises(AISystemError) as excinfo:
        service.get_dataset(session=session, actor=engineer, dataset_id=dataset_id)
    assert excinfo.value.code == "DATA_001"


def test_transform_steps_each_do_what_they_say(session, principals):
    actor = principals["data_engineer"]
    data = b"k,v,t\n1,10,  A b \n1,10,  A b \n2,,x@y.com\n3,30,z\n"
    dataset_id, _ = make(session, actor, data)

    def run(steps):
        row = service.transform(session=session, actor=actor, dataset_id=dataset_id, steps=steps, version=1)
        session.commit()
        return pl.read_parquet(storage.existing_blob(row.blob_sha256))

    assert run([{"op": "deduplicate"}]).height == 3
    assert run([{"op": "drop_nulls", "columns": ["v"]}]).height == 3
    assert run([{"op": "fill_null", "columns": ["v"], "strategy": "mean"}])["v"].null_count() == 0
    assert run([{"op": "fill_null", "columns": ["v"], "value": 0}])["v"].to_list() == [10, 10, 0, 30]
    assert run([{"op": "sort", "by": ["k"], "descending": True}])["k"].to_list() == [3, 2, 1, 1]
    assert run([{"op": "sample", "n": 2, "seed": 1}]).height == 2
    assert run([{"op": "sample", "n": 2, "seed": 1}]).equals(run([{"op": "sample", "n": 2, "seed": 1}]))
    norm = run([{"op": "normalize", "columns": ["v"]}])["v"].drop_nulls().to_list()
    assert min(norm) == 0 and max(norm) == 1
    std = run([{"op": "standardize", "columns": ["k"]}])["k"]
    assert abs(std.mean()) < 1e-9
    assert run([{"op": "strip", "columns": ["t"]}, {"op": "lowercase", "columns": ["t"]}])["t"][0] == "a b"
    assert run([{"op": "regex_replace", "columns": ["t"], "pattern": r"\s+", "replacement": "_"}])["t"][0] == "_A_b_"
    assert run([{"op": "mask_pii", "columns": ["t"], "method": "redact"}])["t"][2] == "[REDACTED]"
    assert run([{"op": "cast", "columns": {"k": "string"}}]).schema["k"] == pl.String
    assert run([{"op": "select", "columns": ["t", "k"]}]).columns == ["t", "k"]
    assert set(run([{"op": "one_hot", "columns": ["k"]}]).columns) == {"v", "t", "k_1", "k_2", "k_3"}


def test_seed_is_idempotent_and_demo_data_is_readable_by_data_roles(session, principals):
    from backend.catalog.datasets.seed import seed_demo_datasets

    assert "created" in seed_demo_datasets(session)
    session.commit()
    assert seed_demo_datasets(session) == "demo datasets already present"
    session.commit()
    rows = session.exec(select(Dataset)).all()
    assert len(rows) == 5 and all(r.status == "available" for r in rows)
    by_name = {r.name: r for r in rows}
    assert by_name["Handwritten Digits"].type == "image" and by_name["Handwritten Digits"].record_count == 1797
    assert by_name["Breast Cancer Wisconsin"].record_count == 569
    assert by_name["Customer Feedback"].record_count == 3000
    for role in ("ml_engineer", "data_scientist", "data_engineer"):
        assert len(service.list_datasets(session=session, actor=principals[role], params=PageParams())[0]) == 5
    _d, _v, prof = service.profile(session=session, actor=principals["data_scientist"],
                                   dataset_id=by_name["Customer Feedback"].id)
    assert set(prof["statistics"]["classDistribution"]) == {"positive", "negative", "neutral"}
    digits = service.profile(session=session, actor=principals["data_scientist"],
                             dataset_id=by_name["Handwritten Digits"].id)[2]
    assert digits["columns"]["width"]["min"] == digits["columns"]["width"]["max"] == 8
    assert len(digits["statistics"]["classDistribution"]) == 10
