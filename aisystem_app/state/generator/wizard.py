"""/generator: the app generator's wizard, a thin adapter over `backend.generator` (in-process).

Steps: describe → review the analysis (editable) → architecture → MCP tools (forms from their JSON Schemas)
→ file plan → generate (live progress) → files, tests and coverage → deploy and open. Each step validates
before moving on and can go back. The generated application is in the URL (`?app=`), so a reload (or a
shared link) reopens its results."""

from __future__ import annotations

from functools import partial
from typing import Any

import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.state.jobs import JobProgressMixin
from aisystem_app.state.session import invoke
from aisystem_app.state.url import UrlStateMixin
from backend.auth.principal import Principal
from backend.core import semantic
from backend.generator import deploy, service
from backend.generator.catalogue import APP_TYPES, MCP_TOOLS
from backend.generator.schemas import GenerateRequest

STEPS = ("Describe", "Review analysis", "Architecture", "MCP tools", "File plan", "Generate", "Results", "Deploy")
URL_KEYS = ("app",)
EXAMPLE = "Create a dashboard for monitoring customer behaviour with ML insights"
CHANGE_LABELS = {"added": "New", "modified": "Changed", "unchanged": "Unchanged", "removed": "Removed"}


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def tool_forms(configs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each catalogue tool with its form fields, built from the tool's JSON Schema."""
    out = []
    for tool in MCP_TOOLS:
        chosen = tool.id in configs
        values = configs.get(tool.id, {})
        fields = []
        for key, prop in tool.config_schema.get("properties", {}).items():
            kind = prop.get("type")
            value = values.get(key, prop.get("default", ""))
            if kind == "array":
                enum = prop.get("items", {}).get("enum")
                kind = "list"
                value = ", ".join(str(v) for v in value or [])
                options = enum or []
            else:
                options = [str(o) for o in prop.get("enum", [])]
                kind = "enum" if options else kind
                value = "" if value is None else str(value).lower() if kind == "boolean" else str(value)
            fields.append({"key": key, "title": prop.get("title", fmt.label(key)), "kind": kind, "value": value,
                           "options": options, "required": key in tool.config_schema.get("required", []),
                           "help": prop.get("description", "") or (f"One or more of: {', '.join(options)}"
                                                                  if kind == "list" and options else "")})
        out.append({"id": tool.id, "name": tool.name, "description": tool.description, "chosen": chosen,
                    "fields": fields})
    return out


def config_from_form(tool_id: str, form: dict[str, str]) -> dict[str, Any]:
    """The form's text values typed by the tool's schema (what the service validates)."""
    tool = next(t for t in MCP_TOOLS if t.id == tool_id)
    out: dict[str, Any] = {}
    for key, prop in tool.config_schema.get("properties", {}).items():
        raw = form.get(key, "")
        if raw == "" and key not in tool.config_schema.get("required", []):
            continue
        kind = prop.get("type")
        try:
            if kind == "integer":
                out[key] = int(raw)
            elif kind == "number":
                out[key] = float(raw)
            elif kind == "boolean":
                out[key] = raw in ("true", "True", "1", "yes")
            elif kind == "array":
                out[key] = _split(raw)
            else:
                out[key] = raw
        except ValueError:
            out[key] = raw  # the schema check names it
    return out


def arch_rows(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": a["id"], "name": a["name"], "description": a["description"],
             "components": " · ".join(f"{c['name']} ({c['technology']})" for c in a["components"]),
             "cost": fmt.money(a["estimatedCost"]["monthly"]) + " a month",
             "requirements": f"{fmt.number(a['requirements']['cpuCores'])} cores · "
                             f"{fmt.number(a['requirements']['memoryGb'])} GB memory · "
                             f"{fmt.number(a['requirements']['storageGb'])} GB storage",
             "recommended": bool(a.get("recommended"))} for a in docs]


def plan_rows(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"path": f["path"], "purpose": f["purpose"], "size": fmt.size(f["bytes"]),
             "lines": fmt.count(f["lines"]), "change": CHANGE_LABELS.get(f.get("change", "added"), "New"),
             "diff": f.get("diff") or ""} for f in plan["files"]]


