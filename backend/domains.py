"""The one list of domains: the API, the Celery app, the CLI, Alembic, the permissions and the
platform statistics all loop over `DOMAINS`, so every process (web, worker, script) sees the same
platform whatever it happened to import.

A domain declares itself with one `Domain(...)` entry below. Code is named by dotted strings,
"package.module" or "package.module:attribute", resolved only when a consumer asks, so this module
imports nothing of the platform and anything (permissions included) may read it without a cycle:

- `package`   the Python package, e.g. "backend.catalog.datasets".
- `router`    "module:router" of its FastAPI router, mounted under /api/v1 in list order.
- `tables`    modules defining its SQLModel tables (Alembic's env and the tests import them).
- `tasks`     the module a worker imports: its `@job_handler` and `@periodic` functions.
- `seeds`     demo-data steps `fn(session) -> str`, run by `python -m backend.cli seed` in list order.
- `grants`    role -> the `resource:action` grants it holds here; the key `EVERYONE` means every
              signed-in user. The role names themselves are `backend.auth.permissions.ROLES`.
- `counters`  figure name -> `fn(session) -> int`, shown in the platform statistics.
- `hooks`     kind -> functions, for the kinds in `HOOK_KINDS`:
              "promotion": `fn(PromotionContext)` runs before every model stage move and raises an
              AISystemError to refuse it; "attribute_rule": `fn(principal, permission, resource)`
              returns None to allow or a reason to deny, consulted by `backend.core.authorization`;
              "stored_files": `fn(session) -> {store key: sha256}`, the artifact-store files its
              records name, copied and verified by `python -m backend.cli migrate-artifacts`;
              "training_finished": `fn(training_job_id)` runs after the commit that ends a training job
              (succeeded, failed, cancelled), so a domain follows training without training importing it;
              "training_callbacks": `fn(training_job) -> [lightning.Callback]`, extra callbacks the
              training runner adds to a job's Trainer (the tuning's per-epoch report and pruning);
              "experiment_document": `fn(session, experiment, document)` adds its parts to one
              experiment's wire document (the optimisation's `trials` and `bestTrial`);
              "worker_started": `fn(queues)` runs when a Celery worker is ready, with the job queues it
              serves (training starts its warm runner process there);
              "action_check": `fn(session, principal, action, entity_type, entity, details)` runs before every
              governed action (`backend.core.actions.check_action`: promotion, rollback, deployment,
              training on a dataset, dataset sharing, marketplace publishing) and raises an AISystemError to
              refuse it (governance's policies).

`tests/test_domains.py` fails when a backend package is missing here or a path does not resolve.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EVERYONE = "everyone"
HOOK_KINDS = ("promotion", "attribute_rule", "stored_files", "training_finished", "training_callbacks",
              "experiment_document", "worker_started", "action_check")


@dataclass(frozen=True)
class Domain:
    """One capability of the platform and everything the assembly needs to know about it."""

    package: str
    router: str | None = None
    tables: tuple[str, ...] = ()
    tasks: str | None = None
    seeds: tuple[str, ...] = ()
    grants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    counters: Mapping[str, str] = field(default_factory=dict)
    hooks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


DOMAINS: tuple[Domain, ...] = (
    # Core is no capability, but its shared tables (the cache generations) migrate like any other.
    Domain("backend.core", tables=("backend.core.cache",)),
    Domain("backend.health", router="backend.health.api:router"),
    Domain(
        "backend.auth",
        router="backend.auth.api:router",
        tables=("backend.auth.models",),
        seeds=("backend.auth.seed:seed_demo_users",),
        grants={
            "admin": ("*",),
            EVERYONE: ("account:*",),
            # The design's table for resources whose domain is not built yet; each grant moves to
            # its domain's entry when that domain lands.
            "ml_ops": ("deployment:*", "monitoring:*"),
            "data_engineer": ("feature:*", "pipeline:*"),
            "business_user": ("report:*",),
        },
    ),
    Domain("backend.audit", router="backend.audit.api:router", tables=("backend.audit.models",)),
    Domain(
        "backend.lineage",
        router="backend.lineage.api:router",
        tables=("backend.lineage.models",),
        # Reading one entity's lineage also needs that entity's own read permission (model:read...).
        grants={role: ("lineage:read",) for role in ("ml_engineer", "data_scientist", "data_engineer", "ml_ops")},
    ),
    Domain(
        "backend.jobs",
        router="backend.jobs.api:router",
        tables=("backend.jobs.models",),
        tasks="backend.jobs.tasks",
        # Services limit non-admins to the jobs they started.
        grants={EVERYONE: ("job:read", "job:write")},
    ),
    # Datasets before the model registry: the demo models name the demo datasets as training data.
    Domain(
        "backend.catalog.datasets",
        router="backend.catalog.datasets.api:router",
        tables=("backend.catalog.datasets.models",),
        tasks="backend.catalog.datasets.tasks",
        seeds=("backend.catalog.datasets.seed:seed_demo_datasets",),
        grants={"ml_engineer": ("dataset:*",), "data_scientist": ("dataset:*",), "data_engineer": ("dataset:*",)},
        counters={"datasets": "backend.catalog.datasets.service:count_datasets"},
        hooks={"attribute_rule": ("backend.catalog.datasets.service:dataset_access_rule",),
               "stored_files": ("backend.catalog.datasets.storage:recorded_files",)},
    ),
    # The catalog routes of benchmarks (`/catalog/models/benchmark`, `/catalog/models/rankings`) mount before
    # the registry, whose `GET /catalog/models/{modelId}` would answer them; the domain itself is below.
    Domain("backend.benchmarks.catalog", router="backend.benchmarks.catalog.api:router"),
    Domain(
        "backend.catalog.model_registry",
        router="backend.catalog.model_registry.api:router",
        tables=("backend.catalog.model_registry.models",),
        tasks="backend.catalog.model_registry.tasks",
        seeds=("backend.catalog.model_registry.seed:seed_models",),
        grants={"ml_engineer": ("model:*",), "data_scientist": ("model:read",), "business_user": ("model:read",)},
        counters={"models": "backend.catalog.model_registry.service:count_models"},
        hooks={"promotion": ("backend.catalog.model_registry.service:production_needs_artifact_and_metrics",),
               "stored_files": ("backend.catalog.model_registry.artifacts:recorded_files",)},
    ),
    # Experiments after the catalog they point at (an experiment names a model and a dataset).
    Domain(
        "backend.catalog.experiments",
        router="backend.catalog.experiments.api:router",
        tables=("backend.catalog.experiments.models",),
        # The design's table; `experiment:manage` (held through experiment:*) writes others' experiments.
        grants={"ml_engineer": ("experiment:*",),
                "data_scientist": ("experiment:read", "experiment:write", "experiment:create")},
        counters={"experiments": "backend.catalog.experiments.service:count_experiments"},
        hooks={"attribute_rule": ("backend.catalog.experiments.service:experiment_access_rule",),
               "stored_files": ("backend.catalog.experiments.service:recorded_files",)},
        seeds=("backend.catalog.experiments.seed:seed_demo_experiment",),
    ),
    # Training after experiments and the registry: a job logs into a run and registers a model version.
    Domain(
        "backend.training",
        router="backend.training.api:router",
        tables=("backend.training.models",),
        tasks="backend.training.tasks",
        # `training:manage` (held through training:*) reads and controls everyone's jobs.
        grants={"ml_engineer": ("training:*",),
                "data_scientist": ("training:create", "training:read", "training:write")},
        counters={"trainingJobs": "backend.training.service:count_training_jobs"},
        hooks={"stored_files": ("backend.training.service:recorded_files",),
               "worker_started": ("backend.training.warm:worker_started",)},
    ),
    # Tuning after training: each trial is a training job; its routes sit under /catalog/experiments.
    Domain(
        "backend.tuning",
        router="backend.tuning.api:router",
        tables=("backend.tuning.models",),
        tasks="backend.tuning.tasks",
        hooks={"training_finished": ("backend.tuning.service:training_finished",),
               "training_callbacks": ("backend.tuning.pruning:callbacks_for",),
               "experiment_document": ("backend.tuning.service:experiment_parts",)},
    ),
    # Endpoints after the registry and training: they serve registered versions; the demo endpoint serves
    # a model trained at seed time on a demo dataset.
    Domain(
        "backend.endpoints",
        router="backend.endpoints.api:router",
        tables=("backend.endpoints.models",),
        tasks="backend.endpoints.tasks",
        seeds=("backend.endpoints.seed:seed_demo_endpoint",),
        # The design's table (ml_ops: endpoint:*, business_user: endpoint:read), plus `endpoint:invoke` (predict,
        # batch-predict, explain) for the applications of business users and for the roles that hold the
        # datasets a batch prediction reads and writes.
        grants={"ml_ops": ("endpoint:*",),
                "business_user": ("endpoint:read", "endpoint:invoke"),
                "ml_engineer": ("endpoint:invoke",),
                "data_scientist": ("endpoint:invoke",)},
        counters={"endpoints": "backend.endpoints.service:count_endpoints"},
        hooks={"promotion": ("backend.endpoints.service:follow_promotion",)},
    ),
    # Benchmarks after the registry and endpoints: the demo benchmark measures the demo endpoint's model.
    Domain(
        "backend.benchmarks",
        router="backend.benchmarks.api:router",
        tables=("backend.benchmarks.models",),
        tasks="backend.benchmarks.tasks",
        seeds=("backend.benchmarks.seed:seed_demo_benchmark",),
        grants={"ml_engineer": ("benchmark:*",), "data_scientist": ("benchmark:*",),
                "ml_ops": ("benchmark:read",), "business_user": ("benchmark:read",)},
        counters={"benchmarkResults": "backend.benchmarks.service:count_results"},
    ),
    Domain(
        "backend.marketplace",
        router="backend.marketplace.api:router",
        tables=("backend.marketplace.models",),
        tasks="backend.marketplace.tasks",
        seeds=("backend.marketplace.seed:seed_marketplace",),
        grants={EVERYONE: ("marketplace:read",)},
    ),
    # Comparison after the catalog and the marketplace it compares (and reads benchmark results lazily).
    Domain(
        "backend.comparison",
        router="backend.comparison.api:router",
        tables=("backend.comparison.models",),
        # `comparison:create` compares and scores, `comparison:write` defines metrics.
        grants={"ml_engineer": ("comparison:*",),
                "data_scientist": ("comparison:read", "comparison:create", "comparison:write"),
                "business_user": ("comparison:read", "comparison:create"),
                "ml_ops": ("comparison:read",)},
        counters={"comparisons": "backend.comparison.service:count_comparisons"},
    ),
    # The app generator after the catalog and marketplace whose models its analysis matches.
    Domain(
        "backend.generator",
        router="backend.generator.api:router",
        tables=("backend.generator.models",),
        tasks="backend.generator.tasks",
        # Business users build applications from prompts (the design's use case); engineers and scientists
        # too; `generator:deploy` starts them as local processes.
        grants={"business_user": ("generator:*",), "ml_engineer": ("generator:*",),
                "data_scientist": ("generator:*",), "data_engineer": ("generator:*",),
                "ml_ops": ("generator:read", "generator:deploy")},
        counters={"generatedApps": "backend.generator.service:count_apps"},
        hooks={"stored_files": ("backend.generator.service:recorded_files",)},
    ),
    Domain("backend.platform_stats"),
    # Policies gate the actions above through the "promotion" and "action_check" hooks; last, so that their
    # demo policies may name every other domain's entities.
    Domain(
        "backend.governance",
        router="backend.governance.api:router",
        tables=("backend.governance.models",),
        seeds=("backend.governance.seed:seed_policies",),
        # Admins hold governance:* through "*"; everyone may dry-run (evaluate) and read policies and violations.
        grants={EVERYONE: ("governance:read", "governance:evaluate")},
        counters={"policies": "backend.governance.service:count_policies"},
        hooks={"promotion": ("backend.governance.enforcement:promotion_check",),
               "action_check": ("backend.governance.enforcement:action_check",)},
    ),
    # Compliance last: its demo assessment reads every other domain's seeded state. Admins hold
    # compliance:* (and so compliance:approve, which decides certification requests) through "*".
    Domain(
        "backend.compliance",
        router="backend.compliance.api:router",
        tables=("backend.compliance.models",),
        seeds=("backend.compliance.seed:seed_demo_assessment",),
        grants={"ml_ops": ("compliance:read", "compliance:assess", "compliance:attest", "compliance:certify"),
                "ml_engineer": ("compliance:read",), "data_engineer": ("compliance:read",)},
    ),
)


def resolve(path: str) -> Any:
    """The module ("a.b") or attribute ("a.b:name") a dotted path names."""
    module_name, _, attribute = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def routers() -> list[Any]:
    """Every domain's FastAPI router, in list order."""
    return [resolve(d.router) for d in DOMAINS if d.router]


