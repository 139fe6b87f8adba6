"""Helpers of the dataset tests: principals, sample files, upload helpers and a data-dir snapshot."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from backend.catalog.datasets import media
from backend.core.config import get_settings

API = "/api/v1/catalog/datasets"

FEEDBACK_CSV = (
    b"id,text,sentiment,rating,email\n"
    b"1,Great product,positive,5,ann@example.com\n"
    b"2,Terrible support,negative,1,\n"
    b"3,It is fine,neutral,3,bob@example.org\n"
    b"4,Love it,positive,5,\n"
    b"5,Broken on arrival,negative,1,\n"
    b"6,Okay I guess,neutral,3,\n"
    b"7,Superb,positive,4,\n"
    b"8,Awful,negative,2,\n"
    b"9,Meh,neutral,,\n"
    b"10,Fantastic value,positive,500,\n"
)


def datasets_root() -> Path:
    return get_settings().artifacts_dir / "datasets"


def create(api, headers, name="Feedback", type="tabular", **extra) -> str:  # noqa: A002
    response = api.post(API, json={"name": name, "type": type, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upload(api, headers, dataset_id, data: bytes, filename="data.csv", labels: bytes | None = None, message=None):
    files = {"file": (filename, data, "application/octet-stream")}
    if labels is not None:
        files["labels"] = ("labels.csv", labels, "text/csv")
    return api.post(f"{API}/{dataset_id}/upload", files=files, data={"message": message} if message else None,
                    headers=headers)


def make_zip(members: dict[str, bytes], *, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def image_zip() -> bytes:
    return make_zip({"cat/a.png": media.png_bytes([[0, 255], [255, 0]]),
                     "cat/b.png": media.png_bytes([[1, 2, 3], [4, 5, 6]]),
                     "dog/c.png": media.png_bytes([[9] * 4] * 3)})


def error_code(response) -> str:
    return response.json()["error"]["code"]
