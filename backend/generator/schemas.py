"""Wire documents of the app generator (camelCase; unknown input fields refused)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from backend.core.schemas import InputModel, ReadModel, UtcDateTime

Users = Field(default=100, ge=1, le=10_000_000, description="Expected daily users (sizes the architecture)")
DataGb = Field(default=1.0, ge=0, le=1_000_000, description="Expected data volume in GB")


class AnalyzeRequest(InputModel):
    prompt: str = Field(max_length=20_000, description="What the application should do, in plain words")
    expected_users: int = Users


class Ambiguity(ReadModel):
    field: str
    question: str
    options: list[str] = []
    assumed: str | None = Field(default=None, description="What generation assumes unless told otherwise")


class ModelMatch(ReadModel):
    source: Literal["catalog", "marketplace"]
    id: str
    name: str
    type: str
    category: str
    score: float = Field(description="Cosine similarity of the prompt and the model's text (all-MiniLM-L6-v2)")


class TypeScore(ReadModel):
    app_type: str
    keyword_hits: int
    similarity: float
    score: float


class Analysis(ReadModel):
    prompt: str
    source: Literal["offline", "llm"] = Field(description="offline: rules and embeddings; llm: the configured LLM")
    llm_error: str | None = Field(default=None, description="Why the LLM was not used, when one is configured")
    app_type: str
    app_type_name: str
    confidence: float
    type_scores: list[TypeScore] = []
    name: str
    entities: list[str]
    features: list[str]
    data_sources: list[str]
    ambiguities: list[Ambiguity]
    models: list[ModelMatch]
    recommended_architecture: str


class AppTypeRead(ReadModel):
    id: str
    name: str
    description: str
    default_features: list[str]
    default_data_sources: list[str]
    templates: list[str] = Field(description="Ids of the templates that generate this type")


class TemplateRead(ReadModel):
    id: str
    name: str
    description: str
    app_types: list[str]
    requirements: list[str] = Field(description="Pinned packages, all installed with the platform")
    features: list[str]
    env_vars: list[dict[str, str]] = []
    files: list[str] = Field(default=[], description="The files it generates")


class Component(ReadModel):
    name: str
    technology: str
    description: str
    instances: int
    cpu: float
    memory_gb: float
    storage_gb: float
    monthly_cost: float


class ArchitectureRead(ReadModel):
    id: str
    name: str
    description: str
    pattern: str
    components: list[Component]
    pros: list[str]
    cons: list[str]
    suits: list[str]
    assumptions: dict[str, Any]
    requirements: dict[str, Any]
    estimated_cost: dict[str, Any]
    scaling: dict[str, Any]
    cost_model: dict[str, float]
    recommended: bool = False


class SelectArchitecture(InputModel):
    architecture_id: Literal["monolith", "api_worker", "microservices"]
    app_type: str | None = Field(default=None, max_length=40)
    expected_users: int = Users
    data_gb: float = DataGb
    app_id: str | None = Field(default=None, max_length=40, description="Save the choice on this application")


class ToolChoice(InputModel):
    id: str = Field(min_length=1, max_length=40)
    configuration: dict[str, Any] = Field(default_factory=dict)


class CapabilityChoice(InputModel):
    id: str = Field(min_length=1, max_length=40)
    configuration: dict[str, Any] = Field(default_factory=dict)


class AnalysisEdit(InputModel):
    """The reviewed analysis (the wizard's step 2): what the user kept or changed."""

    app_type: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, max_length=120)
    entities: list[str] | None = Field(default=None, max_length=8)
    features: list[str] | None = Field(default=None, max_length=20)
    data_sources: list[str] | None = Field(default=None, max_length=10)
    models: list[dict[str, Any]] | None = Field(default=None, max_length=10)


class GenerateRequest(InputModel):
    prompt: str | None = Field(default=None, max_length=20_000, description="Needed for a new application")
    app_id: str | None = Field(default=None, max_length=40, description="Re-generate this application")
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    analysis: AnalysisEdit | None = None
    template_id: str | None = Field(default=None, max_length=80)
    architecture_id: Literal["monolith", "api_worker", "microservices"] | None = None
    expected_users: int = Users
    data_gb: float = DataGb
    mcp_tools: list[ToolChoice] | None = Field(default=None, max_length=20)
    capabilities: list[CapabilityChoice] | None = Field(default=None, max_length=10)
    accept_changes: bool = Field(default=False, description="Re-generation: the plan's diff was reviewed; "
                                 "without it a re-generation that changes files is refused (GEN_007)")


class PlannedFile(ReadModel):
    path: str
    bytes: int
    lines: int
    sha256: str
    purpose: str
    change: Literal["added", "modified", "unchanged", "removed"] = "added"
    diff: str | None = Field(default=None, description="Unified diff against the current file (modified files)")


class Plan(ReadModel):
    app_id: str | None
    name: str
    app_type: str
    template_id: str
    architecture: str
    files: list[PlannedFile]
    lines_of_code: int
    changed: int = Field(description="Files added, modified or removed against the current generation")
    regeneration: bool


class GenerationStarted(ReadModel):
    app_id: str
    job_id: str
    status: str
    plan: Plan


class Step(ReadModel):
    id: str
    name: str
    status: Literal["pending", "running", "done", "failed", "cancelled"]


