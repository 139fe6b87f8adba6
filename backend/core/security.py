"""Passwords (argon2), access tokens (JWT, HS256 pinned) and API key material."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backend.core.config import get_settings
from backend.core.timeutil import utcnow

JWT_ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 4096
API_KEY_PREFIX = {"api": "aisk", "model": "aimk", "session": "aiss"}


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def _current_hasher() -> PasswordHasher:
    settings = get_settings()
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib)


def hash_password(password: str) -> str:
    return _current_hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _current_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return _hasher(time_cost, memory_kib).hash(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    """Spend the time of a real verification, so unknown users answer as slowly as known ones."""
    settings = get_settings()
    verify_password(_dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib), password)


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    jti: str
    issued_at: datetime
    expires_at: datetime


def issue_access_token(user_id: str) -> tuple[str, TokenClaims]:
    """A signed token that carries only who (`sub`), which token (`jti`) and when; roles stay in the DB."""
    settings = get_settings()
    now = utcnow().replace(microsecond=0)
    claims = TokenClaims(
        user_id=user_id,
        jti=secrets.token_hex(16),
        issued_at=now,
        expires_at=now + timedelta(minutes=settings.access_token_minutes),
    )
    payload = {
        "sub": user_id,
        "jti": claims.jti,
        "iat": int(_epoch(claims.issued_at)),
        "exp": int(_epoch(claims.expires_at)),
        "typ": "access",
    }
    return jwt.encode(payload, settings.jwt_secret(), algorithm=JWT_ALGORITHM), claims


def decode_access_token(token: str) -> TokenClaims | None:
    """The token's claims, or None when it is malformed, forged, expired or oversized."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    claims = _verified_claims(token, get_settings().jwt_secret())
    if claims is None or claims.expires_at <= utcnow():
        return None
    return claims


@lru_cache(maxsize=4096)
def _verified_claims(token: str, secret: str) -> TokenClaims | None:
    """Signature and shape of a token, checked once per token (a client sends the same one with every
    request); expiry is checked on each use by the caller, and a changed secret misses the cache."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["sub", "jti", "exp", "iat"]},
        )
    except jwt.PyJWTError:
        return None
    if payload.get("typ") != "access" or not isinstance(payload.get("sub"), str):
        return None
    try:
        return TokenClaims(
            user_id=payload["sub"],
            jti=str(payload["jti"]),
            issued_at=_from_epoch(payload["iat"]),
            expires_at=_from_epoch(payload["exp"]),
        )
    except (OverflowError, ValueError, OSError, TypeError):
        return None  # a validly signed `exp` of 1e20 is past year 9999: not a token this platform issued


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class NewApiKey:
    key: str
    prefix: str
    key_hash: str


def generate_api_key(kind: str = "api") -> NewApiKey:
    """`aisk_<prefix>_<secret>`: the prefix finds the row, the hash of the whole key proves it."""
    prefix = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX[kind]}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(key=key, prefix=prefix, key_hash=hash_api_key(key))


def hash_api_key(key: str) -> str:
    # API keys carry 256 random bits, so a fast keyed hash is enough; the pepper keeps a DB dump useless.
    return hmac.new(get_settings().jwt_secret().encode(), key.encode(), hashlib.sha256).hexdigest()


def split_api_key(key: str) -> tuple[str, str] | None:
    """(kind, prefix) of a well-formed key, else None."""
    parts = key.split("_")
    if len(parts) < 3 or len(key) > 256:
        return None
    kinds = {v: k for k, v in API_KEY_PREFIX.items()}
    if parts[0] not in kinds:
        return None
    return kinds[parts[0]], parts[1]


def keys_match(stored_hash: str, key: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_api_key(key))
