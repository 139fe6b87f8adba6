"""The data viewer's rows: GET /catalog/datasets/{id}/versions/{n}/rows pages, sorts and filters a version
the way polars does on the same file, keeps cells bounded and JSON-safe, and refuses bad input with
REQ_001 naming the parameter (never a 500)."""

from __future__ import annotations

import io
import math

import polars as pl
import pytest

from backend.catalog.datasets import rows as data_rows
from backend.catalog.datasets import service as datasets
from tests.backend.catalog.datasets.conftest import API, FEEDBACK_CSV, create, error_code, image_zip, upload


def rows_url(dataset_id: str, version: int = 1) -> str:
    return f"{API}/{dataset_id}/versions/{version}/rows"


def feedback(api, h) -> str:  # noqa: ANN001
    dataset_id = create(api, h)
    assert upload(api, h, dataset_id, FEEDBACK_CSV, "feedback.csv").status_code == 201
    return dataset_id


def expected() -> pl.DataFrame:
    return pl.read_csv(io.BytesIO(FEEDBACK_CSV))


def column(body: dict, name: str) -> list:
    at = [c["name"] for c in body["columns"]].index(name)
    return [r["values"][at] for r in body["rows"]]


def test_pages_walk_the_version_in_file_order(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = feedback(api, h)
    first = api.get(rows_url(dataset_id), params={"limit": 4}, headers=h)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [c["name"] for c in body["columns"]] == expected().columns
    assert {c["name"]: c["type"] for c in body["columns"]}["rating"] == "integer"
    assert body["totalRows"] == 10 and body["nextOffset"] == 4 and body["sort"] is None and body["filter"] is None
    assert [r["row"] for r in body["rows"]] == [0, 1, 2, 3]
    assert body["rows"][0]["values"] == list(expected().row(0))
    seen = column(body, "id")
    offset = body["nextOffset"]
    while offset is not None:
        page = api.get(rows_url(dataset_id), params={"limit": 4, "offset": offset}, headers=h).json()
        seen += column(page, "id")
        offset = page["nextOffset"]
    assert seen == expected()["id"].to_list()
    past = api.get(rows_url(dataset_id), params={"offset": 50}, headers=h).json()
    assert past["rows"] == [] and past["totalRows"] == 10 and past["nextOffset"] is None


def test_sort_and_filter_agree_with_polars(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = feedback(api, h)
    frame = expected()
    body = api.get(rows_url(dataset_id), params={"sort": "-rating", "limit": 100}, headers=h).json()
    assert column(body, "id") == frame.sort("rating", descending=True, nulls_last=True, maintain_order=True)["id"].to_list()
    assert column(body, "rating")[-1] is None  # nulls last, also when descending
    assert body["sort"] == "rating" and body["descending"] is True
    same = api.get(rows_url(dataset_id), params={"sort": "rating", "descending": "true", "limit": 100}, headers=h)
    assert column(same.json(), "id") == column(body, "id")

    condition = 'rating >= 3 and sentiment in ["positive", "neutral"]'
    filtered = api.get(rows_url(dataset_id), params={"filter": condition, "sort": "text", "limit": 2}, headers=h).json()
    want = (frame.with_row_index("row").filter((pl.col("rating") >= 3) & pl.col("sentiment").is_in(["positive", "neutral"]))
            .sort("text"))
    assert filtered["totalRows"] == want.height == 6 and filtered["filter"] == condition
    assert [r["row"] for r in filtered["rows"]] == want["row"].to_list()[:2]
    rest = api.get(rows_url(dataset_id), params={"filter": condition, "sort": "text", "offset": 2}, headers=h).json()
    assert [r["row"] for r in rest["rows"]] == want["row"].to_list()[2:] and rest["nextOffset"] is None
    nulls = api.get(rows_url(dataset_id), params={"filter": "email is null"}, headers=h).json()
    assert nulls["totalRows"] == frame["email"].null_count() == 8
    none = api.get(rows_url(dataset_id), params={"filter": "rating > 1000"}, headers=h).json()
    assert none["rows"] == [] and none["totalRows"] == 0


def test_an_older_version_shows_its_own_rows(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = feedback(api, h)
    assert upload(api, h, dataset_id, b"id,text\n1,only row\n", "v2.csv").status_code == 201
    assert api.get(rows_url(dataset_id, 2), headers=h).json()["totalRows"] == 1
    assert api.get(rows_url(dataset_id, 1), headers=h).json()["totalRows"] == 10


@pytest.mark.parametrize(("params", "field"), [
    ({"sort": "nope"}, "sort"),
    ({"sort": "-nope"}, "sort"),
    ({"filter": "nope > 1"}, "filter"),
    ({"filter": "rating >"}, "filter"),
    ({"filter": "rating + 1"}, "filter"),
    ({"filter": "text > 3"}, "filter"),
    ({"filter": 'round(rating, "x") > 1'}, "filter"),
    ({"filter": "__import__('os')"}, "filter"),
    ({"limit": 0}, "limit"),
    ({"limit": data_rows.MAX_LIMIT + 1}, "limit"),
    ({"offset": -1}, "offset"),
])
def test_bad_sort_filter_or_paging_is_req_001_naming_it(api, auth, params, field):
    h = auth.headers("data_scientist")
    dataset_id = feedback(api, h)
    response = api.get(rows_url(dataset_id), params=params, headers=h)
    assert response.status_code == 422 and error_code(response) == "REQ_001", response.text
    named = [f["field"].removeprefix("query.") for f in response.json()["error"]["details"]["fields"]]
    assert named == [field], response.json()


def test_sorting_by_a_binary_column_is_refused(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = create(api, h, type="image")
    assert upload(api, h, dataset_id, image_zip(), "images.zip").status_code == 201
    body = api.get(rows_url(dataset_id), headers=h).json()
    kinds = {c["name"]: c["type"] for c in body["columns"]}
    binary = next(name for name, kind in kinds.items() if kind == "binary")
    sizes = column(body, binary)
    assert all(isinstance(size, int) and size > 0 for size in sizes)  # a size in bytes, never the bytes
    refused = api.get(rows_url(dataset_id), params={"sort": binary}, headers=h)
    assert error_code(refused) == "REQ_001" and "binary" in refused.json()["error"]["message"]


def test_missing_versions_and_other_peoples_datasets_are_not_found(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = feedback(api, h)
    assert error_code(api.get(rows_url(dataset_id, 9), headers=h)) == "DATA_001"
    assert error_code(api.get(rows_url("dataset_00000000000000000000"), headers=h)) == "DATA_001"
    other = auth.headers("ml_engineer")  # may read datasets, but this one was not shared
    assert api.get(rows_url(dataset_id), headers=other).status_code == 404
    assert api.get(rows_url(dataset_id), headers=auth.headers("business_user")).status_code == 403
    assert api.get(rows_url(dataset_id)).status_code == 401
    empty = create(api, h, name="Empty")
    assert error_code(api.get(rows_url(empty), headers=h)) == "DATA_001"


def test_cells_are_bounded_and_json_safe(session, principals, tmp_path):
    actor = principals["data_scientist"]
    dataset = datasets.create_dataset(session=session, actor=actor, data={"name": "Odd values", "type": "tabular"})
    frame = pl.DataFrame({
        "long": ["x" * 5000, "short"],
        "ratio": [float("nan"), float("inf")],
        "tags": [[1, 2], [3]],
        "-rank": [2, 1],
        "rank": [1, 2],
    })
    path = tmp_path / "odd.parquet"
    frame.write_parquet(path)
    datasets.upload(session=session, actor=actor, dataset_id=dataset.id, source=path, filename="odd.parquet")
    _row, page = datasets.read_rows(session=session, actor=actor, dataset_id=dataset.id)
    long = page.rows[0][0]
    assert len(long) == data_rows.CELL_CHARS + 1 and long.endswith(data_rows.ELLIPSIS) and page.truncated == 1
    assert page.rows[1][0] == "short"
    assert [data_rows.json_cell(v) for v in (page.rows[0][1], page.rows[1][1])] == ["NaN", "Infinity"]
    assert math.isnan(page.rows[0][1])
    assert page.rows[0][2] == "[1, 2]"  # lists come back as JSON text
    # A column really named "-rank" sorts by itself; `descending` reverses it.
    assert datasets.read_rows(session=session, actor=actor, dataset_id=dataset.id, sort="-rank")[1].positions == [1, 0]
    assert datasets.read_rows(session=session, actor=actor, dataset_id=dataset.id, sort="-rank",
                              descending=True)[1].positions == [0, 1]
    assert datasets.read_rows(session=session, actor=actor, dataset_id=dataset.id, sort="rank",
                              descending=True)[1].positions == [1, 0]


def test_pages_of_a_large_version_match_polars(tmp_path):
    """Sorted and filtered pages of 200,000 rows in 20 row groups are polars' rows, in polars' order."""
    n = 200_000
    frame = pl.DataFrame({"k": [(i * 7919) % n for i in range(n)], "text": [f"row {i}" for i in range(n)]})
    path = tmp_path / "big.parquet"
    frame.write_parquet(path, row_group_size=10_000)
    page = data_rows.read_page(path, record_count=n, limit=5, offset=100, sort="k", descending=True,
                               filter="k % 2 == 0")
    want = frame.with_row_index("row").filter(pl.col("k") % 2 == 0).sort("k", descending=True).slice(100, 5)
    assert page.positions == want["row"].to_list() and [r[0] for r in page.rows] == want["k"].to_list()
    assert page.total == n // 2
    plain = data_rows.read_page(path, record_count=n, limit=3, offset=150_000)
    assert plain.positions == [150_000, 150_001, 150_002] and plain.rows[0][1] == "row 150000"