class GenerationStatus(ReadModel):
    job_id: str
    app_id: str | None
    status: str
    progress: float
    message: str | None = None
    error: str | None = None
    error_code: str | None = None
    steps: list[Step]
    result: dict[str, Any] | None = None


class AppUpdate(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    features: list[str] | None = Field(default=None, max_length=20)


class AppRead(ReadModel):
    """The design's "Generated Application" document."""

    id: str
    name: str
    description: str
    type: str
    status: str
    generated_at: UtcDateTime | None = None
    generation_time: str | None = Field(default=None, description="Measured wall time of the last generation")
    generation_seconds: float | None = None
    generation_count: int
    prompt: str
    configuration: dict[str, Any]
    features: list[str]
    architecture: dict[str, Any]
    mcp_tools: list[dict[str, Any]]
    capabilities: list[dict[str, Any]]
    resources: dict[str, Any]
    deployment: dict[str, Any]
    code: dict[str, Any]
    tests: dict[str, Any]
    ai_capabilities: dict[str, Any]
    analysis: dict[str, Any]
    job_id: str | None = None
    error: str | None = None
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class FileContent(ReadModel):
    path: str
    bytes: int
    sha256: str
    text: str


class DeployRequest(InputModel):
    action: Literal["start", "stop", "restart"] = Field(default="start")


class DeploymentStatus(ReadModel):
    app_id: str
    status: Literal["stopped", "running", "failed"]
    url: str | None = None
    port: int | None = None
    pid: int | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    uptime_seconds: float | None = None
    last_health: dict[str, Any] | None = None
    error: str | None = None
    log_tail: str | None = None
    config: dict[str, Any] = {}


class DeployConfig(InputModel):
    port: int | None = Field(default=None, ge=1024, le=65535, description="Fixed port (default: a free one)")
    env: dict[str, str] | None = Field(default=None, max_length=50, description="Environment of the process")
    memory_mb: int | None = Field(default=None, ge=128, description="Address-space limit, at most the sandbox's")


class Resources(ReadModel):
    app_id: str
    architecture: str | None
    requirements: dict[str, Any]
    estimated_cost: dict[str, Any]
    scaling: dict[str, Any]
    assumptions: dict[str, Any]
    limits: dict[str, Any]
    files: dict[str, Any]
    usage: dict[str, Any] | None = Field(default=None, description="The running process's memory and CPU time")


class McpToolRead(ReadModel):
    id: str
    name: str
    description: str
    category: str
    transport: Literal["stdio", "http"]
    config_schema: dict[str, Any] = Field(description="JSON Schema (2020-12) of the tool's configuration")
    operations: list[str]


class ConfigureTools(InputModel):
    tools: list[ToolChoice] = Field(max_length=20)
    app_id: str | None = Field(default=None, max_length=40, description="Save the configuration on this application")


class ConfiguredTool(ReadModel):
    id: str
    name: str
    configuration: dict[str, Any]


class IntegrateTools(InputModel):
    app_id: str = Field(max_length=40)
    tools: list[ToolChoice] = Field(min_length=1, max_length=20)


class Integration(ReadModel):
    app_id: str
    job_id: str | None = Field(description="The re-generation writing the tools into the project (none before "
                                           "the first generation)")
    mcp_tools: list[dict[str, Any]]
    mcp: dict[str, Any] = Field(description="The project's mcp.json")
    changed: list[str]


class CapabilityRead(ReadModel):
    id: str
    name: str
    description: str
    provider: Literal["platform", "local"]
    config_schema: dict[str, Any]


class CapabilityChange(InputModel):
    app_id: str = Field(max_length=40)
    capability_id: str = Field(max_length=40)
    configuration: dict[str, Any] | None = None


class CapabilityStatus(ReadModel):
    id: str
    name: str
    provider: str
    available: bool
    detail: dict[str, Any]
    enabled_in: list[str] = Field(description="Your applications that use it")


class FieldSpec(InputModel):
    name: str = Field(min_length=1, max_length=60)
    type: Literal["str", "int", "float", "bool", "datetime", "date"] = "str"
    required: bool = True


class EntitySpec(InputModel):
    name: str = Field(min_length=1, max_length=60)
    fields: list[FieldSpec] = Field(default_factory=list, max_length=50)


class CodeGenerate(InputModel):
    module: str = Field(min_length=1, max_length=60)
    description: str = Field(default="", max_length=500)
    entities: list[EntitySpec] = Field(min_length=1, max_length=20)


class CodeInput(InputModel):
    code: str = Field(min_length=1, max_length=200_000)
    module: str = Field(default="module", min_length=1, max_length=60)
    title: str = Field(default="Module", max_length=200)


class GeneratedModule(ReadModel):
    module: str
    path: str
    code: str
    lines: int
    entities: list[str]


class Optimized(ReadModel):
    code: str
    changed: bool
    formatted: bool = Field(description="ruff format changed the layout (after the fixes)")
    fixed: list[dict[str, Any]] = Field(description="Issues `ruff check --fix` removed: code, message, line")
    remaining: list[dict[str, Any]]
    diff: str


class Documentation(ReadModel):
    markdown: str
    functions: list[str]
    classes: list[str]
    undocumented: list[str]


class CodeTests(ReadModel):
    tests: str = Field(description="The generated pytest module")
    covered: list[str]
    skipped: list[str] = Field(description="Functions whose parameters have no sample value")
    results: dict[str, Any] = Field(description="exitCode, passed, failed, errors, total, tests, coverage")