def table_modules() -> list[str]:
    return [module for d in DOMAINS for module in d.tables]


def import_table_modules() -> None:
    """Import every table module, so SQLModel's metadata holds the whole schema (Alembic, tests)."""
    for module in table_modules():
        importlib.import_module(module)


def task_modules() -> list[str]:
    return [d.tasks for d in DOMAINS if d.tasks]


def seed_steps() -> list[str]:
    return [step for d in DOMAINS for step in d.seeds]


def role_grants(role: str) -> tuple[str, ...]:
    """The grants `role` holds across all domains (those for EVERYONE excluded), in list order."""
    return tuple(grant for d in DOMAINS for grant in d.grants.get(role, ()))


def counters() -> dict[str, Any]:
    """Figure name -> `fn(session) -> int`, every domain's."""
    return {name: resolve(path) for d in DOMAINS for name, path in d.counters.items()}


_resolved_hooks: dict[str, tuple[tuple[Domain, ...], tuple[Any, ...]]] = {}


def hooks(kind: str) -> tuple[Any, ...]:
    """Every domain's functions of one hook kind, in list order (resolved once per list)."""
    if kind not in HOOK_KINDS:
        raise ValueError(f"unknown hook kind {kind!r}; one of {', '.join(HOOK_KINDS)}")
    cached = _resolved_hooks.get(kind)
    if cached is not None and cached[0] is DOMAINS:
        return cached[1]
    fns = tuple(resolve(path) for d in DOMAINS for path in d.hooks.get(kind, ()))
    _resolved_hooks[kind] = (DOMAINS, fns)
    return fns
