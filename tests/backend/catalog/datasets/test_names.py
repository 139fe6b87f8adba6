"""Names a user gives are stored as they read (issue 12, item 7): a blank dataset name is refused, and
bidirectional controls (U+202E …) never reach a stored file name."""

from __future__ import annotations

import pytest

from backend.catalog.datasets import media
from backend.core.artifacts import safe_file_name
from tests.backend.catalog.datasets.conftest import API, FEEDBACK_CSV, create, error_code, make_zip, upload

pytestmark = pytest.mark.usefixtures("demo_users")


@pytest.mark.parametrize("body", [{"name": " "}, {"name": "\u3000 \u00a0"}, {"name": "ok", "compliance": ["  "]}])
def test_a_blank_name_is_a_validation_error(api, auth, body):
    response = api.post(API, json={"type": "tabular", **body}, headers=auth.headers("data_scientist"))
    assert response.status_code == 422 and error_code(response) == "REQ_001", response.text
    assert "must not be blank" in response.text


def test_a_blank_rename_is_refused(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = create(api, h)
    response = api.put(f"{API}/{dataset_id}", json={"name": "   "}, headers=h)
    assert response.status_code == 422 and error_code(response) == "REQ_001", response.text
    assert api.get(f"{API}/{dataset_id}", headers=h).json()["name"] == "Feedback"


@pytest.mark.parametrize("char", ["\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f",
                                  "\u061c", "\u202a"])
def test_bidi_controls_never_reach_a_stored_file_name(char):
    assert safe_file_name(f"invoice{char}fdp.exe") == "invoicefdp.exe"


def test_an_uploaded_file_name_is_stored_without_bidi_controls(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = create(api, h)
    assert upload(api, h, dataset_id, FEEDBACK_CSV, filename="report\u202evsc.csv").status_code == 201
    version = api.get(f"{API}/{dataset_id}/versions/1", headers=h).json()
    assert version["sourceFilename"] == "reportvsc.csv"


def test_an_archive_member_with_a_bidi_control_is_refused(api, auth):
    h = auth.headers("data_scientist")
    dataset_id = create(api, h, name="Images", type="image")
    png = media.png_bytes([[1, 2], [3, 4]])
    response = upload(api, h, dataset_id, make_zip({"cat/a.png": png, "cat/b\u202egnp.exe": png}),
                      filename="images.zip")
    assert response.status_code == 422 and error_code(response) == "DATA_002", response.text
    assert "bidirectional" in response.json()["error"]["message"]
