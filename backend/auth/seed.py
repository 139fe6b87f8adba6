"""Demo accounts: one per role, username = role name, password from AISYSTEM_DEMO_PASSWORD."""

from __future__ import annotations

from sqlmodel import Session

from backend.auth import service


def seed_demo_users(session: Session) -> str:
    created = service.ensure_demo_users(session=session)
    return f"{created} demo users created" if created else "demo users present"
