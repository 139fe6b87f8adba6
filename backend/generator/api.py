"""REST routes of the app generator: /api/v1/generator (thin: the service does the work)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.core.artifacts import get_store
from backend.core.http import COMMON_ERRORS, error_responses, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page
from backend.generator import code, deploy, service
from backend.generator.schemas import (
    Analysis,
    AnalyzeRequest,
    AppRead,
    AppTypeRead,
    AppUpdate,
    ArchitectureRead,
    CapabilityChange,
    CapabilityRead,
    CapabilityStatus,
    CodeGenerate,
    CodeInput,
    CodeTests,
    ConfiguredTool,
    ConfigureTools,
    DeployConfig,
    DeploymentStatus,
    DeployRequest,
    Documentation,
    FileContent,
    GeneratedModule,
    GenerateRequest,
    GenerationStarted,
    GenerationStatus,
    IntegrateTools,
    Integration,
    McpToolRead,
    Optimized,
    Plan,
    Resources,
    SelectArchitecture,
    TemplateRead,
)

router = APIRouter(prefix="/generator", tags=["generator"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
AppId = Annotated[str, Path(max_length=40, description="The generated application's id (`gen_app_…`)")]
NOT_FOUND = error_responses(404)
CONFLICT = error_responses(404, 409)
GEN_DOC = ("Errors: GEN_002 (422) the prompt is empty, too short, too long or not understood; GEN_003 (404) no "
           "template fits; GEN_008 (404) an unknown MCP tool or capability; REQ_001 (422) names a tool or capability "
           "configuration field that does not match its JSON Schema.")


def _app(app: Any) -> AppRead:
    return AppRead.model_validate(service.document(app))


@router.post("/analyze-prompt", response_model=Analysis, summary="Analyse a prompt",
             responses=error_responses(422))
def analyze_prompt(body: AnalyzeRequest, session: SessionDep,
                   principal: Principal = require("generator:read")) -> Analysis:
    """The application type, entities, features, data sources, the platform's models that fit (semantic match
    against the catalog and the marketplace) and the questions the prompt leaves open. Offline and
    deterministic; with an LLM configured it proposes the parts and falls back when it fails. GEN_002 for an
    empty or meaningless prompt."""
    return Analysis.model_validate(service.analyze_prompt(session=session, actor=principal, prompt=body.prompt,
                                                          users=body.expected_users))


@router.get("/app-types", response_model=list[AppTypeRead], summary="List application types")
def app_types(principal: Principal = require("generator:read")) -> list[AppTypeRead]:
    return [AppTypeRead.model_validate(t) for t in service.list_app_types(actor=principal)]


@router.get("/templates", response_model=list[TemplateRead], summary="List templates")
def templates(app_type: Annotated[str | None, Query(alias="appType", max_length=40)] = None,
              principal: Principal = require("generator:read")) -> list[TemplateRead]:
    return [TemplateRead.model_validate(t) for t in service.list_templates(actor=principal, app_type_id=app_type)]


@router.get("/templates/{templateId}", response_model=TemplateRead, summary="Get a template", responses=NOT_FOUND)
def get_template(templateId: Annotated[str, Path(max_length=80)],  # noqa: N803
                 principal: Principal = require("generator:read")) -> TemplateRead:
    """The template with the files it generates; GEN_003 when there is no such template."""
    return TemplateRead.model_validate(service.get_template(actor=principal, template_id=templateId))


@router.get("/architectures", response_model=list[ArchitectureRead], summary="List candidate architectures")
def architectures(app_type: Annotated[str | None, Query(alias="appType", max_length=40)] = None,
                  expected_users: Annotated[int, Query(alias="expectedUsers", ge=1, le=10_000_000)] = 100,
                  data_gb: Annotated[float, Query(alias="dataGb", ge=0, le=1_000_000)] = 1.0,
                  principal: Principal = require("generator:read")) -> list[ArchitectureRead]:
    """Monolith, API + worker and microservices, each with its components sized for the expected users and
    data, the resulting cpu/memory/storage and an estimated monthly cost from the documented cost model."""
    return [ArchitectureRead.model_validate(a) for a in service.list_architectures(
        actor=principal, app_type_id=app_type, users=expected_users, data_gb=data_gb)]


@router.post("/select-architecture", response_model=ArchitectureRead, summary="Select an architecture",
             responses=NOT_FOUND)
def select_architecture(body: SelectArchitecture, session: SessionDep,
                        principal: Principal = require("generator:read")) -> ArchitectureRead:
    """The chosen architecture sized for the audience; with `appId` it is saved on that application
    (`generator:write`)."""
    doc = service.select_architecture(session=session, actor=principal, architecture_id=body.architecture_id,
                                      app_type_id=body.app_type, users=body.expected_users, data_gb=body.data_gb,
                                      app_id=body.app_id)
    session.commit()
    return ArchitectureRead.model_validate(doc)


@router.post("/apps/plan", response_model=Plan, summary="Plan a generation", responses=error_responses(404, 422, 502),
             description="The files a generation would write (path, purpose, size, hash) and, for an existing "
                         "application (`appId`), each file's change against its last generation with a unified "
                         "diff. Nothing is written. " + GEN_DOC)
def plan(body: GenerateRequest, session: SessionDep, principal: Principal = require("generator:read")) -> Plan:
    planned = service.plan(session=session, actor=principal, data=body)
    planned.pop("_spec", None)
    return Plan.model_validate(planned)


@router.post("/apps/generate", response_model=GenerationStarted, status_code=202, summary="Generate an application",
             responses=error_responses(404, 409, 422, 502),
             description="Saves the application's choices and queues the `generator.generate` job (follow it at "
                         "`/generator/generation-status/{jobId}`). A re-generation (`appId`) that changes files "
                         "needs `acceptChanges` after reviewing the plan's diff (GEN_007 otherwise). " + GEN_DOC)
def generate(body: GenerateRequest, session: SessionDep,
             principal: Principal = require("generator:create")) -> GenerationStarted:
    app, job, planned = service.generate(session=session, actor=principal, data=body)
    session.commit()
    return GenerationStarted.model_validate({"app_id": app.id, "job_id": job.id, "status": app.status,
                                             "plan": planned})


@router.get("/generation-status/{jobId}", response_model=GenerationStatus, summary="Follow a generation",
            responses=NOT_FOUND)
def generation_status(jobId: Annotated[str, Path(max_length=40)], session: SessionDep,  # noqa: N803
                      principal: Principal = require("generator:read")) -> GenerationStatus:
    """The job's status and progress and each step's state; JOB_001 for a job that is not a generation of yours."""
    return GenerationStatus.model_validate(service.generation_status(session=session, actor=principal, job_id=jobId))


@router.get("/apps", response_model=Page[AppRead], summary="List generated applications")
def list_apps(session: SessionDep, params: PageParams = Depends(page_params),
              status: Annotated[str | None, Query(max_length=20)] = None,
              principal: Principal = require("generator:read")) -> Page[AppRead]:
    """Your applications, newest first (an admin sees everyone's)."""
    rows, cursor = service.list_apps(session=session, actor=principal, params=params, status=status)
    return Page[AppRead](items=[_app(r) for r in rows], next_cursor=cursor)


@router.get("/apps/{appId}", response_model=AppRead, summary="Get a generated application", responses=NOT_FOUND)
def get_app(appId: AppId, session: SessionDep, principal: Principal = require("generator:read")) -> AppRead:  # noqa: N803
    """The design's "Generated Application" document: measured lines of code, test results and coverage."""
    return _app(service.get_app(session=session, actor=principal, app_id=appId))


@router.put("/apps/{appId}", response_model=AppRead, summary="Update a generated application", responses=NOT_FOUND)
def update_app(appId: AppId, body: AppUpdate, session: SessionDep,  # noqa: N803
               principal: Principal = require("generator:write")) -> AppRead:
    """Name, description and features (regenerate to write them into the files)."""
    app = service.update_app(session=session, actor=principal, app_id=appId, name=body.name,
                             description=body.description, features=body.features)
    session.commit()
    return _app(app)


@router.delete("/apps/{appId}", status_code=204, response_class=Response, summary="Delete a generated application",
               responses=CONFLICT)
def delete_app(appId: AppId, session: SessionDep,  # noqa: N803
               principal: Principal = require("generator:delete")) -> Response:
    """Stops its local deployment and removes its stored files; GEN_007 while a generation runs."""
    service.delete_app(session=session, actor=principal, app_id=appId)
    session.commit()
    return Response(status_code=204)


@router.get("/apps/{appId}/files/{filePath:path}", response_model=FileContent, summary="Read a generated file",
            responses=NOT_FOUND)
def read_file(appId: AppId, filePath: Annotated[str, Path(max_length=300)], session: SessionDep,  # noqa: N803
              principal: Principal = require("generator:read")) -> FileContent:
    """One file of the last generation (the list is the document's `code.files`)."""
    return FileContent.model_validate(service.read_file(session=session, actor=principal, app_id=appId, path=filePath))


@router.get("/apps/{appId}/download", summary="Download the generated project (zip)", response_class=StreamingResponse,
            responses={**CONFLICT, 200: {"content": {"application/zip": {}}, "description": "The project as a zip"}})
def download(appId: AppId, session: SessionDep, principal: Principal = require("generator:read")):  # noqa: ANN201, N803
    app = service.get_app(session=session, actor=principal, app_id=appId)
    if not app.file_key:
        from backend.core.errors import AISystemError

        raise AISystemError("GEN_007", "The application has not been generated yet", {"appId": appId})
    name = "".join(c if c.isalnum() else "-" for c in app.name.lower()).strip("-") or "app"
    return StreamingResponse(get_store().open(app.file_key), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})


