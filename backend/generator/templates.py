"""Templates of generated applications and the renderer that turns a template plus the wizard's choices into
files. Rendering is deterministic (no timestamps, sorted inputs): the same choices give the same bytes, so a
re-generation's diff shows only what the changed choices changed.

Each template is a folder of `*.tmpl` files under `blueprints/<folder>/` rendered with Jinja2 (delimiters
`[[ ]]` and `[% %]`, so Python's braces stay literal) plus the files every project gets (README,
ARCHITECTURE, requirements, pyproject, mcp.json). Generated code imports only packages the platform
installs; `requirements.txt` pins the versions installed here."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2

from backend.core.errors import AISystemError
from backend.generator.catalogue import app_type, mcp_tool

BLUEPRINTS = Path(__file__).resolve().parent / "blueprints"
APP_VERSION = "0.1.0"


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    description: str
    app_types: tuple[str, ...]
    folder: str
    requirements: tuple[str, ...]  # distribution names; versions pinned from this environment
    package: str  # the import package its tests cover
    features: tuple[str, ...]
    env_vars: tuple[tuple[str, str], ...]


TEMPLATES: tuple[Template, ...] = (
    Template("dashboard-ml-insights", "Dashboard with ML insights",
             "A FastAPI dashboard with Plotly charts: KPIs, daily activity with a forecast, anomaly alerts "
             "(z-score) sent to a webhook, rule-based segments and churn risk — or predictions from a platform "
             "endpoint when one is configured.",
             ("dashboard",), "dashboard", ("fastapi", "uvicorn", "httpx", "plotly"), "app",
             ("Real-time data visualization", "Predictive analytics", "Anomaly detection", "Custom alerts",
              "Export functionality", "Forecasting", "Customer segmentation"),
             (("DATA_FILE", "a CSV of activity records (else a generated sample is shown)"),
              ("AISYSTEM_URL", "the AI System platform's address, for model endpoint predictions"),
              ("AISYSTEM_ENDPOINT_ID", "the platform endpoint that scores churn risk"),
              ("AISYSTEM_API_KEY", "an API key with endpoint:invoke"),
              ("NOTIFY_WEBHOOK_URL", "where alerts are posted"),
              ("ANOMALY_THRESHOLD / ANOMALY_WINDOW / FORECAST_HORIZON", "the analytics' settings")),
             ),
    Template("rest-api-crud", "REST API service (CRUD)",
             "A FastAPI + SQLModel service with create, read, update and delete endpoints for each entity, "
             "OpenAPI docs at /docs and tests for every route.",
             ("rest_api", "internal_tool"), "rest_api", ("fastapi", "uvicorn", "sqlmodel", "httpx"), "app",
             ("CRUD endpoints", "OpenAPI documentation", "Input validation"),
             (("DATABASE_URL", "SQLAlchemy URL of the database (default sqlite:///./app.db)"),)),
)


def template(template_id: str) -> Template:
    found = next((t for t in TEMPLATES if t.id == template_id), None)
    if found is None:
        raise AISystemError("GEN_003", "Template not found", {"templateId": template_id})
    return found


def templates_for(app_type_id: str) -> list[Template]:
    return [t for t in TEMPLATES if app_type_id in t.app_types]


def _files_of(folder: str) -> list[Path]:
    return sorted(p for p in (BLUEPRINTS / folder).rglob("*.tmpl") if p.is_file())


def _environment() -> jinja2.Environment:
    return jinja2.Environment(variable_start_string="[[", variable_end_string="]]", block_start_string="[%",
                              block_end_string="%]", undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False)  # noqa: S701 - renders Python and Markdown, not HTML


_UNSAFE = re.compile(r"[^A-Za-z0-9 .,:;!?()'&/+%-]")


def safe_text(text: str, limit: int = 300) -> str:
    """Text that may sit inside a Python string literal, a docstring, an f-string and HTML of the generated
    code: letters, digits, spaces and plain punctuation only (no quotes, backslashes, braces or angle
    brackets, newlines), so a name or description can never change the code it is written into."""
    return re.sub(r"\s+", " ", _UNSAFE.sub(" ", text)).strip()[:limit]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "app"


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "item"


def _plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


def _entity(name: str) -> dict[str, str]:
    name = re.sub(r"[^A-Za-z0-9 ]", "", name).strip()[:60] or "Item"
    cls = re.sub(r"[^A-Za-z0-9]", "", name.title()) or "Item"
    if not cls[0].isalpha():
        cls = "Item" + cls
    snake = _snake(name)
    return {"name": name, "name_lower": name.lower(), "cls": cls, "snake": snake, "path": _plural(snake).replace("_", "-"),
            "plural_lower": _plural(name.lower())}


def pinned(names: tuple[str, ...]) -> list[str]:
    out = []
    for name in names:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def _py_literal(value: Any) -> str:
    return repr(value)


def mcp_config(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The project's MCP configuration (the `mcpServers` layout MCP clients read)."""
    servers: dict[str, Any] = {}
    for chosen in sorted(tools, key=lambda t: t["id"]):
        tool = mcp_tool(chosen["id"])
        if tool is None:
            continue
        config = chosen.get("configuration") or {}
        if tool.transport == "http":
            base = str(config.get("platformUrl", "http://127.0.0.1:3000")).rstrip("/")
            servers[tool.id] = {"type": "http", "url": f"{base}/mcp",
                                "headers": {"X-API-Key": "${" + str(config.get("apiKeyEnv", "AISYSTEM_API_KEY")) + "}"},
                                "tools": list(tool.operations), "configuration": config}
        else:
            servers[tool.id] = {"type": "stdio", "command": "python", "args": ["-m", f"mcp_tools.{tool.id}"],
                                "tools": list(tool.operations), "configuration": config}
    return {"mcpServers": servers}


