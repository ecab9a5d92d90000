"""Sealed values: personal data in append-only logs, readable only while its key exists.

Crypto-shredding. Every topic value signalfold writes that holds personal data
is sealed (AES-256-GCM) with the key of the subject it is about: a *record*
(``source:key``) for signals and identity changes, a *customer* for its state.
Keys live on one compacted topic (``privacy.keys``); erasing a person deletes
their keys, after which every sealed value about them, in any log, replica or
backup of the topics, is noise. A replay or a rebuild after erasure reads
nothing back: an envelope whose key is gone opens to ``None``, the stages skip it.

A subject has a *kid*, a 16-byte keyed BLAKE2b of its name under the
deployment's secret (the name itself, often an email, never appears), and one
or more key *versions*: a writer seals with a version it has read from the log,
or makes one when it knows none, so writers never coordinate (two that make one
at once leave two versions, both valid), and erasure deletes them all.

A value about two subjects (a link between two people's records) is sealed
with both keys: erasing either makes it unreadable.

Envelope: ``MAGIC`` | n (1 byte) | n versions (20 bytes each: kid + 4) | nonce (12)
| ciphertext and tag. The header is the AEAD's associated data. A value that
does not start with ``MAGIC`` is plain (older topics, and values with no
personal data) and opens to itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KID_BYTES",
    "MAGIC",
    "VERSION_BYTES",
    "Keyring",
    "SubjectIds",
    "is_sealed",
    "kids_of",
]

MAGIC = b"\xffSF1"  # 0xff starts no JSON document and no UTF-8 text
KID_BYTES = 16
VERSION_BYTES = KID_BYTES + 4
_NONCE = 12
_KEY = 32


def is_sealed(value: bytes | None) -> bool:
    """Whether ``value`` is an envelope (else it is a plain value)."""
    return value is not None and value[:4] == MAGIC


def kids_of(value: bytes) -> list[bytes]:
    """The subjects an envelope is sealed for (empty for a plain value)."""
    if not is_sealed(value):
        return []
    n = value[4]
    return [value[5 + i * VERSION_BYTES : 5 + i * VERSION_BYTES + KID_BYTES] for i in range(n)]


class SubjectIds:
    """Subject ids (kids) under the deployment's secret; the names never leave here.

    Example::

        ids = SubjectIds(b"0123456789abcdef")
        ids.record("crm:003A") != ids.customer("cus_…")
    """

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"signalfold subject ids\0" + secret).digest()
        self._secret = secret

    def identifier_hash(self, identifier_key: str) -> str:
        """``hmac-sha256:<hex>`` of an identifier key, as the decision log and the
        do-not-contact list hold it (``sinks.pii.IdentifierHasher.key``)."""
        digest = hmac.new(self._secret, identifier_key.encode(), hashlib.sha256).hexdigest()
        return f"hmac-sha256:{digest}"

    def _kid(self, kind: bytes, name: str) -> bytes:
        # Keyed BLAKE2b is a MAC (RFC 7693), and four times cheaper here than HMAC.
        message = kind + b"\0" + name.encode()
        return hashlib.blake2b(message, key=self._key, digest_size=KID_BYTES).digest()

    def fingerprint(self) -> bytes:
        """Names the secret without revealing it: processes compare theirs on start."""
        return self._kid(b"fingerprint", "signalfold").hex().encode()

    def letter_key(self, raw_key: bytes | None) -> bytes | None:
        """The Kafka key of a dead letter of a raw event with ``raw_key``: a keyed digest
        (``kid:<hex>``), so a letter's key names no one once its sealed value is erased.
        The same raw key gives the same digest: a record's letters share a partition."""
        if not raw_key:
            return None
        digest = hashlib.blake2b(b"dead-letter\0" + raw_key, key=self._key, digest_size=KID_BYTES)
        return b"kid:" + digest.hexdigest().encode()

    def record(self, record_id: str) -> bytes:
        return self._kid(b"record", record_id)

    def customer(self, customer_id: str) -> bytes:
        return self._kid(b"customer", customer_id)

    def index(self, identifier_key: str) -> bytes:
        """Not a subject: the name of an identifier (``email:…``) where a key must be one."""
        return self._kid(b"index", identifier_key)


