"""Model registry benchmark: seed N models into a fresh SQLite database, start the API with granian on
a free port, and report p50/p95/p99 latency and requests/s for list (first and deep page), keyword
search, semantic search and filter, with 1 and with 16 concurrent clients.

    .venv/bin/python bench/catalog.py                 # N = 100,000
    .venv/bin/python bench/catalog.py --models 10000  # smaller
    .venv/bin/python bench/catalog.py --readme        # also write the figures into bench/README.md

Seeding writes rows straight into the tables (the service would audit and embed 100,000 models one
by one): model rows, tags and capabilities, the keyword index and the embeddings. Descriptions come
from ~400 templates (task × domain × type); each model's embedding is its template's, computed with
the real all-MiniLM-L6-v2, so semantic search scans N real vectors. Not a timed test.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
from harness import api_server, login, write_readme_section
from loadgen import build_request, run_load

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-demo-password-1"

TYPES = {
    "NLP": ["sentiment analysis", "topic classification", "named entity recognition", "summarization",
            "intent detection", "toxicity detection", "translation"],
    "Vision": ["object detection", "image classification", "defect detection", "segmentation", "OCR",
               "face blurring"],
    "Tabular": ["churn prediction", "fraud detection", "credit scoring", "demand forecasting", "price estimation",
                "anomaly detection"],
    "Speech": ["speech recognition", "speaker diarization", "keyword spotting", "text to speech"],
    "Generative": ["text generation", "code generation", "image generation", "question answering"],
}
DOMAINS = ["customer", "retail", "finance", "health", "manufacturing", "legal", "media", "energy", "logistics",
           "telecom", "insurance", "travel"]
FRAMEWORKS = ["PyTorch", "TensorFlow", "JAX", "scikit-learn", "XGBoost", "LightGBM", "ONNX"]
LICENSES = ["Apache-2.0", "MIT", "BSD-3-Clause", "Proprietary", "CC-BY-4.0"]
STATUSES = ["development", "training", "validation", "deployment", "monitoring", "retirement"]
KEYWORD_QUERIES = ["sentiment", "customer churn", "object detection", "speech", "fraud finance",
                   "summarization legal", "retail forecasting", "defect", "translation media", "health"]
SEMANTIC_QUERIES = ["find me something that reads customer emails and tells me if they are angry",
                    "spot damaged products on the assembly line", "which subscribers are going to cancel",
                    "write down what people say on phone calls", "catch stolen credit cards",
                    "predict how much we will sell next month"]
FILTERS = [
    {"all": [{"field": "performance.accuracy", "op": "gte", "value": 0.9}, {"field": "type", "op": "eq", "value": "NLP"}]},
    {"any": [{"field": "metadata.tags", "op": "contains", "value": "finance"},
             {"field": "framework", "op": "eq", "value": "JAX"}]},
    {"all": [{"field": "status", "op": "in", "value": ["deployment", "monitoring"]},
             {"field": "parameters", "op": "lt", "value": 50_000_000}]},
    {"all": [{"field": "training.optimizer", "op": "eq", "value": "AdamW"},
             {"field": "metadata.license", "op": "eq", "value": "MIT"}]},
]


def seed(n: int, rng: random.Random) -> dict:
    """Write N models straight into the fresh database; returns a deep-page cursor and timings."""
    import numpy as np
    from sqlalchemy import text

    from backend.auth import service as auth_service
    from backend.catalog.model_registry import search
    from backend.catalog.model_registry.models import ModelEmbedding, ModelLabel, RegisteredModel
    from backend.core.db import get_engine, session_scope
    from backend.core.ids import new_id
    from backend.core.timeutil import utcnow

    with session_scope() as s:
        auth_service.ensure_demo_users(session=s)
        admin_id = auth_service.find_user_by_username(session=s, username="ml_engineer").id
    templates, keys = [], {}
    for mtype, tasks in TYPES.items():
        for task in tasks:
            for domain in DOMAINS:
                keys[(mtype, task, domain)] = len(templates)
                templates.append(f"{task.capitalize()} model for {domain} data ({mtype}): built to handle "
                                 f"{task} on {domain} workloads with high accuracy and low latency.")
    started = time.perf_counter()
    vectors = search.encode(templates)
    embed_seconds = time.perf_counter() - started
    now = utcnow()
    engine = get_engine()
    started = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, n, 5000):
            models, labels, fts, embeddings = [], [], [], []
            for i in range(start, min(n, start + 5000)):
                mtype = rng.choice(list(TYPES))
                task, domain = rng.choice(TYPES[mtype]), rng.choice(DOMAINS)
                name = f"{domain.capitalize()} {task} {i:06d}"
                accuracy = round(rng.uniform(0.6, 0.99), 3) if rng.random() > 0.1 else None
                params = rng.choice([None, rng.randint(10_000, 70_000_000_000)])
                tags = sorted({mtype.lower(), domain, task.split()[0].lower(), rng.choice(["beta", "prod", "internal"])})
                caps = [task.replace(" ", "_").lower()]
                created = now - timedelta(seconds=(n - i) * 600)
                performance = {"latency": {"p50": 10.0, "p95": 40.0, "p99": 90.0}}
                if accuracy is not None:
                    performance["accuracy"] = accuracy
                row = dict(
                    id=new_id("model"), name=name, name_key=name.lower(), type=mtype, category=f"{task} ({mtype})",
                    framework=rng.choice(FRAMEWORKS), architecture=rng.choice(["Transformer", "CNN", "GBDT", "RNN"]),
                    version="1.0.0", status=rng.choice(STATUSES), deployment_type="cloud", parameters=params,
                    context_length=None, capabilities=caps, description=templates[keys[(mtype, task, domain)]],
                    tags=tags, documentation=None, paper=None, license=rng.choice(LICENSES),
                    training={"dataset": f"dataset_{domain}", "optimizer": rng.choice(["Adam", "AdamW", "SGD"])},
                    performance=performance, pricing={}, deployment={"endpoints": []},
                    accuracy=accuracy, sort_accuracy=accuracy if accuracy is not None else -1.0,
                    sort_parameters=params if params is not None else -1, stage_revision=0, created_by=admin_id,
                    created_at=created, updated_at=created, deleted_at=None, deleted_by=None)
                models.append(row)
                labels += [dict(model_id=row["id"], kind="tag", value=t) for t in tags]
                labels += [dict(model_id=row["id"], kind="capability", value=c) for c in caps]
                doc = search._fields(SimpleNamespace(**row))
                fts.append(doc | {"model_id": row["id"], "rowid": search._rowid(row["id"])})
                embeddings.append(dict(model_id=row["id"], encoder=search.ENCODER, dimensions=search.DIMENSIONS,
                                       vector=np.asarray(vectors[keys[(mtype, task, domain)]], np.float32).tobytes(),
                                       text_sha256="bench", embedded_at=now))
            conn.execute(RegisteredModel.__table__.insert(), models)
            conn.execute(ModelLabel.__table__.insert(), labels)
            conn.execute(text(f"INSERT INTO {search.TABLE} (rowid, model_id, name, tags, capabilities, "
                              "architecture, description) VALUES (:rowid, :model_id, :name, :tags, :capabilities, "
                              ":architecture, :description)"), fts)
            conn.execute(ModelEmbedding.__table__.insert(), embeddings)
        conn.exec_driver_sql("ANALYZE")
    seed_seconds = time.perf_counter() - started
    return {"seedSeconds": round(seed_seconds, 1), "embedTemplatesSeconds": round(embed_seconds, 1),
            "templates": len(templates), "deepCursor": deep_page_cursor(n)}


def mark_catalog_changed() -> None:
    """The seed writes rows with Core statements, which `core.cache` does not see: bump the models'
    generation as the service's writes do, so the servers cache what they compute from this data."""
    from backend.catalog.model_registry.models import MODELS_GENERATION
    from backend.core.cache import bump_generation
    from backend.core.db import session_scope

    with session_scope() as s:
        bump_generation(s, MODELS_GENERATION)


