"""The seam for scoped API keys: every route depends on ``require(scope)``.

Scopes follow what each caller may see: a marketing bot holds
``decisions:read`` and cannot read histories. Key files (hashed keys and
their scopes, ``SIGNALFOLD_API_KEYS_FILE``) come in a later change; until
then the API is open, and setting that variable fails loudly at start instead
of silently serving an open API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from fastapi import HTTPException, Request

from signalfold.errors import ConfigError
from signalfold.settings import Settings

__all__ = ["KeyChecker", "OpenAccess", "Scope", "Verdict", "key_checker_for", "require"]

Scope = Literal["decisions:read", "customers:read", "history:read", "identity:read"]
Verdict = Literal["ok", "unauthenticated", "forbidden"]


class KeyChecker(Protocol):
    """Says whether ``key`` (``None`` when the caller sent none) may use ``scope``."""

    def check(self, key: str | None, scope: Scope) -> Verdict: ...


class OpenAccess:
    """Every caller may do everything: development only, when no key file is set."""

    def check(self, key: str | None, scope: Scope) -> Verdict:
        return "ok"


def key_checker_for(settings: Settings) -> KeyChecker:
    """The checker the settings ask for."""
    if settings.api_keys_file is not None:
        raise ConfigError(
            f"SIGNALFOLD_API_KEYS_FILE={settings.api_keys_file} is set, but scoped API keys "
            "are not implemented in this version; unset it to run an open API (development "
            "only) or upgrade signalfold"
        )
    return OpenAccess()


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


def require(scope: Scope) -> Callable[[Request], None]:
    """A FastAPI dependency that admits the request only if its key holds ``scope``.

    The key is read from ``X-API-Key`` or ``Authorization: Bearer``; the
    checker is ``app.state.key_checker``.
    """

    def dependency(request: Request) -> None:
        checker: KeyChecker = request.app.state.key_checker
        verdict = checker.check(_presented_key(request), scope)
        if verdict == "unauthenticated":
            raise HTTPException(
                401,
                detail={"error": "unauthenticated", "message": "send an API key in X-API-Key"},
                headers={"WWW-Authenticate": "Bearer"},
            )
        if verdict == "forbidden":
            raise HTTPException(
                403,
                detail={"error": "forbidden", "message": f"this API key lacks scope {scope!r}"},
            )

    return dependency
