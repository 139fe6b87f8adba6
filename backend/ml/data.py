"""Reading a dataset version and its stored split for training.

A version's rows are read through the datasets service (`read_version_frame`, or `get_version` when an
actor's access must be checked); the split stored with the version is a Parquet column `split` (0 =
train, 1 = validation, 2 = test, in row order) named by `DatasetVersion.split_blob_sha256`. Only the
columns a model reads are collected.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import polars as pl
from sqlmodel import Session

from backend.auth.principal import Principal
from backend.catalog.datasets import service as datasets_service
from backend.catalog.datasets import storage as datasets_storage
from backend.catalog.datasets.models import Dataset
from backend.core.errors import AISystemError
from backend.ml.hyperparameters import invalid


@dataclass
class Source:
    """One dataset version as training sees it."""

    dataset_id: str
    dataset_name: str
    dataset_type: str
    version: int
    label_column: str | None  # the dataset's own label column
    split_sha256: str | None
    split: dict[str, Any] | None
    frame: pl.LazyFrame

    @cached_property
    def columns(self) -> pl.Schema:
        return self.frame.collect_schema()


def open_source(*, session: Session, dataset_id: str, version: int | None = None,
                actor: Principal | None = None) -> Source:
    """The version (the newest when `version` is None). With an `actor`, their read access is checked
    (DATA_001 as if it did not exist); without, the caller already authorized the job."""
    if actor is not None:
        dataset, row = datasets_service.get_version(session=session, actor=actor, dataset_id=dataset_id,
                                                    version=version)
        number = row.number
    else:
        dataset = session.get(Dataset, dataset_id) if isinstance(dataset_id, str) else None
        if dataset is None or dataset.deleted_at is not None:
            raise datasets_service.not_found(str(dataset_id))
        number = version if version is not None else dataset.current_version
        if number is None:
            raise AISystemError("DATA_004", "The dataset has no data yet; upload a file first",
                                {"datasetId": dataset.id})
    row, frame = datasets_service.read_version_frame(session=session, dataset_id=dataset.id, version=number)
    return Source(dataset_id=dataset.id, dataset_name=dataset.name, dataset_type=dataset.type, version=row.number,
                  label_column=dataset.label_column, split_sha256=row.split_blob_sha256,
                  split=dict(row.split) if row.split else None, frame=frame)


def require_split(source: Source) -> str:
    """The stored split's hash; DATA_004 when the version was never split."""
    if not source.split_sha256:
        raise AISystemError("DATA_004", "This dataset version has no train/validation/test split; split it "
                            "before training", {"datasetId": source.dataset_id, "version": source.version,
                                                "reason": "no_split"})
    return source.split_sha256


def resolve_label(source: Source, requested: str | None) -> str:
    """The label column: the one asked for, else the dataset's own; DATA_004 when there is none,
    TRAIN_003 (field `labelColumn`) when the one asked for is not in the data."""
    columns = source.columns
    if requested is not None:
        if requested not in columns:
            raise invalid(f"The dataset has no column '{str(requested)[:100]}'",
                          fields={"labelColumn": "not a column of this dataset version"},
                          datasetId=source.dataset_id, version=source.version)
        return requested
    if not source.label_column:
        raise AISystemError("DATA_004", "The dataset has no label column; set one on the dataset or name "
                            "`labelColumn` for the job", {"datasetId": source.dataset_id, "version": source.version,
                                                          "reason": "no_label_column"})
    if source.label_column not in columns:
        raise AISystemError("DATA_004", f"The label column '{source.label_column}' is not in version "
                            f"{source.version}", {"datasetId": source.dataset_id, "version": source.version,
                                                  "labelColumn": source.label_column, "reason": "no_label_column"})
    return source.label_column


def read_split(source: Source, columns: Sequence[str], *, label: str,
               expect_split_sha256: str | None = None) -> dict[str, pl.DataFrame]:
    """{train, validation, test} frames of `columns` (the label included) by the stored split; rows
    without a label are left out. `expect_split_sha256`: TRAIN_001 if the version was split again since
    (a resumed job must see the rows it started with)."""
    sha = require_split(source)
    if expect_split_sha256 is not None and sha != expect_split_sha256:
        raise AISystemError("TRAIN_001", "The dataset version was split again since this training started",
                            {"datasetId": source.dataset_id, "version": source.version,
                             "splitSha256": sha, "expectedSplitSha256": expect_split_sha256})
    wanted = list(dict.fromkeys([*columns, label]))
    assignment = pl.scan_parquet(datasets_storage.existing_blob(sha)).select(pl.col("split").alias("__split"))
    joined = pl.concat([source.frame.select(wanted), assignment], how="horizontal")
    labelled = pl.col(label).is_not_null()
    if source.columns[label].is_float():
        labelled = labelled & pl.col(label).is_not_nan()
    data = joined.filter(labelled).collect()
    # The datasets service numbers the parts in SPLIT_NAMES order (train, validation, test).
    return {name: data.filter(pl.col("__split") == i).drop("__split")
            for i, name in enumerate(datasets_service.SPLIT_NAMES)}


LABELS_CACHED = 8  # versions whose label column `read_labels` keeps per process
_labels: OrderedDict[tuple[str, int, str, str], dict[str, pl.DataFrame]] = OrderedDict()
_labels_lock = threading.Lock()


def read_labels(source: Source, label: str) -> dict[str, pl.DataFrame]:
    """`read_split(source, [], label=label)`, kept for the last few versions read: a version's rows and its
    stored split never change (the key holds the split's hash), and a hyperparameter optimisation checks
    the same data before every trial (~30 ms of polars queries each time on a busy 2-core machine)."""
    key = (source.dataset_id, source.version, require_split(source), label)
    with _labels_lock:
        if key in _labels:
            _labels.move_to_end(key)
            return _labels[key]
    frames = read_split(source, [], label=label)
    with _labels_lock:
        _labels[key] = frames
        while len(_labels) > LABELS_CACHED:
            _labels.popitem(last=False)
    return frames
