"""Domain error codes translated once into the words the UI shows."""

from __future__ import annotations

from backend.core.errors import ERROR_CATALOGUE, AISystemError

# Codes whose catalogue title does not read well in a toast; the rest use the title.
_TOAST_TEXT: dict[str, str] = {
    "AUTH_001": "Your session has ended; please sign in again",
    "AUTH_002": "You don't have permission to do that",
    "AUTH_003": "Too many failed sign-in attempts; wait a few minutes and try again",
    "REQ_001": "Some of the values are not valid",
    "SYS_001": "Something went wrong on the server",
    "SYS_002": "A backing service is unavailable; try again shortly",
}
UNEXPECTED = "Something went wrong; please try again"
_PLATFORM_PREFIXES = frozenset({"AUTH", "REQ", "SYS"})


def message_for(error: BaseException) -> str:
    """The sentence a user sees for an error a service raised."""
    if not isinstance(error, AISystemError):
        return UNEXPECTED
    if error.code in _TOAST_TEXT:
        return _TOAST_TEXT[error.code]
    entry = ERROR_CATALOGUE.get(error.code)
    if entry is None:
        return UNEXPECTED
    # Domain services word their messages for the user ("Version 1.2.0 already exists"); platform
    # codes (auth, request, system) keep the catalogue's wording.
    if error.code.split("_")[0] not in _PLATFORM_PREFIXES and error.message:
        return error.message
    return entry.title


def field_errors(error: AISystemError) -> dict[str, str]:
    """Per-field problems of a REQ_001 error (`details.fields`), for inline form messages."""
    return {f["field"]: f["message"] for f in error.details.get("fields", []) if "field" in f}
