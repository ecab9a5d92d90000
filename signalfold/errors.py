"""The root of every error signalfold raises on purpose."""

from __future__ import annotations

__all__ = ["ConfigError", "SignalfoldError", "StartupError"]


class SignalfoldError(Exception):
    """Root exception: catch this to handle any failure signalfold reports itself."""


class ConfigError(SignalfoldError):
    """A setting, a policy or a contract file is wrong; the message says how to fix it."""


class StartupError(SignalfoldError):
    """A process ``signalfold run`` started did not come up; the message names it."""
