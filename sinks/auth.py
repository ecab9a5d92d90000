"""Scoped API keys: every route depends on ``require(scope)``.

Keys live in a YAML file (``SIGNALFOLD_API_KEYS_FILE``), hashed at rest::

    keys:
      - name: newsletter-bot          # shown as the surface in the decision log
        role: marketing_bot           # or `scopes: [decisions:read, ...]`
        hash: sha256:9f86d081884c7d65...

``signalfold keys new --name newsletter-bot --role marketing_bot`` makes a key
and prints the entry. Keys are 32 random bytes, so one SHA-256 is enough (a
slow KDF protects guessable passwords, not random keys). Roles:

- ``marketing_bot``: decisions only;
- ``support_tool``: decisions, their explanations and log, customers, histories;
- ``admin``: everything, including identity operations and subject access
  exports (``privacy:export``: everything held about one person).

With no key file the API is open (development only) and logs say so.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import yaml
from fastapi import FastAPI, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from signalfold.errors import ConfigError
from signalfold.settings import Settings
from signalfold.sinks.errors import refusal

__all__ = [
    "ROLES",
    "KeyChecker",
    "KeyFileChecker",
    "OpenAccess",
    "Scope",
    "Verdict",
    "document_scopes",
    "hash_key",
    "key_checker_for",
    "load_key_file",
    "new_key",
    "require",
]

Scope = Literal[
    "decisions:read",
    "decisions:explain",
    "decisions:audit",
    "customers:read",
    "history:read",
    "identity:read",
    "identity:write",
    "privacy:export",
    "privacy:erase",
]
Verdict = Literal["ok", "unauthenticated", "forbidden"]
ALL_SCOPES: frozenset[str] = frozenset(get_args(Scope))
ROLES: dict[str, frozenset[str]] = {
    "marketing_bot": frozenset({"decisions:read"}),
    "support_tool": ALL_SCOPES - {"identity:write", "privacy:export", "privacy:erase"},
    "admin": ALL_SCOPES,
}
_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="a signalfold API key")


def hash_key(key: str) -> str:
    """``sha256:<hex>``: what the key file stores for ``key``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random key (``sf_`` + 43 URL-safe characters, 256 bits)."""
    return "sf_" + secrets.token_urlsafe(32)


class KeyEntry(BaseModel):
    """One key of the file: who holds it, what it may do, and its hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    role: Literal["marketing_bot", "support_tool", "admin"] | None = None
    scopes: tuple[Scope, ...] = ()

    @model_validator(mode="after")
    def _role_or_scopes(self) -> KeyEntry:
        if (self.role is not None) == bool(self.scopes):
            raise ValueError("give exactly one of `role` or `scopes`")
        return self

    def granted(self) -> frozenset[str]:
        return ROLES[self.role] if self.role is not None else frozenset(self.scopes)


class KeyChecker(Protocol):
    """Says whether ``key`` (``None`` when the caller sent none) may use ``scope``."""

    def check(self, key: str | None, scope: Scope) -> Verdict: ...

    def name_of(self, key: str | None) -> str: ...


class OpenAccess:
    """Every caller may do everything: development only, when no key file is set."""

    def check(self, key: str | None, scope: Scope) -> Verdict:
        return "ok"

    def name_of(self, key: str | None) -> str:
        return "open-access"


class KeyFileChecker:
    """Checks presented keys against hashed entries; the plain key is never kept.

    The presented key's hash is compared with every entry's in constant time
    (``hmac.compare_digest``, no early exit), so how long a check takes says
    nothing about which entry, or how much of a hash, it matched.
    """

    def __init__(self, entries: list[KeyEntry]) -> None:
        self._entries = [(e.hash.encode(), e) for e in entries]

    def _entry(self, key: str | None) -> KeyEntry | None:
        if not key:
            return None
        presented = hash_key(key).encode()
        found = None
        for digest, entry in self._entries:
            if hmac.compare_digest(digest, presented):
                found = entry
        return found

    def check(self, key: str | None, scope: Scope) -> Verdict:
        entry = self._entry(key)
        if entry is None:
            return "unauthenticated"
        return "ok" if scope in entry.granted() else "forbidden"

    def name_of(self, key: str | None) -> str:
        entry = self._entry(key)
        return entry.name if entry is not None else "unknown"


def load_key_file(path: Path) -> KeyFileChecker:
    """Read and validate a key file; ``ConfigError`` names the file and the entry at fault."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"API key file `{path}`: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"API key file `{path}`: not valid YAML ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), list):
        raise ConfigError(
            f"API key file `{path}`: expected a mapping with a `keys:` list; "
            "make entries with `signalfold keys new`"
        )
    entries: list[KeyEntry] = []
    for i, item in enumerate(raw["keys"]):
        try:
            entries.append(KeyEntry.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in exc.errors()
            )
            name = item.get("name") if isinstance(item, dict) else None
            raise ConfigError(
                f"API key file `{path}`: key #{i + 1}{f' `{name}`' if name else ''}: {problems}"
            ) from None
    names = [e.name for e in entries]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"API key file `{path}`: key names must be unique; repeated {repeated}")
    return KeyFileChecker(entries)


def key_checker_for(settings: Settings) -> KeyChecker:
    """The checker the settings ask for: the key file, or open access without one."""
    if settings.api_keys_file is not None:
        return load_key_file(settings.api_keys_file)
    return OpenAccess()


def _presented_key(request: Request, header: str | None) -> str | None:
    if header:
        return header
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


def require(scope: Scope) -> Callable[..., str]:
    """A FastAPI dependency that admits the request only if its key holds ``scope``.

    The key is read from ``X-API-Key`` or ``Authorization: Bearer``; the checker
    is ``app.state.key_checker``. Returns the key's name (the calling surface).
    """

    def dependency(request: Request, header: str | None = Security(_HEADER, scopes=[scope])) -> str:
        checker: KeyChecker = request.app.state.key_checker
        key = _presented_key(request, header)
        verdict = checker.check(key, scope)
        if verdict == "unauthenticated":
            message = (
                "this API key is not known; check it, or ask an admin for one"
                if key
                else "send an API key in the X-API-Key header"
            )
            raise refusal(
                401,
                "unauthenticated",
                ["header", "X-API-Key"],
                "X-API-Key",
                "a known API key",
                "an unknown key" if key else "none",
                message,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if verdict == "forbidden":
            raise refusal(
                403,
                "forbidden",
                ["header", "X-API-Key"],
                "X-API-Key",
                f"a key with scope {scope!r}",
                "a key without it",
                f"this API key lacks scope {scope!r}; ask an admin for a key with that scope",
            )
        return checker.name_of(key)

    return dependency


def document_scopes(app: FastAPI) -> None:
    """Publish each operation's required scope in OpenAPI as ``x-required-scope``.

    FastAPI already lists it under the operation's ``security`` (the scopes of
    ``APIKeyHeader``); the extension makes it one plain field for clients and tests.
    """
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    for requirement in operation.get("security", ()):
                        scopes = requirement.get("APIKeyHeader")
                        if scopes:
                            operation["x-required-scope"] = scopes[0]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
