"""REST routes of the dataset catalog: /api/v1/catalog/datasets (thin: the service does the work)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.catalog.datasets import body, service, storage
from backend.catalog.datasets import rows as data_rows
from backend.catalog.datasets.schemas import (
    AccessEntry,
    AccessList,
    AccessUpdate,
    AnalyzeRequest,
    DatasetCreate,
    DatasetRead,
    DatasetUpdate,
    PreviewResult,
    ProfileResponse,
    QualityResponse,
    RowsPage,
    SplitRequest,
    StatisticsResponse,
    TransformRequest,
    UploadResult,
    ValidateRequest,
    ValidationReport,
    VersionCreate,
    VersionRead,
)
from backend.core.errors import AISystemError, InvalidRequest
from backend.core.http import COMMON_ERRORS, error_responses, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page
from backend.jobs.schemas import JobRead
from backend.lineage.schemas import MAX_DEPTH, LineageGraph

router = APIRouter(prefix="/catalog/datasets", tags=["datasets"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
DatasetId = Annotated[str, Path(max_length=64, description="The dataset id (`dataset_…`)")]
VersionNo = Annotated[int, Path(ge=1, le=2**31 - 1)]
VersionQuery = Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Version number (default: newest)")]
NOT_FOUND = error_responses(404)


def _read(session: Session, principal: Principal, dataset, compute: bool = False) -> DatasetRead:  # noqa: ANN001
    return DatasetRead.model_validate(service.dataset_document(session=session, actor=principal, dataset=dataset,
                                                               compute=compute))


def _version(row) -> VersionRead:  # noqa: ANN001
    return VersionRead.model_validate(service.version_document(row))


def _access(dataset, entries) -> AccessList:  # noqa: ANN001
    return AccessList.model_validate({"datasetId": dataset.id, "owner": dataset.created_by,
                                      "entries": [e.model_dump() for e in entries]})


@router.get("", response_model=Page[DatasetRead], summary="Datasets you may see")
def list_datasets(
    session: SessionDep,
    type: Annotated[Literal["text", "image", "audio", "tabular"] | None, Query()] = None,  # noqa: A002
    status: Annotated[Literal["empty", "available"] | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=100, description="Name contains (case-insensitive)")] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    created_by: Annotated[str | None, Query(alias="createdBy", max_length=40)] = None,
    sort: Annotated[Literal["name", "-name", "createdAt", "-createdAt", "updatedAt", "-updatedAt", "size", "-size",
                            "recordCount", "-recordCount"], Query()] = "-updatedAt",
    params: PageParams = Depends(page_params),
    principal: Principal = require("dataset:read"),
) -> Page[DatasetRead]:
    """Filters: `type`, `status`, `q` (name), `tag`, `createdBy`; `sort` by name, createdAt, updatedAt,
    size or recordCount (`-` for descending). Figures appear once a dataset's profile was computed."""
    rows, cursor = service.list_datasets(session=session, actor=principal, params=params, type=type, status=status,
                                         q=q, tag=tag, created_by=created_by, sort=sort)
    return Page[DatasetRead](items=[_read(session, principal, r) for r in rows], next_cursor=cursor)


@router.post("", response_model=DatasetRead, status_code=201, summary="Create a dataset (data comes by upload)")
def create_dataset(body: DatasetCreate, session: SessionDep,
                   principal: Principal = require("dataset:create")) -> DatasetRead:
    dataset = service.create_dataset(session=session, actor=principal, data=body)
    session.commit()
    return _read(session, principal, dataset)


@router.get("/{datasetId}", response_model=DatasetRead, summary="One dataset: schema, statistics, quality, splits",
            responses=NOT_FOUND)
def get_dataset(datasetId: DatasetId, session: SessionDep,  # noqa: N803
                principal: Principal = require("dataset:read")) -> DatasetRead:
    dataset = service.get_dataset(session=session, actor=principal, dataset_id=datasetId)
    return _read(session, principal, dataset, compute=True)


@router.put("/{datasetId}", response_model=DatasetRead, summary="Update descriptive fields", responses=NOT_FOUND)
def update_dataset(datasetId: DatasetId, body: DatasetUpdate, session: SessionDep,  # noqa: N803
                   principal: Principal = require("dataset:write")) -> DatasetRead:
    dataset = service.update_dataset(session=session, actor=principal, dataset_id=datasetId, data=body)
    session.commit()
    return _read(session, principal, dataset)


