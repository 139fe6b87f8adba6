"""What the generator offers, as data: application types, MCP tools (with the JSON Schema of each tool's
configuration) and the AI capabilities a generated application may use. Templates are in `templates`,
architectures and their cost model in `architecture`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AppType:
    id: str
    name: str
    description: str
    # Words that point at this type in a prompt (rules; the semantic match reads `description`).
    keywords: tuple[str, ...]
    default_features: tuple[str, ...]
    default_data_sources: tuple[str, ...]


APP_TYPES: tuple[AppType, ...] = (
    AppType("dashboard", "Dashboard",
            "A dashboard that monitors and visualises metrics, trends and KPIs with charts, insights and alerts.",
            ("dashboard", "monitor", "monitoring", "visualise", "visualize", "visualization", "visualisation",
             "kpi", "kpis", "chart", "charts", "metrics", "analytics", "report", "reports", "insights"),
            ("Real-time data visualization", "Export functionality"), ("Platform datasets",)),
    AppType("rest_api", "REST API service",
            "A REST API service that stores records and exposes create, read, update and delete endpoints.",
            ("api", "rest", "endpoint", "endpoints", "crud", "service", "backend", "microservice"),
            ("CRUD endpoints", "OpenAPI documentation"), ("Application database",)),
    AppType("chatbot", "Chatbot",
            "A conversational assistant or chatbot that answers users' questions in natural language.",
            ("chatbot", "chat", "assistant", "conversational", "faq", "answer", "questions", "bot"),
            ("Conversation history", "Semantic search"), ("Knowledge base documents",)),
    AppType("data_pipeline", "Data pipeline",
            "A data pipeline that ingests, cleans, transforms and loads data on a schedule (ETL).",
            ("pipeline", "etl", "ingest", "ingestion", "transform", "schedule", "batch", "sync", "import"),
            ("Scheduled runs", "Data validation"), ("Files (CSV, Parquet)",)),
    AppType("ml_inference", "ML inference service",
            "A machine learning inference service that serves predictions from a trained model over HTTP.",
            ("inference", "predict", "prediction", "predictions", "classify", "classifier", "score", "scoring",
             "model", "serve", "serving"),
            ("Prediction API", "Input validation"), ("Platform model endpoints",)),
    AppType("internal_tool", "Internal tool",
            "An internal tool or admin panel for staff to manage records, approvals and back-office workflows.",
            ("internal", "admin", "tool", "backoffice", "back-office", "manage", "management", "approval",
             "approvals", "inventory", "staff"),
            ("Record management", "Audit trail"), ("Application database",)),
)
APP_TYPE_IDS = tuple(t.id for t in APP_TYPES)


def app_type(type_id: str) -> AppType | None:
    return next((t for t in APP_TYPES if t.id == type_id), None)


# --- MCP tools ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class McpTool:
    id: str
    name: str
    description: str
    category: str
    # How the generated project runs the tool's MCP server (written into its `mcp.json`).
    transport: str
    config_schema: dict[str, Any] = field(default_factory=dict)
    operations: tuple[str, ...] = ()


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": properties, "required": list(required), "additionalProperties": False}


MCP_TOOLS: tuple[McpTool, ...] = (
    McpTool("database", "Database connector", "Query and write the application's SQL database (SQLModel).",
            "data", "stdio",
            _schema({"type": {"type": "string", "enum": ["SQLite", "PostgreSQL"], "default": "SQLite",
                              "title": "Database"},
                     "url": {"type": "string", "maxLength": 500, "title": "Connection URL",
                             "description": "e.g. sqlite:///app.db or postgresql+psycopg://host/db"},
                     "poolSize": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5,
                                  "title": "Pool size"},
                     "readOnly": {"type": "boolean", "default": True, "title": "Read only"}},
                    ("type",)),
            ("query", "list_tables", "describe_table")),
    McpTool("notifications", "Notifications (webhook)",
            "Send alerts to a webhook (Slack-compatible or any HTTP receiver).", "messaging", "stdio",
            _schema({"webhookUrl": {"type": "string", "maxLength": 500, "pattern": "^https?://",
                                    "title": "Webhook URL"},
                     "channels": {"type": "array", "items": {"type": "string", "enum": ["webhook", "slack", "email"]},
                                  "minItems": 1, "uniqueItems": True, "default": ["webhook"], "title": "Channels"},
                     "minSeverity": {"type": "string", "enum": ["info", "warning", "critical"], "default": "warning",
                                     "title": "Lowest severity sent"}},
                    ("webhookUrl",)),
            ("send_alert",)),
    McpTool("filesystem", "Filesystem", "Read and write files in one folder of the application.", "data", "stdio",
            _schema({"root": {"type": "string", "maxLength": 300, "default": "data", "pattern": "^[A-Za-z0-9_./-]+$",
                              "title": "Folder"},
                     "writable": {"type": "boolean", "default": False, "title": "Writable"}},
                    ("root",)),
            ("read_file", "list_files", "write_file")),
    McpTool("http_fetch", "HTTP fetch", "Fetch JSON or text from allowed web addresses.", "web", "stdio",
            _schema({"allowedHosts": {"type": "array", "items": {"type": "string", "maxLength": 253},
                                      "minItems": 1, "maxItems": 50, "title": "Allowed hosts"},
                     "timeoutSeconds": {"type": "number", "minimum": 1, "maximum": 120, "default": 10,
                                        "title": "Timeout (s)"}},
                    ("allowedHosts",)),
            ("fetch",)),
    McpTool("platform_endpoints", "Platform model endpoints",
            "Call the platform's deployed model endpoints for predictions (needs an API key with endpoint:invoke).",
            "ai", "http",
            _schema({"platformUrl": {"type": "string", "maxLength": 500, "pattern": "^https?://",
                                     "default": "http://127.0.0.1:3000", "title": "Platform URL"},
                     "endpointIds": {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 20,
                                     "default": [], "title": "Endpoints"},
                     "apiKeyEnv": {"type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$", "default": "AISYSTEM_API_KEY",
                                   "title": "API key variable"}},
                    ("platformUrl",)),
            ("predict", "explain")),
    McpTool("platform_catalog", "Platform catalog",
            "Search the platform's model and dataset catalog through its MCP server (/mcp).", "ai", "http",
            _schema({"platformUrl": {"type": "string", "maxLength": 500, "pattern": "^https?://",
                                     "default": "http://127.0.0.1:3000", "title": "Platform URL"},
                     "apiKeyEnv": {"type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$", "default": "AISYSTEM_API_KEY",
                                   "title": "API key variable"}},
                    ("platformUrl",)),
            ("search_models", "get_model", "get_dataset")),
)


def mcp_tool(tool_id: str) -> McpTool | None:
    return next((t for t in MCP_TOOLS if t.id == tool_id), None)


# --- AI capabilities ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capability:
    id: str
    name: str
    description: str
    # What the generated code calls for it: the platform (an endpoint) or a local implementation.
    provider: str
    config_schema: dict[str, Any] = field(default_factory=dict)


CAPABILITIES: tuple[Capability, ...] = (
    Capability("model_endpoints", "Platform model endpoints",
               "Predictions from models deployed on the platform's endpoints.", "platform",
               _schema({"endpointId": {"type": "string", "maxLength": 64, "title": "Endpoint"}})),
    Capability("semantic_search", "Semantic search",
               "Meaning-based search over text with the platform's sentence-embedding model.", "platform",
               _schema({"topK": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10, "title": "Results"}})),
    Capability("anomaly_detection", "Anomaly detection",
               "Flags values far from their recent mean (z-score over a rolling window).", "local",
               _schema({"threshold": {"type": "number", "minimum": 1, "maximum": 10, "default": 3,
                                      "title": "Z-score threshold"},
                        "window": {"type": "integer", "minimum": 3, "maximum": 365, "default": 14,
                                   "title": "Window (days)"}})),
    Capability("forecasting", "Forecasting",
               "Projects a series forward with a least-squares trend.", "local",
               _schema({"horizon": {"type": "integer", "minimum": 1, "maximum": 365, "default": 14,
                                    "title": "Horizon (days)"}})),
)


def capability(capability_id: str) -> Capability | None:
    return next((c for c in CAPABILITIES if c.id == capability_id), None)
