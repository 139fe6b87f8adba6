"""Configuration: embedded defaults, and production refusing unsafe settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from backend.core.config import Settings, get_settings, reset_settings


def production(**overrides) -> Settings:
    values = {"env": "production", "secret_key": "k" * 40, "demo_password": "a-strong-demo-pass",
              "public_url": "https://ai.example.com", **overrides}
    return Settings(**values)


def test_embedded_defaults_live_in_the_data_dir(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.resolve() / 'aisystem.db'}"
    assert settings.celery_broker_url.startswith("sqla+sqlite:///") and str(tmp_path.resolve()) in settings.celery_broker_url
    assert settings.port == 3000


def test_a_secret_is_generated_once_into_the_data_dir(tmp_path):
    first = Settings(data_dir=tmp_path, secret_key=None).jwt_secret()
    assert len(first) >= 48 and Settings(data_dir=tmp_path, secret_key=None).jwt_secret() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_with_safe_settings_is_fine():
    assert production().production_problems() == []


@pytest.mark.parametrize(
    "overrides,problem",
    [
        ({"secret_key": None}, "AISYSTEM_SECRET_KEY"),
        ({"secret_key": "changeme"}, "AISYSTEM_SECRET_KEY"),
        ({"secret_key": "short"}, "AISYSTEM_SECRET_KEY"),
        ({"demo_password": "aisystem-demo"}, "AISYSTEM_DEMO_PASSWORD"),
        ({"demo_password": "password"}, "AISYSTEM_DEMO_PASSWORD"),
        ({"public_url": None}, "AISYSTEM_PUBLIC_URL"),
    ],
)
def test_production_refuses_default_secrets(overrides, problem):
    assert any(problem in p for p in production(**overrides).production_problems())


def test_production_without_demo_data_needs_no_demo_password():
    assert production(demo_password="aisystem-demo", seed_demo_data=False).production_problems() == []


def test_the_server_refuses_to_start_with_defaults(monkeypatch):
    monkeypatch.setenv("AISYSTEM_ENV", "production")
    monkeypatch.setenv("AISYSTEM_DEMO_PASSWORD", "aisystem-demo")
    reset_settings()
    from backend.api import create_api

    with pytest.raises(SystemExit, match="refusing to start in production"):
        create_api()


def test_the_cli_refuses_to_serve_with_defaults(tmp_path):
    env = {"AISYSTEM_ENV": "production", "AISYSTEM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "backend.cli", "serve"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0 and "refusing to start in production" in done.stderr
    assert not (tmp_path / "aisystem.db").exists()


def test_lists_come_comma_separated_from_the_environment(monkeypatch):
    monkeypatch.setenv("AISYSTEM_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    reset_settings()
    assert get_settings().allowed_origins == ["https://a.example", "https://b.example"]


def test_cors_answers_only_the_configured_origin(api, monkeypatch):
    monkeypatch.setenv("AISYSTEM_ALLOWED_ORIGINS", "https://ai.example.com")
    reset_settings()
    from fastapi.testclient import TestClient

    from backend.api import create_api

    client = TestClient(create_api())
    good = client.options("/api/v1/auth/me", headers={"Origin": "https://ai.example.com",
                                                     "Access-Control-Request-Method": "GET"})
    evil = client.options("/api/v1/auth/me", headers={"Origin": "https://evil.example",
                                                     "Access-Control-Request-Method": "GET"})
    assert good.headers.get("access-control-allow-origin") == "https://ai.example.com"
    assert "access-control-allow-origin" not in evil.headers


def test_api_docs_can_be_switched_off(monkeypatch, sqlite_db):
    monkeypatch.setenv("AISYSTEM_API_DOCS", "false")
    reset_settings()
    from fastapi.testclient import TestClient

    from backend.api import create_api

    client = TestClient(create_api())
    assert client.get("/api/v1/openapi.json").status_code == 404
    assert client.get("/api/v1/docs").status_code == 404
