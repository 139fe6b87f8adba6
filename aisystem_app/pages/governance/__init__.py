"""The governance pages: the audit log."""

from aisystem_app.pages.governance import audit

__all__ = ["audit"]
