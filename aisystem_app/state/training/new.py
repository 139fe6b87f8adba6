"""/training/jobs/new: the new-training-job form. Datasets and their split versions, the families that fit
the dataset's type, the family's hyperparameters with its defaults, and a target model (one of one's own,
or a new one). The training service checks everything; its TRAIN_003 field errors show next to the fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.state.session import invoke
from aisystem_app.state.training.view import family_text, job_href
from backend.auth.principal import Principal
from backend.catalog.datasets import service as datasets_service
from backend.catalog.model_registry import service as registry
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.ml.families import family_names, get_family
from backend.training import service

TRAINABLE_TYPES = ("tabular", "text", "image")
NEW_MODEL = "__new__"
NO_MODEL = "__none__"
# Shown first, in this order: what people change most; the rest follow as the family lists them.
FIRST = ("maxEpochs", "learningRate", "batchSize", "optimizer")
TRAINER_FIELDS = (
    {"name": "trainer__accelerator", "label": "Accelerator", "kind": "choice", "value": "auto",
     "options": ["auto", "cpu", "gpu"], "help": "auto: the worker's GPU when it has one"},
    {"name": "trainer__devices", "label": "Devices", "kind": "text", "value": "1", "options": [],
     "help": "1–16 on one worker (more than 1: data-parallel)"},
    {"name": "trainer__precision", "label": "Precision", "kind": "choice", "value": "32-true",
     "options": ["32-true", "16-mixed", "bf16-mixed", "64-true"], "help": "bf16-mixed suits recent GPUs"},
    {"name": "trainer__patience", "label": "Early stopping patience (epochs)", "kind": "text", "value": "",
     "options": [], "help": "Stop after this many epochs without gain (empty: never)"},
)


def _range(spec: dict[str, Any]) -> str:
    low = spec.get("minimum", spec.get("exclusiveMinimum"))
    high = spec.get("maximum", spec.get("exclusiveMaximum"))
    if low is None and high is None:
        return ""
    return f"{fmt.number(low) if low is not None else '…'} to {fmt.number(high) if high is not None else '…'}"


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def hyperparameter_fields(family: str) -> list[dict[str, Any]]:
    """The family's hyperparameters as form fields: name (camelCase), label, kind (choice | text), value
    (its default as text), options, help (what it does and its range)."""
    described = get_family(family).describe()
    properties = described["hyperparameters"]["properties"]
    defaults = described["defaults"]
    fields = []
    for name in sorted(properties, key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), 0)):
        spec = properties[name]
        options = spec.get("enum") or (["true", "false"] if spec.get("type") == "boolean" else [])
        numeric = next((s for s in spec.get("anyOf", []) if s.get("type") != "null"), spec)
        items = numeric.get("items") or {}
        words = [spec.get("description") or ""]
        if numeric.get("type") == "array":
            words.append(f"numbers separated by commas ({_range(items) or 'any'})")
        elif _range(numeric):
            words.append(_range(numeric))
        if "anyOf" in spec:
            words.append("empty: automatic")
        fields.append({"name": name, "label": fmt.label(name), "kind": "choice" if options else "text",
                       "value": _shown(defaults.get(name)), "options": [str(o) for o in options],
                       "help": "; ".join(w for w in words if w)})
    return fields


def values_of(form: dict[str, Any], fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The form's text as values for the service (it checks them): lists split at commas, empty left out
    (the default applies); numbers stay text, which the service's validation reads as numbers."""
    kinds = {f["name"]: f for f in fields}
    out: dict[str, Any] = {}
    for name, field in kinds.items():
        raw = str(form.get(name, "") or "").strip()
        if raw == "":
            continue
        if field.get("array"):
            out[name] = [p.strip() for p in raw.split(",") if p.strip()]
        else:
            out[name] = raw
    return out


@dataclass
class FormData:
    datasets: list[dict[str, str]]
    models: list[dict[str, str]]


@dataclass
class DatasetChoice:
    versions: list[dict[str, str]]
    families: list[dict[str, str]]
    label: str
    columns: list[str]

    def default_version(self) -> str:
        """The newest version that has a stored split, else the newest one ("" when there is none)."""
        split = [v for v in self.versions if v["split"]]
        return (split or self.versions or [{"number": ""}])[0]["number"]

    def family_to_show(self, current: str) -> str:
        """The family already chosen when it fits this dataset, else the first that does ("" if none)."""
        names = [f["name"] for f in self.families]
        return current if current in names else (names[0] if names else "")