@router.post("/apps/{appId}/deploy", response_model=DeploymentStatus, summary="Deploy, stop or restart locally",
             responses=error_responses(404, 409, 429))
def deploy_app(appId: AppId, session: SessionDep, body: DeployRequest | None = None,  # noqa: N803
               principal: Principal = require("generator:deploy")) -> DeploymentStatus:
    """`start` runs the last generation as a local process on a free loopback port (or the configured one)
    and health-checks it (`status` running with its `url`, or failed with the log's tail); `stop` ends it;
    `restart` does both. GEN_007: not generated with passing tests, or already running; GEN_005: as many
    applications run as the platform allows."""
    deploy.deploy(session=session, actor=principal, app_id=appId, action=(body or DeployRequest()).action)
    session.commit()
    return DeploymentStatus.model_validate(deploy.status(session=session, actor=principal, app_id=appId))


@router.get("/apps/{appId}/deployment-status", response_model=DeploymentStatus, summary="Get the deployment status",
            responses=NOT_FOUND)
def deployment_status(appId: AppId, session: SessionDep,  # noqa: N803
                      principal: Principal = require("generator:read")) -> DeploymentStatus:
    """The stored state checked against the process, with a fresh health check when it runs."""
    return DeploymentStatus.model_validate(deploy.status(session=session, actor=principal, app_id=appId))