def app_view(doc: dict[str, Any]) -> dict[str, Any]:
    tests = doc.get("tests") or {}
    code = doc.get("code") or {}
    return {"status": fmt.label(doc["status"]), "status_raw": doc["status"], "name": doc["name"],
            "passed": f"{fmt.count(tests.get('passed', 0))} of {fmt.count(tests.get('total', 0))} tests passed",
            "all_passed": bool(tests.get("total")) and tests.get("passed") == tests.get("total"),
            "coverage": fmt.percent((code.get("testCoverage") or 0) / 100),
            "loc": fmt.count(code.get("linesOfCode") or 0),
            "time": doc.get("generationTime") or fmt.NONE,
            "install": "Installed in the sandbox" if (tests.get("install") or {}).get("ok") else "Did not install",
            "error": doc.get("error") or "",
            "files": [f["path"] for f in code.get("files", [])],
            "tests": [{"name": t["nodeid"], "outcome": fmt.label(t["outcome"]), "ok": t["outcome"] == "passed"}
                      for t in tests.get("tests", [])]}


def read_app(app_id: str, session: Session, principal: Principal) -> dict[str, Any]:
    from backend.generator.schemas import AppRead

    doc = AppRead.model_validate(service.document(service.get_app(session=session, actor=principal, app_id=app_id)))
    return doc.model_dump(by_alias=True, mode="json")


