"""Failures the policy library reports on purpose, under ``PolicyError``.

A policy file that is wrong is also a ``ConfigError`` (what every command
reports as a configuration mistake); its message names the file, the rule and
the field, what was expected and what was found.
"""

from __future__ import annotations

from signalfold.errors import ConfigError, SignalfoldError

__all__ = ["DuplicateRuleKind", "PolicyError", "PolicyFileError"]


class PolicyError(SignalfoldError):
    """Root of the policy library's errors."""


class PolicyFileError(PolicyError, ConfigError):
    """A policy file that cannot be read, is not YAML, or does not validate."""


class DuplicateRuleKind(PolicyError, ValueError):
    """A rule kind registered under a name another kind already has."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"rule kind {name!r} is already registered; give the new kind another name "
            "(kinds are registered once, when their module is imported)"
        )