@router.post("/apps/{appId}/configure", response_model=DeploymentStatus, summary="Configure the deployment",
             responses=NOT_FOUND)
def configure_deployment(appId: AppId, body: DeployConfig, session: SessionDep,  # noqa: N803
                         principal: Principal = require("generator:deploy")) -> DeploymentStatus:
    """Port, environment variables (e.g. `DATA_FILE`, `NOTIFY_WEBHOOK_URL`) and memory limit of the next start."""
    deploy.configure(session=session, actor=principal, app_id=appId, port=body.port, env=body.env,
                     memory_mb=body.memory_mb)
    session.commit()
    return DeploymentStatus.model_validate(deploy.status(session=session, actor=principal, app_id=appId))


@router.get("/apps/{appId}/resources", response_model=Resources, summary="Get resource requirements",
            responses=NOT_FOUND)
def app_resources(appId: AppId, session: SessionDep,  # noqa: N803
                  principal: Principal = require("generator:read")) -> Resources:
    """The architecture's sizing and cost estimate, the sandbox's limits, the files' size and, when it runs,
    the process's memory and CPU time."""
    return Resources.model_validate(deploy.resources(session=session, actor=principal, app_id=appId))


# --- MCP tools ---------------------------------------------------------------------------------------------


@router.get("/mcp-tools", response_model=list[McpToolRead], summary="List MCP tools")
def mcp_tools(principal: Principal = require("generator:read")) -> list[McpToolRead]:
    """The catalogue: database, webhook notifications, filesystem, HTTP fetch, the platform's model endpoints and
    catalog; each with the JSON Schema of its configuration (the wizard builds its forms from it)."""
    return [McpToolRead.model_validate(t) for t in service.list_tools(actor=principal)]


@router.get("/mcp-tools/{toolId}", response_model=McpToolRead, summary="Get an MCP tool", responses=NOT_FOUND)
def mcp_tool(toolId: Annotated[str, Path(max_length=40)],  # noqa: N803
             principal: Principal = require("generator:read")) -> McpToolRead:
    """GEN_008 for an id outside the catalogue."""
    return McpToolRead.model_validate(service.get_tool(actor=principal, tool_id=toolId))


@router.post("/mcp-tools/configure", response_model=list[ConfiguredTool], summary="Configure MCP tools",
             responses=error_responses(404, 409))
def configure_tools(body: ConfigureTools, session: SessionDep,
                    principal: Principal = require("generator:read")) -> list[ConfiguredTool]:
    """Each configuration validated against its tool's JSON Schema (REQ_001 names the fields), defaults filled;
    with `appId` saved as that application's tools (`generator:write`)."""
    done = service.configure_tools(session=session, actor=principal, tools=[t.model_dump() for t in body.tools],
                                   app_id=body.app_id)
    session.commit()
    return [ConfiguredTool.model_validate(t) for t in done]


@router.post("/mcp-tools/integrate", response_model=Integration, status_code=202, summary="Integrate MCP tools",
             responses=error_responses(404, 409))
