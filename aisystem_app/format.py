"""How every page words a figure: sizes, counts, numbers with units, money, dates, durations, shares and
enum values. Pure functions of their arguments, so a page reads the same on the server and in the browser.

One convention each: sizes in binary units (KiB, MiB, GiB: the limits the services enforce are powers of
two), dates as `5 Dec 2026` and moments as `5 Dec 2026, 17:03 UTC`, money with its symbol and never in
exponent notation, a missing value as an em dash.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from backend.core.timeutil import to_utc, utcnow

NONE = "—"
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
COMPACT_STEPS = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")

# Values the mechanical split below words badly.
LABELS = {"one_time": "One-time", "map": "mAP", "iou": "IoU", "ok": "OK",
          # training settings whose keys, split into words, would read as code (`Lr scheduler`)
          "lrScheduler": "Learning-rate schedule", "patience": "Early-stopping patience (epochs)",
          "minDelta": "Early-stopping minimum gain", "gradientClipVal": "Gradient clipping (max norm)",
          "accumulateGradBatches": "Gradient accumulation (batches)"}
# Words a label keeps in capitals or a fixed spelling, whatever case the key used.
WORDS = {"id": "ID", "url": "URL", "api": "API", "gpu": "GPU", "cpu": "CPU", "ms": "(ms)", "f1": "F1", "auc": "AUC",
         "roc": "ROC", "rmse": "RMSE", "mse": "MSE", "mae": "MAE", "llm": "LLM", "nlp": "NLP", "cv": "CV",
         "bleu": "BLEU", "wer": "WER", "sha256": "SHA-256"}


def label(value: str | None) -> str:
    """An enum value or a field key as words: `per_request` → `Per request`, `f1Score` → `F1 score`,
    `latencyP95Ms` → `Latency p95 (ms)`; a value that already reads as words is kept."""
    if value is None or value == "":
        return NONE
    if value in LABELS:
        return LABELS[value]
    if " " in value or not re.search(r"_|[a-z0-9][A-Z]", value):
        # Already words, or one word: only the first letter changes (`PyTorch`, `scikit-learn` stay).
        return WORDS.get(value.lower()) or value[:1].upper() + value[1:]
    parts = re.findall(r"[A-Z]?[a-z]+\d*|[A-Z]+\d*(?![a-z])|\d+", value.replace("_", " "))
    text = " ".join(WORDS.get(p.lower(), p.lower()) for p in parts)
    return text[:1].upper() + text[1:]


def count(value: int | None) -> str:
    """`1,234`."""
    return NONE if value is None else f"{value:,}"


def plural(value: int, noun: str) -> str:
    """`1 review`, `12 reviews`."""
    return f"{value:,} {noun}{'' if value == 1 else 's'}"


def number(value: object) -> str:
    """A figure in few characters: integers with separators, other numbers to 4 significant digits,
    very small or large ones as `2 × 10⁻⁶` rather than `2e-06`."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if 1e3 <= abs(value) < 1e15:  # 4 significant digits would drop the fraction and the separators (1500.5 -> 1500)
        return f"{value:,.1f}"
    text = f"{value:.4g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(SUPERSCRIPT)}"


def rating(value: float | None) -> str:
    """A star rating to one decimal: `4.2`."""
    return NONE if value is None else f"{value:.1f}"


def score(value: float | None, digits: int = 2) -> str:
    """A similarity or relevance score to two decimals: `0.45`."""
    return NONE if value is None else f"{value:.{digits}f}"


def with_unit(value: float | None, unit: str) -> str:
    """`120 ms`, `4,096 tokens`, `1.5 requests/s`."""
    return NONE if value is None else f"{number(value)} {unit}"


def compact(value: float | None) -> str:
    """`125M`, `7B`, `2.4K`: large counts such as parameters."""
    if value is None:
        return NONE
    for size, suffix in COMPACT_STEPS:
        if abs(value) >= size:
            return f"{value / size:.1f}".removesuffix(".0") + suffix
    return number(value)


def size(value: int | None) -> str:
    """`0 B`, `12.3 KiB`, `4.5 MiB` (binary units)."""
    if value is None:
        return NONE
    amount = float(value)
    for unit in SIZE_UNITS:
        if abs(amount) < 1024 or unit == SIZE_UNITS[-1]:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return NONE


def percent(share: float | None, digits: int = 1) -> str:
    """A share of one as a percentage: `0.875` → `87.5%`."""
    return NONE if share is None else f"{share * 100:.{digits}f}%"


