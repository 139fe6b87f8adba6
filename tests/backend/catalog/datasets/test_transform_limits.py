"""A transform cannot grow a cell without limit (issue 12, item 3): a replacement copies its groups at
most ten times, and a step that could write a cell or a column over the limits is refused before
anything is written."""

from __future__ import annotations

import pytest

from backend.catalog.datasets.schemas import replacement_references
from backend.catalog.datasets.transforms import replacement_growth
from backend.core.config import reset_settings
from tests.backend.catalog.datasets.conftest import API, create, error_code, upload
from tests.conftest import data_files

pytestmark = pytest.mark.usefixtures("demo_users")


def _one_row(api, headers) -> str:
    dataset_id = create(api, headers, name="Growth")
    assert upload(api, headers, dataset_id, b"id,text\n1,abcdefgh\n").status_code == 201
    return dataset_id


def _versions(api, headers, dataset_id) -> int:
    return len(api.get(f"{API}/{dataset_id}/versions", headers=headers).json()["items"])


def test_the_attack_replacement_is_refused_by_the_schema(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = _one_row(api, h)
    step = {"op": "regex_replace", "columns": ["text"], "pattern": "(.+)", "replacement": "$1" * 250}
    response = api.post(f"{API}/{dataset_id}/transform", json={"steps": [step]}, headers=h)
    assert response.status_code == 422 and error_code(response) == "REQ_001", response.text
    assert "group references" in response.text
    assert _versions(api, h, dataset_id) == 1


def test_chained_growth_is_refused_before_it_is_materialised(api, auth, monkeypatch):
    monkeypatch.setenv("AISYSTEM_TRANSFORM_MAX_CELL_BYTES", "100000")
    reset_settings()
    h = auth.headers("data_scientist")
    dataset_id = _one_row(api, h)
    before = data_files()
    step = {"op": "regex_replace", "columns": ["text"], "pattern": "(.+)", "replacement": "$1" * 10}
    # The cell really grows 8 → 80 → 800 → 8,000 bytes; the bound of a step is 30 × what it reads + 20,
    # so the fourth step (up to 240,020 bytes) is refused.
    response = api.post(f"{API}/{dataset_id}/transform", json={"steps": [step] * 5}, headers=h)
    assert response.status_code == 422 and error_code(response) == "DATA_003", response.text
    details = response.json()["error"]["details"]
    assert details["step"] == 4 and details["column"] == "text" and details["op"] == "regex_replace"
    assert "limit of 100,000" in response.json()["error"]["message"]
    assert _versions(api, h, dataset_id) == 1 and data_files() == before

    allowed = api.post(f"{API}/{dataset_id}/transform", json={"steps": [step] * 3}, headers=h)
    assert allowed.status_code == 201, allowed.text


def test_column_total_is_bounded(api, auth, monkeypatch):
    monkeypatch.setenv("AISYSTEM_TRANSFORM_MAX_COLUMN_BYTES", "1000")
    reset_settings()
    h = auth.headers("data_scientist")
    dataset_id = create(api, h, name="Many rows")
    csv = b"id,text\n" + b"".join(b"%d,hello world\n" % i for i in range(200))
    assert upload(api, h, dataset_id, csv).status_code == 201
    step = {"op": "regex_replace", "columns": ["text"], "pattern": "o", "replacement": "0"}
    response = api.post(f"{API}/{dataset_id}/transform", json={"steps": [step]}, headers=h)
    assert error_code(response) == "DATA_003" and "column up to" in response.json()["error"]["message"]


def test_growth_bound_holds_for_real_replacements():
    import polars as pl

    cases = [("(.+)", "$1$1$1"), ("x*", "--"), ("(a)(b)?", "${1}$2$$"), ("[a-z]+", ""), ("(?P<w>\\w)", "<$w>")]
    for pattern, replacement in cases:
        for text in ["", "a", "abcab", "xxxx", "hello world"]:
            a, b = replacement_growth(replacement)
            out = pl.select(pl.lit(text).str.replace_all(pattern, replacement)).item()
            assert len(out.encode()) <= a * len(text.encode()) + b, (pattern, replacement, text, out)
    assert replacement_references("$1 $$ ${name} $x") == 3
