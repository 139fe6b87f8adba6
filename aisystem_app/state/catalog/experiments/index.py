"""/catalog/experiments: the experiments, searched and filtered in the URL, and the new-experiment dialog."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.state.catalog.experiments.view import EXPERIMENTS, metric_text, objective_text, usernames
from aisystem_app.state.session import invoke
from aisystem_app.state.table import PAGE_KEYS, PAGE_SIZE, TableMixin
from backend.auth.principal import Principal
from backend.catalog.experiments import service
from backend.core.pagination import PageParams

ALL = "all"
TYPES = ("training", "hyperparameter_optimization", "fine_tuning", "evaluation")
STATUSES = ("created", "running", "completed", "failed", "stopped")
FILTER_KEYS = ("q", "type", "status")
URL_KEYS = (*FILTER_KEYS, "pick", *PAGE_KEYS)
FIRST_PAGE = {"page": "", "after": ""}


def experiment_row(doc: dict[str, Any], names: dict[str, str]) -> dict[str, str]:
    """One experiment as the list shows it (text only)."""
    best = doc.get("bestRun")
    parsed = service.objective_of(doc.get("objective"))
    best_text = fmt.NONE
    if best is not None and parsed and parsed[0] in best.metrics:
        best_text = f"{metric_text(parsed[0], best.metrics[parsed[0]])} ({best.name})"
    return {
        "id": doc["id"], "name": doc["name"], "href": f"{EXPERIMENTS}/{doc['id']}",
        "type": fmt.label(doc["type"]), "objective": objective_text(doc.get("objective")),
        "status": doc["status"], "runs": fmt.count(doc["runCount"]), "runs_sort": f"{doc['runCount']:08d}",
        "best": best_text, "owner": names.get(doc["createdBy"], doc["createdBy"]),
        "updated": fmt.ago(doc["updatedAt"]), "updated_sort": doc["updatedAt"].isoformat(),
    }


def read_page(cursor: str | None, filters: dict[str, str], limit: int = PAGE_SIZE):
    """A unit of work reading one page of experiments, newest change first."""

    def work(session: Session, principal: Principal) -> tuple[list[dict[str, str]], str | None]:
        rows, next_cursor = service.list_experiments(
            session=session, actor=principal, params=PageParams(limit=limit, cursor=cursor),
            q=filters.get("q") or None, type=filters.get("type") if filters.get("type") in TYPES else None,
            status=filters.get("status") if filters.get("status") in STATUSES else None, sort="-updatedAt")
        docs = [service.experiment_document(session=session, experiment=e) for e in rows]
        names = usernames(session, {d["createdBy"] for d in docs})
        return [experiment_row(d, names) for d in docs], next_cursor

    return work


def create(form: dict[str, str]):
    """A unit of work creating an experiment from the dialog's fields."""

    def work(session: Session, principal: Principal) -> str:
        objective = None
        if form.get("objective_metric"):
            objective = f"{form.get('objective_goal') or 'maximize'}_{form['objective_metric']}"
        data = {"name": form.get("name", ""), "description": form.get("description", ""),
                "type": form.get("type") or "training", "objective": objective}
        return service.create_experiment(session=session, actor=principal, data=data).id

    return work


class ExperimentsState(TableMixin, rx.State):
    """The experiments list; every handler runs the service as the signed-in user."""

    allowed: bool = True
    filters: dict[str, str] = {}
    creating: bool = False
    dialog_open: bool = False
    form_errors: dict[str, str] = {}
    picked: list[str] = []

    @rx.var
    def filtered(self) -> bool:
        """Whether a search or a filter narrows the list (the empty state says so)."""
        f = self.filters
        return bool(f.get("q")) or f.get("type", ALL) != ALL or f.get("status", ALL) != ALL

    @rx.var
    def compare_href(self) -> str:
        """The compare view of the experiments picked (two or more)."""
        return f"{EXPERIMENTS}/compare?ids={','.join(self.picked)}"

    @rx.event
    def toggle_pick(self, experiment_id: str):
        """Pick an experiment to compare (or drop it); the picks live in the URL, so a reload keeps them."""
        picked = [p for p in self.picked if p != experiment_id]
        if len(picked) == len(self.picked) and len(picked) < 10:
            picked.append(experiment_id[:64])
        self.picked = picked
        return self._go({"pick": ",".join(picked)}, push=False)

    @rx.event(background=True)
    async def load(self):
        """Show the search, filters and page the URL names."""
        async with self:
            params = self._read_url(URL_KEYS)
            self.filters = {k: params.get(k, "") for k in FILTER_KEYS}
            self.picked = [p for p in params.get("pick", "").split(",") if p][:10]
            for key, known in (("type", TYPES), ("status", STATUSES)):
                if self.filters[key] not in known:
                    self.filters[key] = ALL
            self._open_url_page(params)
        return await self._fetch()

    @rx.event
    def apply_filters(self, form: dict):
        """Search by name and narrow by type and status (all in the URL)."""
        chosen = {k: str(form.get(k) or "")[:100].strip() for k in FILTER_KEYS}
        for key, known in (("type", TYPES), ("status", STATUSES)):
            if chosen[key] not in known:
                chosen[key] = ""
        return self._go({**chosen, **FIRST_PAGE})

    @rx.event
    def clear_filters(self):
        return self._go({**{k: "" for k in FILTER_KEYS}, **FIRST_PAGE})

    async def _fetch(self):
        async with self:
            self.loading = True
            cursor, filters = self._cursor, dict(self.filters)
        outcome = await invoke(self, read_page(cursor, filters))
        allowed = outcome.code != "AUTH_002"
        async with self:
            self.allowed = allowed
            self._show_page(*(outcome.value if outcome.ok else ([], None)))
        return outcome.events if allowed else None

    @rx.event
    def set_dialog(self, value: bool):
        self.dialog_open, self.form_errors = value, {}

    @rx.event(background=True)
    async def create_experiment(self, form: dict):
        """Create the experiment and open its page."""
        async with self:
            if self.creating:
                return None
            self.creating, self.form_errors = True, {}
        fields = {k: str(v or "").strip() for k, v in form.items()}
        if not fields.get("name"):
            async with self:
                self.creating, self.form_errors = False, {"name": "Give the experiment a name"}
            return None
        outcome = await invoke(self, create(fields), write=True)
        async with self:
            self.creating = False
            if outcome.ok:
                self.dialog_open = False
                return rx.redirect(f"{EXPERIMENTS}/{outcome.value}")
            if outcome.code in ("EXP_004", "SYS_002", "VAL_001"):
                self.form_errors = {"name": "An experiment with this name exists"} if outcome.code == "EXP_004" \
                    else {"objective_metric": "Check the fields: a metric name uses letters, digits, _ - . / :"}
        return outcome.events or None

