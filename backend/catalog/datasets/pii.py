"""PII detection in text columns: e-mail addresses, phone numbers, credit-card numbers (Luhn-checked),
IP addresses and IBANs (mod-97 checked). Reports counts and masked examples, never the raw values."""

from __future__ import annotations

import re
from typing import Any

import polars as pl

PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone": r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}",
    "credit_card": r"\b(?:\d[ -]?){12,18}\d\b",
    "ip_address": r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
                  r"|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
}
ANY_PII = "|".join(f"(?:{p})" for p in PATTERNS.values())
SAMPLE_ROWS = 200_000


def luhn_valid(candidate: str) -> bool:
    """The Luhn checksum of the digits in `candidate` (13–19 digits)."""
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


IBAN_LENGTHS = {"DE": 22, "FR": 27, "GB": 22, "ES": 24, "IT": 27, "NL": 18, "BE": 16, "AT": 20, "CH": 21,
                "PL": 28, "SE": 24, "DK": 18, "NO": 15, "FI": 18, "IE": 22, "PT": 25, "LU": 20}


def iban_valid(candidate: str) -> bool:
    """ISO 13616: the known length for the country (when known) and the mod-97 remainder 1."""
    iban = candidate.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


VALIDATORS = {"credit_card": luhn_valid, "iban": iban_valid}


def mask(kind: str, value: str) -> str:
    """A masked example that shows the shape, not the value."""
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    keep = value[-4:] if kind in ("credit_card", "iban", "phone") else ""
    return "*" * max(0, min(len(value) - len(keep), 12)) + keep


def detect(frame: pl.DataFrame | pl.LazyFrame, *, columns: list[str] | None = None,
           sample_rows: int = SAMPLE_ROWS) -> dict[str, Any]:
    """Scan the string columns of (a head sample of) `frame`; {containsPII, columns: {col: {kind: {...}}}}."""
    lf = frame.lazy()
    schema = lf.collect_schema()
    text_cols = [c for c, t in schema.items() if t == pl.String and (columns is None or c in columns)]
    report: dict[str, Any] = {"containsPII": False, "sampledRows": 0, "columns": {}}
    if not text_cols:
        return report
    df = lf.select(text_cols).head(sample_rows).collect()
    report["sampledRows"] = df.height
    for col in text_cols:
        found: dict[str, Any] = {}
        for kind, pattern in PATTERNS.items():
            matches = (df.select(pl.int_range(pl.len()).alias("row"), pl.col(col).str.extract_all(pattern).alias("m"))
                       .explode("m").drop_nulls("m"))
            if matches.height == 0:
                continue
            validator = VALIDATORS.get(kind)
            if validator:
                candidates = matches["m"].unique().to_list()
                valid = {c for c in candidates if validator(c)}
                matches = matches.filter(pl.col("m").is_in(list(valid)))
                if matches.height == 0:
                    continue
            rows = matches["row"].n_unique()
            found[kind] = {"rows": rows, "share": round(rows / max(df.height, 1), 6),
                           "examples": [mask(kind, v) for v in matches["m"].unique(maintain_order=True).head(3)]}
        if found:
            report["columns"][col] = found
            report["containsPII"] = True
    return report