def deep_page_cursor(n: int) -> str:
    """The keyset cursor of the row at 95 % of the default order (newest first)."""
    from datetime import datetime

    from sqlalchemy import text

    from backend.core.db import get_engine
    from backend.core.pagination import encode_cursor
    from backend.core.timeutil import to_utc

    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT created_at, id FROM catalog_model ORDER BY created_at DESC, id DESC "
                                 "LIMIT 1 OFFSET :o"), {"o": int(n * 0.95)}).all()
    created_at = rows[0][0] if not isinstance(rows[0][0], str) else datetime.fromisoformat(rows[0][0])
    return encode_cursor([to_utc(created_at), rows[0][1]])


def scenarios(deep_cursor: str, model_ids: list[str]) -> dict:
    plans = {
        "list, first page": lambda i: build_request("GET", "/catalog/models", params={"limit": 50}),
        "list, deep page (95 %)": lambda i: build_request("GET", "/catalog/models",
                                                          params={"limit": 50, "cursor": deep_cursor}),
        "list, filtered + sorted": lambda i: build_request("GET", "/catalog/models",
                                                           params={"limit": 50, "type": "Vision", "sort": "-accuracy"}),
        "keyword search": lambda i: build_request("GET", "/catalog/models/search",
                                                  params={"q": KEYWORD_QUERIES[i % len(KEYWORD_QUERIES)], "limit": 20}),
        "semantic search": lambda i: build_request("GET", "/catalog/models/search",
                                                   params={"q": SEMANTIC_QUERIES[i % len(SEMANTIC_QUERIES)],
                                                           "mode": "semantic", "limit": 20}),
        "filter (POST /filter)": lambda i: build_request("POST", "/catalog/models/filter", params={"limit": 50},
                                                         json_body=FILTERS[i % len(FILTERS)]),
        "model page (GET /{id})": lambda i: build_request("GET", f"/catalog/models/{model_ids[i % len(model_ids)]}"),
    }
    # What a catalog's users send, in 20 slots: mostly browsing (pages, filters, opening a model), some
    # keyword searches; each slot's own request varies with i as in its scenario.
    mix = (["list, first page"] * 6 + ["list, deep page (95 %)"] * 2 + ["list, filtered + sorted"] * 3
           + ["filter (POST /filter)"] * 3 + ["model page (GET /{id})"] * 3 + ["keyword search"] * 3)
    plans[MIX] = lambda i: plans[mix[i % len(mix)]](i // len(mix))
    return plans


MIX = "mixed reads (30 % first pages, 10 % deep, 15 % filtered, 15 % POST /filter, 15 % model pages, 15 % keyword)"


def detail_ids(count: int = 200) -> list[str]:
    """Ids of models the mix opens (a popular set, so each user's view is recorded once per 10 minutes)."""
    from sqlalchemy import text

    from backend.core.db import get_engine

    with get_engine().connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT id FROM catalog_model ORDER BY id LIMIT :n"), {"n": count})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300, help="requests per scenario with 1 client")
    parser.add_argument("--requests16", type=int, default=1600, help="requests per scenario with 16 clients")
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    parser.add_argument("--readme", action="store_true", help="write the figures into bench/README.md")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument("--data-dir", type=Path, help="reuse a data dir that an earlier --keep run seeded")
    parser.add_argument("--only", nargs="+", help="run only the scenarios whose names contain one of these words")
    args = parser.parse_args()

    reuse = args.data_dir is not None
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="aisystem-bench-catalog-"))
    env = dict(os.environ, AISYSTEM_DATA_DIR=str(work), AISYSTEM_ENV="development", AISYSTEM_DEMO_PASSWORD=PASSWORD,
               AISYSTEM_SECRET_KEY="bench-secret-key-0123456789-abcdefghijklmnop", AISYSTEM_LOG_LEVEL="WARNING",
               HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("AISYSTEM_DATABASE_URL", None)
    os.environ.update(env)
    subprocess.run([sys.executable, "-m", "backend.cli", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    if reuse:
        figures = {"seedSeconds": "(reused)", "embedTemplatesSeconds": "(reused)", "templates": "the",
                   "deepCursor": deep_page_cursor(args.models)}
    else:
        print(f"seeding {args.models:,} models into {work} …", flush=True)
        figures = seed(args.models, random.Random(7))
        print(f"seeded in {figures['seedSeconds']} s", flush=True)
    mark_catalog_changed()
    results: dict[str, dict] = {}
    try:
        measure(env, work, figures, args, results)
        if not args.only or any(word in "keyword search" for word in args.only):
            # Repeated searches are answered from the result cache; what ranking costs without it:
            measure(env | {"AISYSTEM_RESULT_CACHE_ENTRIES": "0"}, work, figures, args, results,
                    names=["keyword search"], suffix=", result cache off")
    finally:
        if not (args.keep or reuse):
            shutil.rmtree(work, ignore_errors=True)
    report = render(args, figures, results)
    print(report)
    if args.readme:
        write_readme_section("catalog-bench", "Model registry (`bench/catalog.py`)", report)


def measure(env: dict[str, str], work: Path, figures: dict, args, results: dict,  # noqa: ANN001
            names: list[str] | None = None, suffix: str = "") -> None:
    """Start the server and run the chosen scenarios with 1 and with 16 clients into `results`."""
    with api_server(env, work / "server.log", workers=args.workers, quiet=True, wait_tries=600) as (_s, base):
        with httpx.Client(base_url=base, timeout=120) as client:
            headers = login(client, "admin", PASSWORD)
        plans = {name: make for name, make in scenarios(figures["deepCursor"], detail_ids()).items()
                 if (names is None or name in names) and (not args.only or any(w in name for w in args.only))}
        # Warm-up: every worker loads the embedding model and the vectors once.
        for name, make in plans.items():
            run_load(base, headers, make, clients=4, total=24 if "semantic" in name else 8)
        for clients, total in ((1, args.requests), (16, args.requests16)):
            for name, make in plans.items():
                result = run_load(base, headers, make, clients=clients, total=total)
                results[f"{name}{suffix} | {clients}"] = result
                print(f"{name + suffix:28s} clients={clients:2d}  p50 {result['p50']:7.1f} ms  "
                      f"p95 {result['p95']:7.1f} ms  p99 {result['p99']:7.1f} ms  {result['rps']:7.1f} req/s  "
                      f"errors {result['errors']}", flush=True)


def render(args, figures: dict, results: dict) -> str:  # noqa: ANN001
    load = os.getloadavg()[0]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; SQLite (WAL); granian with {args.workers} worker(s); the load generator "
        f"(`bench/loadgen.py`: asyncio keep-alive connections) runs on the same machine. N = {args.models:,} models; seeded in {figures['seedSeconds']} s "
        f"(+ {figures['embedTemplatesSeconds']} s to embed {figures['templates']} description templates). "
        f"Load average at the end: {load:.1f}.",
        "",
        "| scenario | clients | p50 ms | p95 ms | p99 ms | req/s | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, r in results.items():
        name, clients = key.split(" | ")
        lines.append(f"| {name} | {clients} | {r['p50']} | {r['p95']} | {r['p99']} | {r['rps']} | {r['errors']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