@router.delete("/{datasetId}", status_code=204, summary="Delete (soft; audited)", responses=NOT_FOUND)
def delete_dataset(datasetId: DatasetId, session: SessionDep,  # noqa: N803
                   principal: Principal = require("dataset:delete")) -> Response:
    service.delete_dataset(session=session, actor=principal, dataset_id=datasetId)
    session.commit()
    return Response(status_code=204)


# --- versions ----------------------------------------------------------------------------------------


@router.get("/{datasetId}/versions", response_model=Page[VersionRead], summary="Versions, newest first",
            responses=NOT_FOUND)
def list_versions(datasetId: DatasetId, session: SessionDep, params: PageParams = Depends(page_params),  # noqa: N803
                  principal: Principal = require("dataset:read")) -> Page[VersionRead]:
    rows, cursor = service.list_versions(session=session, actor=principal, dataset_id=datasetId, params=params)
    return Page[VersionRead](items=[_version(r) for r in rows], next_cursor=cursor)


@router.post("/{datasetId}/versions", response_model=VersionRead, status_code=201,
             summary="Create a version from an earlier one (restore)", responses=NOT_FOUND)
def create_version(datasetId: DatasetId, body: VersionCreate, session: SessionDep,  # noqa: N803
                   principal: Principal = require("dataset:write")) -> VersionRead:
    """New data arrives through `upload` and `transform`; this makes the content of `fromVersion`
    the newest version again (content-addressed: nothing is copied)."""
    row = service.create_version_from(session=session, actor=principal, dataset_id=datasetId,
                                      from_version=body.from_version, message=body.message)
    session.commit()
    return _version(row)


@router.get("/{datasetId}/versions/{version}", response_model=VersionRead, summary="One version, with lineage",
            responses=NOT_FOUND)
def get_version(datasetId: DatasetId, version: VersionNo, session: SessionDep,  # noqa: N803
                principal: Principal = require("dataset:read")) -> VersionRead:
    _dataset, row = service.get_version(session=session, actor=principal, dataset_id=datasetId, version=version)
    return _version(row)


@router.get("/{datasetId}/versions/{version}/rows", response_model=RowsPage,
            summary="A page of a version's rows: sorted, filtered, read lazily", responses=NOT_FOUND)
def get_rows(
    datasetId: DatasetId, version: VersionNo, session: SessionDep,  # noqa: N803
    limit: Annotated[int, Query(ge=1, le=data_rows.MAX_LIMIT, description="Rows per page")] = data_rows.DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=2**40, description="Rows to skip (after filter and sort)")] = 0,
    sort: Annotated[str | None, Query(max_length=300, description="A column; `-column` for descending")] = None,
    descending: Annotated[bool, Query(description="Sort the `sort` column high to low")] = False,
    filter_: Annotated[str | None, Query(alias="filter", max_length=2000,
                                         description='A condition, e.g. `rating >= 4 and sentiment == "positive"`')] = None,
    principal: Principal = require("dataset:read"),
) -> RowsPage:
    """The rows `offset … offset+limit` of a version that pass `filter`, in `sort` order (the file's order
    otherwise; equal values keep it). Nulls sort last. A column whose name starts with `-` sorts by
    itself: add `descending=true` to reverse it. `filter` uses the transform filter's expression
    language: comparisons, `and`/`or`/`not`, `in [...]`, `is null`, functions such as `contains(col, "x")`;
    a column name with spaces goes in backticks. Cells: numbers, text, true/false and null as such;
    non-finite floats as `"NaN"`/`"Infinity"`/`"-Infinity"`; dates and times in ISO 8601; durations in
    seconds; binary cells as their size in bytes; lists and structs as JSON text; text over 1,000
    characters cut (ending in `…`). A bad `sort` or `filter` answers REQ_001 naming it."""
    row, page = service.read_rows(session=session, actor=principal, dataset_id=datasetId, version=version,
                                  limit=limit, offset=offset, sort=sort, descending=descending, filter=filter_)
    return RowsPage.model_validate({
        "datasetId": row.dataset_id, "version": row.number,
        "columns": [{"name": c.name, "type": c.type, "dtype": c.dtype} for c in page.columns],
        "rows": [{"row": position, "values": [data_rows.json_cell(v) for v in values]}
                 for position, values in zip(page.positions, page.rows, strict=True)],
        "offset": page.offset, "limit": page.limit, "totalRows": page.total, "nextOffset": page.next_offset,
        "sort": page.sort, "descending": page.descending, "filter": page.filter, "truncatedCells": page.truncated,
    })


# --- operations ----------------------------------------------------------------------------------------

