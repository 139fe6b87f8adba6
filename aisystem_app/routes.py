"""Page routes and the navigation built from them: a page appears in the sidebar by adding one entry."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from backend.auth.principal import Principal

LOGIN = "/login"
HOME = "/"
AUDIT = "/governance/audit"
PROVENANCE = "/governance/provenance"
COMPLIANCE = "/governance/compliance"
POLICIES = "/governance/policies"
VIOLATIONS = "/governance/violations"
MARKETPLACE = "/marketplace"
MARKETPLACE_SEARCH = "/marketplace/search"
MARKETPLACE_SUBSCRIPTIONS = "/marketplace/subscriptions"
MARKETPLACE_FAVOURITES = "/marketplace/favourites"
MARKETPLACE_LISTING = "/marketplace/models/[listing_id]"
DATASETS = "/catalog/datasets"
DATASET = "/catalog/datasets/[dataset_id]"
MODELS = "/catalog/models"
MODEL_DETAIL = "/catalog/models/[model_id]"
EXPERIMENTS = "/catalog/experiments"
EXPERIMENT_COMPARE = "/catalog/experiments/compare"
EXPERIMENT = "/catalog/experiments/[experiment_id]"
ENDPOINTS = "/catalog/endpoints"
GENERATOR = "/generator"
ENDPOINT = "/catalog/endpoints/[endpoint_id]"
TRAINING_JOBS = "/training/jobs"
TRAINING_NEW = "/training/jobs/new"
TRAINING_JOB = "/training/jobs/[job_id]"
COMPARE = "/compare"
BENCHMARKS = "/compare/benchmarks"
MAX_NEXT_LENGTH = 2000


@dataclass(frozen=True)
class NavEntry:
    """One sidebar link; `permission=None` means every signed-in user sees it."""

    label: str
    route: str
    icon: str
    section: str | None = None
    permission: str | None = None


# Order of the sidebar. Sections planned but without pages yet (Catalog: Models,
# Datasets, Experiments, Pipelines, Features, Endpoints; Training, Compare, Generator, Monitoring)
# get their entries here when their pages land; a section with no visible entry is not shown.
NAV: tuple[NavEntry, ...] = (
    NavEntry("Home", HOME, "layout-dashboard"),
    NavEntry("Browse", MARKETPLACE, "store", section="Marketplace", permission="marketplace:read"),
    NavEntry("My subscriptions", MARKETPLACE_SUBSCRIPTIONS, "receipt", section="Marketplace", permission="marketplace:read"),
    NavEntry("Favourites", MARKETPLACE_FAVOURITES, "heart", section="Marketplace", permission="marketplace:read"),
    NavEntry("Models", MODELS, "box", section="Catalog", permission="model:read"),
    NavEntry("Datasets", DATASETS, "database", section="Catalog", permission="dataset:read"),
    NavEntry("Experiments", EXPERIMENTS, "flask-conical", section="Catalog", permission="experiment:read"),
    NavEntry("Endpoints", ENDPOINTS, "server", section="Catalog", permission="endpoint:read"),
    NavEntry("App generator", GENERATOR, "wand-sparkles", section="Build", permission="generator:read"),
    NavEntry("Training jobs", TRAINING_JOBS, "dumbbell", section="Training", permission="training:read"),
    NavEntry("Compare models", COMPARE, "git-compare", section="Compare", permission="comparison:create"),
    NavEntry("Benchmarks", BENCHMARKS, "gauge", section="Compare", permission="benchmark:read"),
    NavEntry("Policies", POLICIES, "shield", section="Governance", permission="governance:read"),
    NavEntry("Violations", VIOLATIONS, "shield-alert", section="Governance", permission="governance:read"),
    NavEntry("Audit log", AUDIT, "scroll-text", section="Governance", permission="audit:read"),
    NavEntry("Provenance", PROVENANCE, "git-fork", section="Governance", permission="lineage:read"),
    NavEntry("Compliance", COMPLIANCE, "badge-check", section="Governance", permission="compliance:read"),
)


def id_in_path(path: str, limit: int = 120) -> str:
    """The id at the end of a detail page's path (`/catalog/models/<id>`), cut to `limit` characters."""
    return path.rstrip("/").rsplit("/", 1)[-1][:limit]


def sections() -> list[tuple[str | None, list[NavEntry]]]:
    """The entries grouped by section, in sidebar order (`None` is the top group without a heading)."""
    groups: dict[str | None, list[NavEntry]] = {}
    for entry in NAV:
        groups.setdefault(entry.section, []).append(entry)
    return list(groups.items())


def allowed_routes(principal: Principal) -> list[str]:
    """Routes of the entries this principal may open, in sidebar order."""
    return [e.route for e in NAV if e.permission is None or principal.can(e.permission)]


def permission_for(route: str) -> str | None:
    """The permission a page needs (None: any signed-in user)."""
    return next((e.permission for e in NAV if e.route == route), None)


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site to come back to after signing in, else home.

    Anything that could leave the site is refused: absolute URLs, `//host` and `/\\host` (which
    browsers read as another origin), control characters, and the sign-in page itself.
    """
    if not target or len(target) > MAX_NEXT_LENGTH or not target.startswith("/") or target.startswith("//"):
        return HOME
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.rstrip("/") == LOGIN:
        return HOME
    return target


def login_href(target: str | None = None) -> str:
    """The sign-in page, sending the user on to `target` (a path on this site) once signed in."""
    target = safe_next(target)
    return LOGIN if target == HOME else f"{LOGIN}?{urlencode({'next': target})}"