def read_options():
    """A unit of work: the trainable datasets the user reads, and their own models (targets)."""

    def work(session: Session, principal: Principal) -> FormData:
        rows, _ = datasets_service.list_datasets(session=session, actor=principal, params=PageParams(limit=200),
                                                 sort="name")
        datasets = [{"id": d.id, "name": d.name, "type": d.type} for d in rows
                    if d.type in TRAINABLE_TYPES and d.current_version is not None]
        models: list[dict[str, str]] = []
        if principal.can("model:write") or principal.can("model:create"):
            found, _ = registry.list_models(session=session, actor=principal, params=PageParams(limit=200),
                                            filters=registry.ModelFilters(created_by=principal.user_id), sort="name")
            models = [{"id": m.id, "name": m.name} for m in found]
        return FormData(datasets, models)

    return work


def read_dataset(dataset_id: str):
    """A unit of work: a dataset's versions (with their stored split in words), the families for its type,
    its label column and columns."""

    def work(session: Session, principal: Principal) -> DatasetChoice:
        dataset = datasets_service.get_dataset(session=session, actor=principal, dataset_id=dataset_id)
        rows, _ = datasets_service.list_versions(session=session, actor=principal, dataset_id=dataset_id,
                                                 params=PageParams(limit=50))
        versions = []
        for v in rows:
            split = v.split or {}
            words = (f"split {round(split['train'] * 100)}/{round(split['validation'] * 100)}/"
                     f"{round(split['test'] * 100)} (train/validation/test)" if split else "not split yet")
            versions.append({"number": str(v.number), "split": "true" if split else "",
                             "text": f"Version {v.number}: {fmt.plural(v.record_count, 'row')}, {words}"})
        families = [{"name": n, "text": family_text(n)} for n in family_names()
                    if dataset.type in get_family(n).dataset_types]
        columns = [f["name"] for f in (rows[0].fields if rows else []) if isinstance(f, dict) and "name" in f]
        return DatasetChoice(versions, families, dataset.label_column or "", columns)

    return work


FORM_CODES = ("TRAIN_003", "TRAIN_007", "DATA_004", "DATA_001", "MODEL_001", "REQ_001")


def create(data: dict[str, Any]):
    """A unit of work creating and queueing the job: its id, or the refusal the form shows
    (code, message, details) for the errors a person fixes in the form. The attempt runs in a savepoint,
    so a refusal leaves nothing behind."""

    def work(session: Session, principal: Principal) -> str | tuple[str, str, dict[str, Any]]:
        try:
            with session.begin_nested():
                return service.create_training_job(session=session, actor=principal, data=data).id
        except AISystemError as error:
            if error.code not in FORM_CODES:
                raise
            return error.code, error.message, dict(error.details or {})

    return work


def default_name(family: str, datasets: list[dict[str, str]], dataset_id: str, version: str) -> str:
    """`Tabular MLP on Breast Cancer Wisconsin v1`: what the job is called when the form names none."""
    dataset = next((d["name"] for d in datasets if d["id"] == dataset_id), dataset_id)
    return f"{family_text(family)} on {dataset} v{version}"[:200]


def field_errors(details: dict[str, Any], hyperparameter_names: set[str]) -> dict[str, str]:
    """TRAIN_003's `details.fields` keyed by the form's field names (`hiddenSizes.3` → `hiddenSizes`)."""
    out: dict[str, str] = {}
    for item in details.get("fields", []) if isinstance(details, dict) else []:
        field = str(item.get("field", "")).split(".")[0]
        name = field if field in hyperparameter_names else f"trainer__{field}"
        out.setdefault(name, str(item.get("message", "invalid"))[:200])
    return out