OPTIONS_FIELD = {"type": "string", "description": (
    "Import options as a JSON object (CSV/TSV; unknown keys are refused), e.g. "
    '`{"header": false, "separator": "whitespace", "commentChar": "#", "skipRows": 2, '
    '"naValues": ["", "NA", "?"], "encoding": "cp1252", "shortRows": "pad"}`. '
    "Keys: header (true/false; null detects), headerRow, headerRows, skipRows, commentChar, naValues "
    "(default: empty, NA, N/A, NaN, null, None), separator (one character, `tab` or `whitespace`; null "
    "detects), encoding (null detects), shortRows (`refuse` or `pad`)")}
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "CSV/TSV, Parquet, JSON, JSON Lines (plain, or gzip/bzip2/Zstandard "
                                        "compressed, or alone in a ZIP); a ZIP of PNG/JPEG or WAV/FLAC"},
                "labels": {"type": "string", "format": "binary", "description": "labels CSV (path,label) for a ZIP"},
                "message": {"type": "string", "maxLength": 500},
                "options": OPTIONS_FIELD,
            },
        }}},
    }
}
PREVIEW_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "The file (or its beginning: the preview reads the first rows)"},
                "options": OPTIONS_FIELD,
            },
        }}},
    }
}
LABELS_LIMIT = 64 * 1024 * 1024


