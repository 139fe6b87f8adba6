"""Hyperparameters every family shares, the trainer's own settings, and one way to refuse bad values.

Values arrive camelCase from the wire (`learningRate`) or snake_case from a search space
(`learning_rate`); both are accepted, unknown names are refused, and every out-of-range value is
TRAIN_003 with the field named in `details.fields` (the same shape as REQ_001's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

from backend.core.errors import AISystemError
from backend.core.schemas import InputModel

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
CLASSIFICATION_LOSSES = ("cross_entropy",)
REGRESSION_LOSSES = ("mse", "mae", "huber")
# Spellings people use (the design writes "Adam", "CrossEntropy") mapped to ours.
_ALIASES = {
    "crossentropy": "cross_entropy", "cross-entropy": "cross_entropy", "ce": "cross_entropy",
    "crossentropyloss": "cross_entropy", "mseloss": "mse", "l2": "mse", "l1": "mae", "l1loss": "mae",
    "smoothl1": "huber", "smooth_l1": "huber", "huberloss": "huber",
}

H = TypeVar("H", bound=BaseModel)


def _canonical(value: Any) -> Any:
    if isinstance(value, str):
        key = value.strip().lower()
        return _ALIASES.get(key, key)
    return value


class BaseHyperparameters(InputModel):
    """What every family takes; a family subclasses it with its own fields and defaults."""

    learning_rate: float = Field(default=1e-3, gt=0, le=10, description="Step size of the optimizer")
    batch_size: int = Field(default=32, ge=1, le=65536, description="Rows per training step")
    max_epochs: int = Field(default=10, ge=1, le=10000, description="Passes over the training split at most")
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    loss: Literal["auto", "cross_entropy", "mse", "mae", "huber"] = Field(
        default="auto", description="auto: cross_entropy for classification, mse for regression")
    weight_decay: float = Field(default=0.0, ge=0, le=1)
    momentum: float = Field(default=0.9, ge=0, lt=1, description="sgd and rmsprop only")
    lr_scheduler: Literal["none", "cosine"] = Field(default="none", description="cosine: anneal over maxEpochs")
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description="Weights initialisation and shuffling")

    @field_validator("optimizer", "loss", "lr_scheduler", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return _canonical(value)


class TrainerOptions(InputModel):
    """How the Trainer runs a job (not part of the model): devices, precision, early stopping."""

    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    devices: int = Field(default=1, ge=1, le=16, description="Devices on one worker (DDP when above 1)")
    precision: Literal["32-true", "16-mixed", "bf16-mixed", "64-true"] = "32-true"
    patience: int | None = Field(default=None, ge=1, le=1000, description="Early stopping: epochs without gain")
    min_delta: float = Field(default=0.0, ge=0, le=1e6, description="Early stopping: the smallest gain")
    gradient_clip_val: float | None = Field(default=None, gt=0, le=1e6)
    accumulate_grad_batches: int = Field(default=1, ge=1, le=1024)


def invalid(message: str, *, fields: Mapping[str, str] | None = None, **details: Any) -> AISystemError:
    """TRAIN_003 naming the offending fields (`details.fields`: [{field, message}])."""
    body = dict(details)
    if fields:
        body["fields"] = [{"field": k, "message": v} for k, v in fields.items()]
    return AISystemError("TRAIN_003", message, body)


def _wire_name(model: type[BaseModel], loc: tuple) -> str:
    """The camelCase name of a field from a pydantic error location (`hidden_sizes.3` -> `hiddenSizes.3`)."""
    if not loc:
        return "hyperparameters"
    first, rest = loc[0], loc[1:]
    info = model.model_fields.get(str(first))
    name = info.alias if info is not None and info.alias else str(first)
    return ".".join([name, *(str(p) for p in rest)])


def parse(model: type[H], raw: Mapping[str, Any] | BaseModel | None, *, what: str, **details: Any) -> H:
    """`raw` checked against `model`; TRAIN_003 with every bad field named when it does not fit."""
    if isinstance(raw, model):
        return raw
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(by_alias=True)
    if raw is not None and not isinstance(raw, Mapping):
        raise invalid(f"The {what} must be an object", fields={what: "must be an object"}, **details)
    try:
        return model.model_validate(dict(raw or {}))
    except ValidationError as exc:
        fields = {}
        for err in exc.errors()[:50]:
            fields.setdefault(_wire_name(model, tuple(err.get("loc", ()))), err.get("msg", "invalid"))
        names = ", ".join(list(fields)[:5])
        raise invalid(f"Invalid {what}: {names}", fields=fields, **details) from None


def dump(values: BaseModel) -> dict[str, Any]:
    """The wire (camelCase, JSON) form of validated values, as stored in a model package's config."""
    return values.model_dump(by_alias=True, mode="json")


def trainer_options(raw: Mapping[str, Any] | TrainerOptions | None) -> TrainerOptions:
    """Validated trainer settings (`devices=64` -> TRAIN_003 naming `devices`)."""
    return parse(TrainerOptions, raw, what="trainer options")
