"""The listings' search index, kept the way the model registry keeps its own: a keyword index with
stemming and prefix matching (FTS5 on SQLite, a weighted tsvector on PostgreSQL; see
`backend.core.keywords`) written in the publishing transaction, and sentence embeddings for meaning
(`backend.core.semantic`), computed by a background job, or in memory by the search itself for a
listing the job has not reached yet.

Fields weigh as in the registry: name > tags > provider and category > description, features and
licence types. Scores differ in scale between the databases (BM25 vs ts_rank), not in what matches.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import column, func, literal_column, table, text
from sqlmodel import Session, col, select

from backend.auth.principal import Principal
from backend.core import keywords, semantic
from backend.core.db import is_sqlite
from backend.core.errors import AISystemError
from backend.core.timeutil import utcnow
from backend.marketplace.models import Category, License, Listing, ListingEmbedding, ListingTag, Provider

log = logging.getLogger(__name__)

TABLE = "marketplace_listing_search"
EMBED_JOB = "marketplace.embed_listings"
# Listings a search embeds in memory when the job has not stored their vectors yet (a marketplace holds
# a few thousand listings at most; the job catches up within SWEEP_INTERVAL_SECONDS, see tasks.py).
UNSTORED_LIMIT = 256


@dataclass(frozen=True)
class Cutoff:
    """Which listings a search finds by meaning: those whose cosine similarity to the query is at least
    `min_score`, at least `relative_to_best` times the best one's, and (among `min_population` listings
    or more, enough to tell) `outlier_sd` standard deviations above the mean of the visible listings'
    similarities; the `max_results` best.

    Calibrated on the demo marketplace with all-MiniLM-L6-v2: a listing that does what the query asks
    scores 0.35-0.75 and stands 2-5 deviations above the mean; nonsense or a misspelt word scores up to
    0.40 for unrelated listings, but no more than 2 deviations above the rest (then nothing is found by
    meaning, and the search suggests a similar word). Keyword matches are kept whatever their similarity.
    """

    min_score: float = 0.33
    relative_to_best: float = 0.6
    outlier_sd: float = 2.1
    min_population: int = 20
    max_results: int = 40

    def kept(self, scores: dict[str, float]) -> dict[str, float]:
        """The scores that pass, best first."""
        if not scores:
            return {}
        values = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
        threshold = max(self.min_score, self.relative_to_best * float(values.max()),
                        float(values.mean() + self.outlier_sd * values.std())
                        if len(values) >= self.min_population else 0.0)
        ranked = sorted(((k, v) for k, v in scores.items() if v >= threshold), key=lambda kv: (-kv[1], kv[0]))
        return dict(ranked[:self.max_results])


CUTOFF = Cutoff()

_INDEX = table(TABLE, column("rowid"), column("listing_id"), column("document"))
_VECTORS = semantic.VectorCaches(ListingEmbedding, "listing_id")


# --- what a listing's text is -----------------------------------------------------------------------------


def listing_fields(session: Session, listing: Listing) -> dict[str, str]:
    """The listing's searchable text by field: name, tags, context (provider and category), body
    (description, features, licence types)."""
    provider = session.get(Provider, listing.provider_id)
    category = session.get(Category, listing.category_id)
    tags = session.exec(select(ListingTag.tag).where(ListingTag.listing_id == listing.id)
                        .order_by(ListingTag.tag)).all()
    licences = session.exec(select(License.type).where(License.listing_id == listing.id)
                            .order_by(License.position)).all()
    return {
        "name": listing.name,
        "tags": " ".join(tags),
        "context": " ".join(filter(None, [provider.name if provider else "", category.name if category else ""])),
        "body": "\n".join([listing.description or "", *(listing.features or []), *licences]),
        "category": category.name if category else "",
        "provider": provider.name if provider else "",
        "features": "; ".join(listing.features or []),
        "description": listing.description or "",
    }


def embedding_text(fields: dict[str, str]) -> str:
    """What a listing's embedding reads: its name, category, provider, description, features and tags."""
    parts = [f"{fields['name']}.", f"{fields['category']} model by {fields['provider']}."]
    if fields["description"]:
        parts.append(fields["description"].rstrip(".") + ".")
    if fields["features"]:
        parts.append(f"Features: {fields['features']}.")
    if fields["tags"]:
        parts.append("Tags: " + fields["tags"].replace(" ", ", ").replace("-", " ") + ".")
    return " ".join(parts)[:2000]


