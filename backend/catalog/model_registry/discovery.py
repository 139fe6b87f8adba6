"""Trending models (recent activity with time decay) and per-user recommendations, each explained."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.auth.models import User
from backend.auth.principal import Principal
from backend.catalog.model_registry.models import ModelActivity, ModelLabel, RegisteredModel
from backend.catalog.model_registry.schemas import (
    Recommendation,
    RecommendationList,
    TrendingItem,
    TrendingList,
)
from backend.core.authorization import authorize
from backend.core.errors import InvalidRequest
from backend.core.timeutil import utcnow
from backend.lineage import service as lineage

# How much one event of a kind says about interest in a model.
TRENDING_WEIGHTS = {"view": 1.0, "download": 3.0, "version": 5.0, "deployment": 8.0, "prediction": 0.02,
                    "favourite": 3.0}
AFFINITY_WEIGHTS = {"view": 1.0, "download": 2.0, "favourite": 3.0, "deployment": 4.0, "create": 4.0,
                    "train": 4.0, "version": 3.0, "prediction": 0.01}
EVENT_NAMES = {"view": "views", "download": "downloads", "version": "versions", "deployment": "deployments",
               "prediction": "predictions", "favourite": "favourites"}
_WINDOW = re.compile(r"^(\d{1,3})([hdw])$")
MAX_WINDOW_HOURS = 90 * 24


def parse_window(window: str) -> int:
    """`24h`, `7d`, `2w` → hours (1 hour to 90 days)."""
    match = _WINDOW.match(window or "")
    if not match:
        raise InvalidRequest("The window is invalid", {"window": "use a number and h, d or w, e.g. 7d"})
    hours = int(match[1]) * {"h": 1, "d": 24, "w": 168}[match[2]]
    if not 1 <= hours <= MAX_WINDOW_HOURS:
        raise InvalidRequest("The window is invalid", {"window": "between 1h and 90d"})
    return hours


def trending_scores(*, session: Session, window_hours: int) -> dict[str, tuple[float, Counter]]:
    """model id → (decayed score, event counts) over the window; half-life is a third of the window."""
    now_hour = utcnow().timestamp() / 3600
    start = int(now_hour) - window_hours
    half_life = max(window_hours / 3, 1.0)
    rows = session.exec(
        select(ModelActivity.model_id, ModelActivity.kind, ModelActivity.hour_bucket, func.sum(ModelActivity.count))
        .where(ModelActivity.hour_bucket > start, col(ModelActivity.kind).in_(list(TRENDING_WEIGHTS)))
        .group_by(ModelActivity.model_id, ModelActivity.kind, ModelActivity.hour_bucket)
    ).all()
    scores: dict[str, float] = defaultdict(float)
    events: dict[str, Counter] = defaultdict(Counter)
    for model_id, kind, hour, count in rows:
        age = max(0.0, now_hour - (hour + 0.5))
        scores[model_id] += TRENDING_WEIGHTS[kind] * count * math.pow(0.5, age / half_life)
        events[model_id][EVENT_NAMES.get(kind, kind)] += int(count)
    return {m: (s, events[m]) for m, s in scores.items()}


def trending(*, session: Session, actor: Principal, window: str = "7d", limit: int = 20,
             type: str | None = None) -> TrendingList:  # noqa: A002
    """Models by recent activity (views, downloads, new versions, deployments, predictions), newer counts more."""
    from backend.catalog.model_registry import service

    authorize(actor, "model:read")
    scored = trending_scores(session=session, window_hours=parse_window(window))
    ranked = sorted(scored.items(), key=lambda item: (-item[1][0], item[0]))
    items: list[TrendingItem] = []
    for start in range(0, len(ranked), 200):
        chunk = ranked[start:start + 200]
        query = service.live_models_query().where(col(RegisteredModel.id).in_([m for m, _ in chunk]))
        if type:
            query = query.where(RegisteredModel.type == type)
        models = {m.id: m for m in session.exec(query).all()}
        for model_id, (score, counts) in chunk:
            if model_id in models:
                items.append(TrendingItem(model=service.model_read(models[model_id]), score=round(score, 4),
                                          events=dict(counts)))
                if len(items) >= limit:
                    return TrendingList(window=window, items=items)
    return TrendingList(window=window, items=items)


def recommended(*, session: Session, actor: Principal, limit: int = 10) -> RecommendationList:
    """For the signed-in user: models like the ones they viewed, favourited, deployed or trained (shared
    datasets first, then shared tags and capabilities), then what their role uses, then what is trending."""
    from backend.catalog.model_registry import service

    authorize(actor, "model:read")
    since = utcnow() - timedelta(days=90)
    affinity: Counter = Counter()
    for model_id, kind, count in session.exec(
        select(ModelActivity.model_id, ModelActivity.kind, func.sum(ModelActivity.count))
        .where(ModelActivity.user_id == actor.user_id, ModelActivity.occurred_at >= since)
        .group_by(ModelActivity.model_id, ModelActivity.kind)
    ).all():
        affinity[model_id] += AFFINITY_WEIGHTS.get(kind, 1.0) * math.log1p(count)
    for model_id in session.exec(select(RegisteredModel.id).where(RegisteredModel.created_by == actor.user_id)
                                 .order_by(col(RegisteredModel.created_at).desc()).limit(50)).all():
        affinity[model_id] += AFFINITY_WEIGHTS["train"]
    seeds = dict(affinity.most_common(50))
    seed_names = dict(session.exec(select(RegisteredModel.id, RegisteredModel.name)
                                   .where(col(RegisteredModel.id).in_(list(seeds)))).all()) if seeds else {}

    candidates: dict[str, tuple[float, str, str]] = {}  # model id → (score, reason, reason type)

    def offer(model_id: str, score: float, reason: str, kind: str) -> None:
        if model_id in seeds:
            return
        best = candidates.get(model_id)
        if best is None or score > best[0]:
            candidates[model_id] = (score if best is None else score + best[0] * 0.25, reason, kind)
        else:
            candidates[model_id] = (best[0] + score * 0.25, best[1], best[2])

    if seeds:
        # Datasets the user's models were trained on → other models trained on them.
        datasets: Counter = Counter()
        for model_id, dataset_id in lineage.derivations(session=session, kind="model", refs=list(seeds),
                                                        source_kind="dataset"):
            datasets[dataset_id] += seeds[model_id]
        for dataset_id, weight in datasets.most_common(20):
            for other in lineage.derived_owners(session=session, kind="dataset", ref=dataset_id, derived_kind="model"):
                offer(other, 3.0 + weight, f"because you used {dataset_id}", "dataset")
        # Shared tags and capabilities with the user's models.
        labels = session.exec(select(ModelLabel.model_id, ModelLabel.kind, ModelLabel.value).where(
            col(ModelLabel.model_id).in_(list(seeds)), col(ModelLabel.kind).in_(["tag", "capability"]))).all()
        by_label: dict[tuple[str, str], list[str]] = defaultdict(list)
        for model_id, kind, value in labels:
            by_label[(kind, value)].append(model_id)
        overlap: dict[str, Counter] = defaultdict(Counter)
        for (kind, value), owners in list(by_label.items())[:200]:
            for other in session.exec(select(ModelLabel.model_id).where(
                    ModelLabel.kind == kind, ModelLabel.value == value).limit(500)).all():
                for owner in owners:
                    overlap[other][owner] += 1
        for other, owners in overlap.items():
            owner, shared = owners.most_common(1)[0]
            offer(other, shared * 0.8 + seeds[owner] * 0.2,
                  f"because you {_verb(session, actor, owner)} {seed_names.get(owner, owner)}", "similar")

    # What users with the same role worked with lately.
    role_rows = session.exec(
        select(ModelActivity.model_id, func.sum(ModelActivity.count))
        .join(User, User.id == ModelActivity.user_id)
        .where(User.role == actor.role, ModelActivity.user_id != actor.user_id, ModelActivity.occurred_at >= since)
        .group_by(ModelActivity.model_id).order_by(func.sum(ModelActivity.count).desc()).limit(50)
    ).all()
    role_name = actor.role.replace("_", " ")
    for model_id, count in role_rows:
        offer(model_id, 1.0 + math.log1p(count), f"popular with other {role_name}s", "role")
    for model_id, (score, _counts) in sorted(trending_scores(session=session, window_hours=168).items(),
                                              key=lambda item: -item[1][0])[:50]:
        offer(model_id, 0.5 + math.log1p(score) * 0.3, "trending this week", "trending")

    ranked = sorted(candidates.items(), key=lambda item: (-item[1][0], item[0]))
    models = {m.id: m for m in session.exec(service.live_models_query().where(
        col(RegisteredModel.id).in_([m for m, _ in ranked[: limit * 3]]))).all()} if ranked else {}
    items = [Recommendation(model=service.model_read(models[m]), score=round(s, 4), reason=reason, reason_type=kind)
             for m, (s, reason, kind) in ranked[: limit * 3] if m in models][:limit]
    return RecommendationList(items=items)


def _verb(session: Session, actor: Principal, model_id: str) -> str:
    kinds = set(session.exec(select(ModelActivity.kind).where(ModelActivity.user_id == actor.user_id,
                                                              ModelActivity.model_id == model_id).distinct()).all())
    for kind, verb in (("create", "trained"), ("train", "trained"), ("deployment", "deployed"),
                       ("favourite", "favourited"), ("download", "downloaded"), ("view", "viewed")):
        if kind in kinds:
            return verb
    return "used"
