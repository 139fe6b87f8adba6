"""Platform settings, read from `AISYSTEM_*` environment variables (see the README's table)."""

from __future__ import annotations

import os
import secrets
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DEMO_PASSWORD = "aisystem-demo"
# Secrets that must never guard a production install.
WEAK_SECRETS = frozenset({"", "secret", "changeme", "change-me", "password", "aisystem", DEFAULT_DEMO_PASSWORD})


class Settings(BaseSettings):
    """Every knob of the platform; defaults run a single machine with embedded services."""

    model_config = SettingsConfigDict(env_prefix="AISYSTEM_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".aisystem")
    database_url: str | None = None
    broker_url: str | None = None
    port: int = 3000
    public_url: str | None = Field(
        default=None, description="Origin the UI is served from, e.g. https://ai.example.com"
    )
    # Comma-separated in the environment.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    secret_key: str | None = None
    access_token_minutes: int = 60 * 8
    demo_password: str = DEFAULT_DEMO_PASSWORD
    seed_demo_data: bool = True
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536

    login_window_seconds: int = 900
    login_max_failures_per_user: int = 10
    login_max_failures_per_ip: int = 30
    # Failures on one account from all clients together, after which only clients that signed in to it
    # before may still try (a distributed guesser is slowed down; the user is not locked out).
    login_max_failures_per_account: int = Field(default=100, ge=1)

    # Where files are kept: unset = <data_dir>/artifacts, file:///path, or s3://bucket/prefix (S3-compatible;
    # endpoint and keys from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION).
    artifact_url: str | None = None
    max_json_body_bytes: int = 10 * 1024 * 1024
    max_upload_bytes: int = 2 * 1024 * 1024 * 1024
    # What one dataset transform may write (see backend/catalog/datasets/transforms.py: OutputLimits).
    transform_max_cell_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    transform_max_column_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1)
    # A deleted dataset's versions and files are removed for good this many days after its deletion.
    dataset_purge_days: int = Field(default=30, ge=1)

    # The signed audit checkpoint outside the database is written at most this often (and at shutdown);
    # 0 writes it after every audited commit. See docs/security.md for the window this leaves.
    audit_checkpoint_seconds: float = Field(default=2.0, ge=0, le=300)
    job_lease_seconds: int = 30
    job_max_attempts: int = 3
    job_requeue_after_seconds: int = 60
    reaper_interval_seconds: float = 10.0
    # Per server process: ranked searches and facet counts kept until the catalog changes (0: off).
    result_cache_entries: int = Field(default=2000, ge=0)
    worker_heartbeat_seconds: float = 5.0
    # A job type without a time limit of its own is stopped and failed (JOB_003) after this long.
    job_time_limit_seconds: int = Field(default=6 * 3600, ge=1)
    # For tests only: JSON of the GPUs a worker reports instead of asking torch, e.g.
    # '{"gpus": [{"name": "test GPU", "memoryMb": 24576}]}'. The heartbeat marks it as an override.
    worker_devices_override: str | None = None

    # Training jobs: queued or running at once per user; cost per device-hour by device name or type
    # (JSON in the environment, e.g. '{"cpu": 0.05, "gpu": 2.5, "NVIDIA H100 80GB HBM3": 4.0}');
    # torch threads of a training process (0: torch's default); a test-only delay after each step.
    training_max_active_jobs_per_user: int = Field(default=4, ge=1)
    training_cost_per_device_hour: dict[str, float] = Field(default_factory=lambda: {"cpu": 0.05, "gpu": 2.5})
    training_threads: int = Field(default=0, ge=0)
    training_step_delay_seconds: float = Field(default=0.0, ge=0)
    # Fork each training attempt from a warm process that has imported torch and Lightning once per worker
    # (backend/training/warm.py); off: every attempt starts a fresh Python process.
    training_warm_runner: bool = True
    # Hyperparameter optimisation: Optuna's own database (its RDBStorage keeps its own tables and
    # migrations), never the app's; unset = the SQLite file <data_dir>/optuna.db.
    optuna_storage_url: str | None = None

    # Uploaded files are read in a child process under these limits (backend/catalog/datasets/sandbox.py):
    # its address space, its CPU time summed over threads, and the wall-clock time before it is killed.
    parser_memory_mb: int = Field(default=8192, ge=256)
    parser_cpu_seconds: int = Field(default=3600, ge=1)
    parser_timeout_seconds: int = Field(default=3600, ge=1)
    # Celery worker processes `serve` starts beside the web process (each runs one job at a time).
    workers: int = Field(default=2, ge=1, le=64)

    # Model endpoints (backend/endpoints, docs/endpoints.md): Redis shared by web processes for the per-key
    # token buckets (unset: each process keeps its own); loaded models kept per process (LRU); the
    # default per-request timeout; how long a prediction waits for others to batch with; limits.
    redis_url: str | None = None
    endpoint_model_cache_size: int = Field(default=8, ge=1, le=1000)
    endpoint_timeout_ms: int = Field(default=2000, ge=10, le=600_000)
    endpoint_batch_wait_ms: float = Field(default=1.0, ge=0, le=100)
    # How long a model key's answered request lets the next ones skip the full route (backend.endpoints.fastlane);
    # 0 turns the fast lane off.
    endpoint_fast_lane_seconds: float = Field(default=1.0, ge=0, le=60)
    endpoint_max_instances: int = Field(default=1000, ge=1, le=100_000)
    endpoint_batch_predict_chunk: int = Field(default=8192, ge=1, le=1_000_000)
    # torch's intra-op threads in a web process once it serves predictions (0: torch's default, one per
    # core; workers keep the default for batch predictions and training).
    # A served batch is small: splitting it over cores costs more in waking and syncing threads than the
    # work (16 rows of the demo MLP: ~45 µs of CPU on one thread, 270-1000 µs on two of a busy machine),
    # and replicas already run batches side by side.
    endpoint_torch_threads: int = Field(default=1, ge=0, le=256)
    # Whether a web process loads the serving libraries (Lightning and the model families) as it starts, so
    # that its first prediction does not wait for them; off, a process that serves no endpoint starts ~3 s
    # sooner and holds ~175 MB less, and the first prediction pays the import instead.
    endpoint_preload: bool = True

    # The app generator (backend/generator, docs/generator.md): an optional OpenAI-compatible LLM for prompt
    # analysis (unset: the offline rules and sentence embeddings only; a failing LLM falls back to them), and
    # the limits of the sandbox that runs a generated application's tests and local deployments.
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    generator_sandbox_memory_mb: int = Field(default=2048, ge=256)
    generator_sandbox_timeout_seconds: int = Field(default=120, ge=5, le=3600)
    generator_max_deployments: int = Field(default=5, ge=1, le=100)

    api_docs: bool = Field(default=True, description="Serve /api/v1/docs and /api/v1/openapi.json")
    log_level: str = "INFO"

    @field_validator("allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str) and not value.startswith("["):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("artifact_url")
    @classmethod
    def _artifact_url(cls, value: str | None) -> str | None:
        if value and not (value.startswith("file:///") or (value.startswith("s3://") and len(value) > 5)):
            raise ValueError("must be file:///path or s3://bucket/prefix")
        return value or None

    @cached_property
    def resolved_data_dir(self) -> Path:
        # Cached: every request's session asks for the database URL, and resolve() walks the path.
        return self.data_dir.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_data_dir / 'aisystem.db'}"

    @property
    def optuna_storage(self) -> str:
        return self.optuna_storage_url or f"sqlite:///{self.resolved_data_dir / 'optuna.db'}"

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.resolved_data_dir / 'broker.sqlite'}"

    @property
    def artifacts_dir(self) -> Path:
        return self.resolved_data_dir / "artifacts"

    @property
    def origin(self) -> str:
        return self.public_url or f"http://127.0.0.1:{self.port}"

    def browser_origins(self) -> list[str]:
        """The only origins a browser may call the API or open the UI's websocket from, in every
        environment: the UI's own origin and `AISYSTEM_ALLOWED_ORIGINS`; outside production also the
        same port on localhost, so `make run` works whichever name the browser uses."""
        origins = {self.origin.rstrip("/"), *(o.rstrip("/") for o in self.allowed_origins)}
        if self.env != "production":
            origins |= {f"http://localhost:{self.port}", f"http://127.0.0.1:{self.port}"}
        return sorted(origins)

    def jwt_secret(self) -> str:
        """The signing secret: configured, or generated once into the data dir."""
        return self.secret_key or self._generated_secret

    @cached_property
    def _generated_secret(self) -> str:
        # Cached because every request checks a signature. Created with a hard link, which fails if
        # the file exists, so server workers starting together all end up with the same secret.
        path = self.resolved_data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip()

    def production_problems(self) -> list[str]:
        """Reasons this configuration must not serve production traffic (empty when fine)."""
        if self.env != "production":
            return []
        problems = []
        if not self.secret_key or self.secret_key.lower() in WEAK_SECRETS or len(self.secret_key) < 32:
            problems.append("AISYSTEM_SECRET_KEY must be set to a random value of at least 32 characters")
        if self.seed_demo_data and (
            self.demo_password.lower() in WEAK_SECRETS or len(self.demo_password) < 12
        ):
            problems.append("demo users need a strong AISYSTEM_DEMO_PASSWORD, or set AISYSTEM_SEED_DEMO_DATA=false")
        if not self.public_url:
            problems.append("AISYSTEM_PUBLIC_URL must name the origin the UI is served from")
        return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between runs)."""
    get_settings.cache_clear()
