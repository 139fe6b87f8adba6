"""The UI's download path (`/files/datasets/<id>`): the browser's session cookie lets its user download
exactly what the datasets service lets them read; no cookie, a forged or ended session, another
user's dataset or a bad parameter get the API's JSON errors and no bytes. The REST API itself still
ignores cookies."""

from __future__ import annotations

import hashlib
import io

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from aisystem_app import access, downloads
from aisystem_app.state.session import SESSION_COOKIE
from backend.api import create_api
from backend.catalog.datasets import service as datasets
from backend.catalog.datasets import storage
from backend.catalog.datasets.models import DatasetVersion
from backend.core.db import session_scope
from tests.backend.catalog.datasets.conftest import FEEDBACK_CSV
from tests.conftest import DEMO_PASSWORD


@pytest.fixture
def client(db_backend):  # noqa: ANN001
    """The server's root app with the UI's download path, as `aisystem_app.py` assembles it."""
    with TestClient(downloads.mount(create_api()), raise_server_exceptions=False) as test_client:
        yield test_client


def cookie_of(username: str) -> str:
    signed = access.sign_in(username, DEMO_PASSWORD, "203.0.113.9")
    assert signed is not None and signed.token
    return signed.token


@pytest.fixture
def dataset_id(principals) -> str:  # noqa: ANN001
    with session_scope() as session:
        dataset = datasets.create_dataset(session=session, actor=principals["data_scientist"],
                                          data={"name": "Feedback <b>export</b>", "type": "tabular"})
        datasets.upload(session=session, actor=principals["data_scientist"], dataset_id=dataset.id,
                        source=io.BytesIO(FEEDBACK_CSV), filename="feedback.csv")
        return dataset.id


def get(client: TestClient, url: str, token: str | None = None):  # noqa: ANN201
    client.cookies.clear()
    if token is not None:
        client.cookies.set(SESSION_COOKIE, token)
    return client.get(url)


def test_the_signed_in_owner_downloads_each_format(client, dataset_id) -> None:
    token = cookie_of("data_scientist")
    parquet = get(client, downloads.dataset_file_url(dataset_id, 1, "parquet"), token)
    assert parquet.status_code == 200, parquet.text
    with session_scope(write=False) as session:
        version = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)).one()
    assert hashlib.sha256(parquet.content).hexdigest() == version.blob_sha256 == parquet.headers["x-content-sha256"]
    assert storage.existing_blob(version.blob_sha256).read_bytes() == parquet.content
    assert parquet.headers["content-disposition"].startswith("attachment")
    assert parquet.headers["content-security-policy"] == "sandbox"
    assert pl.read_parquet(io.BytesIO(parquet.content)).height == 10
    csv = get(client, downloads.dataset_file_url(dataset_id, 1, "csv"), token)
    assert csv.status_code == 200 and csv.text.splitlines()[0] == "id,text,sentiment,rating,email"
    assert csv.headers["content-disposition"].endswith('-v1.csv"')
    newest = get(client, f"{downloads.DATASET_FILES}/{dataset_id}?format=jsonl", token)
    assert newest.status_code == 200 and len(newest.text.strip().splitlines()) == 10


@pytest.mark.parametrize(("who", "status", "code"), [
    (None, 401, "AUTH_001"),
    ("forged", 401, "AUTH_001"),
    ("ml_engineer", 404, "DATA_001"),  # may read datasets, but this one was not shared with them
    ("business_user", 404, "DATA_001"),  # may not read datasets at all: as if it did not exist
])
def test_others_get_an_error_and_no_bytes(client, dataset_id, demo_users, who, status, code) -> None:
    token = None if who is None else "session_" + "x" * 40 if who == "forged" else cookie_of(who)
    response = get(client, downloads.dataset_file_url(dataset_id, 1, "parquet"), token)
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert b"PAR1" not in response.content


def test_a_signed_out_session_no_longer_downloads(client, dataset_id) -> None:
    signed = access.sign_in("data_scientist", DEMO_PASSWORD, "203.0.113.9")
    url = downloads.dataset_file_url(dataset_id, 1, "parquet")
    assert get(client, url, signed.token).status_code == 200
    access.sign_out(access.Caller(signed.profile.user_id, signed.signed_in_at, None, signed.session_id))
    assert get(client, url, signed.token).json()["error"]["code"] == "AUTH_001"


@pytest.mark.parametrize("query", ["version=0", "version=x", "version=1&format=exe", "format=../../etc/passwd"])
def test_bad_parameters_are_req_001(client, dataset_id, query) -> None:
    response = get(client, f"{downloads.DATASET_FILES}/{dataset_id}?{query}", cookie_of("data_scientist"))
    assert response.status_code == 422 and response.json()["error"]["code"] == "REQ_001"


def test_missing_version_or_dataset_is_data_001(client, dataset_id) -> None:
    token = cookie_of("data_scientist")
    assert get(client, downloads.dataset_file_url(dataset_id, 7, "csv"), token).json()["error"]["code"] == "DATA_001"
    assert get(client, f"{downloads.DATASET_FILES}/..%2F..%2Fetc", token).status_code in (404, 422)


def test_the_rest_api_still_ignores_the_cookie(client, dataset_id) -> None:
    response = get(client, f"/api/v1/catalog/datasets/{dataset_id}/download", cookie_of("data_scientist"))
    assert response.status_code == 401 and response.json()["error"]["code"] == "AUTH_001"
