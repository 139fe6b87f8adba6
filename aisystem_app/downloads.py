"""Files a signed-in browser downloads from the UI, streamed from the artifact store.

The REST API takes bearer tokens and API keys only (never a cookie, so no other site can make a
browser call it). A browser tab has neither: it proves who it is with its session cookie, which
only this site's own pages send (`SameSite=Strict`). So the UI serves its downloads itself, on a
path of its own: `GET /files/datasets/<id>?version=&format=` takes the cookie, resumes the browser
session (revoked, expired or outlived-password sessions are refused), and runs the datasets service
as that user, who must be allowed to read the dataset exactly as through the API. It changes
nothing, and answers errors in the API's JSON shape.
"""

from __future__ import annotations

import re
from functools import partial
from urllib.parse import quote, urlencode

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from aisystem_app import access
from aisystem_app.state.session import SESSION_COOKIE
from backend.api import error_response
from backend.catalog.datasets import service as datasets
from backend.core.errors import AISystemError, InvalidRequest, NotAuthenticated
from backend.core.http import client_ip

DATASET_FILES = "/files/datasets"
_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")


def dataset_file_url(dataset_id: str, version: int, fmt: str) -> str:
    """The path the browser fetches a dataset version from (see `dataset_file`)."""
    return f"{DATASET_FILES}/{quote(dataset_id, safe='')}?{urlencode({'version': version, 'format': fmt})}"


def _caller(request: Request) -> access.Caller:
    """The signed-in user of the browser session the request's cookie names; AUTH_001 without one."""
    token = request.cookies.get(SESSION_COOKIE, "")
    address = client_ip(request)
    signed = access.resume(token, address) if token and len(token) <= 200 else None
    if signed is None:
        raise NotAuthenticated("Sign in to download files")
    return access.Caller(signed.profile.user_id, signed.signed_in_at, address, signed.session_id)


def _download(request: Request, dataset_id: str) -> datasets.Download:
    version = request.query_params.get("version", "")
    fmt = request.query_params.get("format", "parquet")
    if version and not _VERSION.match(version):
        raise InvalidRequest("version must be a version number", {"version": "a whole number from 1"})
    if fmt not in datasets.EXPORT_FORMATS:
        raise InvalidRequest("Unknown format", {"format": f"one of {', '.join(datasets.EXPORT_FORMATS)}"})

    def work(session, principal):  # noqa: ANN001, ANN202
        return datasets.download(session=session, actor=principal, dataset_id=dataset_id,
                                 version=int(version) if version else None, fmt=fmt)

    return access.run_as(_caller(request), work)


async def dataset_file(request: Request) -> Response:
    """A dataset version's file, for the signed-in browser that may read the dataset."""
    try:
        item = await run_in_threadpool(partial(_download, request, request.path_params["dataset_id"][:64]))
    except AISystemError as error:
        return error_response(error.code, error.message, error.details)
    return FileResponse(
        item.path, media_type=item.media_type, filename=item.filename, content_disposition_type="attachment",
        headers={"X-Content-SHA256": item.sha256, "Content-Security-Policy": "sandbox",
                 "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
                 "Content-Length": str(item.size)},
    )


RUN_FILES = "/files/runs"


def run_file_url(run_id: str, path: str) -> str:
    """The path the browser fetches one of a run's files from (see `run_file`)."""
    return f"{RUN_FILES}/{quote(run_id, safe='')}/{quote(path, safe='/')}"


def _run_artifact(request: Request, run_id: str, path: str):  # noqa: ANN202
    from backend.catalog.experiments import service as experiments

    def work(session, principal):  # noqa: ANN001, ANN202
        return experiments.get_run_artifact(session=session, actor=principal, run_id=run_id, path=path)

    return access.run_as(_caller(request), work)


async def run_file(request: Request) -> Response:
    """A run's stored file, for the signed-in browser that may read experiments."""
    import posixpath

    from backend.core import artifacts

    try:
        row = await run_in_threadpool(partial(_run_artifact, request, request.path_params["run_id"][:64],
                                              request.path_params["path"][:500]))
    except AISystemError as error:
        return error_response(error.code, error.message, error.details)
    return FileResponse(
        artifacts.get_store().local_path(row.key), media_type="application/octet-stream",
        filename=artifacts.download_name(posixpath.basename(row.path)), content_disposition_type="attachment",
        headers={"X-Content-SHA256": row.sha256, "Content-Security-Policy": "sandbox",
                 "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )


def mount(root: FastAPI) -> FastAPI:
    """Add the UI's download paths to the server's root app (before Reflex mounts its own behind them)."""
    root.add_route(DATASET_FILES + "/{dataset_id}", dataset_file, methods=["GET"])
    root.add_route(RUN_FILES + "/{run_id}/{path:path}", run_file, methods=["GET"])
    return root
