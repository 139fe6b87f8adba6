"""Candidate architectures of a generated application and the cost model that prices them.

The cost model (docs/generator.md): each component asks for `cpu` cores, `memoryGb` and `storageGb` per
instance at a baseline of 100 daily users and 1 GB of data; compute scales with the square root of
users / 100 (instances share load; at least the baseline), storage grows linearly with the data volume.
A month of one vCPU costs CPU_MONTH, one GB of memory MEMORY_GB_MONTH, one GB of disk STORAGE_GB_MONTH, one
GB sent out EGRESS_GB; egress is 2 MB per user per day. Prices are list prices of general-purpose cloud
instances rounded (2026), in USD; the figures are estimates and say so."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CPU_MONTH = 25.0
MEMORY_GB_MONTH = 3.5
STORAGE_GB_MONTH = 0.10
EGRESS_GB = 0.09
EGRESS_MB_PER_USER_DAY = 2.0
REQUESTS_PER_USER_DAY = 40
BASE_USERS = 100


@dataclass(frozen=True)
class Component:
    name: str
    technology: str
    description: str
    cpu: float          # cores per instance at the baseline
    memory_gb: float    # per instance
    storage_gb: float   # at 1 GB of data
    instances: int = 1
    scales: bool = True  # compute grows with users
    data_bound: bool = False  # storage grows with the data volume


@dataclass(frozen=True)
class Architecture:
    id: str
    name: str
    description: str
    pattern: str
    components: tuple[Component, ...]
    pros: tuple[str, ...]
    cons: tuple[str, ...]
    suits: tuple[str, ...]  # app types it suits best


ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture(
        "monolith", "Monolith", "One FastAPI process serves the pages, the API and the analytics; one database.",
        "monolith",
        (Component("Web application", "FastAPI + Plotly", "Pages, REST API and analytics in one process",
                   1.0, 1.0, 1.0),
         Component("Database", "SQLite / PostgreSQL (SQLModel)", "The application's records", 0.5, 0.5, 5.0,
                   scales=False, data_bound=True)),
        ("Simplest to run and debug", "Lowest cost"), ("Scales as one unit",),
        ("dashboard", "internal_tool", "rest_api", "chatbot")),
    Architecture(
        "api_worker", "API + worker", "A FastAPI service answers requests; a worker runs scheduled and heavy jobs.",
        "api-worker",
        (Component("API", "FastAPI", "REST API and pages", 1.0, 1.0, 1.0),
         Component("Worker", "Python worker (httpx, NumPy)", "Scheduled jobs, model calls and alerts", 1.0, 2.0, 2.0),
         Component("Queue", "Redis", "Jobs between the API and the worker", 0.25, 0.5, 1.0, scales=False),
         Component("Database", "PostgreSQL (SQLModel)", "The application's records", 0.5, 1.0, 5.0,
                   scales=False, data_bound=True)),
        ("Slow work never blocks requests", "API and worker scale apart"), ("Two processes to operate",),
        ("data_pipeline", "ml_inference", "dashboard")),
    Architecture(
        "microservices", "Microservices",
        "Separate services for the UI, an API gateway and the analytics engine, with a cache layer.",
        "microservices",
        (Component("Frontend", "HTML + Plotly (served by FastAPI)", "Responsive dashboard UI", 0.5, 0.5, 0.5),
         Component("API Gateway", "FastAPI", "RESTful API service", 0.5, 0.5, 0.5),
         Component("Analytics Engine", "Python / NumPy", "Data processing and ML insights", 2.0, 4.0, 2.0),
         Component("Cache Layer", "Redis", "Performance optimisation", 0.25, 1.0, 1.0, scales=False),
         Component("Database", "PostgreSQL (SQLModel)", "The application's records", 1.0, 2.0, 5.0,
                   scales=False, data_bound=True)),
        ("Each part scales and deploys on its own", "Teams own services"),
        ("Most moving parts", "Highest cost at small scale"),
        ("dashboard", "ml_inference")),
)
ARCHITECTURE_IDS = tuple(a.id for a in ARCHITECTURES)


def architecture(arch_id: str) -> Architecture | None:
    return next((a for a in ARCHITECTURES if a.id == arch_id), None)


def _round(value: float, step: float) -> float:
    return math.ceil(value / step - 1e-9) * step


def estimate(arch: Architecture, *, users: int = BASE_USERS, data_gb: float = 1.0) -> dict[str, Any]:
    """The architecture's components with their sized resources, the totals and the monthly cost."""
    load = max(1.0, math.sqrt(max(users, 1) / BASE_USERS))
    components, cpu, memory, storage = [], 0.0, 0.0, 0.0
    for c in arch.components:
        instances = c.instances * (max(1, math.ceil(load)) if c.scales else 1)
        c_cpu = _round(c.cpu * (load / instances if c.scales else 1.0) * instances, 0.25)
        c_mem = _round(c.memory_gb * (max(1.0, load / 2) if c.scales else 1.0) * instances, 0.5)
        c_sto = _round(c.storage_gb * (max(data_gb, 0.1) if c.data_bound else 1.0), 1.0)
        cost = c_cpu * CPU_MONTH + c_mem * MEMORY_GB_MONTH + c_sto * STORAGE_GB_MONTH
        components.append({"name": c.name, "technology": c.technology, "description": c.description,
                           "instances": instances, "cpu": c_cpu, "memoryGb": c_mem, "storageGb": c_sto,
                           "monthlyCost": round(cost, 2)})
        cpu, memory, storage = cpu + c_cpu, memory + c_mem, storage + c_sto
    bandwidth_gb = users * EGRESS_MB_PER_USER_DAY * 30 / 1024
    monthly = sum(c["monthlyCost"] for c in components) + bandwidth_gb * EGRESS_GB
    requests = users * REQUESTS_PER_USER_DAY * 30
    max_instances = max(c["instances"] for c in components)
    return {
        "id": arch.id, "name": arch.name, "description": arch.description, "pattern": arch.pattern,
        "components": components, "pros": list(arch.pros), "cons": list(arch.cons), "suits": list(arch.suits),
        "assumptions": {"users": users, "dataGb": data_gb, "requestsPerMonth": requests},
        "requirements": {"cpu": f"{cpu:g} cores", "memory": f"{memory:g}GB", "storage": f"{storage:g}GB",
                         "bandwidth": f"{math.ceil(bandwidth_gb)}GB/month",
                         "cpuCores": cpu, "memoryGb": memory, "storageGb": storage,
                         "bandwidthGbMonth": round(bandwidth_gb, 2)},
        "estimatedCost": {"development": 0, "monthly": round(monthly, 2),
                          "perRequest": round(monthly / requests, 6) if requests else 0.0, "currency": "USD"},
        "scaling": {"autoScale": arch.id != "monolith", "minInstances": 1,
                    "maxInstances": max(2, max_instances * 4) if arch.id != "monolith" else 1,
                    "targetCpuUtilization": 70},
        "costModel": {"cpuMonth": CPU_MONTH, "memoryGbMonth": MEMORY_GB_MONTH, "storageGbMonth": STORAGE_GB_MONTH,
                      "egressGb": EGRESS_GB},
    }


def recommend(app_type: str, *, users: int) -> str:
    """The architecture suggested for an app type and audience: microservices from 5,000 daily users, API +
    worker from 1,000, else the monolith — each only for the types it suits (its extra services cost more
    than they save below those sizes)."""
    by_id = {a.id: a for a in ARCHITECTURES}
    for arch_id, floor in (("microservices", 5000), ("api_worker", 1000), ("monolith", 0)):
        if users >= floor and app_type in by_id[arch_id].suits:
            return arch_id
    return next((a.id for a in ARCHITECTURES if app_type in a.suits), "monolith")
