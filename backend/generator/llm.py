"""The optional LLM: an OpenAI-compatible chat completions endpoint (`AISYSTEM_LLM_BASE_URL`, `..._API_KEY`,
`..._MODEL`) called through httpx. Every failure — unreachable, slow, an HTTP error, an answer that is not the
JSON asked for — raises `LlmUnavailable`, and the caller keeps its offline result."""

from __future__ import annotations

import json
from typing import Any

import httpx

from backend.core.config import get_settings
from backend.generator.catalogue import APP_TYPE_IDS

SYSTEM_PROMPT = (
    "You analyse a business user's description of an application to generate. Answer with one JSON object "
    "and nothing else, with the keys: appType (one of " + ", ".join(APP_TYPE_IDS) + "), name (a short title), "
    "entities (list of singular nouns), features (list of short phrases), dataSources (list), and "
    "ambiguities (list of {field, question, options})."
)


class LlmUnavailable(RuntimeError):
    """The LLM could not give a usable answer."""


def configured() -> bool:
    return bool(get_settings().llm_base_url)


def chat(messages: list[dict[str, str]], *, transport: httpx.BaseTransport | None = None) -> str:
    settings = get_settings()
    base = (settings.llm_base_url or "").rstrip("/")
    if not base:
        raise LlmUnavailable("no LLM is configured")
    headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
    body = {"model": settings.llm_model, "messages": messages, "temperature": 0,
            "response_format": {"type": "json_object"}}
    try:
        with httpx.Client(timeout=settings.llm_timeout_seconds, transport=transport) as client:
            response = client.post(f"{base}/chat/completions", json=body, headers=headers)
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"])
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise LlmUnavailable(f"the LLM failed: {type(exc).__name__}: {exc}") from exc


def analyze(prompt: str, *, transport: httpx.BaseTransport | None = None) -> dict[str, Any]:
    content = chat([{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
                   transport=transport)
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise LlmUnavailable("the LLM's answer is not JSON") from exc
    if not isinstance(data, dict) or data.get("appType") not in APP_TYPE_IDS:
        raise LlmUnavailable("the LLM's answer names no known app type")
    return data


def _strings(value: Any, limit: int, length: int = 120) -> list[str] | None:
    if not isinstance(value, list):
        return None
    out = [str(v).strip()[:length] for v in value if isinstance(v, str | int | float) and str(v).strip()]
    return list(dict.fromkeys(out))[:limit]


def merge(offline: dict[str, Any], proposed: dict[str, Any]) -> dict[str, Any]:
    """The LLM's proposals that pass validation, over the offline result's keys."""
    from backend.generator.catalogue import app_type

    out: dict[str, Any] = {"appType": proposed["appType"], "appTypeName": app_type(proposed["appType"]).name}
    if isinstance(proposed.get("name"), str) and proposed["name"].strip():
        out["name"] = proposed["name"].strip()[:120]
    for key, limit in (("entities", 8), ("features", 12), ("dataSources", 6)):
        values = _strings(proposed.get(key), limit)
        if values:
            out[key] = [v[:1].upper() + v[1:] for v in values] if key == "entities" else values
    questions = proposed.get("ambiguities")
    if isinstance(questions, list):
        kept = [{"field": str(q.get("field", "other"))[:40], "question": str(q["question"])[:300],
                 "options": _strings(q.get("options"), 6) or [], "assumed": None}
                for q in questions if isinstance(q, dict) and isinstance(q.get("question"), str)]
        if kept:
            out["ambiguities"] = kept[:8]
    return out
