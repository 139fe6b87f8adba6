"""The experiment page's "Optimise hyperparameters" dialog: dataset version, label column and family (the
training form's pickers), a search space editor, strategy, objective and trial counts. The tuning service
checks everything; its TRAIN_003 field errors show next to the fields (a search space row's next to the row)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from aisystem_app import routes
from aisystem_app.state.session import invoke
from aisystem_app.state.training.new import DatasetChoice, hyperparameter_fields, read_dataset, read_options
from backend.auth.principal import Principal
from backend.core.errors import AISystemError
from backend.tuning import service

STRATEGIES = [
    {"value": "grid", "text": "Grid"},
    {"value": "random", "text": "Random"},
    {"value": "bayesian_optimization", "text": "Bayesian (TPE)"},
    {"value": "genetic", "text": "Genetic (NSGA-II)"},
    {"value": "population_based_training", "text": "Population-based training"},
]
OBJECTIVES = [
    {"value": "maximize_accuracy", "text": "Maximise accuracy"},
    {"value": "minimize_loss", "text": "Minimise loss"},
    {"value": "maximize", "text": "Maximise a metric"},
    {"value": "minimize", "text": "Minimise a metric"},
]
TYPES = ("float", "int", "choice")
MAX_ROWS = 32
# The configuration's own fields, whose errors show next to the dialog's field of the same name.
CONFIG_FIELDS = ("strategy", "objective", "maxTrials", "parallelTrials", "earlyStopping")
FORM_CODES = ("TRAIN_003", "TRAIN_007", "TUNE_002", "DATA_004", "DATA_001", "REQ_001")


def blank_row(name: str = "") -> dict[str, str]:
    return {"name": name, "type": "float", "min": "", "max": "", "log": "", "values": ""}


def search_space(rows: list[dict[str, str]]) -> dict[str, Any]:
    """The editor's rows as the configuration's `searchSpace`: numbers as typed (the service checks them;
    text that is no number is refused there, naming the row), choice values split at commas."""
    space: dict[str, Any] = {}
    for row in rows:
        name = row.get("name", "")
        if not name:
            continue
        if row.get("type") == "choice":
            space[name] = {"type": "choice", "values": [_value(v) for v in row.get("values", "").split(",") if v.strip()]}
            continue
        spec: dict[str, Any] = {"type": row.get("type") or "float"}
        for bound in ("min", "max"):
            text = row.get(bound, "").strip()
            if text:
                spec[bound] = text
        if row.get("log") and spec["type"] == "float":
            spec["scale"] = "log"
        space[name] = spec
    return space


def _value(text: str) -> Any:
    """A choice value: a whole number, a number, true/false, or the text itself."""
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def objective_of(choice: str, metric: str) -> str:
    """`maximize_accuracy`, `minimize_loss` or `maximize_<metric>` / `minimize_<metric>`."""
    if choice in ("maximize", "minimize"):
        return f"{choice}_{metric.strip()}" if metric.strip() else ""
    return choice


def field_errors(details: dict[str, Any]) -> dict[str, str]:
    """TRAIN_003's `details.fields` keyed by the dialog's fields: `searchSpace.<name>...` → `space:<name>`,
    the configuration's own fields by name, the shared epochs as `maxEpochs`; anything else under `form`."""
    out: dict[str, str] = {}
    for item in details.get("fields", []) if isinstance(details, dict) else []:
        field = str(item.get("field", ""))
        message = str(item.get("message", "invalid"))[:200]
        parts = field.split(".")
        if parts[0] == "searchSpace":
            key = f"space:{parts[1]}" if len(parts) > 1 else "space"
        elif parts[0] in (*CONFIG_FIELDS, "maxEpochs", "labelColumn", "datasetId", "datasetVersion"):
            key = parts[0]
        else:
            key = "form"
            message = f"{field}: {message}" if field else message
        out.setdefault(key, message)
    return out