def _import_options(text: str | None) -> dict | None:
    """The `options` form field: a JSON object (the service checks its keys and values, REQ_001 naming each)."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest("The import options are not valid JSON", {"options": "a JSON object"}) from exc
    if not isinstance(value, dict):
        raise InvalidRequest("The import options must be a JSON object", {"options": "a JSON object"})
    return value


@router.post("/{datasetId}/upload", response_model=UploadResult, status_code=201, openapi_extra=UPLOAD_BODY,
             summary="Upload data as a new immutable version (multipart, streamed)",
             responses={**error_responses(404, 413), 200: {"model": UploadResult,
                                                           "description": "Identical bytes: the existing version"}})
async def upload(datasetId: DatasetId, request: Request, response: Response, session: SessionDep,  # noqa: N803
                 principal: Principal = require("dataset:write")) -> UploadResult:
    """The body is read only after the caller is known to have write access; it streams to disk once
    (hashed on the way, never whole in memory) and is refused with REQ_002 past the size limit.
    `options` (a JSON object) sets how a CSV/TSV is read; what it leaves out is detected, and the
    version records what was found (`sourceDialect`), the options (`importOptions`) and `warnings`
    to check. `POST …/preview` answers the same without storing anything."""
    await run_in_threadpool(service.get_dataset, session=session, actor=principal, dataset_id=datasetId,
                            need="write")
    await run_in_threadpool(session.rollback)  # do not hold a transaction while the body streams in
    with storage.staging() as work:
        form = await body.read_upload(request, work, files={"file": None, "labels": LABELS_LIMIT},
                                      texts=("message", "options"))
        file, message = form.files.get("file"), form.fields.get("message")
        if file is None:
            raise InvalidRequest("Send the data as the multipart file field 'file'", {"file": "required"})
        if message is not None and len(message) > 500:
            raise InvalidRequest("'message' must be text of at most 500 characters", {"message": "≤ 500 characters"})
        outcome = await run_in_threadpool(
            service.upload, session=session, actor=principal, dataset_id=datasetId, source=file,
            filename=form.filenames.get("file"), labels=form.files.get("labels"), message=message,
            options=_import_options(form.fields.get("options")),
        )
        await run_in_threadpool(session.commit)
    if outcome.duplicate:
        response.status_code = 200
    return UploadResult.model_validate({"duplicate": outcome.duplicate, "message": outcome.message,
                                        "version": service.version_document(outcome.version),
                                        "warnings": outcome.warnings})


@router.post("/{datasetId}/preview", response_model=PreviewResult, openapi_extra=PREVIEW_BODY,
             summary="Preview an upload: what was detected, inferred types, the first rows (nothing stored)",
             responses=error_responses(404, 413))
async def preview(datasetId: DatasetId, request: Request, session: SessionDep,  # noqa: N803
                  principal: Principal = require("dataset:write")) -> PreviewResult:
    """Read the beginning of a tabular file as `upload` would with the same `options`: the format,
    compression, encoding and dialect found (with `encodingGuessed`, `dialect.separatorGuessed`,
    `dialect.headerGuessed`), the options in effect, the columns with types and null counts over a
    sample, the first 20 rows, the missing-value tokens met, and warnings. `problem` says why the rows
    could not be read with these options (the rest still shows what was found). Needs write access."""
    await run_in_threadpool(service.get_dataset, session=session, actor=principal, dataset_id=datasetId,
                            need="write")
    await run_in_threadpool(session.rollback)
    with storage.staging() as work:
        form = await body.read_upload(request, work, files={"file": None}, texts=("options",))
        file = form.files.get("file")
        if file is None:
            raise InvalidRequest("Send the file as the multipart file field 'file'", {"file": "required"})
        result = await run_in_threadpool(
            service.preview_upload, session=session, actor=principal, dataset_id=datasetId, source=file,
            filename=form.filenames.get("file"), options=_import_options(form.fields.get("options")))
    return PreviewResult.model_validate(result)


@router.get("/{datasetId}/download", summary="Download a version (streamed)", response_class=FileResponse,
            responses={**NOT_FOUND, 200: {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}},
                "description": "The data; `X-Content-SHA256` carries its sha256"}})
def download(datasetId: DatasetId, session: SessionDep, version: VersionQuery = None,  # noqa: N803
             format: Annotated[Literal["parquet", "csv", "jsonl", "original"], Query(  # noqa: A002
                 description="parquet (the stored file); csv and jsonl (a version uploaded as such comes back "
                             "byte for byte, others are written in the value formats their source used); "
                             "original (the uploaded bytes)")] = "parquet",
             principal: Principal = require("dataset:read")) -> FileResponse:
    item = service.download(session=session, actor=principal, dataset_id=datasetId, version=version, fmt=format)
    return FileResponse(
        item.path, media_type=item.media_type, filename=item.filename, content_disposition_type="attachment",
        headers={"X-Content-SHA256": item.sha256, "Content-Security-Policy": "sandbox",
                 "Cache-Control": "private, no-store", "Content-Length": str(item.size)},
    )


@router.post("/{datasetId}/split", response_model=VersionRead, summary="Split into train/validation/test",
             responses=NOT_FOUND)
def split(datasetId: DatasetId, body: SplitRequest, session: SessionDep,  # noqa: N803
          principal: Principal = require("dataset:write")) -> VersionRead:
    """Ratios must sum to 1; `stratifyBy` keeps class shares per split; the same seed gives the same
    split. The assignment is stored with the version and used by training and benchmarks."""
    session.rollback()  # end the sign-in's transaction (SQLite's write lock) before the file work
    row = service.split(session=session, actor=principal, dataset_id=datasetId, request=body)
    session.commit()
    return _version(row)


@router.post("/{datasetId}/transform", response_model=VersionRead, status_code=201,
             summary="Run declarative steps; the result is a new version", responses=NOT_FOUND)
def transform(datasetId: DatasetId, body: TransformRequest, session: SessionDep,  # noqa: N803
              principal: Principal = require("dataset:write")) -> VersionRead:
    """Steps: select, drop, rename, cast, filter (safe expressions such as `age >= 18 and country in
    ["DE", "FR"]`), fill_null, drop_nulls, deduplicate, sample, sort, normalize, standardize, one_hot,
    lowercase, strip, regex_replace, mask_pii. A failing step answers DATA_003 naming step and column."""
    session.rollback()  # end the sign-in's transaction (SQLite's write lock) before the file work
    row = service.transform(session=session, actor=principal, dataset_id=datasetId, steps=body.steps,
                            version=body.version, message=body.message)
    session.commit()
    return _version(row)


@router.post("/{datasetId}/validate", response_model=ValidationReport, summary="Check rules (pandera)",
             responses=NOT_FOUND)
def validate(datasetId: DatasetId, body: ValidateRequest, session: SessionDep,  # noqa: N803
             principal: Principal = require("dataset:read")) -> ValidationReport:
    """Rules: schema, not_null, unique, range, allowed_values, regex, row_count, expression. With
    `gate: true` a failing rule answers DATA_002 with the report in `details.report`."""
    report = service.validate(session=session, actor=principal, dataset_id=datasetId, rules=body.rules,
                              version=body.version, gate=body.gate)
    return ValidationReport.model_validate(report)


# --- analysis ------------------------------------------------------------------------------------------


@router.get("/{datasetId}/statistics", response_model=StatisticsResponse, summary="Statistics of a version",
            responses=NOT_FOUND)
def statistics(datasetId: DatasetId, session: SessionDep, version: VersionQuery = None,  # noqa: N803
               principal: Principal = require("dataset:read")) -> StatisticsResponse:
    _dataset, row, prof = service.profile(session=session, actor=principal, dataset_id=datasetId, version=version)
    per_column = {name: {k: v for k, v in info.items() if k not in ("histogram", "topValues")}
                  for name, info in prof["columns"].items()}
    return StatisticsResponse.model_validate({"datasetId": datasetId, "version": row.number, "rows": prof["rows"],
                                              "columns": prof["columnCount"], "statistics": prof["statistics"],
                                              "columnStatistics": per_column})


@router.get("/{datasetId}/profile", response_model=ProfileResponse,
            summary="Full profile: per-column statistics, histograms, top values", responses=NOT_FOUND)
def get_profile(datasetId: DatasetId, session: SessionDep, version: VersionQuery = None,  # noqa: N803
                principal: Principal = require("dataset:read")) -> ProfileResponse:
    _dataset, row, prof = service.profile(session=session, actor=principal, dataset_id=datasetId, version=version)
    return ProfileResponse.model_validate({"datasetId": datasetId, "version": row.number, "profile": prof})


@router.get("/{datasetId}/quality", response_model=QualityResponse, summary="Quality scores and their formulas",
            responses=NOT_FOUND)
def quality(datasetId: DatasetId, session: SessionDep, version: VersionQuery = None,  # noqa: N803
            principal: Principal = require("dataset:read")) -> QualityResponse:
    _dataset, row, prof = service.profile(session=session, actor=principal, dataset_id=datasetId, version=version)
    return QualityResponse.model_validate({"datasetId": datasetId, "version": row.number, "quality": prof["quality"],
                                           "formulas": prof["formulas"], "details": prof["qualityDetails"]})


@router.post("/{datasetId}/analyze", response_model=JobRead, status_code=202,
             summary="Start the background analysis (correlations, PII, drift)", responses=NOT_FOUND)
def analyze(datasetId: DatasetId, body: AnalyzeRequest, session: SessionDep,  # noqa: N803
            principal: Principal = require("dataset:write")) -> JobRead:
    """Poll `GET /jobs/{jobId}` for progress; the result lands on the version (`analysis`) and sets
    `privacy.containsPII`. `baselineVersion` adds a PSI/KS drift report against that version."""
    job = service.start_analysis(session=session, actor=principal, dataset_id=datasetId, version=body.version,
                                 baseline_version=body.baseline_version)
    session.commit()
    return JobRead.model_validate(job)


# --- sharing -------------------------------------------------------------------------------------------


@router.post("/{datasetId}/share", response_model=AccessList, summary="Grant a user, role or department access",
             responses=NOT_FOUND)
def share(datasetId: DatasetId, body: AccessEntry, session: SessionDep,  # noqa: N803
          principal: Principal = require("dataset:share")) -> AccessList:
    service.share(session=session, actor=principal, dataset_id=datasetId, entry=body)
    session.commit()
    dataset, entries = service.get_access(session=session, actor=principal, dataset_id=datasetId)
    return _access(dataset, entries)


@router.get("/{datasetId}/lineage", response_model=LineageGraph, summary="The dataset's lineage graph",
            responses=NOT_FOUND)
def get_lineage(datasetId: DatasetId, session: SessionDep,  # noqa: N803
                depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="Steps to follow each way")] = 3,
                principal: Principal = require("dataset:read")) -> LineageGraph:
    """The platform lineage (W3C PROV) around the dataset and its versions: the uploads and transforms
    that made them, and what was made of them (model versions trained on them). Nodes you may not read
    keep their place with the label withheld. The same document as
    `GET /governance/provenance/lineage/dataset:{datasetId}`."""
    return service.lineage_graph(session=session, actor=principal, dataset_id=datasetId, depth=depth)


@router.get("/{datasetId}/access", response_model=AccessList, summary="Who may read or write the dataset",
            responses=NOT_FOUND)
def get_access(datasetId: DatasetId, session: SessionDep,  # noqa: N803
               principal: Principal = require("dataset:read")) -> AccessList:
    dataset, entries = service.get_access(session=session, actor=principal, dataset_id=datasetId)
    return _access(dataset, entries)


@router.put("/{datasetId}/access", response_model=AccessList, summary="Replace the access list",
            responses=NOT_FOUND)
def update_access(datasetId: DatasetId, body: AccessUpdate, session: SessionDep,  # noqa: N803
                  principal: Principal = require("dataset:share")) -> AccessList:
    service.set_access(session=session, actor=principal, dataset_id=datasetId, entries=body.entries)
    session.commit()
    dataset, entries = service.get_access(session=session, actor=principal, dataset_id=datasetId)
    return _access(dataset, entries)


__all__ = ["router", "AISystemError"]