class GeneratorState(JobProgressMixin, UrlStateMixin, rx.State):
    step: int = 0
    busy: bool = False
    error: str = ""
    prompt: str = EXAMPLE
    # Review
    app_type: str = ""
    app_name: str = ""
    entities: str = ""
    features: str = ""
    data_sources: str = ""
    models: list[dict[str, str]] = []
    ambiguities: list[dict[str, str]] = []
    analysis_source: str = ""
    # Architecture
    architectures: list[dict[str, Any]] = []
    architecture: str = ""
    expected_users: str = "100"
    # MCP tools
    tools: list[dict[str, Any]] = []
    _configs: dict[str, dict[str, Any]] = {}
    # Plan
    plan_files: list[dict[str, str]] = []
    plan_summary: str = ""
    open_diff: str = ""
    # Results
    app_id: str = ""
    app: dict[str, Any] = {}
    file_path: str = ""
    file_text: str = ""
    # Deploy
    deploy_status: str = ""
    deploy_url: str = ""
    deploy_health: str = ""

    @rx.var
    def step_names(self) -> list[str]:
        return list(STEPS)

    @rx.var
    def type_options(self) -> dict[str, str]:
        return {t.id: t.name for t in APP_TYPES}

    @rx.var
    def generation_steps(self) -> list[dict[str, str]]:
        """The job's steps from its progress (the service's STEPS thresholds)."""
        progress = self.job_progress / 100
        out = []
        for n, (step_id, name, start) in enumerate(service.STEPS):
            end = service.STEPS[n + 1][2] if n + 1 < len(service.STEPS) else 1.0
            if self.job_status == "succeeded" or progress >= end:
                status = "Done"
            elif self.job_status in ("failed", "cancelled") and progress >= start:
                status = "Failed"
            elif self.job_status == "running" and progress >= start:
                status = "Running"
            else:
                status = "Pending"
            out.append({"id": step_id, "name": name, "status": status})
        return out

    # --- navigation ---------------------------------------------------------------------------------------

    @rx.event(background=True)
    async def load(self):
        async with self:
            params = self._read_url(URL_KEYS)
            app_id = params.get("app", "")
        semantic.preload()  # the first analysis does not wait for the encoder
        if not app_id:
            async with self:
                if self.app_id:  # a fresh wizard after "Start over"
                    self.app_id, self.app, self.step = "", {}, 0
            return None
        outcome = await invoke(self, partial(read_app, app_id))
        async with self:
            if not outcome.ok:
                return outcome.events
            self._show_app(outcome.value)
            self.step = 7 if self.deploy_status == "Running" else 6
            if outcome.value["status"] == "generating" and outcome.value.get("jobId"):
                self.step = 5
                return GeneratorState.follow_job(outcome.value["jobId"])
        return None

    def _show_app(self, doc: dict[str, Any]) -> None:
        self.app_id, self.app = doc["id"], app_view(doc)
        local = (doc.get("deployment") or {}).get("local") or {}
        self.deploy_status = fmt.label(local.get("status", "stopped"))
        self.deploy_url = local.get("url") or "" if local.get("status") == "running" else ""

    @rx.event
    def back(self):
        if self.step > 0 and not self.busy:
            self.step -= 1
            self.error = ""

    @rx.event
    def start_over(self):
        self.step, self.error, self.app_id, self.app, self.plan_files = 0, "", "", {}, []
        self.deploy_status, self.deploy_url, self.job_id = "", "", ""
        return self._go({"app": ""})

    @rx.event
    def set_prompt(self, value: str):
        self.prompt = value[:4000]

    @rx.event
    def set_field(self, name: str, value: str):
        if name in ("app_type", "app_name", "entities", "features", "data_sources", "expected_users"):
            setattr(self, name, value[:1000])

    # --- 1 → 2: analyse ---------------------------------------------------------------------------------------

    @rx.event(background=True)
    async def analyze(self):
        async with self:
            if self.busy:
                return None
            prompt, self.busy, self.error = self.prompt, True, ""

        def work(session: Session, principal: Principal) -> dict[str, Any]:
            return service.analyze_prompt(session=session, actor=principal, prompt=prompt, users=100)

        outcome = await invoke(self, work)
        async with self:
            self.busy = False
            if not outcome.ok:
                self.error = "The generator could not understand the description; say what the application does."
                return outcome.events
            a = outcome.value
            self.app_type, self.app_name = a["appType"], a["name"]
            self.entities, self.features = ", ".join(a["entities"]), ", ".join(a["features"])
            self.data_sources = ", ".join(a["dataSources"])
            self.models = [{"name": m["name"], "source": fmt.label(m["source"]), "score": fmt.score(m["score"])}
                           for m in a["models"]]
            self.ambiguities = [{"question": q["question"], "assumed": q.get("assumed") or "to be decided",
                                 "options": ", ".join(q.get("options", []))} for q in a["ambiguities"]]
            self.analysis_source = "Offline rules and embeddings" if a["source"] == "offline" else "LLM"
            self.architecture = a["recommendedArchitecture"]
            self.step = 1
        return None

    # --- 2 → 3: review -------------------------------------------------------------------------------------------

    @rx.event(background=True)
    async def confirm_analysis(self):
        async with self:
            if not self.app_name.strip() or not _split(self.entities):
                self.error = "Give the application a name and at least one entity."
                return None
            try:
                users = max(1, min(10_000_000, int(self.expected_users or "100")))
            except ValueError:
                self.error = "Expected daily users must be a whole number."
                return None
            self.error, app_type = "", self.app_type

        def work(session: Session, principal: Principal) -> list[dict[str, Any]]:
            return service.list_architectures(actor=principal, app_type_id=app_type, users=users)

        outcome = await invoke(self, work)
        async with self:
            if not outcome.ok:
                return outcome.events
            self.architectures = arch_rows(outcome.value)
            self.architecture = next((a["id"] for a in outcome.value if a["recommended"]), self.architecture)
            self.step = 2
        return None

    @rx.event
    def choose_architecture(self, arch_id: str):
        self.architecture = arch_id

    @rx.event
    def confirm_architecture(self):
        if not self.architecture:
            self.error = "Choose an architecture."
            return
        self.error = ""
        self.tools = tool_forms(self._configs)
        self.step = 3

    # --- 4: MCP tools ------------------------------------------------------------------------------------------

    @rx.event
    def toggle_tool(self, tool_id: str, chosen: bool):
        self.tools = [{**t, "chosen": chosen} if t["id"] == tool_id else t for t in self.tools]

    @rx.event
    def set_tool_field(self, tool_id: str, key: str, value: str):
        self.tools = [{**t, "fields": [{**f, "value": value} if f["key"] == key else f for f in t["fields"]]}
                      if t["id"] == tool_id else t for t in self.tools]

    def _tool_choices(self) -> list[dict[str, Any]]:
        return [{"id": t["id"], "configuration": config_from_form(t["id"], {f["key"]: f["value"] for f in t["fields"]})}
                for t in self.tools if t["chosen"]]

    def _request(self, *, accept: bool = False) -> GenerateRequest:
        return GenerateRequest.model_validate({
            "prompt": self.prompt, "name": self.app_name.strip()[:120], "architectureId": self.architecture,
            "expectedUsers": max(1, int(self.expected_users or "100")) if self.expected_users.isdigit() else 100,
            "analysis": {"appType": self.app_type, "name": self.app_name.strip()[:120],
                         "entities": _split(self.entities)[:8], "features": _split(self.features)[:20],
                         "dataSources": _split(self.data_sources)[:10]},
            "mcpTools": self._tool_choices(), "appId": self.app_id or None, "acceptChanges": accept})

    @rx.event(background=True)
    async def confirm_tools(self):
        async with self:
            choices = self._tool_choices()
            request = self._request()

        def work(session: Session, principal: Principal) -> dict[str, Any]:
            service.validate_tools(choices)
            planned = service.plan(session=session, actor=principal, data=request)
            planned.pop("_spec", None)
            return planned

        outcome = await invoke(self, work)
        async with self:
            if not outcome.ok:
                self.error = "Check the chosen tools' settings: the message names the field."
                return outcome.events
            self.error = ""
            self._configs = {c["id"]: c["configuration"] for c in choices}
            self.plan_files = plan_rows(outcome.value)
            changed = outcome.value["changed"]
            self.plan_summary = (f"{fmt.plural(len(outcome.value['files']), 'file')}, "
                                 f"{fmt.count(outcome.value['lines_of_code'])} lines of Python"
                                 + (f"; {fmt.plural(changed, 'file')} change against the last generation"
                                    if outcome.value["regeneration"] else ""))
            self.step = 4
        return None

    @rx.event
    def toggle_diff(self, path: str):
        self.open_diff = "" if self.open_diff == path else path

    # --- 5 → 6: generate ---------------------------------------------------------------------------------------

    @rx.event(background=True)
    async def generate(self):
        async with self:
            if self.busy:
                return None
            self.busy, self.error = True, ""
            request = self._request(accept=bool(self.app_id))

        def work(session: Session, principal: Principal) -> tuple[str, str]:
            app, job, _ = service.generate(session=session, actor=principal, data=request)
            return app.id, job.id

        outcome = await invoke(self, work, write=True)
        async with self:
            self.busy = False
            if not outcome.ok:
                return outcome.events
            self.app_id, job_id = outcome.value
            self.step = 5
            go = self._go({"app": self.app_id}, push=False)
        return [go, GeneratorState.follow_job(job_id)]

    async def _job_finished(self, job: dict) -> Any:
        async with self:
            app_id = self.app_id
        outcome = await invoke(self, partial(read_app, app_id))
        async with self:
            if not outcome.ok:
                return outcome.events
            self._show_app(outcome.value)
            if job["status"] == "succeeded":
                self.step = 6
        return None

    @rx.event(background=True)
    async def open_file(self, path: str):
        async with self:
            app_id = self.app_id

        def work(session: Session, principal: Principal) -> str:
            return service.read_file(session=session, actor=principal, app_id=app_id, path=path)["text"]

        outcome = await invoke(self, work)
        async with self:
            if not outcome.ok:
                return outcome.events
            self.file_path, self.file_text = path, outcome.value[:200_000]
        return None

    @rx.event
    def to_deploy(self):
        if self.app.get("status_raw") != "ready_to_deploy":
            self.error = "Only an application whose tests passed can be deployed."
            return
        self.error, self.step = "", 7

    # --- 8: deploy ------------------------------------------------------------------------------------------

    @rx.event(background=True)
    async def deploy(self, action: str):
        async with self:
            if self.busy:
                return None
            self.busy, self.error, app_id = True, "", self.app_id

        def work(session: Session, principal: Principal) -> dict[str, Any]:
            deploy.deploy(session=session, actor=principal, app_id=app_id, action=action)
            session.flush()
            return deploy.status(session=session, actor=principal, app_id=app_id)

        outcome = await invoke(self, work, write=True)
        async with self:
            self.busy = False
            if not outcome.ok:
                return outcome.events
            state = outcome.value
            self.deploy_status = fmt.label(state["status"])
            self.deploy_url = state.get("url") or "" if state["status"] == "running" else ""
            health = state.get("lastHealth") or {}
            self.deploy_health = (f"Health check answered {health.get('statusCode')} in "
                                  f"{fmt.with_unit(health.get('latencyMs'), 'ms')}" if health.get("ok") else
                                  state.get("error") or "")
            if state["status"] == "failed":
                self.error = state.get("error") or "The application did not start."
        return None