def start(experiment_id: str, data: dict[str, Any]):
    """A unit of work starting the study: its id, or the refusal the dialog shows (code, message, details).
    The attempt runs in a savepoint, so a refusal leaves nothing behind."""

    def work(session: Session, principal: Principal) -> str | tuple[str, str, dict[str, Any]]:
        try:
            with session.begin_nested():
                return service.start_study(session=session, actor=principal, experiment_id=experiment_id,
                                           data=data).id
        except AISystemError as error:
            if error.code not in FORM_CODES:
                raise
            return error.code, error.message, dict(error.details or {})

    return work


def stop(experiment_id: str):
    """A unit of work stopping the experiment's running study."""

    def work(session: Session, principal: Principal) -> str:
        return service.stop_study(session=session, actor=principal, experiment_id=experiment_id).status

    return work


class OptimiseState(rx.State):
    """The dialog; opened from the experiment page by users who may start training in the experiment."""

    open: bool = False
    experiment_id: str = ""
    datasets: list[dict[str, str]] = []
    dataset_id: str = ""
    versions: list[dict[str, str]] = []
    version: str = ""
    families: list[dict[str, str]] = []
    family: str = ""
    label_column: str = ""
    columns: list[str] = []
    hyperparameters: list[str] = []
    hyperparameter_items: list[dict[str, str]] = []
    rows: list[dict[str, str]] = []
    strategies: list[dict[str, str]] = STRATEGIES
    objectives: list[dict[str, str]] = OBJECTIVES
    strategy: str = "bayesian_optimization"
    objective: str = "maximize_accuracy"
    errors: dict[str, str] = {}
    form_error: str = ""
    starting: bool = False
    stop_open: bool = False
    stopping: bool = False

    @rx.event(background=True)
    async def open_dialog(self, dataset_id: str = ""):
        """Open the dialog with the datasets to choose from; the experiment's own dataset first."""
        async with self:
            self.experiment_id = routes.id_in_path(self.router.url.path, 64)
            self.open, self.errors, self.form_error = True, {}, ""
            if not self.rows:
                self.rows = [blank_row("learningRate")]
        outcome = await invoke(self, read_options())
        if not outcome.ok:
            return outcome.events
        async with self:
            self.datasets = outcome.value.datasets
            ids = [d["id"] for d in self.datasets]
            chosen = dataset_id if dataset_id in ids else (self.dataset_id if self.dataset_id in ids else
                                                           (ids[0] if ids else ""))
            self.dataset_id = ""
        return OptimiseState.choose_dataset(chosen) if chosen else None

    @rx.event
    def set_open(self, value: bool):
        self.open = value

    @rx.event
    def set_stop_open(self, value: bool):
        self.stop_open = value

    @rx.event(background=True)
    async def stop_study(self):
        """Stop the running study (its queued and training trials are cancelled), then show the page again."""
        from aisystem_app.state.catalog.experiments.detail import ExperimentState

        async with self:
            if self.stopping:
                return None
            self.stopping = True
            experiment_id = routes.id_in_path(self.router.url.path, 64)
        outcome = await invoke(self, stop(experiment_id), write=True)
        async with self:
            self.stopping, self.stop_open = False, False
        return outcome.events if not outcome.ok else ExperimentState.load

    @rx.event(background=True)
    async def choose_dataset(self, dataset_id: str):
        async with self:
            if dataset_id not in [d["id"] for d in self.datasets]:
                return None
            self.dataset_id = dataset_id
        outcome = await invoke(self, read_dataset(dataset_id))
        if not outcome.ok:
            return outcome.events
        choice: DatasetChoice = outcome.value
        async with self:
            self.versions, self.families = choice.versions, choice.families
            self.label_column, self.columns = choice.label, choice.columns
            self.version = choice.default_version()
            family = choice.family_to_show(self.family)
        return OptimiseState.choose_family(family) if family else None

    @rx.event
    def choose_version(self, version: str):
        if any(v["number"] == version for v in self.versions):
            self.version = version

    @rx.event
    def choose_label(self, column: str):
        if column in self.columns:
            self.label_column = column

    @rx.event
    def choose_family(self, family: str):
        """The family's hyperparameters become the rows' choices; rows naming others are dropped."""
        if family not in [f["name"] for f in self.families]:
            return
        self.family = family
        fields = hyperparameter_fields(family)
        self.hyperparameters = [f["name"] for f in fields]
        self.hyperparameter_items = [{"name": f["name"], "text": f["label"]} for f in fields]
        self.rows = [r for r in self.rows if r["name"] in self.hyperparameters] or [blank_row(self.hyperparameters[0])]

    @rx.event
    def choose_strategy(self, value: str):
        if value in [s["value"] for s in STRATEGIES]:
            self.strategy = value

    @rx.event
    def choose_objective(self, value: str):
        if value in [o["value"] for o in OBJECTIVES]:
            self.objective = value

    @rx.event
    def add_row(self):
        if len(self.rows) < MAX_ROWS:
            used = {r["name"] for r in self.rows}
            self.rows = [*self.rows, blank_row(next((h for h in self.hyperparameters if h not in used), ""))]

    @rx.event
    def remove_row(self, index: int):
        self.rows = [r for i, r in enumerate(self.rows) if i != index]

    @rx.event
    def set_row(self, index: int, key: str, value: Any):
        """One cell of the search space editor (hyperparameter, type, min, max, log, values)."""
        if not 0 <= index < len(self.rows) or key not in ("name", "type", "min", "max", "log", "values"):
            return
        text = ("true" if value else "") if key == "log" else str(value)[:2000]
        if (key == "name" and text not in self.hyperparameters) or (key == "type" and text not in TYPES):
            return
        rows = [dict(r) for r in self.rows]
        rows[index][key] = text
        self.rows = rows

    @rx.event(background=True)
    async def submit(self, form: dict):
        """Start the study; on success close the dialog and reload the page (its Study panel follows it)."""
        from aisystem_app.state.catalog.experiments.detail import ExperimentState

        async with self:
            if self.starting:
                return None
            self.starting, self.errors, self.form_error = True, {}, ""
            objective = objective_of(self.objective, str(form.get("metric") or ""))
            configuration: dict[str, Any] = {
                "searchSpace": search_space(self.rows), "strategy": self.strategy,
                "maxTrials": str(form.get("maxTrials") or "").strip() or 20,
                "parallelTrials": str(form.get("parallelTrials") or "").strip() or 1,
                "earlyStopping": {"enabled": bool(form.get("earlyStopping"))}}
            if objective:
                configuration["objective"] = objective
            data: dict[str, Any] = {"configuration": configuration, "datasetId": self.dataset_id or None,
                                    "family": self.family or "tabular_mlp",
                                    "datasetVersion": int(self.version) if self.version.isdigit() else None}
            if self.label_column:
                data["labelColumn"] = self.label_column
            epochs = str(form.get("maxEpochs") or "").strip()
            if epochs:
                data["hyperparameters"] = {"maxEpochs": epochs}
            experiment_id = self.experiment_id
        if self.objective in ("maximize", "minimize") and not objective:
            async with self:
                self.starting, self.errors = False, {"objective": "Name the metric (e.g. val_f1)"}
            return None
        outcome = await invoke(self, start(experiment_id, data), write=True)
        async with self:
            self.starting = False
            if not outcome.ok:
                return outcome.events
            if isinstance(outcome.value, str):
                self.open = False
                return ExperimentState.load
            code, message, details = outcome.value
            if code == "TRAIN_003" and details.get("fields"):
                self.errors = field_errors(details)
                self.form_error = "Check the highlighted fields: " + message
            else:
                self.form_error = message
        return None
