"""What every family shares: the `Family` contract, encoded inputs, labelled rows and their DataLoaders,
target encoding, and turning prediction rows into a frame.

A family turns a polars frame of one split into `Encoded` inputs (tensors built once) and a module that
maps `Encoded.take(indices)` to outputs. DataLoaders hand out a batch's row indices as one tensor (a slice
of the epoch's permutation, `IndexBatches`) and gather the batch in one `take`, so a batch costs one
fancy-index, not Python work per row, and Lightning can still put a `DistributedSampler` in front of them
under DDP.

Families whose optimizer steps take a millisecond or two (a small MLP on a CPU) group several batches into
one DataLoader item (`Steps`): Lightning's loop costs ~0.4 ms per item, so one item per step made the
platform ~45 % slower than a plain loop at batch 1,024. The module still takes one optimizer step per batch
(`SupervisedModule.training_step`), so the batch size, the steps and the global step are what they were.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from backend.core.errors import AISystemError
from backend.ml import hyperparameters as hp_rules
from backend.ml.hyperparameters import BaseHyperparameters

FORMAT = "aisystem.ml/1"  # the package format: safetensors weights + this JSON config
TASKS = ("classification", "regression")
SPLITS = ("train", "validation", "test")
PREDICT_BATCH = 1024
MAX_STEPS_PER_ITEM = 16


class Encoded:
    """A split's inputs, encoded once. `take(indices)` returns the model's input for those rows."""

    def __len__(self) -> int:
        raise NotImplementedError

    def take(self, indices: torch.Tensor) -> Any:
        raise NotImplementedError


class Rows(Dataset):
    """Labelled rows: item `i` is just `i`; `collate` gathers a batch as `(inputs, targets)`."""

    def __init__(self, encoded: Encoded, targets: torch.Tensor):
        if len(encoded) != len(targets):
            raise ValueError("inputs and targets differ in length")
        self.encoded, self.targets = encoded, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> int:
        return index

    def __getitems__(self, indices: torch.Tensor | list[int]) -> torch.Tensor | list[int]:
        # A batch's indices at once: the DataLoader skips a Python call per row.
        return indices

    def collate(self, indices: torch.Tensor | Sequence[int] | Steps) -> tuple[Any, torch.Tensor] | Steps:
        if isinstance(indices, Steps):
            return Steps(self.collate(part) for part in indices)
        idx = torch.as_tensor(indices, dtype=torch.long)
        return self.encoded.take(idx), self.targets[idx]


class Steps(list):
    """Several consecutive batches in one DataLoader item: the module takes one optimizer step for each."""


def plain_batches(loader: Iterable[Any]) -> Iterable[Any]:
    """A loader's batches one by one, whether or not it groups them into `Steps`."""
    for item in loader:
        if isinstance(item, Steps):
            yield from item
        else:
            yield item