def context(*, name: str, description: str, prompt: str, app_type_id: str, tpl: Template,
            analysis: dict[str, Any], arch: dict[str, Any], mcp_tools: list[dict[str, Any]],
            capabilities: list[dict[str, Any]]) -> dict[str, Any]:
    entities = [re.sub(r"[^A-Za-z0-9 ]", "", e).strip()[:60] for e in analysis.get("entities", []) if isinstance(e, str)]
    entities = [e for e in entities if e and e[0].isalpha()][:6] or ["Item"]
    name = safe_text(name, 120) or "Generated app"
    description = safe_text(description or name, 500)
    primary = "Customer" if "Customer" in entities else entities[0]
    tools = {t["id"]: t.get("configuration") or {} for t in mcp_tools}
    caps = {c["id"]: c.get("configuration") or {} for c in capabilities}
    endpoint_ids = tools.get("platform_endpoints", {}).get("endpointIds") or []
    endpoint_id = caps.get("model_endpoints", {}).get("endpointId") or (endpoint_ids[0] if endpoint_ids else None)
    anomaly = caps.get("anomaly_detection", {})
    models = [{"id": m["id"][:80], "name": safe_text(m["name"], 200), "source": m["source"][:20]}
              for m in analysis.get("models", []) if isinstance(m, dict)
              and all(isinstance(m.get(k), str) for k in ("id", "name", "source"))][:10]
    requirement_lines = pinned(tpl.requirements)
    return {
        "app_name": name, "app_slug": _slug(name), "description": description, "prompt": " ".join(prompt.split()),
        "version": APP_VERSION, "app_type_name": app_type(app_type_id).name if app_type(app_type_id) else app_type_id,
        "template_id": tpl.id, "features": [safe_text(str(f), 120) for f in analysis.get("features") or tpl.features][:20],
        "models": models, "models_literal": _py_literal(models),
        "entity": primary, "entity_lower": primary.lower(), "entity_key": _snake(primary),
        "entity_plural": _plural(primary), "entity_plural_lower": _plural(primary.lower()),
        "entity_plural_key": _plural(_snake(primary)).replace("_", ""),
        "entities": [_entity(e) for e in entities],
        "architecture": arch, "architecture_name": arch.get("name", "Monolith"),
        "mcp_tools": [{"id": k} for k in sorted(tools)],
        "api_key_env": tools.get("platform_endpoints", {}).get("apiKeyEnv", "AISYSTEM_API_KEY"),
        "endpoint_id_literal": _py_literal(endpoint_id),
        "webhook_literal": _py_literal(tools.get("notifications", {}).get("webhookUrl")),
        "anomaly_threshold": float(anomaly.get("threshold", 3)), "anomaly_window": int(anomaly.get("window", 14)),
        "forecast_horizon": int(caps.get("forecasting", {}).get("horizon", 14)),
        "env_vars": list(tpl.env_vars), "requirements": requirement_lines,
        "requirement_names": [r.split("==")[0] for r in requirement_lines],
        "mcp": mcp_config(mcp_tools),
    }


PURPOSES = {"README.md": "How to install, configure and run it", "ARCHITECTURE.md": "Components and their sizing",
            "requirements.txt": "Pinned dependencies", "pyproject.toml": "Project metadata and test settings",
            "mcp.json": "MCP servers the application integrates", "app/main.py": "The FastAPI application",
            "app/__init__.py": "Package and version", "tests/__init__.py": "Test package"}


def _purpose(path: str) -> str:
    if path in PURPOSES:
        return PURPOSES[path]
    if path.startswith("tests/"):
        return "Tests"
    return "Application module"


def render(ctx: dict[str, Any], tpl: Template) -> dict[str, str]:
    """path -> text of every file of the project, sorted by path."""
    env = _environment()
    files: dict[str, str] = {}
    for source in (*_files_of(tpl.folder), *_files_of("common")):
        root = BLUEPRINTS / (tpl.folder if source.is_relative_to(BLUEPRINTS / tpl.folder) else "common")
        rel = source.relative_to(root).as_posix().removesuffix(".tmpl")
        files[rel] = env.from_string(source.read_text(encoding="utf-8")).render(**ctx)
    files["requirements.txt"] = "\n".join(ctx["requirements"] + ["pytest"]) + "\n"
    files["pyproject.toml"] = (
        f'[project]\nname = "{ctx["app_slug"]}"\nversion = "{APP_VERSION}"\n'
        f'description = {json.dumps(ctx["description"][:200])}\nrequires-python = ">=3.11"\n'
        f"dependencies = {json.dumps(ctx['requirements'])}\n\n"
        '[tool.setuptools]\npackages = ["app"]\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    files["mcp.json"] = json.dumps(ctx["mcp"], indent=2, sort_keys=True) + "\n"
    return dict(sorted(files.items()))


def manifest(files: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for path, text in files.items():
        data = text.encode()
        out.append({"path": path, "bytes": len(data), "lines": text.count("\n") + (0 if text.endswith("\n") else 1),
                    "sha256": hashlib.sha256(data).hexdigest(), "purpose": _purpose(path)})
    return out


def lines_of_code(files: dict[str, str]) -> int:
    """Python lines that are neither blank nor only a comment, across the project (tests included)."""
    return sum(1 for path, text in files.items() if path.endswith(".py")
               for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))