def money(amount: float | None, currency: str = "USD") -> str:
    """`$1,200`, `€9.50`, `CHF 20`, `$0.000002`: whole amounts without cents, small ones to their first
    significant digits, never in exponent notation."""
    if amount is None:
        return NONE
    value = float(amount)
    if value.is_integer():
        text = f"{value:,.0f}"
    elif abs(value) >= 0.01:
        text = f"{value:,.2f}"
    else:
        # Per-token prices: as many decimals as the first two significant digits need.
        text = format(Decimal(f"{value:.2g}"), "f")
    code = (currency or "").upper()
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"-{symbol}{text[1:]}" if text.startswith("-") else f"{symbol}{text}"
    return f"{code} {text}".strip()


# Metrics that are shares of one (shown as percentages wherever a model's figures appear).
SHARE_METRICS = frozenset({"accuracy", "precision", "recall", "f1", "f1score", "f1_score", "auc", "rocauc", "roc_auc",
                           "map", "iou", "top1", "top5", "top1accuracy", "top5accuracy"})
PERIODS = {"monthly": "mo", "yearly": "yr"}


def metric(name: str, value: object) -> str:
    """A model metric as every page shows it: a share of one (accuracy, precision, recall, F1, AUC …)
    as a percentage, `94.5%`; a latency in milliseconds (`latencyP95Ms`, or `{"p50": 45, "p95": 120}`)
    with its unit; throughput in requests/s; anything else as a number. The same figure reads the same
    on the model page and on its marketplace listing."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    if isinstance(value, dict) and key.startswith("latency"):  # {"p50": 45, "p95": 120, ...}
        parts = [f"{k} {with_unit(v, 'ms')}" for k, v in value.items() if isinstance(v, int | float)]
        return " · ".join(parts) or NONE
    if isinstance(value, bool) or not isinstance(value, int | float):
        return number(value)
    if key in {k.replace("_", "") for k in SHARE_METRICS} and 0 <= value <= 1:
        return percent(value)
    if key.endswith("ms") or key.startswith("latency"):
        return with_unit(value, "ms")
    if key == "throughput":
        return with_unit(value, "requests/s")
    return number(value)


def price(amount: float | None, currency: str = "USD", period: str | None = None) -> str:
    """A price as every page shows it: `Free`, `$250 / mo` (with a billing period), `$4,990`, or
    `Contact sales` (no amount: sold through sales)."""
    if amount is None:
        return "Contact sales"
    if float(amount) == 0:
        return "Free"
    text = money(float(amount), currency)
    return f"{text} / {PERIODS.get(period, period)}" if period else text


def _moment(value: datetime | date | str) -> datetime | date:
    """A datetime or date from what the services hand out (ISO text with `Z`, naive UTC, aware)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return to_utc(value) if isinstance(value, datetime) else value


def day(value: datetime | date | str | None, *, year: bool = True) -> str:
    """`5 Dec 2026` (the day in UTC); `5 Dec` without the year, for a chart's axis of recent days."""
    if value is None or value == "":
        return NONE
    moment = _moment(value)
    return f"{moment.day} {moment:%b %Y}" if year else f"{moment.day} {moment:%b}"


def moment(value: datetime | str | None) -> str:
    """`5 Dec 2026, 17:03 UTC`."""
    if value is None or value == "":
        return NONE
    when = _moment(value)
    if not isinstance(when, datetime):
        return day(when)
    return f"{when.day} {when:%b %Y, %H:%M} UTC"


def ago(value: datetime | str | None, now: datetime | None = None) -> str:
    """`just now`, `5 minutes ago`, `3 hours ago`, `2 days ago`; older than a week, the day."""
    if value is None or value == "":
        return NONE
    when = _moment(value)
    if not isinstance(when, datetime):
        return day(when)
    seconds = (to_utc(now) if now else utcnow()).timestamp() - when.timestamp()
    if seconds < 60:
        return "just now"
    for unit, length, below in (("minute", 60, 60), ("hour", 3600, 24), ("day", 86400, 7)):
        if seconds / length < below:
            return f"{plural(int(seconds // length), unit)} ago"
    return day(when)


def duration(seconds: float | None) -> str:
    """`0.42 s`, `12 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`."""
    if seconds is None:
        return NONE
    if seconds < 10:
        return f"{seconds:.2f}".rstrip("0").rstrip(".") + " s"
    whole = round(seconds)
    for big, big_unit, small, small_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "min"), (60, "min", 1, "s")):
        if whole >= big:
            rest = (whole % big) // small
            return f"{whole // big} {big_unit}" + (f" {rest} {small_unit}" if rest else "")
    return f"{whole} s"