class IndexBatches(BatchSampler):
    """Batches as index tensors sliced from one permutation of the rows (drawn from the sampler's generator,
    as `RandomSampler` draws it) or from the range (`SequentialSampler`): an epoch of 800,000 rows no longer
    walks 800,000 Python ints through the sampler and back into a tensor (~10 % of a small model's step).
    With `steps` > 1, that many consecutive batches travel as one `Steps` item. Any other sampler, such as
    the `DistributedSampler` Lightning puts in under DDP (re-creating this class around it with the default
    `steps`), takes `BatchSampler`'s per-row path, one batch per item."""

    def __init__(self, sampler: Any, batch_size: int, drop_last: bool, steps: int = 1):
        super().__init__(sampler, batch_size, drop_last)
        self.steps = max(1, int(steps))

    def _sliceable(self) -> bool:
        sampler = self.sampler
        if type(sampler) is SequentialSampler:
            return True
        return (type(sampler) is RandomSampler and not sampler.replacement
                and sampler.num_samples == len(sampler.data_source))

    def _order(self) -> torch.Tensor:
        sampler = self.sampler
        if type(sampler) is SequentialSampler:
            return torch.arange(len(sampler.data_source))
        generator = sampler.generator
        if generator is None:
            generator = torch.Generator()
            generator.manual_seed(int(torch.empty((), dtype=torch.int64).random_().item()))
        return torch.randperm(len(sampler.data_source), generator=generator)

    def __len__(self) -> int:
        batches = super().__len__()
        return -(-batches // self.steps) if self._sliceable() else batches

    def __iter__(self):  # noqa: ANN204
        if not self._sliceable():
            yield from super().__iter__()
            return
        order = self._order()
        end = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        batches = (order[start:start + self.batch_size] for start in range(0, end, self.batch_size))
        if self.steps == 1:
            yield from batches
            return
        group = Steps()
        for batch in batches:
            group.append(batch)
            if len(group) == self.steps:
                yield group
                group = Steps()
        if group:
            yield group


@dataclass
class Loaders:
    """The DataLoaders of one stored split; `validation` / `test` are None when that part is empty."""

    train: DataLoader
    validation: DataLoader | None
    test: DataLoader | None

    def counts(self) -> dict[str, int]:
        return {name: len(loader.dataset) if loader is not None else 0
                for name, loader in (("train", self.train), ("validation", self.validation), ("test", self.test))}


# --- targets ---------------------------------------------------------------------------------------


def label_values(series: pl.Series) -> list[str]:
    """Label values as the strings a classifier names its classes by."""
    return series.cast(pl.String).to_list()


def encode_targets(config: Mapping[str, Any], frame: pl.DataFrame) -> torch.Tensor:
    """The label column as class indices (classification) or standardised floats (regression).
    Rows whose class the training split never saw are refused by the caller beforehand."""
    label = config["label"]["name"]
    if config["task"] == "classification":
        index = {name: i for i, name in enumerate(config["labelNames"])}
        return torch.tensor([index[v] for v in label_values(frame[label])], dtype=torch.long)
    stats = config["preprocessing"]["target"]
    values = frame[label].cast(pl.Float64).to_numpy()
    return torch.from_numpy(((values - stats["mean"]) / stats["std"]).astype(np.float32))


def mean_std(series: pl.Series) -> tuple[float, float]:
    """Mean and standard deviation (population) of a numeric series, nulls and NaN ignored; a
    constant or empty column gets std 1 so standardising never divides by zero."""
    values = series.cast(pl.Float64).fill_nan(None).drop_nulls()
    if values.len() == 0:
        return 0.0, 1.0
    mean = float(values.mean())
    std = float(values.std(ddof=0) or 0.0)
    if not math.isfinite(std) or std < 1e-12:
        std = 1.0
    return mean, std


# --- prediction rows -------------------------------------------------------------------------------


def input_error(message: str, **details: Any) -> AISystemError:
    return AISystemError("INFER_002", message, details)


def image_bytes(value: Any, column: str) -> bytes:
    """An image given as bytes or as base64 text (JSON has no bytes)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        text = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise input_error(f"'{column}' is not base64 image data", field=column) from None
    raise input_error(f"'{column}' must be image bytes or base64 text", field=column)


def rows_frame(config: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Prediction rows (dicts keyed by input column) as a frame typed by the package's input schema.
    A missing column or a value of the wrong kind is INFER_002 naming it; null is allowed where
    training allowed it (a numeric or categorical feature)."""
    rows = list(rows)
    if not rows:
        raise input_error("No rows to predict")
    if not all(isinstance(r, Mapping) for r in rows):
        raise input_error("Each row must be an object keyed by input column")
    columns = config["inputSchema"]["columns"]
    missing = sorted({c["name"] for c in columns for r in rows if c["name"] not in r})
    if missing:
        raise input_error(f"Rows lack the input columns: {', '.join(missing[:10])}", missing=missing[:50])
    data: dict[str, pl.Series] = {}
    for spec in columns:
        name, kind = spec["name"], spec["kind"]
        values = [r[name] for r in rows]
        try:
            if kind == "numeric":
                if any(isinstance(v, str | bytes | list | dict) for v in values):
                    raise TypeError("not a number")
                data[name] = pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
            elif kind == "categorical":
                data[name] = pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)
            elif kind == "text":
                if any(v is not None and not isinstance(v, str) for v in values):
                    raise TypeError("not text")
                data[name] = pl.Series(name, ["" if v is None else v for v in values], dtype=pl.String)
            elif kind == "image":
                data[name] = pl.Series(name, [image_bytes(v, name) for v in values], dtype=pl.Binary)
            else:  # a package from a newer format
                raise input_error(f"The package's input '{name}' has an unknown kind '{kind}'")
        except (TypeError, ValueError, OverflowError):
            raise input_error(f"'{name}' must be {kind} values", field=name) from None
    return pl.DataFrame(data)


# --- the family contract ---------------------------------------------------------------------------