class NewTrainingJobState(rx.State):
    """The form; the service checks the request before anything is queued."""

    allowed: bool = True
    loading: bool = True
    datasets: list[dict[str, str]] = []
    models: list[dict[str, str]] = []
    dataset_id: str = ""
    versions: list[dict[str, str]] = []
    version: str = ""
    families: list[dict[str, str]] = []
    family: str = ""
    label_column: str = ""
    columns: list[str] = []
    target: str = NEW_MODEL
    fields: list[dict[str, Any]] = []
    trainer_fields: list[dict[str, Any]] = list(TRAINER_FIELDS)
    errors: dict[str, str] = {}
    form_error: str = ""
    creating: bool = False

    @rx.var
    def version_split(self) -> bool:
        return any(v["number"] == self.version and v["split"] for v in self.versions)

    @rx.var
    def dataset_href(self) -> str:
        return f"/catalog/datasets/{self.dataset_id}" if self.dataset_id else "/catalog/datasets"

    @rx.event(background=True)
    async def load(self):
        """The datasets and models to choose from; the first split dataset is chosen."""
        async with self:
            self.loading, self.errors, self.form_error = True, {}, ""
            wanted = self.router.url.query_parameters.get("dataset", "")[:40]
        outcome = await invoke(self, read_options())
        async with self:
            self.loading = False
            self.allowed = outcome.code != "AUTH_002"
            if not outcome.ok:
                return outcome.events if self.allowed else None
            self.datasets, self.models = outcome.value.datasets, outcome.value.models
            ids = [d["id"] for d in self.datasets]
            chosen = wanted if wanted in ids else (ids[0] if ids else "")
        if chosen:
            return NewTrainingJobState.choose_dataset(chosen)
        return None

    @rx.event(background=True)
    async def choose_dataset(self, dataset_id: str):
        async with self:
            if dataset_id not in [d["id"] for d in self.datasets] or (dataset_id == self.dataset_id and self.versions):
                return None  # unknown, or already shown
            self.dataset_id, self.errors = dataset_id, {}
        outcome = await invoke(self, read_dataset(dataset_id))
        if not outcome.ok:
            return outcome.events
        choice: DatasetChoice = outcome.value
        async with self:
            self.versions, self.families = choice.versions, choice.families
            self.label_column, self.columns = choice.label, choice.columns
            self.version = choice.default_version()
            family = choice.family_to_show(self.family)
        if family:
            return NewTrainingJobState.choose_family(family)
        return None

    @rx.event
    def choose_version(self, version: str):
        if any(v["number"] == version for v in self.versions):
            self.version = version

    @rx.event
    def choose_family(self, family: str):
        """A family's hyperparameters with its defaults."""
        if family not in [f["name"] for f in self.families]:
            return
        self.family, self.errors = family, {}
        fields = hyperparameter_fields(family)
        for f in fields:
            f["array"] = "numbers separated by commas" in f["help"]
        self.fields = fields

    @rx.event
    def choose_target(self, target: str):
        if target in (NEW_MODEL, NO_MODEL) or target in [m["id"] for m in self.models]:
            self.target = target

    @rx.event
    def choose_label(self, column: str):
        if column in self.columns:
            self.label_column = column

    @rx.event(background=True)
    async def submit(self, form: dict):
        """Create and queue the job, then open its page; field errors show next to the fields."""
        async with self:
            if self.creating:
                return None
            self.creating, self.errors, self.form_error = True, {}, ""
            fields, target, models = list(self.fields), self.target, [m["id"] for m in self.models]
            data: dict[str, Any] = {"datasetId": self.dataset_id, "family": self.family,
                                    "datasetVersion": int(self.version) if self.version.isdigit() else None}
            if self.label_column:
                data["labelColumn"] = self.label_column
            default = default_name(self.family, self.datasets, self.dataset_id, self.version)
        data["name"] = str(form.get("name") or "").strip()[:200] or default
        data["hyperparameters"] = values_of(form, fields)
        data["trainer"] = {k.split("__", 1)[1]: v for k, v in values_of(form, list(TRAINER_FIELDS)).items()}
        model_name = str(form.get("model_name") or "").strip()[:200]
        if target == NEW_MODEL:
            if not model_name:
                async with self:
                    self.creating, self.errors = False, {"model_name": "Name the model to create, or choose "
                                                                       "“Do not register”"}
                return None
            data["modelName"] = model_name
        elif target in models:
            data["modelId"] = target
        outcome = await invoke(self, create(data), write=True)
        async with self:
            self.creating = False
            if not outcome.ok:
                return outcome.events
            if isinstance(outcome.value, str):
                return rx.redirect(job_href(outcome.value))
            code, message, details = outcome.value
            names = {f["name"] for f in fields}
            if code == "TRAIN_003" and details.get("fields"):
                self.errors = field_errors(details, names)
                self.form_error = "Check the highlighted fields: " + message
            elif code in ("DATA_004", "DATA_001"):
                self.errors = {"dataset": message}
                self.form_error = message
            elif code == "MODEL_001":
                self.errors = {"target": "That model is gone or not yours; choose another"}
            else:
                self.form_error = message
        return None