# --- the keyword index ------------------------------------------------------------------------------------


def index_listing(session: Session, listing: Listing) -> None:
    """Write (or rewrite) the listing's row of the keyword index, in the caller's transaction; a removed
    listing leaves the index."""
    if listing.removed_at is not None:
        unindex_listing(session, listing.id)
        return
    fields = listing_fields(session, listing)
    values = {"listing_id": listing.id, "name": keywords.index_text(fields["name"]),
              "tags": keywords.index_text(fields["tags"]), "context": keywords.index_text(fields["context"]),
              "body": keywords.index_text(fields["body"])}
    if is_sqlite(session):
        # FTS5 rows are addressed by an integer rowid derived from the listing id.
        session.execute(text(f"DELETE FROM {TABLE} WHERE rowid = :rowid"), {"rowid": keywords.rowid(listing.id)})
        session.execute(text(f"INSERT INTO {TABLE} (rowid, listing_id, name, tags, context, body) "
                             "VALUES (:rowid, :listing_id, :name, :tags, :context, :body)"),
                        values | {"rowid": keywords.rowid(listing.id)})
    else:
        session.execute(text(
            f"INSERT INTO {TABLE} (listing_id, name, tags, context, body) "
            "VALUES (:listing_id, :name, :tags, :context, :body) "
            "ON CONFLICT (listing_id) DO UPDATE SET name = EXCLUDED.name, tags = EXCLUDED.tags, "
            "context = EXCLUDED.context, body = EXCLUDED.body"), values)


def unindex_listing(session: Session, listing_id: str) -> None:
    if is_sqlite(session):
        session.execute(text(f"DELETE FROM {TABLE} WHERE rowid = :rowid"), {"rowid": keywords.rowid(listing_id)})
    else:
        session.execute(text(f"DELETE FROM {TABLE} WHERE listing_id = :listing_id"), {"listing_id": listing_id})


def keyword_scores(session: Session, terms: Sequence[keywords.Term]) -> dict[str, float]:
    """Every indexed listing containing all `terms` (as prefixes of a word or its stem) → its score,
    higher is better (BM25 on SQLite, ts_rank on PostgreSQL)."""
    if not terms:
        return {}
    if is_sqlite(session):
        score = literal_column(f"bm25({TABLE}, 0.0, 10.0, 6.0, 4.0, 1.0)")
        condition = literal_column(TABLE).op("MATCH")(keywords.fts5_match(terms))
        rows = session.execute(select(_INDEX.c.listing_id, score).where(condition)).all()
        return {listing_id: -float(value) for listing_id, value in rows}
    query = func.to_tsquery("simple", keywords.pg_tsquery(terms))
    # ts_rank's weights are {D, C, B, A}: body, context, tags, name.
    score = func.ts_rank(literal_column("'{0.1, 0.4, 0.6, 1.0}'::float4[]"), _INDEX.c.document, query)
    rows = session.execute(select(_INDEX.c.listing_id, score).where(_INDEX.c.document.op("@@")(query))).all()
    return {listing_id: float(value) for listing_id, value in rows}


# --- embeddings -------------------------------------------------------------------------------------------


def _live(session: Session, listing_ids: Iterable[str]) -> list[Listing]:
    return list(session.exec(select(Listing).where(col(Listing.id).in_(list(listing_ids)),
                                                   col(Listing.removed_at).is_(None))).all())


