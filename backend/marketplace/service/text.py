"""Words and slugs: the one tokenizer that search, relevance and slugs share."""

from __future__ import annotations

import re


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words of `text`."""
    return re.findall(r"[a-z0-9]+", text.lower())


def slugify(name: str) -> str:
    """A URL slug of `name` (its words joined by hyphens, at most 100 characters)."""
    return "-".join(words(name))[:100].strip("-")
