"""Keyed hashes of identifiers, for stores that must find a person but not name them.

The decision log keeps, for every question asked, ``hmac-sha256:<hex>`` of the
identifier's index key (``email:jane@example.com``, normalised as lookups
normalise it) under a per-deployment secret, never the value: an audit can
still answer "what was this address told?" by hashing the address the same
way, while a reader of the log without the secret cannot test guesses.

The secret is ``SIGNALFOLD_PII_HASH_KEY``; unset, a random key is made once in
``<data_dir>/pii-hash.key`` (mode 0600) and reused. Every replica must hash
with the same secret, so replicas that do not share a data dir need the
setting; a lost key leaves earlier rows findable by customer id only.
"""

from __future__ import annotations

import hashlib
import hmac

from signalfold.errors import ConfigError
from signalfold.privacy.secret import KEY_FILE, pii_hash_key
from signalfold.settings import Settings
from signalfold.sinks._resolve import BadIdentifier, identifier_key

__all__ = ["KEY_FILE", "IdentifierHasher", "hasher_for", "pii_hash_key"]

_MAX_CACHED = 65_536


class IdentifierHasher:
    """``hmac-sha256:<hex>`` of an identifier, normalised first.

    Example::

        hasher = IdentifierHasher(b"secret", region="GB")
        hasher.identifier("email", " Jane@Example.com") == hasher.identifier(
            "email", "jane@example.com"
        )
    """

    def __init__(self, key: bytes, *, region: str = "GB") -> None:
        if len(key) < 16:
            raise ConfigError(
                f"PII hash key: expected at least 16 bytes, found {len(key)}; set "
                "SIGNALFOLD_PII_HASH_KEY to a long random string (e.g. `openssl rand -hex 32`)"
            )
        self._key, self._region = key, region
        self._cache: dict[tuple[str, str], str] = {}

    def key(self, index_key: str) -> str:
        """The hash of an index key (``<type>:<normalised value>``) as the index holds it."""
        digest = hmac.new(self._key, index_key.encode(), hashlib.sha256).hexdigest()
        return f"hmac-sha256:{digest}"

    def identifier(self, type_: str, value: str) -> str:
        """The hash of ``value`` as an identifier of ``type_``; ``BadIdentifier`` if invalid."""
        known = self._cache.get((type_, value))
        if known is None:
            known = self.key(identifier_key(type_, value, self._region))
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[(type_, value)] = known
        return known

    def logged(self, type_: str, value: str) -> str:
        """Like ``identifier``, but a value that does not normalise is hashed as given."""
        try:
            return self.identifier(type_, value)
        except BadIdentifier:
            return self.key(f"{type_}:{value}")


def hasher_for(settings: Settings) -> IdentifierHasher:
    """The hasher of this deployment (the secret, and the region phones are read in)."""
    return IdentifierHasher(pii_hash_key(settings), region=settings.default_region)