def plan_embeddings(*, session: Session, listing_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(listing id, text, text sha256) of the live listings whose embedding is missing or out of date."""
    listings = _live(session, listing_ids)
    stored = dict(session.exec(select(ListingEmbedding.listing_id, ListingEmbedding.text_sha256).where(
        col(ListingEmbedding.listing_id).in_([row.id for row in listings]))).all())
    planned = []
    for listing in listings:
        body = embedding_text(listing_fields(session, listing))
        digest = hashlib.sha256(body.encode()).hexdigest()
        if stored.get(listing.id) != digest:
            planned.append((listing.id, body, digest))
    return planned


def save_embeddings(*, session: Session, planned: Sequence[tuple[str, str, str]], vectors: np.ndarray) -> int:
    """Store computed vectors (upsert); listings removed meanwhile are skipped."""
    alive = {row.id for row in _live(session, [p[0] for p in planned])}
    now = utcnow()
    saved = 0
    for (listing_id, _body, digest), vector in zip(planned, vectors, strict=True):
        if listing_id not in alive:
            continue
        row = session.get(ListingEmbedding, listing_id) or ListingEmbedding(
            listing_id=listing_id, encoder=semantic.ENCODER, dimensions=semantic.DIMENSIONS, vector=b"",
            text_sha256="")
        row.vector, row.text_sha256, row.embedded_at = vector.astype(np.float32).tobytes(), digest, now
        row.encoder, row.dimensions = semantic.ENCODER, int(vector.shape[0])
        session.add(row)
        saved += 1
    session.flush()
    return saved


def embed_listings(*, session: Session, listing_ids: Sequence[str]) -> int:
    """Plan, encode and save in one session (tests, tools); the background job splits these steps."""
    planned = plan_embeddings(session=session, listing_ids=listing_ids)
    if not planned:
        return 0
    return save_embeddings(session=session, planned=planned, vectors=semantic.encode([p[1] for p in planned]))


def missing_embeddings(*, session: Session, limit: int = 10000) -> list[str]:
    """Live listings without an embedding (e.g. published while no worker ran)."""
    return list(session.exec(
        select(Listing.id).outerjoin(ListingEmbedding, ListingEmbedding.listing_id == Listing.id)
        .where(col(Listing.removed_at).is_(None), col(ListingEmbedding.listing_id).is_(None)).limit(limit)
    ).all())


def schedule_embeddings(*, session: Session, actor: Principal, listing_ids: Sequence[str]) -> None:
    """Queue the background job that (re)computes the listings' embeddings, sent after the commit."""
    from backend.jobs import service as jobs_service

    if listing_ids:
        jobs_service.create_job(session=session, actor=actor, type=EMBED_JOB,
                                payload={"listingIds": list(dict.fromkeys(listing_ids))[:1000]})


def _embed_unstored(session: Session, cache: semantic.VectorCache, listing_ids: Iterable[str]) -> None:
    """Give listings the job has not embedded yet a vector in this process's memory (at most
    UNSTORED_LIMIT a search), so that a new listing is found by meaning at once, even with no worker."""
    missing = [i for i in listing_ids if not cache.known(i)][:UNSTORED_LIMIT]
    planned = plan_embeddings(session=session, listing_ids=missing) if missing else []
    if planned:
        cache.add_pending([p[0] for p in planned], semantic.encode([p[1] for p in planned]))


def warm(*, session: Session) -> None:
    """Read the stored vectors into this process's memory and embed the live listings the job has not
    reached yet (a page about to search runs this in the background: see `semantic.preload`)."""
    cache = _VECTORS.for_session(session)
    cache.refresh(session)
    live = session.exec(select(Listing.id).where(col(Listing.removed_at).is_(None))).all()
    _embed_unstored(session, cache, live)


def semantic_scores(session: Session, q: str, among: Sequence[str]) -> dict[str, float]:
    """The listings among `among` relevant to `q` by meaning (see CUTOFF) → cosine similarity, best
    first. Empty, and logged, when the encoder cannot be loaded: the search then matches words only."""
    if not among or not q.strip():
        return {}
    cache = _VECTORS.for_session(session)
    cache.refresh(session)
    try:
        _embed_unstored(session, cache, among)
        vector = semantic.encode([q[:1000]])[0]
    except (AISystemError, ImportError, OSError, RuntimeError) as error:  # the encoder could not be loaded
        log.warning("marketplace search by meaning is off: %s", getattr(error, "message", error))
        return {}
    return CUTOFF.kept(cache.similarities(vector, among))
