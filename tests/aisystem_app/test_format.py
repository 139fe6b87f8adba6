"""The one formatting module: every figure on screen goes through it, so its conventions are pinned here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from aisystem_app import format as fmt

NOW = datetime(2026, 12, 5, 17, 3, 9, tzinfo=UTC)


@pytest.mark.parametrize(("key", "words"), [
    ("per_request", "Per request"), ("one_time", "One-time"), ("f1Score", "F1 score"),
    ("latencyP95Ms", "Latency p95 (ms)"), ("maxLatencyMs", "Max latency (ms)"), ("rocAuc", "ROC AUC"),
    ("model_version", "Model version"), ("wasDerivedFrom", "Was derived from"), ("production", "Production"),
    ("lrScheduler", "Learning-rate schedule"), ("gradientClipVal", "Gradient clipping (max norm)"),
    ("nlp", "NLP"), ("Text Classification", "Text Classification"), ("scikit-learn", "Scikit-learn"),
    ("", fmt.NONE), (None, fmt.NONE),
])
def test_label_turns_keys_and_enum_values_into_words(key, words):
    assert fmt.label(key) == words


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (2e-06, "USD", "$0.000002"), (0.0000125, "EUR", "€0.000013"), (0.004, "USD", "$0.004"),
    (1200, "USD", "$1,200"), (9.5, "EUR", "€9.50"), (20, "CHF", "CHF 20"), (-5, "GBP", "-£5"),
    (None, "USD", fmt.NONE), (3, "usd", "$3"),
])
def test_money_has_a_symbol_and_never_an_exponent(amount, currency, text):
    assert fmt.money(amount, currency) == text


@pytest.mark.parametrize(("value", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 * 1024**2 + 10, "5.0 MiB"),
    (3 * 1024**3, "3.0 GiB"), (None, fmt.NONE),
])
def test_size_uses_binary_units(value, text):
    assert fmt.size(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (1234567, "1,234,567"), (2.0, "2"), (0.93123, "0.9312"), (1500.5, "1,500.5"), (-12345.678, "-12,345.7"), (2e-06, "2 × 10⁻⁶"), (1.5e20, "1.5 × 10²⁰"),
    (True, "yes"), (None, fmt.NONE), ("adam", "adam"),
])
def test_number_is_short_and_readable(value, text):
    assert fmt.number(value) == text


def test_counts_units_shares_and_compact_figures():
    assert fmt.count(1234) == "1,234" and fmt.count(None) == fmt.NONE
    assert fmt.plural(1, "review") == "1 review" and fmt.plural(12, "review") == "12 reviews"
    assert fmt.with_unit(120, "ms") == "120 ms" and fmt.with_unit(4096, "tokens") == "4,096 tokens"
    assert fmt.percent(0.875) == "87.5%" and fmt.percent(0.5, 0) == "50%" and fmt.percent(None) == fmt.NONE
    assert [fmt.compact(v) for v in (125_000_000, 7e9, 2400, 1.5e12, 12)] == ["125M", "7B", "2.4K", "1.5T", "12"]


def test_dates_have_one_format_in_utc():
    assert fmt.day(NOW) == "5 Dec 2026" and fmt.day(date(2026, 1, 9)) == "9 Jan 2026"
    assert fmt.day("2026-11-20", year=False) == "20 Nov"
    assert fmt.moment(NOW) == "5 Dec 2026, 17:03 UTC"
    assert fmt.moment("2026-12-05T17:03:00Z") == fmt.moment(NOW.replace(second=0))
    # Naive datetimes are UTC already; other zones are converted.
    assert fmt.moment(datetime(2026, 12, 5, 17, 3)) == "5 Dec 2026, 17:03 UTC"
    assert fmt.moment(datetime.fromisoformat("2026-12-05T18:03:00+01:00")) == "5 Dec 2026, 17:03 UTC"
    assert fmt.day(None) == fmt.moment("") == fmt.NONE


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=30), "just now"), (timedelta(minutes=1), "1 minute ago"), (timedelta(minutes=5), "5 minutes ago"),
    (timedelta(hours=3), "3 hours ago"), (timedelta(days=2), "2 days ago"), (timedelta(days=9), "26 Nov 2026"),
])
def test_ago_is_relative_within_a_week(delta, text):
    assert fmt.ago(NOW - delta, now=NOW) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0.42, "0.42 s"), (3, "3 s"), (12.4, "12 s"), (200, "3 min 20 s"), (180, "3 min"), (7500, "2 h 5 min"),
    (3 * 86400 + 4 * 3600, "3 d 4 h"), (None, fmt.NONE),
])
def test_duration(seconds, text):
    assert fmt.duration(seconds) == text
