"""The one list of domains: it names every backend package, every path in it resolves, and a worker
process sees the same hooks, counters and job types as a web process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import APIRouter
from sqlmodel import SQLModel

from backend import domains
from backend.auth.permissions import ROLES
from backend.core.authorization import authorize
from backend.core.errors import PermissionDenied

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "backend"
DOMAIN_FILES = ("models.py", "api.py", "tasks.py", "service.py")

# Packages under backend/ that are no domain, and why.
EXEMPT = {
    "backend": "the root: its api.py and cli.py assemble the domains, they are none",
    "backend.migrations": "Alembic's environment and revisions: it reads the table list, adds nothing to it",
    "backend.catalog": "a namespace grouping the catalog domains; it holds no code of its own",
}


def _packages() -> list[str]:
    """Every folder of Python code under backend/, as a dotted name."""
    folders = {p.parent for p in BACKEND.rglob("*.py")}
    return sorted(".".join(f.relative_to(ROOT).parts) for f in folders)


def _listed() -> dict[str, domains.Domain]:
    return {d.package: d for d in domains.DOMAINS}


def test_every_backend_package_with_domain_files_is_listed():
    missing = [pkg for pkg in _packages() if pkg not in _listed() and pkg not in EXEMPT
               and any((ROOT / pkg.replace(".", "/") / name).exists() for name in DOMAIN_FILES)]
    assert not missing, f"add these packages to backend/domains.py DOMAINS (or exempt them here): {missing}"


def test_each_package_is_listed_once_and_exists():
    packages = [d.package for d in domains.DOMAINS]
    assert len(packages) == len(set(packages))
    assert set(packages) <= set(_packages())
    assert not set(packages) & set(EXEMPT)
    assert set(EXEMPT) <= set(_packages())


def test_every_module_defining_a_table_is_listed():
    defining = {".".join(p.with_suffix("").relative_to(ROOT).parts) for p in BACKEND.rglob("*.py")
                if "migrations" not in p.parts and "table=True" in p.read_text()}
    assert defining <= set(domains.table_modules()), "Alembic and the tests would not see these tables"


@pytest.mark.parametrize("domain", [d for d in domains.DOMAINS if d.package != "backend.core"],
                         ids=lambda d: d.package)
def test_a_domain_declares_the_files_it_has(domain):
    """api.py means a router, tasks.py a task module, models.py a table module, seed.py a seed step
    (core is left out: its tasks.py is the job registry, not a worker module)."""
    folder = ROOT / domain.package.replace(".", "/")
    if (folder / "api.py").exists():
        assert domain.router == f"{domain.package}.api:router"
    if (folder / "tasks.py").exists():
        assert domain.tasks == f"{domain.package}.tasks"
    if (folder / "models.py").exists():
        assert f"{domain.package}.models" in domain.tables
    if (folder / "seed.py").exists():
        assert any(step.startswith(f"{domain.package}.seed:") for step in domain.seeds)


@pytest.mark.parametrize("domain", domains.DOMAINS, ids=lambda d: d.package)
def test_every_path_resolves(domain):
    paths = [*domain.tables, *domain.seeds, *domain.counters.values()]
    paths += [p for kind_paths in domain.hooks.values() for p in kind_paths]
    assert all(p.startswith(domain.package + ".") for p in [*paths, domain.router or "", domain.tasks or ""] if p), \
        "a domain names only its own code"
    if domain.router:
        assert isinstance(domains.resolve(domain.router), APIRouter)
    if domain.tasks:
        domains.resolve(domain.tasks)
    for module in domain.tables:
        tables = [v for v in vars(domains.resolve(module)).values() if isinstance(v, type)
                  and issubclass(v, SQLModel) and hasattr(v, "__table__") and v.__module__ == module]
        assert tables, f"{module} defines no table"
    for path in [*domain.seeds, *domain.counters.values()]:
        assert callable(domains.resolve(path)), path
    assert set(domain.hooks) <= set(domains.HOOK_KINDS)
    for kind_paths in domain.hooks.values():
        assert all(callable(domains.resolve(p)) for p in kind_paths)


@pytest.mark.parametrize("domain", domains.DOMAINS, ids=lambda d: d.package)
def test_grants_name_known_roles_and_well_formed_permissions(domain):
    assert set(domain.grants) <= {*ROLES, domains.EVERYONE}
    for grants in domain.grants.values():
        assert isinstance(grants, tuple)
        assert all(g == "*" or (g.count(":") == 1 and all(g.split(":"))) for g in grants), grants


def test_an_unknown_hook_kind_is_refused():
    with pytest.raises(ValueError, match="unknown hook kind"):
        domains.hooks("on_promote")


def refuse_secret_resources(principal, permission, resource):
    """An attribute rule as governance would declare one."""
    return "clearance too low" if resource == "secret" else None


def test_a_domains_attribute_rule_is_consulted_by_authorize(monkeypatch):
    from backend.auth.principal import SYSTEM

    rule = domains.Domain("backend.governance", hooks={"attribute_rule": (f"{__name__}:refuse_secret_resources",)})
    monkeypatch.setattr(domains, "DOMAINS", (*domains.DOMAINS, rule))
    authorize(SYSTEM, "model:read", "public")
    with pytest.raises(PermissionDenied) as excinfo:
        authorize(SYSTEM, "model:read", "secret")
    assert excinfo.value.details["reason"] == "clearance too low"
    monkeypatch.undo()
    authorize(SYSTEM, "model:read", "secret")  # the cache follows the list


# What a process sees once started: its hooks, statistics counters (counted from the database) and
# job types. The worker imports what `celery worker` imports; the web process builds the API.
_REPORT = """
import json
from backend import domains
from backend.core import tasks
from backend.core.db import session_scope
from backend.platform_stats.service import catalog_counts
with session_scope(write=False) as session:
    counters = sorted(catalog_counts(session=session))
hooks = {k: [f"{f.__module__}:{f.__qualname__}" for f in domains.hooks(k)] for k in domains.HOOK_KINDS}
print(json.dumps({"counters": counters, "hooks": hooks, "jobTypes": [t.name for t in tasks.job_types()],
                  "periodic": [t.name for t in tasks.periodic_tasks()]}))
"""
_WORKER = "from backend.core.celery_app import app\napp.loader.import_default_modules()\n"
_WEB = "from backend.api import create_api\ncreate_api()\n"


def _report(start: str) -> dict:
    done = subprocess.run([sys.executable, "-c", start + _REPORT], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_worker_and_a_web_process_see_the_same_platform(sqlite_db):
    worker, web = _report(_WORKER), _report(_WEB)
    assert worker == web
    assert {"models", "datasets"} <= set(worker["counters"])
    assert "backend.catalog.model_registry.service:production_needs_artifact_and_metrics" in worker["hooks"]["promotion"]
    assert "backend.catalog.datasets.service:dataset_access_rule" in worker["hooks"]["attribute_rule"]
    assert "platform.statistics" in worker["jobTypes"]