class Keyring:
    """Every subject's key versions, as read from the key log, and those it made.

    Pure: the key log's reader feeds ``learn``/``forget``; ``seal`` returns the
    versions it had to make (``made``), which the caller must publish (and see
    delivered) before it publishes what they sealed.
    """

    def __init__(self) -> None:
        self._keys: dict[bytes, bytes] = {}  # version → key
        self._ciphers: dict[bytes, AESGCM] = {}  # version → cipher, made once
        self._versions: dict[bytes, set[bytes]] = {}  # kid → versions
        self._mine: dict[bytes, bytes] = {}  # kid → the version this writer seals with
        self._gone: set[bytes] = set()  # versions deleted (erased)
        self.made: list[tuple[bytes, bytes]] = []  # (version, key) not yet published

    def __len__(self) -> int:
        return len(self._keys)

    def learn(self, version: bytes, key: bytes) -> None:
        """A key version read from the log."""
        if len(version) != VERSION_BYTES or len(key) != _KEY or version in self._gone:
            return
        self._keys[version] = key
        self._versions.setdefault(version[:KID_BYTES], set()).add(version)

    def forget(self, version: bytes) -> None:
        """A version deleted from the log (a tombstone): what it sealed is unreadable."""
        self._gone.add(version)
        self._keys.pop(version, None)
        self._ciphers.pop(version, None)
        kid = version[:KID_BYTES]
        versions = self._versions.get(kid)
        if versions is not None:
            versions.discard(version)
            if not versions:
                del self._versions[kid]
        if self._mine.get(kid) == version:
            del self._mine[kid]

    def versions(self, kid: bytes) -> set[bytes]:
        """Every live version of a subject: what erasing it must delete."""
        return set(self._versions.get(kid, ()))

    def has(self, version: bytes) -> bool:
        return version in self._keys

    def known(self, version: bytes) -> bool:
        """Read from the log, live or deleted (an unknown version needs a catch-up)."""
        return version in self._keys or version in self._gone

    def _version_for(self, kid: bytes) -> bytes:
        version = self._mine.get(kid)
        if version is None and kid in self._versions:
            version = min(self._versions[kid])  # another writer's, or one made before a restart
            self._mine[kid] = version
        if version is None:
            version = kid + os.urandom(VERSION_BYTES - KID_BYTES)
            key = AESGCM.generate_key(bit_length=256)
            self.learn(version, key)
            self.made.append((version, key))
            self._mine[kid] = version
        return version

    def seal(self, kids: Iterable[bytes], plain: bytes) -> bytes:
        """``plain`` sealed for every subject in ``kids`` (at least one)."""
        if type(kids) is list and len(kids) == 1:  # the common case, without the loops
            version = self._mine.get(kids[0]) or self._version_for(kids[0])
            cipher = self._ciphers.get(version) or self._cipher([version])
            header = MAGIC + b"\x01" + version
            nonce = os.urandom(_NONCE)
            return header + nonce + cipher.encrypt(nonce, plain, header)
        versions = [self._version_for(kid) for kid in dict.fromkeys(kids)]
        if not versions or len(versions) > 255:
            raise ValueError(f"a sealed value needs 1 to 255 subjects, got {len(versions)}")
        header = MAGIC + bytes([len(versions)]) + b"".join(versions)
        nonce = os.urandom(_NONCE)
        return header + nonce + self._cipher(versions).encrypt(nonce, plain, header)

    def missing(self, value: bytes) -> list[bytes]:
        """Versions an envelope needs that were never read (the log is behind)."""
        return [v for v in self._header_versions(value) if not self.known(v)]

    def open(self, value: bytes | None) -> bytes | None:
        """The plain value, or ``None`` when a key it needs is gone (or never existed).

        A plain (unsealed) value opens to itself.
        """
        if value is None or value[:4] != MAGIC:
            return value
        if value[4] == 1:  # one subject: the common case, without the loops
            version = value[5 : 5 + VERSION_BYTES]
            cipher = self._ciphers.get(version)
            if cipher is None:
                if version not in self._keys:
                    return None
                cipher = self._cipher([version])
            cut = 5 + VERSION_BYTES
            return cipher.decrypt(value[cut : cut + _NONCE], value[cut + _NONCE :], value[:cut])
        versions = self._header_versions(value)
        if not all(v in self._keys for v in versions):
            return None
        cut = 5 + len(versions) * VERSION_BYTES
        nonce, body = value[cut : cut + _NONCE], value[cut + _NONCE :]
        return self._cipher(versions).decrypt(nonce, body, value[:cut])

    def _cipher(self, versions: list[bytes]) -> AESGCM:
        if len(versions) > 1:
            joint = hashlib.sha256(b"".join(self._keys[v] for v in versions)).digest()
            return AESGCM(joint)
        cipher = self._ciphers.get(versions[0])
        if cipher is None:
            cipher = self._ciphers[versions[0]] = AESGCM(self._keys[versions[0]])
        return cipher

    @staticmethod
    def _header_versions(value: bytes) -> list[bytes]:
        n = value[4]
        return [value[5 + i * VERSION_BYTES : 5 + (i + 1) * VERSION_BYTES] for i in range(n)]
