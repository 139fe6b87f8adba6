"""Keyword search with stemming, the same on SQLite (FTS5) and PostgreSQL (tsvector).

Both databases are handed text already split and stemmed here, so they match alike: a text is indexed
as its words (runs of letters and digits, lower-cased) followed by the English (Snowball/Porter2)
stems that differ from them, and each column is matched by the database's plain tokenizer (FTS5
`unicode61`, PostgreSQL's `simple` configuration, neither stemming again). A query word matches a
word that starts with it, or a word whose stem starts with the query word's stem: "analyzers" finds
"Analyzer", "detect" finds "detection", "sentim" finds "sentiment". Every query word must match
(AND); English stop words ("for", "the", "a" …) are left out of the query unless it has nothing else.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

_TOKEN = re.compile(r"[^\W_]+")
MAX_TERMS = 12
MAX_TERM_LENGTH = 64

# Words too common to narrow a search: a query keeps them only when it has nothing else.
STOP_WORDS = frozenset({"a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does",
    "for", "from", "how", "i", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our",
    "over", "so", "that", "the", "their", "them", "these", "this", "those", "to", "us", "want", "we",
    "what", "which", "with", "you", "your", "need", "needs", "please"})

_STEMMER = snowballstemmer.stemmer("english")


def words(text: str | None) -> list[str]:
    """How both databases see text: runs of letters and digits, lower-cased."""
    return _TOKEN.findall((text or "").lower())


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """The English (Snowball) stem of a lower-cased word; numbers and one-letter words stay as they are."""
    if len(word) < 3 or not word.isalpha():
        return word
    return _STEMMER.stemWord(word)


def index_text(*texts: str | None) -> str:
    """What an index column holds for `texts`: their words, then the stems that differ from every word."""
    found = [w for text in texts for w in words(text)]
    seen = set(found)
    stems = []
    for w in found:
        s = stem(w)
        if s not in seen:
            seen.add(s)
            stems.append(s)
    return " ".join(found + stems)


@dataclass(frozen=True)
class Term:
    """One query word and its stem (the same when stemming does not change it)."""

    word: str
    stem: str

    def variants(self) -> tuple[str, ...]:
        return (self.word,) if self.stem == self.word else (self.word, self.stem)


def query_terms(q: str | None) -> tuple[Term, ...]:
    """The words a keyword search looks for (at most 12, each cut to 64 characters), stop words left
    out unless the query has no other; empty when the query has no word at all."""
    found = [w[:MAX_TERM_LENGTH] for w in words(q)]
    kept = [w for w in found if w not in STOP_WORDS] or found
    unique = list(dict.fromkeys(kept))[:MAX_TERMS]
    return tuple(Term(w, stem(w)) for w in unique)


def fts5_match(terms: Sequence[Term]) -> str:
    """An FTS5 MATCH expression: every term, each as a prefix of its word or of its stem."""
    def one(term: Term) -> str:
        options = [f'"{v}"*' for v in term.variants()]
        return options[0] if len(options) == 1 else "(" + " OR ".join(options) + ")"

    return " AND ".join(one(t) for t in terms)


def pg_tsquery(terms: Sequence[Term]) -> str:
    """The same condition as a PostgreSQL `to_tsquery('simple', …)` text."""
    def one(term: Term) -> str:
        options = [f"{v}:*" for v in term.variants()]
        return options[0] if len(options) == 1 else "(" + " | ".join(options) + ")"

    return " & ".join(one(t) for t in terms)


def matches(terms: Sequence[Term], text: str) -> bool:
    """Whether an indexed text (`index_text`) holds every term: what the databases decide, in Python."""
    tokens = text.split()
    return all(any(tok.startswith(v) for tok in tokens for v in t.variants()) for t in terms)


def vocabulary(texts: Iterable[str | None]) -> set[str]:
    """The distinct words of `texts` (for suggesting a word close to a misspelt one)."""
    return {w for text in texts for w in words(text) if w.isalpha() and len(w) > 2}


def rowid(key: str) -> int:
    """A stable positive 62-bit integer for a text key (FTS5 rows are addressed by integer rowids)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") & ((1 << 62) - 1)
