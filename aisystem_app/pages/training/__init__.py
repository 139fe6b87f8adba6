"""The training pages: the jobs, the new-job form and one job live."""

from aisystem_app.pages.training import job, jobs, new

__all__ = ["job", "jobs", "new"]