def integrate_tools(body: IntegrateTools, session: SessionDep,
                    principal: Principal = require("generator:write")) -> Integration:
    """Adds the tools to the application and writes them into its project's `mcp.json` through a re-generation
    (its tests run again; follow `jobId`). Before the first generation they are only saved."""
    done = service.integrate_tools(session=session, actor=principal, app_id=body.app_id,
                                   tools=[t.model_dump() for t in body.tools])
    session.commit()
    return Integration.model_validate(done)


@router.post("/templates/{templateId}/apply", response_model=GenerationStarted, status_code=202,
             summary="Generate from a template", responses=error_responses(404, 409, 422),
             description="A new application from the template (the prompt defaults to its description), or an "
                         "existing one (`appId`) switched to it (accept its diff). " + GEN_DOC)
def apply_template(templateId: Annotated[str, Path(max_length=80)], body: GenerateRequest,  # noqa: N803
                   session: SessionDep, principal: Principal = require("generator:create")) -> GenerationStarted:
    app, job, planned = service.apply_template(session=session, actor=principal, template_id=templateId, data=body)
    session.commit()
    return GenerationStarted.model_validate({"app_id": app.id, "job_id": job.id, "status": app.status,
                                             "plan": planned})


# --- code utilities ----------------------------------------------------------------------------------------


@router.post("/code/generate", response_model=GeneratedModule, summary="Generate a module from a spec")
def code_generate(body: CodeGenerate, principal: Principal = require("generator:read")) -> GeneratedModule:
    """A SQLModel model and FastAPI read routes per entity, formatted with ruff (REQ_001 names a bad field)."""
    return GeneratedModule.model_validate(code.generate_module(
        module=body.module, entities=[e.model_dump() for e in body.entities], description=body.description))


@router.post("/code/optimize", response_model=Optimized, summary="Format and lint-fix code with ruff")
def code_optimize(body: CodeInput, principal: Principal = require("generator:read")) -> Optimized:
    """`ruff check --fix` then `ruff format`: the new code, the issues fixed, those that remain, and the diff."""
    return Optimized.model_validate(code.optimize(body.code))


@router.post("/code/test", response_model=CodeTests, summary="Generate and run tests for code",
             responses=error_responses(429))
def code_test(body: CodeInput, principal: Principal = require("code:execute")) -> CodeTests:
    """pytest tests from the public functions' signatures and docstring examples, run in the sandbox: the tests,
    the functions covered and skipped, the results and line coverage. GEN_005 past the sandbox's time limit.

    It runs the code it is given as the platform's OS user (without network), so it needs `code:execute`,
    which no role holds but admin: grant it only to people trusted like the platform's operators."""
    return CodeTests.model_validate(code.run_tests(body.code, module=body.module))


@router.post("/code/documentation", response_model=Documentation, summary="Generate Markdown documentation for code")
def code_documentation(body: CodeInput, principal: Principal = require("generator:read")) -> Documentation:
    """The module's docstring, its public classes (with their methods) and functions (signature, docstring), and
    what has no docstring."""
    return Documentation.model_validate(code.documentation(body.code, title=body.title))


# --- AI capabilities ---------------------------------------------------------------------------------------


@router.get("/capabilities", response_model=list[CapabilityRead], summary="List AI capabilities")
def capabilities(principal: Principal = require("generator:read")) -> list[CapabilityRead]:
    return [CapabilityRead.model_validate(c) for c in service.list_capabilities(actor=principal)]


@router.post("/capabilities/enable", response_model=AppRead, summary="Enable a capability on an application",
             responses=NOT_FOUND)
def enable_capability(body: CapabilityChange, session: SessionDep,
                      principal: Principal = require("generator:write")) -> AppRead:
    app = service.set_capability(session=session, actor=principal, app_id=body.app_id,
                                 capability_id=body.capability_id, configuration=body.configuration, enabled=True)
    session.commit()
    return _app(app)


@router.post("/capabilities/configure", response_model=AppRead, summary="Configure a capability of an application",
             responses=NOT_FOUND)
def configure_capability(body: CapabilityChange, session: SessionDep,
                         principal: Principal = require("generator:write")) -> AppRead:
    """The configuration validated against the capability's JSON Schema (REQ_001 names the fields)."""
    app = service.set_capability(session=session, actor=principal, app_id=body.app_id,
                                 capability_id=body.capability_id, configuration=body.configuration, enabled=None)
    session.commit()
    return _app(app)


@router.get("/capabilities/{capabilityId}/status", response_model=CapabilityStatus, summary="Get a capability's status",
            responses=NOT_FOUND)
def capability_status(capabilityId: Annotated[str, Path(max_length=40)], session: SessionDep,  # noqa: N803
                      principal: Principal = require("generator:read")) -> CapabilityStatus:
    """Whether the platform can serve it now (running endpoints, the encoder installed) and which of your
    applications use it."""
    return CapabilityStatus.model_validate(service.capability_status(session=session, actor=principal,
                                                                     capability_id=capabilityId))
