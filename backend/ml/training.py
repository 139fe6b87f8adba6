"""What a training job calls: check a request before queueing it, prepare the module and DataLoaders
from a dataset version's stored split, rebuild them from a saved config (a resumed job, another DDP
rank), and evaluate a module on a split.

    plan = check_trainable(session=s, actor=user, dataset_id=d, family="tabular_mlp",
                           hyperparameters={"maxEpochs": 20})          # cheap; raises before any work
    prepared = prepare(session=s, dataset_id=d, version=plan.version, family="tabular_mlp",
                       hyperparameters=plan.hyperparameters)
    trainer.fit(prepared.module, prepared.loaders.train, prepared.loaders.validation)
    weights, config = packaging.package(prepared.module, prepared.config, metrics={...})
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import torch
from sqlmodel import Session

from backend.auth.principal import Principal
from backend.catalog.model_registry.artifacts import MAX_CONFIG_BYTES
from backend.core.errors import AISystemError
from backend.ml import data
from backend.ml.base import FORMAT, TASKS, Family, Loaders, label_values, mean_std, plain_batches
from backend.ml.families import get_family
from backend.ml.hyperparameters import (
    CLASSIFICATION_LOSSES,
    REGRESSION_LOSSES,
    BaseHyperparameters,
    dump,
    invalid,
)
from backend.ml.modules import SupervisedModule, monitor, quality_metric

MAX_CLASSES = 1000
MIN_TRAIN_ROWS = 2
# Integer labels with at most this many values are classes (ratings, digits); more is a quantity.
MAX_INTEGER_CLASSES = 50
# Room left in the registry's config limit for the metric summary the runner adds.
CONFIG_BUDGET = MAX_CONFIG_BYTES - 8 * 1024


@dataclass(frozen=True)
class TrainingPlan:
    """What a checked request will train: returned by `check_trainable`, JSON-able by `as_dict()`."""

    family: str
    task: str
    dataset_id: str
    dataset_type: str
    version: int
    split_sha256: str
    label_column: str
    input_columns: list[str]
    counts: dict[str, int]  # labelled rows per split that training will use
    label_names: list[str] | None  # classification: the classes seen in the training split
    dropped: dict[str, int] = field(default_factory=dict)  # rows of classes the training split lacks
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # validated, camelCase, defaults filled

    @property
    def monitor(self) -> tuple[str, str]:
        """(metric, mode) for early stopping and the best checkpoint."""
        return monitor(has_validation=self.counts.get("validation", 0) > 0)

    def as_dict(self) -> dict[str, Any]:
        metric, mode = self.monitor
        return {"family": self.family, "task": self.task, "datasetId": self.dataset_id,
                "datasetType": self.dataset_type, "version": self.version, "splitSha256": self.split_sha256,
                "labelColumn": self.label_column, "inputColumns": list(self.input_columns),
                "counts": dict(self.counts), "labelNames": self.label_names, "dropped": dict(self.dropped),
                "hyperparameters": dict(self.hyperparameters), "monitor": {"metric": metric, "mode": mode},
                "qualityMetric": quality_metric(self.task)}


@dataclass
class Prepared:
    """A module ready for `Trainer.fit`, its DataLoaders, and the config its package will carry."""

    family: Family
    config: dict[str, Any]
    module: SupervisedModule
    loaders: Loaders
    plan: TrainingPlan | None = None


# --- checking ------------------------------------------------------------------------------------


def _task(family: Family, requested: str | None, labels: pl.Series) -> str:
    dtype = labels.dtype
    if requested is not None:
        if requested not in TASKS or requested not in family.tasks:
            raise invalid(f"The family '{family.name}' does not do '{str(requested)[:40]}'",
                          fields={"task": f"one of {', '.join(family.tasks)}"}, family=family.name)
        if requested == "regression" and not dtype.is_numeric():
            raise invalid("Regression needs a numeric label column", fields={"task": "the label is not numeric"},
                          family=family.name)
        return requested
    if len(family.tasks) == 1:
        only = family.tasks[0]
        if only == "regression" and not dtype.is_numeric():
            raise invalid("This family predicts numbers and the label column is not numeric",
                          fields={"labelColumn": "not numeric"}, family=family.name)
        return only
    if dtype.is_float():
        values = labels.drop_nulls()
        integral = values.len() > 0 and bool((values == values.round()).all())
        return "classification" if integral and values.n_unique() <= 20 else "regression"
    if dtype.is_integer():
        return "classification" if labels.n_unique() <= MAX_INTEGER_CLASSES else "regression"
    return "classification"


def _class_order(name: str) -> tuple:
    """Classes in natural order: numbers by value ("2" before "10"), then text."""
    try:
        value = float(name)
    except ValueError:
        return (1, 0.0, name)
    return (0, value, name) if math.isfinite(value) else (1, 0.0, name)


def _check_loss(hp: BaseHyperparameters, task: str, family: Family) -> None:
    allowed = CLASSIFICATION_LOSSES if task == "classification" else REGRESSION_LOSSES
    if hp.loss != "auto" and hp.loss not in allowed:
        raise invalid(f"The loss '{hp.loss}' does not fit {task}", fields={"loss": f"one of auto, {', '.join(allowed)}"},
                      family=family.name)


def _plan(*, session: Session, dataset_id: str, family: str, hyperparameters: Mapping[str, Any] | None,
          version: int | None, label_column: str | None, input_columns: Sequence[str] | None, task: str | None,
          actor: Principal | None) -> tuple[TrainingPlan, Family, BaseHyperparameters, data.Source,
                                             dict[str, pl.DataFrame]]:
    fam = get_family(family)
    hp = fam.validate(hyperparameters)
    source = data.open_source(session=session, dataset_id=dataset_id, version=version, actor=actor)
    if source.dataset_type not in fam.dataset_types:
        raise invalid(f"The family '{fam.name}' trains on {' or '.join(fam.dataset_types)} datasets; this one is "
                      f"{source.dataset_type}", fields={"family": f"a family for {source.dataset_type} data"},
                      family=fam.name, datasetType=source.dataset_type)
    split_sha = data.require_split(source)
    label = data.resolve_label(source, label_column)
    inputs = fam.select_inputs(source.frame, label=label, requested=input_columns, hp=hp)
    labels = data.read_labels(source, label)
    train_labels = labels["train"][label]
    if train_labels.len() < MIN_TRAIN_ROWS:
        raise AISystemError("DATA_004", f"The training split has {train_labels.len()} labelled rows; at least "
                            f"{MIN_TRAIN_ROWS} are needed", {"datasetId": source.dataset_id, "version": source.version,
                                                              "split": "train", "reason": "too_few_rows"})
    chosen = _task(fam, task, train_labels)
    _check_loss(hp, chosen, fam)
    counts = {name: frame.height for name, frame in labels.items()}
    names, dropped = None, {}
    if chosen == "classification":
        names = sorted(set(label_values(train_labels)), key=_class_order)
        if len(names) < 2:
            raise AISystemError("DATA_004", "The training split has one class only; a classifier needs two or more",
                                {"datasetId": source.dataset_id, "version": source.version, "classes": names,
                                 "reason": "one_class"})
        if len(names) > MAX_CLASSES:
            raise AISystemError("DATA_004", f"The label has {len(names)} classes, over {MAX_CLASSES}; is it a "
                                "quantity (regression)?", {"datasetId": source.dataset_id, "classes": len(names),
                                                           "reason": "too_many_classes"})
        known = set(names)
        for name in ("validation", "test"):
            unseen = sum(1 for v in label_values(labels[name][label]) if v not in known)
            if unseen:
                dropped[name] = unseen
                counts[name] -= unseen
    elif not train_labels.dtype.is_numeric():
        raise invalid("Regression needs a numeric label column", fields={"task": "the label is not numeric"})
    plan = TrainingPlan(family=fam.name, task=chosen, dataset_id=source.dataset_id, dataset_type=source.dataset_type,
                        version=source.version, split_sha256=split_sha, label_column=label, input_columns=inputs,
                        counts=counts, label_names=names, dropped=dropped, hyperparameters=dump(hp))
    return plan, fam, hp, source, labels


def check_trainable(*, session: Session, dataset_id: str, family: str,
                    hyperparameters: Mapping[str, Any] | None = None, version: int | None = None,
                    label_column: str | None = None, input_columns: Sequence[str] | None = None,
                    task: str | None = None, actor: Principal | None = None) -> TrainingPlan:
    """Check a training request without training: the family exists, the hyperparameters are in range
    (TRAIN_003 naming each field), the version has a stored split and a label column (DATA_004), the
    family fits the data and the task. Reads only the label column and the split. With `actor`, their
    read access to the dataset is checked too. Call it before queueing a job."""
    plan, *_rest = _plan(session=session, dataset_id=dataset_id, family=family, hyperparameters=hyperparameters,
                         version=version, label_column=label_column, input_columns=input_columns, task=task,
                         actor=actor)
    return plan


# --- preparing -----------------------------------------------------------------------------------


def _known_classes(config: Mapping[str, Any], frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    if config["task"] != "classification":
        return frames
    label = config["label"]["name"]
    known = pl.Series(config["labelNames"], dtype=pl.String)
    return {name: frame.filter(pl.col(label).cast(pl.String).is_in(known.implode())) for name, frame in frames.items()}


def _build(family: Family, config: dict[str, Any], *, pretrained: bool = True) -> SupervisedModule:
    # Seeded without touching the process's global generator: the same config gives the same start.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(config["hyperparameters"].get("seed", 0)))
        return family.build_module(config, pretrained=pretrained)


def prepare(*, session: Session, dataset_id: str, family: str, hyperparameters: Mapping[str, Any] | None = None,
            version: int | None = None, label_column: str | None = None, input_columns: Sequence[str] | None = None,
            task: str | None = None, actor: Principal | None = None) -> Prepared:
    """Everything `Trainer.fit` needs for a fresh run: checks as `check_trainable`, reads the split,
    learns the preprocessing from the training split only, and builds the module (seeded) and the
    DataLoaders. The config it returns is what `rebuild` and `packaging.package` take."""
    plan, fam, hp, source, _labels = _plan(session=session, dataset_id=dataset_id, family=family,
                                          hyperparameters=hyperparameters, version=version,
                                          label_column=label_column, input_columns=input_columns, task=task,
                                          actor=actor)
    frames = data.read_split(source, plan.input_columns, label=plan.label_column,
                             expect_split_sha256=plan.split_sha256)
    train = frames["train"]
    input_schema, preprocessing = fam.fit(train, inputs=plan.input_columns, hp=hp, task=plan.task)
    if plan.task == "regression":
        mean, std = mean_std(train[plan.label_column])
        preprocessing = {**preprocessing, "target": {"mean": mean, "std": std}}
    config: dict[str, Any] = {
        "format": FORMAT,
        "family": fam.name,
        "task": plan.task,
        "hyperparameters": plan.hyperparameters,
        "dataset": {"datasetId": source.dataset_id, "name": source.dataset_name, "type": source.dataset_type,
                    "version": source.version, "splitSha256": plan.split_sha256, "counts": plan.counts},
        "label": {"name": plan.label_column, "dtype": str(source.columns[plan.label_column])},
        "labelNames": plan.label_names,
        "inputSchema": input_schema,
        "preprocessing": preprocessing,
    }
    size = len(json.dumps(config))
    if size > CONFIG_BUDGET:
        raise invalid(f"The model's config would take {size} bytes, over the {CONFIG_BUDGET} a package may; read "
                      "fewer columns or keep fewer categories", fields={"inputColumns": "too many inputs or categories"},
                      family=fam.name, configBytes=size)
    module = _build(fam, config)
    loaders = fam.build_loaders(config, _known_classes(config, frames))
    return Prepared(family=fam, config=config, module=module, loaders=loaders, plan=plan)


def loaders(*, session: Session, config: Mapping[str, Any]) -> Loaders:
    """The DataLoaders of the split a config was prepared on (TRAIN_001 if the version was re-split)."""
    fam = get_family(config["family"])
    ds = config["dataset"]
    source = data.open_source(session=session, dataset_id=ds["datasetId"], version=ds["version"])
    columns = [c["name"] for c in config["inputSchema"]["columns"]]
    frames = data.read_split(source, columns, label=config["label"]["name"], expect_split_sha256=ds["splitSha256"])
    return fam.build_loaders(config, _known_classes(config, frames))


def rebuild(*, session: Session, config: Mapping[str, Any]) -> Prepared:
    """The same module (fresh weights, same seed) and DataLoaders from a saved config, without learning
    the preprocessing again: for a resumed job before it loads its checkpoint, and for every DDP rank."""
    fam = get_family(config["family"])
    config = dict(config)
    return Prepared(family=fam, config=config, module=_build(fam, config),
                    loaders=loaders(session=session, config=config))


def seed_everything(config: Mapping[str, Any]) -> int:
    """Seed Python, NumPy and torch (and DataLoader workers) with the config's `seed`, so dropout and
    shuffling repeat too; call it in the training process before `Trainer.fit`. Returns the seed."""
    import lightning as L

    return L.seed_everything(int(config["hyperparameters"].get("seed", 0)), workers=True, verbose=False)


def evaluate(module: SupervisedModule, loader: torch.utils.data.DataLoader) -> dict[str, float]:
    """{loss, accuracy | rmse, count} of a module on a loader (mean loss over rows; RMSE in label units)."""
    module.eval()
    device = next(module.parameters()).device
    total_loss, total, right, squared = 0.0, 0, 0, 0.0
    with torch.inference_mode():
        for inputs, target in plain_batches(loader):
            inputs = _move(inputs, device)
            target = target.to(device)
            output = module(inputs).float()
            n = int(target.shape[0])
            total_loss += float(module.compute_loss(output, target)) * n
            total += n
            pred, truth = module.quality_inputs(output, target)
            if module.task == "classification":
                right += int((pred == truth).sum())
            else:
                squared += float(((pred - truth) ** 2).sum())
    if not total:
        return {"count": 0}
    result = {"loss": total_loss / total, "count": total}
    if module.task == "classification":
        result["accuracy"] = right / total
    else:
        result["rmse"] = (squared / total) ** 0.5
    return result


# Training rows whose base embeddings make the class centroids (enough for a stable mean, quick on a CPU).
MAX_CENTROID_ROWS = 2000


def evaluate_base_embeddings(config: Mapping[str, Any], loaders: Loaders) -> dict[str, float | None]:
    """{accuracy, loss: None, count} of an installed sentence encoder before fine-tuning, on the test split:
    the base has no classification head, so each test text gets the class whose centroid (the mean of the
    normalised base embeddings of up to MAX_CENTROID_ROWS training texts of that class) is nearest by
    cosine. No probabilities, so no loss."""
    fam = get_family(config["family"])
    base = _build(fam, {**config, "hyperparameters": {**config["hyperparameters"], "freezeBase": True}})
    base.eval()
    classes = len(config["labelNames"])

    def embedded(loader: torch.utils.data.DataLoader, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        vectors, targets, seen = [], [], 0
        with torch.inference_mode():
            for (ids, mask), target in plain_batches(loader):
                vectors.append(base.embed(ids, mask))
                targets.append(target)
                seen += int(target.shape[0])
                if limit is not None and seen >= limit:
                    break
        return torch.cat(vectors)[:limit], torch.cat(targets)[:limit]

    train_vectors, train_targets = embedded(loaders.train, MAX_CENTROID_ROWS)
    centroids = torch.zeros(classes, train_vectors.shape[1])
    centroids.index_add_(0, train_targets, train_vectors)
    centroids = torch.nn.functional.normalize(centroids, dim=1)  # a class with no rows stays zero: never nearest
    test_vectors, test_targets = embedded(loaders.test, None)
    right = int(((test_vectors @ centroids.T).argmax(dim=1) == test_targets).sum())
    return {"accuracy": right / max(len(test_targets), 1), "loss": None, "count": int(len(test_targets))}


def _move(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, tuple | list):
        return type(value)(_move(v, device) for v in value)
    return value