class Family:
    """One kind of model the platform trains. Subclass it in one module under `backend/ml/families/`,
    decorate the class with `@register_family`, and implement the five methods marked below."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ()
    dataset_types: ClassVar[tuple[str, ...]] = ()
    hyperparameters: ClassVar[type[BaseHyperparameters]] = BaseHyperparameters
    # Rows one DataLoader item may carry as several batches (`Steps`; 0: one batch per item). For families
    # whose optimizer step takes a millisecond or two on a CPU, where Lightning's loop would cost a third.
    grouped_rows: ClassVar[int] = 0

    # --- implemented by each family ---

    def select_inputs(self, frame: pl.LazyFrame, *, label: str, requested: Sequence[str] | None,
                      hp: BaseHyperparameters) -> list[str]:
        """The columns the model reads (`requested`, checked, or the family's choice); TRAIN_003 for a
        requested column that does not exist or does not fit, DATA_004 when nothing fits."""
        raise NotImplementedError

    def fit(self, train: pl.DataFrame, *, inputs: list[str], hp: BaseHyperparameters,
            task: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(inputSchema, preprocessing) learnt from the TRAINING split only: statistics, vocabularies,
        image size. Both are plain JSON and travel in the package's config."""
        raise NotImplementedError

    def build_module(self, config: Mapping[str, Any], *, pretrained: bool = True) -> torch.nn.Module:
        """The LightningModule for a config (`pretrained=False`: weights will be loaded from a package,
        do not read a base model's weights)."""
        raise NotImplementedError

    def encode(self, config: Mapping[str, Any], frame: pl.DataFrame) -> Encoded:
        """Encode a frame's input columns (training splits and prediction rows alike)."""
        raise NotImplementedError

    def loads_base_weights(self, config: Mapping[str, Any]) -> bool:
        """Whether a package's module takes some weights from an installed base model rather than from
        the package (a frozen pretrained encoder); TRAIN_004 when that base differs from the one trained on."""
        return False

    # --- shared ---

    def validate(self, raw: Mapping[str, Any] | BaseHyperparameters | None) -> BaseHyperparameters:
        """Hyperparameters checked against this family's ranges; TRAIN_003 names each bad field."""
        return hp_rules.parse(self.hyperparameters, raw, what="hyperparameters", family=self.name)

    def describe(self) -> dict[str, Any]:
        """The family for a form or a search space: tasks, dataset types, hyperparameters (JSON Schema)."""
        return {"name": self.name, "title": self.title, "description": self.description, "tasks": list(self.tasks),
                "datasetTypes": list(self.dataset_types),
                "hyperparameters": self.hyperparameters.model_json_schema(by_alias=True),
                "defaults": hp_rules.dump(self.hyperparameters())}

    def steps_per_item(self, hyperparameters: Mapping[str, Any]) -> int:
        """How many batches (optimizer steps) one DataLoader item carries."""
        if not self.grouped_rows:
            return 1
        return max(1, min(MAX_STEPS_PER_ITEM, self.grouped_rows // int(hyperparameters["batchSize"])))

    def build_loaders(self, config: Mapping[str, Any], frames: Mapping[str, pl.DataFrame]) -> Loaders:
        """DataLoaders over the encoded splits: the training one shuffled (seeded), the others in order."""
        hp = config["hyperparameters"]
        batch = hp["batchSize"]
        steps = self.steps_per_item(hp)
        made: dict[str, DataLoader | None] = {}
        for name in SPLITS:
            frame = frames.get(name)
            if frame is None or frame.height == 0:
                made[name] = None
                continue
            rows = Rows(self.encode(config, frame), encode_targets(config, frame))
            train = name == "train"
            generator = torch.Generator().manual_seed(int(hp.get("seed", 0))) if train else None
            sampler = RandomSampler(rows, generator=generator) if train else SequentialSampler(rows)
            # A last training batch of one row would break batch normalisation; drop it.
            batches = IndexBatches(sampler, batch_size=batch, drop_last=train and len(rows) % batch == 1, steps=steps)
            made[name] = DataLoader(rows, batch_sampler=batches, collate_fn=rows.collate)
        if made["train"] is None:
            raise AISystemError("DATA_004", "The training split is empty", {"split": "train"})
        return Loaders(made["train"], made["validation"], made["test"])

    def predict(self, module: torch.nn.Module, config: Mapping[str, Any],
                rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Predictions for rows of input values: `{"label", "probabilities"}` for a classifier,
        `{"value"}` for a regressor, in the rows' order."""
        return self.predict_frame(module, config, rows_frame(config, rows))

    def predict_frame(self, module: torch.nn.Module, config: Mapping[str, Any],
                      frame: pl.DataFrame) -> list[dict[str, Any]]:
        """`predict` for rows already checked by `rows_frame` (several requests' frames batched together)."""
        encoded = self.encode(config, frame)
        module.eval()
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(encoded), PREDICT_BATCH):
                idx = torch.arange(start, min(start + PREDICT_BATCH, len(encoded)))
                inputs = _to_device(encoded.take(idx), _device_of(module))
                outputs.append(module(inputs).float().cpu())
        out = torch.cat(outputs)
        if config["task"] == "classification":
            names = config["labelNames"]
            probs = torch.softmax(out, dim=1).numpy()
            return [{"label": names[int(p.argmax())], "probabilities": {n: float(v) for n, v in zip(names, p, strict=True)}}
                    for p in probs]
        stats = config["preprocessing"]["target"]
        values = out.reshape(-1).double().numpy() * stats["std"] + stats["mean"]
        return [{"value": float(v)} for v in values]


def _device_of(module: torch.nn.Module) -> torch.device:
    try:
        return next(module.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, tuple | list):
        return type(value)(_to_device(v, device) for v in value)
    return value
